"""The schedule for people: a text table and a PNG (matplotlib, Agg) of a plan."""

from __future__ import annotations

import os
from pathlib import Path

from ..atomic import atomic_output
from .cost import MotionCostModel
from .planner import Plan


def format_schedule_table(plan: Plan, *, max_rows: int | None = 60, model: MotionCostModel | None = None) -> str:
    """One line per wedge in acquisition order, then the motion cost against round robin."""
    from .planner import plan as make_plan

    head = (f"{'#':>4}  {'sweep':<12} {'frames':>11}  {'omega start':>11}  {'E (keV)':>8}  "
            f"{'kappa':>6}  {'phi':>6}  {'images':>13}  series")
    lines = [head, "-" * len(head)]
    wedges = plan.wedges
    shown = wedges if max_rows is None or len(wedges) <= max_rows else wedges[:max_rows]
    for w in shown:
        s = plan.sweeps[w.sweep_index]
        lines.append(
            f"{w.order + 1:>4}  {w.sweep:<12} {w.first_frame:>5}-{w.last_frame:<5}  {w.omega_start:>11.2f}  "
            f"{s.energy:>8.4f}  {s.kappa:>6.1f}  {s.phi:>6.1f}  {w.first_global:>6}-{w.last_global:<6}  "
            f"{w.prefix}_{w.run}")
    if len(shown) < len(wedges):
        lines.append(f"… {len(wedges) - len(shown)} more wedges")
    cost = plan.cost(model)
    rr = make_plan(plan.task, "round_robin", model).cost(model)
    ratio = cost.total_s / rr.total_s if rr.total_s else 1.0
    lines.append("")
    lines.append(
        f"{len(wedges)} wedges, {plan.total_images} images, strategy {plan.strategy}: motion cost "
        f"{cost.total_s:.1f} s ({cost.energy_changes} energy changes, {cost.kappa_phi_moves} kappa/phi moves); "
        f"round robin {rr.total_s:.1f} s; ratio {ratio:.2f}")
    return "\n".join(lines)


def plot_schedule(plan: Plan, png_path: str | os.PathLike[str], *, title: str | None = None) -> Path:
    """Omega covered by each sweep against acquisition order; one colour per energy (atomic write)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    energies = sorted({round(s.energy, 4) for s in plan.sweeps})
    cmap = plt.get_cmap("tab10")
    colour = {e: cmap(i % 10) for i, e in enumerate(energies)}
    n_sweeps = len(plan.sweeps)
    fig, (ax, ax2) = plt.subplots(2, 1, figsize=(10, 3 + 0.35 * n_sweeps), sharex=True,
                                  gridspec_kw={"height_ratios": [max(n_sweeps, 2), 2]})
    for w in plan.wedges:
        s = plan.sweeps[w.sweep_index]
        ax.barh(w.sweep_index, w.n, left=w.first_global - 1, height=0.7,
                color=colour[round(s.energy, 4)], edgecolor="black", linewidth=0.3)
        ax2.plot([w.first_global - 1, w.last_global], [w.omega_start, w.omega_start + w.n * w.osc_range],
                 color=colour[round(s.energy, 4)], linewidth=2)
    ax.set_yticks(range(n_sweeps))
    ax.set_yticklabels([f"{s.id} ({s.energy:.3f} keV, κ {s.kappa:g}°, φ {s.phi:g}°)" for s in plan.sweeps])
    ax.invert_yaxis()
    ax.set_ylabel("sweep")
    cost = plan.cost()
    ax.set_title(title or f"Interleaved schedule: {len(plan)} wedges, {plan.total_images} images, {plan.strategy}\n"
                          f"motion cost {cost.total_s:.0f} s ({cost.energy_changes} energy changes, "
                          f"{cost.kappa_phi_moves} kappa/phi moves)", fontsize="medium")
    ax2.set_xlabel("global image number (acquisition order)")
    ax2.set_ylabel("omega (deg)")
    handles = [plt.Rectangle((0, 0), 1, 1, color=colour[e]) for e in energies]
    ax.legend(handles, [f"{e:.4f} keV" for e in energies], loc="upper left", bbox_to_anchor=(1.0, 1.0),
              fontsize="small")
    fig.tight_layout()
    out = Path(png_path)
    with atomic_output(out) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
    return out
