"""``mxcube-interleave plan TASK.json``: the wedge schedule and its motion cost, without hardware.

TASK.json is an interleaved task (``mxcube-interleave schema`` prints its JSON schema). The
schedule is printed as a table with the motion cost against round robin; ``--png`` also draws it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def add_parser(sub) -> None:
    p = sub.add_parser("plan", help="print an interleaved task's wedge schedule and motion cost (no hardware)",
                       description=__doc__.split("\n\n")[1])
    p.add_argument("task", type=Path, help="the task as JSON (see 'mxcube-interleave schema')")
    p.add_argument("--strategy", choices=("round_robin", "inverse_adjacent", "min_motion"),
                   help="override the task's order strategy")
    p.add_argument("--png", type=Path, help="also write the schedule as a PNG")
    p.add_argument("--rows", type=int, default=60, help="wedges to list (0: all; default 60)")
    p.add_argument("--json", action="store_true", help="print the schedule as JSON instead of a table")
    p.add_argument("--energy-change-cost", type=float, help="seconds per energy change (default 30)")
    p.add_argument("--kappa-phi-move-cost", type=float, help="seconds per kappa/phi move (default 5)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..errors import InterleaveError
    from ..interleave import MotionCostModel, compare_strategies, parse_task, plan
    from ..interleave.schedule import format_schedule_table, plot_schedule

    try:
        text = args.task.read_text(encoding="utf-8")
    except OSError as exc:
        print(f"error: cannot read the task file: {exc}", file=sys.stderr)
        return 1
    kw = {}
    if args.energy_change_cost is not None:
        kw["energy_change"] = args.energy_change_cost
    if args.kappa_phi_move_cost is not None:
        kw["kappa_phi_move"] = args.kappa_phi_move_cost
    model = MotionCostModel(**kw)
    try:
        task = parse_task(text)
        p = plan(task, args.strategy, model)
    except InterleaveError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.json:
        costs = compare_strategies(task, model)
        out = {
            "strategy": p.strategy,
            "total_images": p.total_images,
            "motion_cost_s": {k: v.total_s for k, v in costs.items()},
            "wedges": [{"order": w.order, "sweep": w.sweep, "first_frame": w.first_frame, "n": w.n,
                        "omega_start": w.omega_start, "first_global": w.first_global,
                        "series": f"{w.prefix}_{w.run}"} for w in p.wedges],
        }
        print(json.dumps(out, indent=1))
    else:
        print(format_schedule_table(p, max_rows=args.rows or None, model=model))
    if args.png:
        plot_schedule(p, args.png)
        print(f"schedule written to {args.png}", file=sys.stderr)
    return 0
