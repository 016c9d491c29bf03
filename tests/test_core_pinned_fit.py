"""The centring fit pinned: every field of the result, any array shape of the inputs, the rank
check at its edges."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mxcubecore_interleave.murko.fit import fit_sinusoid


def test_every_field_including_the_phase():
    omega = np.array([0.0, 20.0, 40.0, 75.0])  # a narrow spread of views is still a fit
    c, r, alpha = 0.01, 0.03, math.radians(130.0)
    y = c + r * np.cos(np.radians(omega) - alpha)
    fit = fit_sinusoid(omega, y)
    assert (fit.c, fit.r, fit.alpha) == (pytest.approx(c), pytest.approx(r), pytest.approx(alpha))
    assert (fit.A, fit.B) == (pytest.approx(r * math.cos(alpha)), pytest.approx(r * math.sin(alpha)))
    assert fit.n == 4 and fit.rms == pytest.approx(0.0, abs=1e-12)
    assert fit(np.array([[90.0, 180.0]])) == pytest.approx(c + r * np.cos(np.radians([[90.0, 180.0]]) - alpha))


def test_any_shape_of_the_inputs_is_flattened():
    omega = np.array([10.0, 130.0, 250.0, 300.0])
    y = np.array([0.004, -0.011, 0.007, 0.001])
    flat = fit_sinusoid(omega, y)
    for o, v in ((omega.reshape(1, -1), y.reshape(-1, 1)), (omega.reshape(2, 2), y.reshape(2, 2)),
                 (omega.astype(int).tolist(), y.tolist())):
        got = fit_sinusoid(o, v)
        ref = flat if not isinstance(o, list) else fit_sinusoid(omega.astype(int), y)
        assert (got.c, got.A, got.B, got.rms) == pytest.approx((ref.c, ref.A, ref.B, ref.rms))


def test_views_nearly_180_apart_are_refused():
    with pytest.raises(ValueError, match="modulo 180"):
        fit_sinusoid([0.0, 180.0, 1e-9], [0.0, 0.0, 0.0])


def test_the_fit_warns_about_nothing():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. numpy 1.x's FutureWarning for lstsq without rcond
        fit_sinusoid([0.0, 90.0, 180.0, 270.0], [1.0, 2.0, 3.0, 2.0])
