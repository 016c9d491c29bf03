"""Three collects behind the same interleaved entry, on the mockup beamline loaded from configuration:
the simulator, a site-style collect written here (its own images per file, files closed after
``collect()`` returns, nothing published; also with DESY P11's directory layout), and mxcubecore's
stock ``CollectMockup``, which writes nothing."""

import os
import time
from pathlib import Path

import h5py
import hdf5plugin  # noqa: F401
import nxmx
import pytest

from mxcubecore_interleave.eiger import frame_tag
from mxcubecore_interleave.nexus.locate import locate_global
from mxcubecore_interleave.interleave.runner import add_interleaved_collection, run_interleaved_collection
from mxcubecore_interleave.record import AcquisitionRecord
from mxcubecore_interleave.testing import DEFAULT_CONFIG_DIR, load_beamline, unload_beamline
from tests.test_interleave_entry import check_files_match_record, two_energy_task

pytestmark = pytest.mark.beamline

REGISTRAR = """class: mxcubecore_interleave.hardware_objects.QueueEntryRegistrar.QueueEntryRegistrar
configuration:
  entries:
    - mxcubecore_interleave.queue_entries.interleaved_collection.InterleavedCollectionQueueEntry
"""
SITE_COLLECT = """<object class="tests.SiteStyleCollect">
  <images_per_file>{ipf}</images_per_file>
  <close_delay>0.3</close_delay>
  <layout>{layout}</layout>
</object>"""
STOCK_COLLECT = '<object class="CollectMockup"><directory_prefix>mockup</directory_prefix></object>'


def site_config(tmp_path: Path, collect_xml: str | None, **settings) -> str:
    """A site's configuration directory (its own collect and settings) over the mockup's."""
    layer = tmp_path / "site-config"
    layer.mkdir(exist_ok=True)
    if collect_xml is not None:
        (layer / "collect.xml").write_text(collect_xml)
    (layer / "interleave_registrar.yaml").write_text(
        REGISTRAR + "".join(f"  {k}: {v!r}\n" for k, v in settings.items()))
    return f"{layer}{os.pathsep}{DEFAULT_CONFIG_DIR}"


@pytest.fixture
def load(tmp_path):
    def _load(config: str):
        return load_beamline(config, data_root=tmp_path / "data")

    yield _load
    unload_beamline()


def sweep_frame_tags(master: Path) -> list[int]:
    """The frames a sweep master shows, read through its links with h5py (and opened by nxmx)."""
    with h5py.File(master, "r") as f:
        assert nxmx.NXmx(f).entries[0].data
        data = f["/entry/data"]
        return [frame_tag(data[k][i]) for k in sorted(data) if k.startswith("data")
                for i in range(data[k].shape[0])]


@pytest.mark.parametrize("collect", ["simulator", "site"])
def test_collection_completes_with_any_collect(load, tmp_path, mocker, collect):
    config = (site_config(tmp_path, None) if collect == "simulator"
              else site_config(tmp_path, SITE_COLLECT.format(ipf=2, layout="dectris")))
    bl = load(config)
    assert type(bl.collect).__name__ == ("SimulatedEigerCollect" if collect == "simulator" else "SiteStyleCollect")
    repackager = bl.get_object_by_role("master_file_repackager")
    stages = mocker.spy(repackager, "write_sweep_masters")
    # masters before the collection assume the plan's split (one file per wedge of 3)
    run = run_interleaved_collection(bl, two_energy_task(n=6, wedge=3, write_masters_before=True), timeout=120)
    assert run.finished
    assert [c.args[1] for c in stages.call_args_list] == ["before", "after"]
    rec, n = check_files_match_record(run.record_path)
    assert rec.status == "completed" and n == 24
    # the split is the detector's: 100 per file (simulator configuration) or 2 (the site's)
    want = [3] if collect == "simulator" else [2, 1]
    assert all(w.frames_per_file == want and len(w.data_files) == len(want) for w in rec.wedges)
    assert [d.n for d in rec.data_files] == want * len(rec.wedges)
    # locate: every global image number is found in the file and place the detector put it
    base = run.record_path.parent
    for g in range(1, n + 1):
        loc = locate_global(run.record_path, g)
        with h5py.File(base / loc.data_file, "r") as f:
            assert frame_tag(f[loc.dataset or "/entry/data/data"][loc.index_in_file]) == g
    # sweep masters after the collection: every frame of the sweep, in sweep order
    assert len(run.sweep_masters) == 4
    for s in rec.sweeps:
        tags = sweep_frame_tags(run.record_path.parent / s.master)
        wanted = [g for w in rec.wedges_of(s.id) for g in range(w.first_global, w.first_global + w.n_collected)]
        assert tags == wanted and len(tags) == s.n_frames


def test_site_naming_from_configuration(load, tmp_path):
    """DESY P11 writes <prefix>/rotational_<NNN>/<prefix>_<run>: one setting says so."""
    config = site_config(tmp_path, SITE_COLLECT.format(ipf=2, layout="p11"),
                         master_file_template="{prefix}/rotational_{run:03d}/{prefix}_{run}_master.h5")
    bl = load(config)
    run = run_interleaved_collection(bl, two_energy_task(n=4, wedge=2), timeout=120)
    assert run.finished
    rec = AcquisitionRecord.load(run.record_path)
    assert rec.status == "completed"
    base = run.record_path.parent
    for w in rec.wedges:
        part = f"lyso_{w.sweep}_w"
        assert w.source_master.startswith(part) and "/rotational_001/" in w.source_master
        assert (base / w.source_master).is_file()
        assert [frame_tag(fr) for d in w.data_files for fr in h5py.File(base / d, "r")["/entry/data/data"]] == \
            list(range(w.first_global, w.first_global + w.n))
    for s in rec.sweeps:
        assert len(sweep_frame_tags(base / s.master)) == s.n_frames


def test_stock_collect_mockup_fails_clearly_and_a_working_collect_resumes(load, tmp_path, mocker):
    timeout = 2.0
    bl = load(site_config(tmp_path, STOCK_COLLECT, filewriter_timeout=timeout, filewriter_settle=0.5))
    assert type(bl.collect).__name__ == "CollectMockup"
    task = two_energy_task(n=6, wedge=3)
    q, node = add_interleaved_collection(bl, task)
    model, entry = q.entry(node)
    execute = mocker.spy(entry, "execute")
    t0 = time.monotonic()
    assert q.execute(timeout=60)
    elapsed = time.monotonic() - t0
    err = execute.spy_exception
    assert err is not None
    record_path = Path(model.record_path)
    directory = record_path.parent
    message = str(getattr(err, "message", err))
    assert "lyso_peak_w001_1_master.h5" in message and str(directory) in message, message
    assert f"within {timeout:g} s" in message
    assert timeout <= elapsed < timeout + 20  # waited for the filewriter, then gave up (no hang)
    rec = AcquisitionRecord.load(record_path)
    assert rec.status == "failed"
    assert all(w.status == "planned" and w.n_collected == 0 for w in rec.wedges)
    assert len(rec.wedges) == 8
    assert not list(directory.glob("*_data_*.h5"))

    # the same task with a working collect resumes run 1 and completes it
    unload_beamline()
    bl = load(site_config(tmp_path, SITE_COLLECT.format(ipf=2, layout="dectris")))
    run = run_interleaved_collection(bl, task, timeout=120)
    assert run.finished and run.record_path == record_path
    rec2, n = check_files_match_record(record_path)
    assert rec2.status == "completed" and n == 24
    assert rec2.acquisition_id == rec.acquisition_id  # the same acquisition, resumed


def test_settings_come_from_the_registrar_configuration(load, tmp_path):
    from mxcubecore_interleave.queue_entries.interleaved_collection import CollectSettings, collect_settings

    bl = load(str(DEFAULT_CONFIG_DIR))
    assert collect_settings(bl) == CollectSettings("", 30.0, 1.0)  # configuration/interleave_registrar.yaml
    unload_beamline()
    bl = load(site_config(tmp_path, None, master_file_template="{prefix}/{prefix}_{run}_master.h5",
                          filewriter_timeout=5, filewriter_settle=0.25))
    assert collect_settings(bl) == CollectSettings("{prefix}/{prefix}_{run}_master.h5", 5.0, 0.25)
