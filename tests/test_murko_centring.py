"""Murko centring end to end on the mockup: simulated camera → mock Murko server → fit → motors."""

from __future__ import annotations

import dataclasses
import io
import time
from pathlib import Path

import gevent
import h5py
import numpy as np
import pytest
from PIL import Image

from mxcubecore_interleave.errors import CentringError, CentringRefused
from mxcubecore_interleave.murko.storage import read_centring_h5
from mxcubecore_interleave.simulation.murko_scene import SampleScene
from mxcubecore_interleave.murko_demo import centring_error_mm, place_sample

from .murko_helpers import SignalRecorder, free_port, murko, murko_server  # noqa: F401 (fixtures)

pytestmark = pytest.mark.beamline

SIGNALS = ("centringStarted", "centringSuccessful", "centringFailed")
OFF_CENTRE = {"phiy": 0.035, "phiz": -0.015, "sampx": 0.025, "sampy": -0.02}


def _positions(beamline) -> dict[str, float]:
    return beamline.diffractometer.get_value_motors(["omega", "phiy", "phiz", "sampx", "sampy"])


def test_centring_converges_from_off_centre_within_2_um(beamline, murko, tmp_path):
    place_sample(beamline, OFF_CENTRE, omega=10.0)
    before = centring_error_mm(beamline)
    assert max(abs(v) for v in before.values()) > 0.01
    signals = SignalRecorder(murko, SIGNALS)
    try:
        result = murko.centre(output_dir=tmp_path / "centring", prefix="s1")
    finally:
        signals.close()
    error = centring_error_mm(beamline)
    assert all(abs(v) < 0.002 for v in error.values()), f"error after centring (mm): {error}"
    assert signals.names() == ["centringStarted", "centringSuccessful"]
    method, status = signals.args("centringSuccessful")
    assert method == "Murko"
    assert status["valid"] is True
    assert set(status["motors"]) == {"omega", "phiy", "phiz", "sampx", "sampy"}
    assert status["motors"]["phiy"] == pytest.approx(_positions(beamline)["phiy"])
    assert result.rms_mm < 0.002
    assert len(result.rounds[-1].omega_deg) == 4


def test_the_fit_sees_the_offsets_that_were_set(beamline, murko, tmp_path):
    """One round: the correction applied is the offset put in, motor by motor."""
    place_sample(beamline, OFF_CENTRE, omega=0.0)
    result = murko.centre(output_dir=tmp_path, prefix="s2", store_3d=False)
    correction = result.rounds[0].correction
    for role, offset in OFF_CENTRE.items():
        assert correction[role] == pytest.approx(-offset, abs=0.002), role
    assert result.files == {}
    assert all(isinstance(p, bytes) for p in result.rounds[0].images)  # the camera's own JPEGs


def test_rgb_pictures_are_encoded_off_the_hub_and_centre_the_same(beamline, murko, tmp_path, mocker):
    """camera_jpeg off: each RGB picture is encoded in gevent's thread pool as soon as it is
    taken (while omega turns on), so the request gets pictures ready to send."""
    import threading

    from mxcubecore_interleave.murko.client import MurkoClient, PreparedPicture

    place_sample(beamline, OFF_CENTRE, omega=0.0)
    prepared_in, sent = [], []
    real_prepare, real_predict = MurkoClient.prepare, MurkoClient.predict

    def prepare(self, picture):
        prepared_in.append(threading.get_ident())
        return real_prepare(self, picture)

    def predict(self, images):
        sent.append(list(images))
        return real_predict(self, images)

    mocker.patch.object(MurkoClient, "prepare", prepare)
    mocker.patch.object(MurkoClient, "predict", predict)
    murko._drop_client()
    job, ticks, gaps = _run_with_ticker(lambda: murko.centre(store_3d=False, camera_jpeg=False))
    result = job.value
    assert all(isinstance(p, np.ndarray) for p in result.rounds[0].images)
    # 4 views are fewer than min_views (5): a second round verifies the first
    assert len(result.rounds) == 2
    assert len(prepared_in) == 2 * 4 and threading.get_ident() not in prepared_in
    assert len(sent) == 2 and all(isinstance(p, PreparedPicture) for p in sent[0] + sent[1])
    assert all(abs(v) < 0.002 for v in centring_error_mm(beamline).values())
    assert gaps.max() < 0.5


def test_nothing_found_rotates_retries_then_fails_without_moving(beamline, murko, tmp_path, mocker):
    camera = beamline.sample_view.camera
    camera.set_scene(SampleScene(mounted=False))
    place_sample(beamline, OFF_CENTRE, omega=30.0)
    start = _positions(beamline)
    grab = mocker.spy(camera, "get_image_array")
    signals = SignalRecorder(murko, SIGNALS)
    try:
        with pytest.raises(CentringError, match="found no sample in 3 attempt"):
            murko.centre(output_dir=tmp_path / "out", prefix="none")
    finally:
        signals.close()
    # it really turned and retried: 3 attempts x 4 views, at turned angles
    assert grab.call_count == 3 * 4
    after = _positions(beamline)
    for role, value in start.items():
        assert after[role] == pytest.approx(value, abs=1e-9), role
    assert signals.names() == ["centringStarted", "centringFailed"]
    method, status = signals.args("centringFailed")
    assert method == "Murko" and status["valid"] is False
    assert "found no sample" in status["error"] and status["check"] == "nothing_found"
    # the refusal is the stored outcome: one HDF5 file with what was seen, nothing else
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["none_murko.h5"]
    assert status["files"] == {"h5": str(tmp_path / "out" / "none_murko.h5")}
    record = read_centring_h5(tmp_path / "out" / "none_murko.h5")
    assert record["outcome"].startswith("refused: Murko found no sample") and record["outcome_check"] == "nothing_found"
    assert len(record["images_jpeg"]) == 4 and record["present"].tolist() == [0, 0, 0, 0]


def _run_with_ticker(func):
    """Run ``func`` in a greenlet while another greenlet ticks: proves the hub was never blocked."""
    ticks = []

    def ticker():
        while True:
            ticks.append(time.monotonic())
            gevent.sleep(0.05)

    tick = gevent.spawn(ticker)
    try:
        job = gevent.spawn(func)
        job.join(timeout=30)
        assert job.ready(), "the centring never returned"
    finally:
        tick.kill()
    gaps = np.diff(ticks)
    return job, ticks, gaps


def test_dead_server_fails_clearly_and_the_gevent_loop_keeps_running(beamline, murko, tmp_path):
    place_sample(beamline, OFF_CENTRE, omega=0.0)
    start = _positions(beamline)
    murko.set_server("127.0.0.1", free_port())  # nothing listens there
    murko.config.timeout_s, murko.config.timeout_per_image_s = 0.6, 0.0

    job, ticks, gaps = _run_with_ticker(lambda: murko.centre(output_dir=tmp_path, prefix="dead"))
    assert isinstance(job.exception, CentringError)
    assert "Murko" in str(job.exception) and "127.0.0.1" in str(job.exception)
    assert len(ticks) > 10
    assert gaps.max() < 0.5, f"the hub was blocked for {gaps.max():.2f} s"
    after = _positions(beamline)
    for role, value in start.items():
        assert after[role] == pytest.approx(value, abs=1e-9), role


def test_slow_server_times_out_clearly(beamline, murko, tmp_path):
    from mxcubecore_interleave.murko_demo import mock_server_class

    MockMurkoServer = mock_server_class()

    slow = MockMurkoServer("127.0.0.1", port=0, delay_s=3.0)
    slow.start()
    try:
        place_sample(beamline, OFF_CENTRE, omega=0.0)
        start = _positions(beamline)
        murko.set_server("127.0.0.1", slow.port)
        murko.config.timeout_s, murko.config.timeout_per_image_s = 0.6, 0.0
        job, ticks, gaps = _run_with_ticker(lambda: murko.centre(output_dir=tmp_path, prefix="slow"))
    finally:
        slow.stop()
    assert isinstance(job.exception, CentringError)
    assert gaps.max() < 0.5
    after = _positions(beamline)
    for role, value in start.items():
        assert after[role] == pytest.approx(value, abs=1e-9), role


def test_3d_files_are_written_readable_and_the_hull_holds_the_crystal(beamline, murko, tmp_path):
    import meshio
    import trimesh

    place_sample(beamline, OFF_CENTRE, omega=0.0)
    result = murko.centre(output_dir=tmp_path / "sample1", prefix="s1", omega_angles_deg=[0, 45, 90, 135, 180, 225, 270, 315])
    files = result.files
    assert set(files) == {"h5", "ply", "points", "png"}
    for path in files.values():
        assert path.startswith(str(tmp_path / "sample1"))

    mesh = trimesh.load(files["ply"], force="mesh", process=False)
    assert len(mesh.vertices) > 50 and len(mesh.faces) > 50
    _assert_outward_closed_mesh_within_the_hull(mesh, files, result)
    m = meshio.read(files["ply"])
    assert m.points.shape[1] == 3
    # meshio sees the same triangles the same way round: the signed volume from its cells
    tri = m.points.astype(float)[m.cells_dict["triangle"]]
    assert np.einsum("ij,ij->i", tri[:, 0], np.cross(tri[:, 1], tri[:, 2])).sum() / 6.0 == pytest.approx(mesh.volume, rel=1e-5)

    with h5py.File(files["h5"], "r") as h5:
        g = h5["murko"]
        assert g["omega_deg"].shape == (8,)
        # the inputs are stored: the 8 camera pictures, as JPEG, decodable to the camera's size
        assert g["images_jpeg"].shape == (8,)
        picture = Image.open(io.BytesIO(g["images_jpeg"][3].tobytes()))
        assert picture.size == (beamline.sample_view.camera.get_width(), beamline.sample_view.camera.get_height())
        assert g["masks"].shape[0] == 8 and g["masks"].dtype == np.uint8
        assert g["fit/rms"][()] == pytest.approx(result.rms_mm)
        assert g["result_position/phiy"][()] == pytest.approx(result.centred_position["phiy"])
        h5_vertices = g["mesh/vertices_mm"][()]
        h5_faces = g["mesh/faces"][()]
    # the PLY is the HDF5's mesh, as the third-party readers see it
    assert np.allclose(m.points, h5_vertices, atol=1e-7)
    assert np.array_equal(m.cells_dict["triangle"], h5_faces)
    # the point cloud PLY holds the hull's voxel centres, in motor coordinates like the mesh
    cloud = trimesh.load(files["points"])
    with h5py.File(files["h5"], "r") as h5:
        assert np.allclose(cloud.vertices, h5["murko/hull/points_mm"][()], atol=1e-7)

    # the hull, in motor coordinates (positions that centre each point), holds the crystal
    scene = beamline.sample_view.camera.scene
    crystal = scene.crystal_points(300, seed=1)
    inside = result.hull_contains(crystal)
    assert inside.mean() > 0.95, f"only {inside.mean():.0%} of the crystal is inside the hull"
    # ... and not what is well away from the loop (so "contains" is not just "everything")
    outside = _points_outside_the_sample(scene)
    assert not result.hull_contains(outside).any(), result.hull_contains(outside)
    on_grid = result.frame.to_hull(outside[:-1]) - result.hull.origin_mm
    assert np.all((on_grid >= 0) & (on_grid <= np.array(result.hull.volume.shape) * result.hull.voxel_size_mm))
    # and the mesh is where the crystal is: its bounds enclose the crystal centre
    centre = np.array([beamline.sample_view.camera.scene.crystal_position[k] for k in ("phiy", "sampx", "sampy")])
    lo, hi = mesh.bounds
    assert np.all(lo <= centre) and np.all(centre <= hi)


def _assert_outward_closed_mesh_within_the_hull(mesh, files, result) -> None:
    """The PLY mesh as trimesh reads it: closed, wound outwards (positive volume, about the
    hull's voxel volume), its vertices within the voxel centres' bounds plus one voxel."""
    import trimesh

    assert mesh.is_watertight
    assert mesh.volume > 0, f"the mesh is inside out (volume {mesh.volume} mm3)"
    assert mesh.volume == pytest.approx(result.hull.volume_mm3, rel=0.35)
    cloud = trimesh.load(files["points"])
    lo, hi = cloud.vertices.min(axis=0), cloud.vertices.max(axis=0)
    voxel = result.hull.voxel_size_mm
    assert np.all(mesh.vertices >= lo - voxel) and np.all(mesh.vertices <= hi + voxel)


def _points_outside_the_sample(scene: SampleScene) -> np.ndarray:
    """Motor-coordinate points (phiy, sampx, sampy) well away from pin, stem, loop and crystal:
    beside the loop in its plane, above and below it, and (last) beyond the loop's tip. All but
    the last lie inside the hull's grid, so only the carving can put them outside."""
    loop = scene.loop_centre()
    half_length, half_width = scene.loop_semi_axes_mm
    plane = np.radians(scene.loop_plane_deg)
    in_plane = np.array([0.0, np.cos(plane), np.sin(plane)])
    normal = np.array([0.0, -np.sin(plane), np.cos(plane)])
    along = np.array([1.0, 0.0, 0.0])  # the pin side is +phiy
    return np.array([
        loop + (half_width + 0.015) * in_plane,
        loop - (half_width + 0.015) * in_plane,
        loop + 0.04 * normal,
        loop - 0.04 * normal,
        loop + 0.03 * along + 0.04 * normal,
        loop - 0.03 * along - 0.035 * normal,
        loop + 0.03 * in_plane + 0.03 * normal,
        loop - (half_length + 0.015) * along,
    ])


def test_a_fit_worse_than_the_limit_moves_nothing(beamline, murko, tmp_path):
    place_sample(beamline, OFF_CENTRE, omega=0.0)
    start = _positions(beamline)
    with pytest.raises(CentringError, match="do not fit one sinusoid"):
        murko.centre(output_dir=tmp_path / "out", prefix="bad", max_rms_mm=1e-7)
    after = _positions(beamline)
    for role, value in start.items():
        assert after[role] == pytest.approx(value, abs=1e-9), role
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["bad_murko.h5"]
    record = read_centring_h5(tmp_path / "out" / "bad_murko.h5")
    assert record["outcome_check"] == "residual" and "do not fit one sinusoid" in record["outcome"]
    assert record["fit"]["rms"] > 1e-7 and "result_position" not in record


def test_unknown_or_invalid_overrides_are_refused_before_anything_moves(beamline, murko):
    place_sample(beamline, OFF_CENTRE, omega=0.0)
    start = _positions(beamline)
    with pytest.raises(CentringError, match="unknown Murko centring setting"):
        murko.centre(omega_angle=[0, 90])
    with pytest.raises(ValueError, match="at least 3 omega angles"):
        murko.centre(omega_angles_deg=[0, 90])
    assert _positions(beamline) == pytest.approx(start)


def test_the_configuration_reads_from_xml_text_too():
    from mxcubecore_interleave.hardware_objects.MurkoCentring import MurkoCentring

    config = MurkoCentring.HOConfig(
        port=23475, omega_angles_deg="[0, 120, 240]", signs={"sampx": -1, "sampy": 1, "phiz": -1, "phiy": 1}
    )
    assert config.omega_angles_deg == [0.0, 120.0, 240.0]
    assert config.signs.sampx == -1 and config.signs.phiz == -1
    with pytest.raises(ValueError, match="TCP|less than or equal"):
        MurkoCentring.HOConfig(port=89011)
    with pytest.raises(ValueError, match=r"\+1 or -1"):
        MurkoCentring.HOConfig(signs="{'sampx': 2}")


@pytest.mark.parametrize(
    "directions",
    [
        {"omega": -1, "phiy": 1, "phiz": 1, "sampx": 1, "sampy": 1},
        {"omega": 1, "phiy": -1, "phiz": -1, "sampx": -1, "sampy": -1},
    ],
)
def test_sign_factors_follow_the_sample_view_motor_directions(beamline, murko, directions):
    """Another beamline's conventions: the camera and SampleView agree, the signs adapt."""
    from mxcubecore_interleave.hardware_objects.MurkoCentring import Signs

    for role, direction in directions.items():
        beamline.sample_view.centring_motors[role].direction = direction
    signs = Signs(
        sampx=directions["sampx"] * directions["omega"],
        sampy=directions["sampy"],
        phiz=directions["phiz"],
        phiy=directions["phiy"],
    )
    place_sample(beamline, OFF_CENTRE, omega=20.0)
    murko.centre(store_3d=False, signs=signs)
    error = centring_error_mm(beamline)
    assert all(abs(v) < 0.002 for v in error.values()), error

    # the same centring with the mockup's default signs moves some motor the wrong way: the
    # verifying round sees the sample further off than before, refuses, and puts it back
    place_sample(beamline, OFF_CENTRE, omega=20.0)
    before = _positions(beamline)
    with pytest.raises(CentringRefused, match="verifying round still wants"):
        murko.centre(store_3d=False)
    after = _positions(beamline)
    assert all(after[k] == pytest.approx(v, abs=1e-9) for k, v in before.items())


def test_more_rounds_stop_once_the_correction_is_below_tolerance(beamline, murko):
    place_sample(beamline, OFF_CENTRE, omega=0.0)
    result = murko.centre(store_3d=False, rounds=4, tolerance_mm=0.001)
    assert len(result.rounds) == 2  # the second round finds less than 1 um to do
    assert max(abs(v) for v in result.rounds[1].correction.values()) < 0.001
    assert all(abs(v) < 0.002 for v in centring_error_mm(beamline).values())


def test_a_noisy_camera_still_centres_within_2_um(beamline, murko):
    camera = beamline.sample_view.camera
    camera.set_scene(camera.scene.model_copy(update={"noise_level": 8.0}))
    place_sample(beamline, OFF_CENTRE, omega=0.0)
    result = murko.centre(store_3d=False, omega_angles_deg=[0, 45, 90, 135, 180, 225, 270, 315])
    assert result.rms_mm > 0  # the noise shows in the fit ...
    error = centring_error_mm(beamline)
    assert all(abs(v) < 0.002 for v in error.values()), error  # ... not in the result


def test_the_demo_centres_through_its_own_mock_server_and_writes_the_files(beamline, tmp_path):
    import json

    from mxcubecore_interleave.murko_demo import run_centring_demo

    beamline.diffractometer.omega.set_velocity(1000.0)
    murko = beamline.get_object_by_role("murko")
    configured = (murko.config.host, murko.config.port)
    summary = run_centring_demo(beamline, tmp_path / "demo", prefix="demo")
    json.dumps(summary)  # a JSON-friendly summary for the demo report
    assert max(abs(v) for v in summary["error_before_um"].values()) > 10
    assert summary["max_error_after_um"] < 2.0
    assert set(summary["files"]) == {"h5", "ply", "points", "png"}
    for path in summary["files"].values():
        assert path.startswith(str(tmp_path / "demo"))
    from PIL import Image

    assert Image.open(summary["files"]["png"]).size[0] > 400
    assert (murko.config.host, murko.config.port) == configured  # the demo restores the server


def test_views_without_the_sample_are_left_out_of_the_fit(beamline, murko, tmp_path):
    """Murko misses the sample in one of five views: the four others still centre it."""
    client = murko.client()
    real_predict = client.predict

    def predict_missing_second(images):
        views = real_predict(images)
        views[1] = dataclasses.replace(views[1], present=False)
        return views

    client.predict = predict_missing_second
    place_sample(beamline, OFF_CENTRE, omega=0.0)
    result = murko.centre(output_dir=tmp_path / "out", prefix="miss", omega_angles_deg=[0, 72, 144, 216, 288])
    assert result.rounds[0].present == [True, False, True, True, True]
    assert np.isnan(result.rounds[0].shift_mm[1]).all()
    assert all(abs(v) < 0.002 for v in centring_error_mm(beamline).values())
    with h5py.File(result.files["h5"], "r") as h5:
        assert h5["murko/present"][()].tolist() == [1, 0, 1, 1, 1]
        assert h5["murko/masks"].shape[0] == 4


@pytest.mark.parametrize(
    ("orientation", "signs"),
    [
        # the camera turned clockwise (tip up): along the axis = rows downwards, as the columns
        # were; across it = columns, opposite to the rows -> phiz, sampx, sampy signs flip
        ("vertical_up", {"sampx": -1, "sampy": -1, "phiz": -1, "phiy": 1}),
        # anticlockwise (tip down): along = rows upwards -> phiy flips; across = columns as rows
        ("vertical_down", {"sampx": 1, "sampy": 1, "phiz": 1, "phiy": -1}),
    ],
)
def test_a_vertical_rotation_axis_centres_and_stores_a_vertical_hull(beamline, murko, tmp_path, orientation, signs):
    """murko.md §2.3: with a vertical axis the columns are across it and the rows along it."""
    camera = beamline.sample_view.camera
    camera.config.orientation = orientation
    place_sample(beamline, OFF_CENTRE, omega=0.0)
    picture = camera.get_image_array()
    assert picture.shape[:2] == (camera.get_height(), camera.get_width())
    dark = np.argwhere(picture.sum(axis=2) < 300)
    # the sample runs up-down in the picture: its dark pixels span more rows than columns
    assert np.ptp(dark[:, 0]) > np.ptp(dark[:, 1])

    result = murko.centre(output_dir=tmp_path / "v", prefix="v", orientation=orientation, signs=signs,
                          omega_angles_deg=[0, 45, 90, 135, 180, 225, 270, 315])
    error = centring_error_mm(beamline)
    assert all(abs(v) < 0.002 for v in error.values()), error
    assert result.rounds[0].axis == "vertical"
    with h5py.File(result.files["h5"], "r") as h5:
        assert h5["murko/axis_orientation"][()].decode() == "vertical"
        assert h5["murko/camera_orientation"][()].decode() == orientation
        assert h5["murko/masks"].shape[1:] == (320, 256)  # the prediction grid, turned with the camera
        assert "image rows" in h5["murko/hull/frame"][()].decode()
    # these signs make the motor frame a mirror (vertical_up) or not (vertical_down): either
    # way the mesh trimesh reads is closed and wound outwards
    import trimesh

    mesh = trimesh.load(result.files["ply"], force="mesh", process=False)
    _assert_outward_closed_mesh_within_the_hull(mesh, result.files, result)
    scene = camera.scene
    inside = result.hull_contains(scene.crystal_points(300, seed=2))
    assert inside.mean() > 0.95, f"only {inside.mean():.0%} of the crystal is inside the hull"
    assert not result.hull_contains(_points_outside_the_sample(scene)).any()


def test_per_call_overrides_reach_the_client_and_the_motors(beamline, murko, murko_server, tmp_path):
    """host/port/timeouts/min_size/orientation/motion_timeout_s given to centre() are used."""
    place_sample(beamline, OFF_CENTRE, omega=0.0)
    dead = free_port()
    murko.set_server("127.0.0.1", dead)  # the configured server is dead ...
    murko.config.timeout_s, murko.config.timeout_per_image_s = 0.3, 0.0
    # ... the call's own server answers
    murko.centre(store_3d=False, host="127.0.0.1", port=murko_server.port, timeout_s=5.0)
    assert all(abs(v) < 0.002 for v in centring_error_mm(beamline).values())
    assert murko.config.port == dead  # the call did not change the configuration
    # min_size reaches the server: nothing is big enough, so nothing is found
    with pytest.raises(CentringError, match="found no sample"):
        murko.centre(store_3d=False, port=murko_server.port, timeout_s=5.0, min_size=10**6, max_attempts=1)
    # a motion timeout too short for omega's first move fails the centring and names the limit
    beamline.diffractometer.omega.set_velocity(50.0)
    with pytest.raises(CentringError, match="within 0.05 s"):
        murko.centre(store_3d=False, port=murko_server.port, timeout_s=5.0, motion_timeout_s=0.05)
    beamline.diffractometer.omega.set_velocity(1000.0)
    # and the configured (dead) server is what a call without overrides gets
    with pytest.raises(CentringError, match=r"did not answer within 0.3 s"):
        murko.centre(store_3d=False)


def test_centring_successful_comes_before_the_3d_files_which_follow_off_the_hub(beamline, murko, tmp_path):
    out = tmp_path / "later"
    seen = {}

    class Slot:
        def successful(self, method, status):
            seen["successful"] = (time.monotonic(), sorted(p.name for p in out.glob("*")) if out.exists() else [], status)

        def stored(self, method, status):
            seen["stored"] = (time.monotonic(), status)

    slot = Slot()
    murko.connect("centringSuccessful", slot.successful)
    murko.connect("centringFilesStored", slot.stored)
    place_sample(beamline, OFF_CENTRE, omega=0.0)
    try:
        job, ticks, gaps = _run_with_ticker(lambda: murko.centre(output_dir=out, prefix="later"))
    finally:
        murko.disconnect("centringSuccessful", slot.successful)
        murko.disconnect("centringFilesStored", slot.stored)
    result = job.value
    t_ok, files_then, status_ok = seen["successful"]
    t_stored, status_stored = seen["stored"]
    # the UI hears of the centring (motors in place) before any 3D file exists
    assert files_then == [] and status_ok["murko"]["files"] == {} and status_ok["murko"]["files_pending"] is True
    assert status_ok["motors"] == pytest.approx(_positions(beamline))
    # the files come with the later signal and in the result
    assert t_stored >= t_ok
    assert status_stored["murko"]["files_pending"] is False
    assert status_stored["murko"]["files"] == result.files and set(result.files) == {"h5", "ply", "points", "png"}
    assert all(Path(p).is_file() for p in result.files.values())
    # the carving and writing ran in a thread: the hub kept ticking meanwhile
    during = [g for t, g in zip(ticks[1:], gaps) if t_ok < t < t_stored]
    assert result.timings_s["store"] > 0
    assert len(during) >= 2, f"no ticks while the files were written ({result.timings_s['store']:.2f} s)"
    assert max(during) < 0.5, f"the hub was blocked {max(during):.2f} s while the files were written"
