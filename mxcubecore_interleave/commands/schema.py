"""``mxcube-interleave schema``: the JSON schema of an interleaved task (versioned).

The schema's ``$id`` carries the version (``mxcube-interleaved-task/1``); a task file names it
in ``schema_version``. ``--check TASK.json`` validates a file and prints the model's message.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def task_json_schema() -> dict:
    from ..interleave.task import TASK_SCHEMA_VERSION, InterleavedTask

    schema = InterleavedTask.model_json_schema()
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": TASK_SCHEMA_VERSION, **schema}


def add_parser(sub) -> None:
    p = sub.add_parser("schema", help="print the interleaved task's JSON schema (or check a task file)",
                       description=__doc__.split("\n\n")[1])
    p.add_argument("--check", type=Path, metavar="TASK.json", help="validate a task file instead")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..errors import InterleaveError
    from ..interleave import parse_task

    if args.check is not None:
        try:
            task = parse_task(args.check.read_text(encoding="utf-8"))
        except OSError as exc:
            print(f"error: cannot read the task file: {exc}", file=sys.stderr)
            return 1
        except InterleaveError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        print(f"ok: {len(task.all_sweeps())} sweeps, {task.total_images} images")
        return 0
    print(json.dumps(task_json_schema(), indent=1))
    return 0
