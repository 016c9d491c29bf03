"""The interleaved collection and the Murko centring on a diffractometer that offers only what
mxcubecore 2.149's ``GenericDiffractometer`` (and the Microdiff family) offer; the MD2 and MD3
example configurations in configuration/sites/ load and centre the simulated sample."""

from pathlib import Path
from unittest.mock import PropertyMock

import pytest
import yaml

from mxcubecore_interleave.goniometer import MD3_ROLES, MotorRoles, motor_roles_from
from mxcubecore_interleave.interleave.runner import add_interleaved_collection
from mxcubecore_interleave.murko_demo import centring_error_mm, place_sample
from mxcubecore_interleave.record import AcquisitionRecord
from tests.murko_helpers import murko, murko_server  # noqa: F401 (fixtures)

SITES = Path(__file__).resolve().parents[1] / "configuration" / "sites"
OFF_CENTRE = {"phiy": 0.035, "phiz": -0.015, "sampx": 0.025, "sampy": -0.02}


def lacking() -> set[str]:
    """What the mockup has and GenericDiffractometer lacks, plus what the Microdiff family lacks."""
    from mxcubecore.HardwareObjects.GenericDiffractometer import GenericDiffractometer
    from mxcubecore.HardwareObjects.mockup.DiffractometerMockup import DiffractometerMockup

    extra = {n for n in dir(DiffractometerMockup) if not n.startswith("_") and not hasattr(GenericDiffractometer, n)}
    return extra | {"save_centring_positions"}


class RefusingDiffractometer:
    """The mockup diffractometer seen through GenericDiffractometer's API only; ``names`` renames
    its motors (site role -> mockup role), e.g. to an MD3's."""

    def __init__(self, real, names=None):
        object.__setattr__(self, "_real", real)
        object.__setattr__(self, "_names", dict(names or {}))
        object.__setattr__(self, "_refused", lacking())
        object.__setattr__(self, "refusals", [])

    def __getattr__(self, name):
        if name in self._refused:
            self.refusals.append(name)
            raise AttributeError(f"GenericDiffractometer has no {name}")
        if name in self._names:
            return getattr(self._real, self._names[name])
        if name in self._names.values() and name not in self._names:
            raise AttributeError(f"this diffractometer calls {name} otherwise")
        return getattr(self._real, name)

    def get_motors(self):
        motors = dict(self._real.get_motors())
        for site, real in self._names.items():
            motors[site] = motors.pop(real)
        return motors

    def get_object_by_role(self, role):
        return self.get_motors().get(role) or self._real.get_object_by_role(role)


def test_the_refusal_list_is_what_real_diffractometers_lack():
    assert {"set_value_motors", "get_value_motors", "wait_status_ready", "get_phase_enum",
            "save_centring_positions"} <= lacking()


def test_motor_roles_and_table_offset():
    roles = motor_roles_from(type("C", (), {"motor_roles": "md3", "table_offset_deg": 90.0})())
    assert roles.roles == MD3_ROLES
    site = roles.to_site({"sampx": 1.0, "sampy": 0.0, "phiy": 0.5})
    assert site["centringx"] == pytest.approx(0.0, abs=1e-12) and site["centringy"] == pytest.approx(-1.0)
    assert roles.from_site(site) == pytest.approx({"sampx": 1.0, "sampy": 0.0, "phiy": 0.5})
    with pytest.raises(ValueError, match="same motor"):
        MotorRoles(roles={"phiy": "phiz"})
    with pytest.raises(ValueError, match="unknown centring names"):
        MotorRoles(roles={"chi": "chi"})


@pytest.mark.beamline
def test_interleaved_collection_on_a_refusing_diffractometer(beamline, mocker):
    task = {"sweeps": [{"id": "a", "energy_keV": 12.66, "num_images": 4, "osc_range": 0.5, "exposure_time": 0.001,
                        "kappa": 10.0, "phi": 20.0},
                       {"id": "b", "energy_keV": 12.66, "num_images": 4, "osc_range": 0.5, "exposure_time": 0.001,
                        "kappa": 0.0, "phi": 0.0}],
            "wedge_size": 2, "prefix": "rd", "subdir": "refusing", "orientation_change": "none"}
    # queued first: mxcubecore's own Beamline.get_default_acquisition_parameters (what a front
    # end's form starts from) reads the mockup-only get_value_motors
    q, node = add_interleaved_collection(beamline, task)
    model, _ = q.entry(node)
    proxy = RefusingDiffractometer(beamline.diffractometer)
    kappa_moves = mocker.spy(proxy.get_motors()["kappa"], "set_value")
    mocker.patch.object(type(beamline), "diffractometer", new_callable=PropertyMock, return_value=proxy)
    assert q.execute(timeout=120), proxy.refusals
    rec = AcquisitionRecord.load(model.record_path)
    assert rec.status == "completed" and sum(w.n_collected for w in rec.wedges) == 8
    # kappa set through the motor's own set_value, once per change of sweep orientation
    assert {round(c.args[0], 3) for c in kappa_moves.call_args_list} == {0.0, 10.0}


def _load_site(name: str, murko) -> dict:
    """The example's settings, validated by the HO's own configuration model."""
    text = yaml.safe_load((SITES / name).read_text())
    assert text["class"] == "mxcubecore_interleave.hardware_objects.MurkoCentring.MurkoCentring"
    cfg = {k: v for k, v in text["configuration"].items() if k not in ("host", "port")}
    type(murko.config).model_validate(text["configuration"])
    return cfg


@pytest.mark.beamline
@pytest.mark.parametrize(("site", "names"), [
    ("md2-murko.yaml", {}),
    ("md3-murko.yaml", {v: k for k, v in MD3_ROLES.items() if k != v}),
])
def test_site_example_centres_on_a_refusing_diffractometer(beamline, murko, murko_server, mocker, tmp_path,
                                                           site, names):
    settings = _load_site(site, murko)
    camera = beamline.sample_view.camera
    camera.config.orientation = settings["orientation"]
    real = beamline.diffractometer
    place_sample(beamline, OFF_CENTRE, omega=0.0)
    proxy = RefusingDiffractometer(real, names)
    if names:
        camera.config.motor_roles = "md3"  # the simulator reads the MD3 names too
    mocker.patch.object(type(beamline), "diffractometer", new_callable=PropertyMock, return_value=proxy)
    result = murko.centre(output_dir=tmp_path / "c", prefix="c", **settings)
    mocker.stopall()
    assert result.rounds[0].axis == ("vertical" if names else "horizontal")
    error = centring_error_mm(beamline)
    assert all(abs(v) < 0.002 for v in error.values()), error
    assert result.centred_position  # the centring ran only on what the proxy offers
