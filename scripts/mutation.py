"""Mutation testing of the pure core with mutmut, one module at a time against its own tests.

Usage: python scripts/mutation.py [MODULE ...] [--jobs N] [--show-survivors]
(modules as in scripts/mutation-modules.txt, e.g. interleave/cost.py; default: all of them).

Why a driver: mutmut reads one configuration per directory and runs every selected test for
every mutant of every file. Here each module gets a scratch project under .mutation/<module>/
(links to the package and the tests, and its own [tool.mutmut] with only that module mutated and
only its tests run), so one run stays in minutes and tells the score per module. Mutants named
in scripts/mutation-equivalent.txt are not counted (each listed there with its reason), nor are
mutants that only re-case or wrap a string literal of a message (see ``_text_only``).
"""

from __future__ import annotations

import argparse
import ast
import fnmatch
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "mxcubecore_interleave"
TABLE = ROOT / "scripts" / "mutation-modules.txt"
EQUIVALENT = ROOT / "scripts" / "mutation-equivalent.txt"
SCRATCH = ROOT / ".mutation"
# mutmut exit codes that mean the tests noticed: failed, pytest error, timeout, crash
KILLED = {1, 3, 24, -24, 36, 152, 255, -9, -11}


def _rows(path: Path) -> list[list[str]]:
    return [line.split() for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip() and not line.lstrip().startswith("#")]


def modules() -> dict[str, list[str]]:
    return {row[0]: row[1:] for row in _rows(TABLE)}


def equivalent() -> set[str]:
    return {row[0] for row in _rows(EQUIVALENT)}


def _config(module: str, tests: list[str]) -> str:
    def lst(xs: list[str]) -> str:
        return "[" + ", ".join(json.dumps(x) for x in xs) + "]"

    return (f"[tool.mutmut]\nsource_paths = {lst([PACKAGE])}\nonly_mutate = {lst([f'{PACKAGE}/{module}'])}\n"
            f"also_copy = {lst(['tests', f'{PACKAGE}/configuration'])}\npytest_add_cli_args_test_selection = {lst(tests)}\n"
            f"pytest_add_cli_args = {lst(['-q', '-p', 'no:cacheprovider', '-p', 'no:randomly'])}\n")


def run_module(module: str, tests: list[str], jobs: int, *, run: bool = True,
               survivors_only: bool = False, only: list[str] = ()) -> dict[str, int]:
    """Run mutmut on one module; returns mutant name -> exit code (0 survived, 1 killed, ...).
    ``survivors_only``: test again only the last run's survivors (after adding tests)."""
    work = _work(module)
    if not run:
        return _results(work, module, "no earlier run")
    mutmut = Path(sys.executable).with_name("mutmut")
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    if survivors_only:
        before = _results(work, module, "no earlier run")
        names = sorted(k for k, v in before.items() if v not in KILLED
                       and (not only or any(fnmatch.fnmatch(k, pat) for pat in only)))
        (work / "pyproject.toml").write_text(_config(module, tests), encoding="utf-8")
        with (work / "mutmut.log").open("a") as out:
            subprocess.call([str(mutmut), "run", "--max-children", str(jobs), *names], cwd=work, env=env,
                            stdout=out, stderr=subprocess.STDOUT)
        after = _results(work, module, f"see {work / 'mutmut.log'}")
        # mutmut may forget the other results when the tests changed: keep the earlier ones
        merged = {k: (after.get(k) if k in names else (after.get(k) if after.get(k) is not None else v))
                  for k, v in before.items()}
        meta = work / "mutants" / PACKAGE / f"{module}.meta"
        data = json.loads(meta.read_text(encoding="utf-8"))
        data["exit_code_by_key"] = {**data["exit_code_by_key"], **merged}
        meta.write_text(json.dumps(data, indent=4), encoding="utf-8")
        return data["exit_code_by_key"]
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    for name in (PACKAGE, "tests"):
        (work / name).symlink_to(ROOT / name)
    (work / "pyproject.toml").write_text(_config(module, tests), encoding="utf-8")
    log = work / "mutmut.log"
    with log.open("w") as out:
        rc = subprocess.call([str(mutmut), "run", "--max-children", str(jobs), *only], cwd=work, env=env,
                             stdout=out, stderr=subprocess.STDOUT)
    return _results(work, module, f"exit {rc}; see {log}")


def _results(work: Path, module: str, why: str) -> dict[str, int]:
    meta = work / "mutants" / PACKAGE / f"{module}.meta"
    if not meta.exists():
        raise SystemExit(f"mutation: no mutmut results for {module} ({why})")
    return json.loads(meta.read_text(encoding="utf-8"))["exit_code_by_key"]


def _work(module: str) -> Path:
    return SCRATCH / module.replace("/", "_").removesuffix(".py")


def _functions(path: Path) -> dict[str, ast.AST]:
    return _functions_from_source(path.read_text(encoding="utf-8"))


def _functions_from_source(source: str) -> dict[str, ast.AST]:
    return {n.name: n for n in ast.walk(ast.parse(source))
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}


# Calls whose string arguments are message text: logging and warnings sinks, and appends to a
# list that holds messages shown to the user (validate.py's and task.py's ``problems``).
_LOG_SINKS = {"debug", "info", "warning", "warn", "error", "exception", "critical", "log"}
_MESSAGE_LISTS = {"warnings", "notes", "messages", "problems"}


def _is_message_sink(node: ast.AST) -> bool:
    if isinstance(node, ast.Raise):
        return True
    if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
        return False
    if node.func.attr in _LOG_SINKS:
        return True
    holder = node.func.value
    name = holder.attr if isinstance(holder, ast.Attribute) else getattr(holder, "id", None)
    return node.func.attr == "append" and name in _MESSAGE_LISTS


def _in_message(parents: dict[ast.AST, ast.AST], node: ast.AST) -> bool:
    while node in parents:
        node = parents[node]
        if _is_message_sink(node):
            return True
    return False


def _text_only(functions: dict[str, ast.AST], name: str) -> bool:
    """True if the mutant only re-cases or wraps (mutmut's "XX" + s + "XX", s.upper(), s.lower(),
    also of one piece of an implicitly joined f-string) string literals that are message text:
    each changed literal lies, in the original function, inside a ``raise``, a logging/warnings
    call (``.debug`` … ``.critical``, ``.log``, ``warnings.warn``) or an ``.append`` to a list named
    warnings, notes, messages or problems. Such a mutant changes only what a person reads, so it is
    not counted. Any other literal (a dataset name, a unit, a returned "V"/"L") is behaviour and
    counts like every other mutant."""
    fn = name.rsplit(".", 1)[-1]
    mutant, orig = functions.get(fn), functions.get(fn.rsplit("__mutmut_", 1)[0] + "__mutmut_orig")
    if mutant is None or orig is None:
        return False
    a, b = list(ast.walk(orig)), list(ast.walk(mutant))
    if len(a) != len(b) or any(type(x) is not type(y) for x, y in zip(a, b)):
        return False
    parents = {child: node for node in a for child in ast.iter_child_nodes(node)}
    changed = False
    for x, y in zip(a, b):
        if isinstance(x, ast.Constant) and isinstance(x.value, str) and x.value != y.value:
            if not isinstance(y.value, str) or y.value.replace("XX", "").casefold() != x.value.casefold():
                return False
            if not _in_message(parents, x):
                return False
            y.value, changed = x.value, True
    if not changed:
        return False
    b[0].name = a[0].name
    return ast.dump(a[0]) == ast.dump(b[0])


def _diff(work: Path, name: str) -> str:
    mutmut = Path(sys.executable).with_name("mutmut")
    out = subprocess.run([str(mutmut), "show", name], cwd=work, capture_output=True, text=True).stdout
    return "\n".join(line for line in out.splitlines() if line[:1] in "+-" and line[:3] not in ("+++", "---"))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("modules", nargs="*", help="modules to run (default: every row of the table)")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--survivors", action="store_true", help="test again only the last run's survivors")
    ap.add_argument("--only", action="append", default=[], metavar="PATTERN",
                    help="test only the mutants whose mutmut name matches (fnmatch), e.g. '*x_links_possible*'")
    ap.add_argument("--no-run", action="store_true", help="report the last run's results again")
    ap.add_argument("--show-survivors", action="store_true", help="print the diff of every survivor")
    args = ap.parse_args(argv)
    table = modules()
    chosen = args.modules or list(table)
    unknown = [m for m in chosen if m not in table]
    if unknown:
        print(f"mutation: not in {TABLE.name}: {', '.join(unknown)}", file=sys.stderr)
        return 1
    skip = equivalent()
    rows, incomplete = [], False
    for module in chosen:
        codes = run_module(module, table[module], args.jobs, run=not args.no_run,
                           survivors_only=args.survivors, only=args.only)
        functions = _functions(_work(module) / "mutants" / PACKAGE / module)
        text = sorted(k for k in codes if k not in skip and _text_only(functions, k))
        excluded = sorted(k for k in codes if k in skip)
        counted = {k: v for k, v in codes.items() if k not in skip and k not in text}
        unchecked = sorted(k for k, v in counted.items() if v is None)  # mutmut stopped before them
        for k in unchecked:
            del counted[k]
        killed = sum(1 for v in counted.values() if v in KILLED)
        survivors = sorted(k for k, v in counted.items() if v not in KILLED)
        score = 100.0 * killed / len(counted) if counted else 100.0
        rows.append((module, len(counted), killed, score, len(excluded), len(text)))
        print(f"{module}: {killed}/{len(counted)} killed ({score:.0f} %), {len(excluded)} equivalent and "
              f"{len(text)} message-text mutants not counted", flush=True)
        incomplete = incomplete or (bool(unchecked) and not args.only)
        if unchecked:
            why = "outside --only" if args.only else "mutmut stopped early: run with --survivors"
            print(f"  {len(unchecked)} mutants were not tested ({why})", flush=True)
        for name in survivors:
            print(f"  survived: {name}")
            if args.show_survivors:
                print("    " + _diff(_work(module), name)
                      .replace("\n", "\n    "))
    print("\n| module | mutants tried | killed | score | equivalent (excluded) | message text (not counted) |\n"
          "|---|---|---|---|---|---|")
    for module, n, k, score, ex, tx in rows:
        print(f"| `{module}` | {n} | {k} | {score:.0f} % | {ex} | {tx} |")
    return 0 if all(row[3] >= 85.0 for row in rows) and not incomplete else 1


if __name__ == "__main__":
    sys.exit(main())
