"""The rule of scripts/mutation.py that sets aside message-text mutants, on hand-written pairs of an
original and a mutated function: a re-cased or wrapped literal of a message (raise, logging,
``problems.append``) is not counted; the same change of a literal that the code acts on is.

Fast: parses a few lines, runs no mutmut.
"""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import pytest

_PATH = Path(__file__).resolve().parent.parent / "scripts" / "mutation.py"
_spec = importlib.util.spec_from_file_location("mutation_script", _PATH)
mutation = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(mutation)

NAME = "pkg.mod.x_f__mutmut_1"


def _pair(orig: str, mutant: str) -> dict[str, ast.AST]:
    src = (f"def x_f__mutmut_orig(a, log, problems):\n    {orig}\n"
           f"def x_f__mutmut_1(a, log, problems):\n    {mutant}\n")
    return mutation._functions_from_source(src)


@pytest.mark.parametrize("orig, mutant", [
    ('raise ValueError(f"bad {a} value")', 'raise ValueError(f"XXbad XX{a} value")'),
    ('raise ValueError("bad value")', 'raise ValueError("BAD VALUE")'),
    ('log.warning("odd %s", a)', 'log.warning("XXodd %sXX", a)'),
    ('problems.append(f"/{a} is missing")', 'problems.append(f"/{a} IS MISSING")'),
])
def test_message_literal_is_set_aside(orig: str, mutant: str) -> None:
    assert mutation._text_only(_pair(orig, mutant), NAME)


@pytest.mark.parametrize("orig, mutant", [
    ('return "V" if a else "L"', 'return "v" if a else "L"'),
    ('return a["omega"]', 'return a["XXomegaXX"]'),
    ('return a.get("units") == "degree"', 'return a.get("units") == "DEGREE"'),
    ('return f"{a}_master.h5"', 'return f"{a}XX_master.h5XX"'),
])
def test_non_message_literal_is_counted(orig: str, mutant: str) -> None:
    assert not mutation._text_only(_pair(orig, mutant), NAME)


def test_other_change_beside_a_message_is_counted() -> None:
    pair = _pair('if a > 1: raise ValueError("bad")', 'if a > 2: raise ValueError("BAD")')
    assert not mutation._text_only(pair, NAME)
