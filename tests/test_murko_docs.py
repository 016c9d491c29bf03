"""The Murko docs' configuration examples load into the HardwareObject's own configuration model."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from mxcubecore_interleave.hardware_objects.MurkoCentring import MurkoCentring

DOCS = Path(__file__).resolve().parents[1] / "docs"
CLASS = "mxcubecore_interleave.hardware_objects.MurkoCentring"


def _examples():
    for doc in ("murko.md", "murko-centring.md"):
        for lang, body in re.findall(r"```(yaml|xml)\n(.*?)```", (DOCS / doc).read_text(), re.S):
            if CLASS in body:
                yield pytest.param(lang, body, id=f"{doc}:{lang}")


def _xml_values(element: ET.Element) -> dict:
    return {child.tag: (_xml_values(child) if len(child) else child.text) for child in element}


@pytest.mark.parametrize(("lang", "body"), list(_examples()))
def test_murko_configuration_examples_validate(lang, body):
    if lang == "yaml":
        config = YAML(typ="safe").load(body)["configuration"]
    else:
        config = _xml_values(ET.fromstring(body))
    model = MurkoCentring.HOConfig.model_validate(config)
    assert model.port <= 65535 and len(model.omega_angles_deg) >= 3


def test_there_are_examples_in_both_formats():
    assert {p.values[0] for p in _examples()} == {"yaml", "xml"}


def test_the_repository_configuration_validates():
    config = YAML(typ="safe").load((DOCS.parent / "configuration" / "murko.yaml").read_text())["configuration"]
    assert MurkoCentring.HOConfig.model_validate(config).server_tip == "left"


@pytest.mark.parametrize(("field", "value", "message"), [
    ("orientation", "sideways", "horizontal_flipped"),
    ("port", 89011, "65535"),
    ("omega_angles_deg", [0, 180], "at least 3"),
])
def test_bad_configuration_is_refused_with_a_message(field, value, message):
    with pytest.raises(ValueError, match=message):
        MurkoCentring.HOConfig.model_validate({field: value})


def test_one_default_timeout_in_code_configuration_and_docs():
    """The default deadline is one number: the client's, the HardwareObject's, murko.yaml's and
    every ``timeout_s:`` the docs show."""
    from mxcubecore_interleave.murko.client import DEFAULT_TIMEOUT_S, MurkoClient

    assert MurkoCentring.HOConfig().timeout_s == DEFAULT_TIMEOUT_S == MurkoClient(port=1).timeout_s
    config = YAML(typ="safe").load((DOCS.parent / "configuration" / "murko.yaml").read_text())["configuration"]
    assert config["timeout_s"] == DEFAULT_TIMEOUT_S
    shown = [float(v) for doc in ("murko.md", "murko-centring.md")
             for v in re.findall(r"timeout_s: ([0-9.]+)", (DOCS / doc).read_text())]
    assert shown and all(v == DEFAULT_TIMEOUT_S for v in shown), shown
    assert f"{DEFAULT_TIMEOUT_S:g} s + 0.5 s per picture" in (DOCS / "murko.md").read_text()
