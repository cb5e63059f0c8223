"""Where a source's service comes from when its records do not say: one log file per process
in a local folder (OpenStack's layout), or the source's own `service_pattern`."""

from __future__ import annotations

import gzip
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tasks.contracts import IncidentSpec
from tasks.gather import gather_logs
from tasks.settings import Settings

OPENSTACK = Path("/work/shared/data/openstack-faults/incidents")

SPEC = """\
id: OS-900
title: Failed OpenStack API requests
window: {start: '2018-06-27T02:45:00Z', end: '2018-06-27T02:50:00Z'}
sources:
  - name: openstack
    uri: logs/OS-900
    format: text
"""


def openstack_line(second: int, level: str, text: str) -> str:
    # As OpenStack logs them: nothing in the line names the process.
    return (
        f"2018-06-27 02:46:{second:02d}.764 1490 {level} oslo_service.periodic_task "
        f"[req-7d0b6dd2-9ca1-4c1a-91b7-21525511037e - - - - -] {text}\n"
    )


def gather_spec(spec: IncidentSpec, out: Path) -> list[dict]:
    windows = [spec.window, *spec.baseline]
    result = gather_logs(spec.sources, windows, out, spec.id, Settings())
    return pq.read_table(result.parquet_path, columns=["service", "object_key"]).to_pylist()


def test_local_files_name_their_service_and_the_spec_folder_anchors_the_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    incidents = tmp_path / "incidents"
    for key in (
        "nova/nova-compute.log.gz",
        "cinder/cinder-volume.log.gz",
        "keystone/keystone.log.gz",
    ):
        path = incidents / "logs" / "OS-900" / key
        path.parent.mkdir(parents=True)
        path.write_bytes(gzip.compress(openstack_line(1, "INFO", "ok").encode() * 3))
    (incidents / "OS-900.yaml").write_text(SPEC)
    monkeypatch.chdir(tmp_path)  # not the spec's folder: the relative uri must still resolve
    spec = IncidentSpec.from_file("incidents/OS-900.yaml")
    rows = gather_spec(spec, tmp_path / "out")
    services = {(r["object_key"], r["service"]) for r in rows}
    assert services == {
        ("nova/nova-compute.log.gz", "nova-compute"),
        ("cinder/cinder-volume.log.gz", "cinder-volume"),
        ("keystone/keystone.log.gz", "keystone"),
    }
    assert len(rows) == 9


def test_service_pattern_names_the_service_from_the_key(tmp_path: Path) -> None:
    for host in ("web1", "web2"):
        path = tmp_path / "logs" / host / "checkout" / "current"
        path.parent.mkdir(parents=True)
        path.write_text(openstack_line(2, "ERROR", "boom"))
    spec = IncidentSpec.from_file(
        _write(
            tmp_path / "spec.yaml",
            SPEC.replace("logs/OS-900", "logs")
            + "    service_pattern: '^[^/]+/(?P<service>[^/]+)/'\n",
        )
    )
    rows = gather_spec(spec, tmp_path / "out")
    assert {r["service"] for r in rows} == {"checkout"}
    assert len(rows) == 2


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@pytest.mark.skipif(not OPENSTACK.is_dir(), reason="the openstack-faults data is not here")
def test_real_openstack_incident_gets_one_service_per_log_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # read in place, from elsewhere: the data is never copied
    spec = IncidentSpec.from_file(OPENSTACK / "OS-001.yaml")
    folder = OPENSTACK / "logs" / "OS-001"
    assert spec.sources[0].local_path == folder
    stems = {p.name.removesuffix(".log.gz") for p in folder.rglob("*.log.gz")}
    rows = gather_spec(spec, tmp_path / "out")
    services = {r["service"] for r in rows}
    assert "openstack" not in services  # the source's name was the only answer before
    assert {"nova-compute", "nova-api", "neutron-server", "keystone"} <= services <= stems
    for row in rows[:: max(1, len(rows) // 500)]:
        assert row["object_key"].rsplit("/", 1)[-1] == f"{row['service']}.log.gz"
