"""``mxcube-interleave schema``: the JSON schema of an interleaved task (versioned).

Two definitions of the same task: the *task* (``InterleavedTask``, ``$id``
``mxcube-interleaved-task/1``), what ``plan`` reads and a task file names in ``schema_version``;
and with ``--queue-model`` the queue entry's ``DATA_MODEL`` (``$id``
``mxcube-interleaved-queue-task/1``), the five parameter groups mxcubeweb turns into a form,
with ``x-task-mapping`` saying where each task field comes from. ``--check FILE`` validates a
task file, or with ``--queue-model`` the flat parameters mxcubeweb posts, and prints the
model's message.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
GROUPS = ("path_parameters", "common_parameters", "collection_parameters", "user_collection_parameters",
          "legacy_parameters")


def task_json_schema() -> dict:
    from ..interleave.task import TASK_SCHEMA_VERSION, InterleavedTask

    schema = InterleavedTask.model_json_schema()
    return {"$schema": SCHEMA_DIALECT, "$id": TASK_SCHEMA_VERSION, **schema}


def queue_model_json_schema() -> dict:
    """The DATA_MODEL's schema (imports mxcubecore: the groups are mxcubecore's models)."""
    from ..queue_entries.interleaved_collection import (
        QUEUE_SCHEMA_VERSION,
        TASK_FROM_QUEUE,
        InterleavedCollectionTaskParameters,
    )

    schema = InterleavedCollectionTaskParameters.model_json_schema()
    return {"$schema": SCHEMA_DIALECT, "$id": QUEUE_SCHEMA_VERSION, **schema,
            "x-task-mapping": dict(TASK_FROM_QUEUE)}


def add_parser(sub) -> None:
    p = sub.add_parser("schema", help="print the interleaved task's JSON schema (or check a task file)",
                       description=__doc__.split("\n\n")[1])
    p.add_argument("--queue-model", action="store_true",
                   help="the queue entry's DATA_MODEL (five parameter groups) instead of the task")
    p.add_argument("--check", type=Path, metavar="FILE",
                   help="validate a task file (with --queue-model: mxcubeweb's flat parameters)")
    p.set_defaults(func=run)


def _check_queue_parameters(text: str) -> str:
    from pydantic import ValidationError

    from ..interleave.task import explain
    from ..queue_entries.interleaved_collection import InterleavedCollectionTaskParameters, task_from_parameters

    flat = json.loads(text)
    if not isinstance(flat, dict):
        raise ValueError("the queue parameters must be one JSON object (the flat dict mxcubeweb posts)")
    try:  # as mxcubecore's QueueBuilder does: every group gets the whole flat dict
        params = InterleavedCollectionTaskParameters(**{g: flat for g in GROUPS})
    except ValidationError as exc:
        raise ValueError(explain(exc)) from None
    task = task_from_parameters(params)
    return f"ok: {len(task.all_sweeps())} sweeps, {task.total_images} images"


def run(args: argparse.Namespace) -> int:
    from ..errors import InterleaveError
    from ..interleave import parse_task

    if args.check is not None:
        try:
            text = args.check.read_text(encoding="utf-8")
        except OSError as exc:
            print(f"error: cannot read the file: {exc}", file=sys.stderr)
            return 1
        try:
            if args.queue_model:
                print(_check_queue_parameters(text))
            else:
                task = parse_task(text)
                print(f"ok: {len(task.all_sweeps())} sweeps, {task.total_images} images")
        except (InterleaveError, ValueError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        return 0
    print(json.dumps(queue_model_json_schema() if args.queue_model else task_json_schema(), indent=1))
    return 0
