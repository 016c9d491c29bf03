"""What every acquisition record must say after any run, however it was cut and resumed: each
planned frame of each sweep collected exactly once, and the global frame numbers running on
without a gap in acquisition order. Shared by the bookkeeping tests."""

from __future__ import annotations


def assert_every_frame_once_in_order(rec, sweeps) -> None:
    for s in sweeps:
        frames = sorted(f for w in rec.wedges_of(s.id, collected_only=True)
                        for f in range(w.sweep_first_frame, w.sweep_first_frame + w.n_collected))
        assert frames == list(range(1, s.num_images + 1)), f"sweep {s.id}"
    g = 1
    for w in rec.wedges:
        assert w.first_global == g, f"wedge {w.order}"
        g += w.n_collected
