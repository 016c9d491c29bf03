"""The configuration snippets of docs/enable-mxcubeweb.md are what the tests load.

A snippet whose first line is ``# configuration/<file>`` must equal that file (YAML compared as
data); with ``(excerpt)`` it must be contained in it. The XML snippet of the sample view must
carry the same class and properties as ``configuration/sample_view.xml``.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parents[1]
FENCE = re.compile(r"```(yaml|xml)\n(.*?)```", re.S)
DOCS = [ROOT / "docs" / "enable-mxcubeweb.md", ROOT / "docs" / "enable-mxcubeqt.md"]


def _snippets() -> list[tuple[str, str, str, bool, str]]:
    """(doc, language, body, is_excerpt, configuration path) of each labelled snippet."""
    found = []
    for doc in DOCS:
        for lang, body in FENCE.findall(doc.read_text()):
            first = body.strip().splitlines()[0]
            match = re.match(r"(?:#|<!--)\s*(configuration/\S+)(\s*\(excerpt\))?", first)
            if match:
                found.append((doc.name, lang, body, bool(match.group(2)), match.group(1)))
    return found


def _yaml(text: str) -> Any:
    return YAML(typ="safe").load(text)


def _contained(part: Any, whole: Any, where: str = "") -> None:
    if isinstance(part, dict):
        assert isinstance(whole, dict), where
        for key, value in part.items():
            assert key in whole, f"{where}.{key} is not in the configuration"
            _contained(value, whole[key], f"{where}.{key}")
    elif isinstance(part, list) and part and all(isinstance(p, (tuple, dict)) for p in part):
        items = dict(whole) if not isinstance(whole, dict) else whole
        for entry in part:
            for key, value in (entry.items() if isinstance(entry, dict) else [entry]):
                assert items.get(key) == value, f"{where}: {key} -> {value} not in the configuration"
    else:
        assert part == whole, f"{where}: docs say {part!r}, configuration has {whole!r}"


SNIPPETS = _snippets()


def test_docs_have_configuration_snippets():
    files = {s[4] for s in SNIPPETS}
    assert {"configuration/mxcube-web/server.yaml", "configuration/mxcube-web/ui.yaml",
            "configuration/beamline.yaml", "configuration/sample_view.xml"} <= files


@pytest.mark.parametrize("doc,lang,body,excerpt,path", SNIPPETS,
                         ids=[f"{s[0]}:{s[4]}" for s in SNIPPETS])
def test_snippet_matches_configuration(doc, lang, body, excerpt, path):
    real = (ROOT / path).read_text()
    if lang == "yaml":
        if excerpt:
            _contained(_yaml(body), _yaml(real), path)
        else:
            assert _yaml(body) == _yaml(real), f"{doc} shows a different {path}"
    else:
        shown = ET.fromstring(body.split("-->", 1)[1] if body.lstrip().startswith("<!--") else body)
        actual = ET.fromstring(real.split("-->", 1)[1] if real.lstrip().startswith("<!--") else real)
        assert shown.get("class") == actual.get("class")
        assert {(c.tag, (c.text or "").strip(), tuple(sorted(c.attrib.items()))) for c in shown} <= {
            (c.tag, (c.text or "").strip(), tuple(sorted(c.attrib.items()))) for c in actual}
