"""paths.py pinned: each refusal says what is wrong with which value, and what is let through."""

from __future__ import annotations

import os

import pytest

from mxcubecore_interleave.errors import UnsafePathError
from mxcubecore_interleave.paths import check_name, check_subdir, inside


@pytest.mark.parametrize("value, what, message", [
    ("", "prefix", "the prefix is empty"),
    ("a/b", "prefix", "the prefix 'a/b' contains a path separator"),
    ("a\\b", "sweep id", "the sweep id 'a\\\\b' contains a path separator"),
    ("a..b", "prefix", "the prefix 'a..b' contains '..'"),
    ("-a", "prefix", "the prefix '-a' may only contain letters, digits"),
    ("a b", "prefix", "must start with a letter or digit"),
])
def test_check_name_refusals_name_the_value(value, what, message):
    with pytest.raises(UnsafePathError) as err:
        check_name(value, what)
    assert message in str(err.value)


def test_check_name_default_calls_it_a_prefix_and_lets_plain_names_through():
    with pytest.raises(UnsafePathError, match="^the prefix is empty$"):
        check_name("")
    for ok in ("a", "A1", "ref-1_2.3+x", "9"):
        assert check_name(ok) == ok


@pytest.mark.parametrize("value, message", [
    ("/abs", "the sub-directory '/abs' is absolute"),
    ("\\abs", "is absolute"),
    ("a/../b", "the sub-directory 'a/../b' is refused: the part '..' contains '..'"),
    ("a/b c", "the sub-directory 'a/b c' is refused: the part 'b c' may only contain"),
    ("a\\..\\b", "is refused: the part '..' contains '..'"),
])
def test_check_subdir_refusals_name_the_part(value, message):
    with pytest.raises(UnsafePathError) as err:
        check_subdir(value)
    assert message in str(err.value)
    with pytest.raises(UnsafePathError) as err:
        check_subdir(value, "data sub-directory")
    assert "the data sub-directory" in str(err.value)


def test_check_subdir_lets_nested_names_through():
    assert check_subdir("") == "" and check_subdir(".") == ""
    assert check_subdir("XXXX") == "XXXX"  # only "" and "." mean "no sub-directory"
    assert check_subdir("a/b") == "a/b" and check_subdir("a//b/") == "a//b/"
    assert check_subdir("a\\b") == "a\\b"


def test_inside_resolves_and_refuses_leaving(tmp_path):
    assert inside(tmp_path) == tmp_path.resolve()
    assert inside(tmp_path, "a", "b") == tmp_path.resolve() / "a" / "b"
    with pytest.raises(UnsafePathError, match="is outside the data directory"):
        inside(tmp_path, "..", "x")
    (tmp_path / "link").symlink_to(tmp_path.parent)
    with pytest.raises(UnsafePathError, match="outside"):
        inside(tmp_path, "link", "x")
    with pytest.raises(UnsafePathError, match="outside"):
        inside(tmp_path, os.sep + "etc")
