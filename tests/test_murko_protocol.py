"""Murko's wire format: safe unpickling, the request form, every reply case of murko.md §1.3/§4."""

from __future__ import annotations

import builtins
import os
import pickle

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mxcubecore_interleave.errors import MurkoProtocolError, UnsafeReplyError
from mxcubecore_interleave.murko.orientation import ORIENTATION_ALIASES, TIP_DIRECTIONS, Orientation, tip_direction
from mxcubecore_interleave.murko.protocol import (
    NOTIONS,
    build_request,
    check_reply,
    encode_jpeg,
    parse_description,
    parse_reply,
    safe_loads,
)
from mxcubecore_interleave.simulation.murko_scene import CameraView, SampleScene, render
from mxcubecore_interleave.murko.segment import describe


class _MakesDirectory:
    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (os.mkdir, (self.path,))


@pytest.fixture(scope="module")
def found_description() -> dict:
    scene = SampleScene()
    image = render(scene, dict(scene.crystal_centred_position(), omega=0.0), CameraView())
    return describe(image)


def test_a_real_shaped_reply_survives_the_restricted_unpickler(found_description):
    reply = {"original_image_shape": (480, 640, 3), "descriptions": [found_description]}
    loaded = safe_loads(pickle.dumps(reply))
    d = loaded["descriptions"][0]
    assert np.array_equal(d["most_likely_click"], found_description["most_likely_click"])
    assert d["foreground"]["pa"][1].dtype == np.float64
    assert isinstance(d["crystal"]["r"], np.float64)  # numpy scalars need multiarray.scalar
    assert np.array_equal(d["hierarchical_mask"], found_description["hierarchical_mask"])


def test_numpy_2_module_names_are_accepted():
    data = pickle.dumps({"click": np.array([0.25, 0.5])}, protocol=3)  # GLOBAL: text names, no frames
    assert b"numpy.core.multiarray" in data
    renamed = data.replace(b"numpy.core.multiarray", b"numpy._core.multiarray")
    assert np.array_equal(safe_loads(renamed)["click"], [0.25, 0.5])


def test_protocol_5_numpy_pickles_are_accepted():
    """A server that pickles with protocol=5 sends arrays through numpy's ``_frombuffer``."""
    click = np.array([[0.25, 0.5], [0.125, 0.75]])
    mask = np.arange(12, dtype=np.uint8).reshape(3, 4)
    data = pickle.dumps({"click": click, "mask": mask, "fortran": np.asfortranarray(click)}, protocol=5)
    assert b"_frombuffer" in data
    loaded = safe_loads(data)
    assert np.array_equal(loaded["click"], click) and loaded["click"].dtype == np.float64
    assert np.array_equal(loaded["mask"], mask) and loaded["mask"].dtype == np.uint8
    assert np.array_equal(loaded["fortran"], click)


def test_protocol_5_numpy_2_module_name_is_accepted():
    """numpy >= 2 writes ``numpy._core.numeric._frombuffer``; build that pickle by hand."""
    array = np.arange(6.0).reshape(2, 3)

    class _Numpy2Array:
        def __reduce__(self):
            return (np.core.numeric._frombuffer, (array.tobytes(), array.dtype, array.shape, "C"))

    data = pickle.dumps(_Numpy2Array(), protocol=3)  # GLOBAL: text names, renamable
    # numpy 1 names the module numpy.core.numeric, numpy 2 numpy._core.numeric: make it the latter
    renamed = data.replace(b"numpy.core.numeric", b"numpy._core.numeric")
    assert b"numpy._core.numeric\n_frombuffer" in renamed
    assert np.array_equal(safe_loads(renamed), array)


def test_only_frombuffer_is_allowed_from_numeric():
    """Allowing ``_frombuffer`` opens nothing else of numpy.core.numeric (e.g. ``fromfunction``)."""
    for module in (b"numpy.core.numeric", b"numpy._core.numeric"):
        data = b"c" + module + b"\nfromfunction\n(cbuiltins\nprint\n(I1\nttR."
        with pytest.raises(UnsafeReplyError, match="numeric.fromfunction"):
            safe_loads(data)


def test_a_forbidden_global_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "ran"
    with pytest.raises(UnsafeReplyError, match=r"(posix|os)\.mkdir"):
        safe_loads(pickle.dumps({"descriptions": [_MakesDirectory(str(marker))]}))
    assert not marker.exists()
    with pytest.raises(UnsafeReplyError, match="builtins.eval"):
        safe_loads(pickle.dumps(builtins.eval))


@pytest.mark.parametrize("data", [b"", b"not a pickle", pickle.dumps({"a": 1})[:-3]])
def test_unreadable_bytes_are_a_protocol_error(data):
    with pytest.raises(MurkoProtocolError, match="not a readable pickle"):
        safe_loads(data)


def test_the_request_has_the_form_every_server_accepts():
    jpeg = encode_jpeg(np.full((24, 32, 3), 200, np.uint8))
    request = build_request([jpeg, jpeg], min_size=50)
    assert all(isinstance(a, np.ndarray) and a.dtype == np.uint8 and a.ndim == 1 for a in request["to_predict"])
    assert request["to_predict"][0].tobytes()[:2] == b"\xff\xd8"
    assert request["description"] == NOTIONS
    assert request["save"] is False and request["raw_predictions"] is False
    assert request["min_size"] == 50
    with pytest.raises(ValueError, match="at least one"):
        build_request([])
    with pytest.raises(ValueError, match="RGB uint8"):
        encode_jpeg(np.zeros((8, 8), np.uint8))


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        ({}, r"replied \{\}"),
        ({"original_image_shape": (480, 640, 3)}, "without descriptions"),
        ({"original_image_shape": None, "descriptions": None}, "without descriptions"),
        ([np.zeros((1, 4, 4, 1), np.float32)] * 6, "raw model output"),
        ({"descriptions": []}, "described 0 pictures; 1 were sent"),
        ({"descriptions": "x"}, "not a list"),
        ({"descriptions": [None]}, "picture 0 is a NoneType"),
        ("text", "is a str"),
    ],
)
def test_failure_replies_are_clear_errors(reply, message):
    with pytest.raises(MurkoProtocolError, match=message):
        check_reply(reply, 1)


def test_nothing_found_in_mains_spelling(found_description):
    nothing = describe(np.full((480, 640, 3), 226, np.uint8))
    assert nothing["present"] == 0
    assert nothing["most_likely_click"].dtype == np.int64 and nothing["most_likely_click"].tolist() == [-1, -1]
    assert nothing["extreme"] == pytest.approx([-1 / 256, -1 / 320])  # tiny negatives, not -1
    assert nothing["crystal"]["epo"] == (-1, -1) and np.isnan(nothing["crystal"]["r"])
    assert nothing["aoi_bbox"][0] == 0 and np.isnan(nothing["aoi_bbox"][1])
    (d,) = parse_reply({"descriptions": [nothing]}, 1)
    assert not d.present and d.click is None and d.extreme is None and d.aoi_bbox is None
    assert d.mask.shape == (256, 320) and not d.mask.any()


def test_nothing_found_in_soleils_spelling(found_description):
    soleil = dict(found_description, present=0, most_likely_click=(-1, -1), extreme=np.array([np.nan, np.nan]))
    assert not parse_description(soleil).present


@pytest.mark.parametrize("click", [np.array([-1, -1]), (np.nan, 0.5), np.array([0.5]), "x", None])
def test_present_but_no_usable_click_counts_as_not_found(found_description, click):
    assert not parse_description(dict(found_description, most_likely_click=click)).present


def test_a_found_description_is_read_as_fractions(found_description):
    d = parse_description(found_description)
    assert d.present
    assert d.click == pytest.approx(tuple(found_description["most_likely_click"]))
    assert 0 < d.extreme[1] < d.click[1]  # the tip is left of the crystal
    assert d.aoi_bbox[0] == pytest.approx(found_description["aoi_bbox"][1])
    assert d.mask.dtype == bool and d.mask.any()


@pytest.mark.parametrize("key", ["present", "most_likely_click"])
def test_missing_fields_name_themselves(found_description, key):
    broken = {k: v for k, v in found_description.items() if k != key}
    with pytest.raises(MurkoProtocolError, match=key):
        parse_description(broken, 3)


def test_a_description_without_foreground_has_an_empty_mask(found_description):
    d = parse_description({"present": 0, "most_likely_click": np.array([-1, -1]), "prediction_shape": np.array([64, 80])})
    assert d.mask.shape == (64, 80) and not d.mask.any()


def test_the_mock_description_has_mains_schema(found_description):
    d = found_description
    for key in ("original_shape", "prediction_shape", "hierarchical_mask", "present", "most_likely_click",
                "aoi_bbox", "crystal_bbox", "extreme", "end_likely", "start_likely", "start_possible",
                "foreground", "crystal", "loop_inside", "loop", "crystal,loop", "crystal,loop,stem"):
        assert key in d, key
    assert d["original_shape"].tolist() == [480, 640] and d["prediction_shape"].tolist() == [256, 320]
    assert d["most_likely_click"].dtype == np.float64
    assert isinstance(d["present"], int)
    notion = d["crystal"]
    assert notion["present"] == 1 and isinstance(notion["h"], int) and isinstance(notion["w"], int)
    inertia, eigenvalues, eigenvectors, centre = notion["pa"]
    assert inertia.shape == (2, 2) and eigenvalues.shape == (2,) and centre == pytest.approx([notion["r"], notion["c"]])
    assert notion["notion_mask"].dtype == np.uint8
    assert set(np.unique(d["hierarchical_mask"])) <= set(range(7))
    assert 6 in d["hierarchical_mask"]  # the crystal is painted last
    # the click is the crystal's centroid, on the prediction grid, as a fraction
    assert d["most_likely_click"] == pytest.approx(np.array([notion["r"], notion["c"]]) / [256, 320])
    # the tip ("end") is left of the pin side ("start")
    assert d["end_likely"][1] < d["start_likely"][1] <= d["start_possible"][1]


# --- orientation ---------------------------------------------------------------------------


def test_orientation_names():
    assert tip_direction("horizontal") == "left" and tip_direction("vertical_up") == "up"
    with pytest.raises(ValueError, match="horizontal_flipped"):
        tip_direction("sideways")
    assert Orientation("left", "left").is_identity
    assert Orientation("right", "left").ops == ("flip_lr",)


@pytest.mark.parametrize("camera", list(TIP_DIRECTIONS) + list(ORIENTATION_ALIASES))
@pytest.mark.parametrize("server", TIP_DIRECTIONS)
def test_the_server_sees_the_tip_where_it_expects_it(camera, server):
    # a picture that is dark only at the tip end of the camera picture
    image = np.zeros((6, 10), np.uint8)
    side = tip_direction(camera)
    {"left": lambda: image.__setitem__((slice(None), 0), 1), "right": lambda: image.__setitem__((slice(None), -1), 1),
     "up": lambda: image.__setitem__((0,), 1), "down": lambda: image.__setitem__((-1,), 1)}[side]()
    sent = Orientation(camera, server).to_server(image)
    edge = {"left": sent[:, 0], "right": sent[:, -1], "up": sent[0], "down": sent[-1]}[server]
    assert edge.all() and sent.sum() == image.sum()


@given(
    camera=st.sampled_from(TIP_DIRECTIONS),
    server=st.sampled_from(TIP_DIRECTIONS),
    row=st.integers(0, 5),
    col=st.integers(0, 8),
)
def test_points_and_masks_come_back_where_they_were(camera, server, row, col):
    o = Orientation(camera, server)
    h, w = 6, 9
    image = np.zeros((h, w), np.uint8)
    image[row, col] = 1
    sent = o.to_server(image)
    assert np.array_equal(o.mask_from_server(sent), image)
    sr, sc = np.argwhere(sent)[0]
    # pixel centres as fractions in the server's picture, mapped back to the camera's
    back = o.point_from_server(((sr + 0.5) / sent.shape[0], (sc + 0.5) / sent.shape[1]))
    assert back == pytest.approx(((row + 0.5) / h, (col + 0.5) / w))
    assert o.point_from_server(None) is None
