"""Docs stay true: configuration snippets parse and name classes that exist; links resolve."""

import importlib
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parents[1]
DOCS = sorted((ROOT / "docs").glob("*.md")) + [ROOT / "README.md"]
FENCE = re.compile(r"```(xml|yaml|yml)\n(.*?)```", re.S)


def snippets():
    for doc in DOCS:
        for lang, body in FENCE.findall(doc.read_text()):
            yield pytest.param(lang, body, id=f"{doc.name}:{body.strip().splitlines()[0][:40]}")


def resolve(dotted: str) -> object:
    """A class named the way mxcubecore names it: module path + class (XML: module == class)."""
    try:
        module = importlib.import_module(dotted)
        return getattr(module, dotted.rsplit(".", 1)[-1])
    except ModuleNotFoundError:
        mod, _, cls = dotted.rpartition(".")
        return getattr(importlib.import_module(mod), cls)


@pytest.mark.parametrize("lang,body", list(snippets()))
def test_snippet_parses_and_names_real_classes(lang, body):
    if lang == "xml":
        root = ET.fromstring(f"<snippet>{body}</snippet>")
        classes = [el.get("class") for el in root.iter("object") if el.get("class")]
    else:
        doc = YAML(typ="safe").load(body)
        classes = []

        def walk(node):
            if isinstance(node, dict):
                for k, v in node.items():
                    if k == "class" and isinstance(v, str):
                        classes.append(v)
                    walk(v)
            elif isinstance(node, list):
                for v in node:
                    walk(v)

        walk(doc)
    for cls in classes:
        if cls.startswith("mxcubecore_interleave."):
            assert resolve(cls) is not None, cls


def test_relative_links_resolve():
    link = re.compile(r"\]\(([^)#]+)(#[^)]*)?\)")
    for doc in DOCS:
        for target, _ in link.findall(doc.read_text()):
            if "://" in target or target.startswith("mailto:"):
                continue
            assert (doc.parent / target).exists(), f"{doc.name} links to missing {target}"
