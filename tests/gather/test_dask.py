"""Gather on a Dask cluster (settings.dask_address) gives what a local run gives.

The cluster tests start a real `distributed.LocalCluster` of worker processes, which read from
moto's S3 server with their own clients; they are slow (cluster start-up) and marked so. The
sharding and merging they rely on are tested as plain functions first.
"""

from __future__ import annotations

import gzip
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tasks.baseline import findings_from_parquet
from tasks.baseline.frame import candidate_windows
from tasks.contracts import EvidenceManifest, ObjectStatus, Source
from tasks.gather import _stage, gather_logs
from tasks.settings import Settings
from tasks.synthetic.generator import S3Sink, generate_incident
from tests.gather.test_gather import T0, WINDOW, lines


def _frame_rows(path: Path) -> list[tuple]:
    """Every row of a frame, in a canonical order (row order in logs.parquet means nothing)."""
    table = pq.read_table(path)
    rows = list(zip(*(table.column(n).to_pylist() for n in table.column_names), strict=True))
    return sorted(rows, key=repr)


def _comparable(manifest: EvidenceManifest) -> dict:
    data = manifest.model_dump(mode="json", exclude={"created_at"})
    data["stats"].pop("seconds")
    return data


def _listed(folder: Path, settings: Settings) -> list[_stage._Listed]:
    source = Source(name="app", uri=str(folder))
    store = _stage.open_store(source, settings)
    listed, error = _stage._list_source(source, store, [], lambda: None)
    assert error is None
    return sorted(listed, key=lambda i: i.info.key)


# --------------------------------------------------------------------------------------------
# Plain functions
# --------------------------------------------------------------------------------------------


def test_shards_are_consecutive_runs_of_the_listing_up_to_the_byte_budget(tmp_path: Path) -> None:
    folder = tmp_path / "logs"
    folder.mkdir()
    for i, size in enumerate([40, 40, 40, 100, 10]):
        (folder / f"{i}.log").write_bytes(b"x" * size)
    items = _listed(folder, Settings())
    shards = _stage.make_shards(items, max_bytes=90)
    assert [[it.info.key for it in s.items] for s in shards] == [
        ["0.log", "1.log"],
        ["2.log"],
        ["3.log"],  # bigger than the budget alone: a shard of its own, never split
        ["4.log"],
    ]
    assert [s.index for s in shards] == [0, 1, 2, 3]


def test_read_shard_and_merge_give_the_local_records_and_rows(tmp_path: Path) -> None:
    """The worker's half (read_shard) and the driver's half (merge_shard), without a cluster."""
    folder = tmp_path / "logs"
    folder.mkdir()
    (folder / "a.log.gz").write_bytes(gzip.compress(lines(T0 + timedelta(minutes=10), 50)))
    (folder / "b.log.gz").write_bytes(gzip.compress(lines(T0 + timedelta(minutes=20), 70)))
    (folder / "c.log").write_bytes(lines(T0 + timedelta(minutes=30), 30) + b"{broken\n")
    settings = Settings()
    local = gather_logs(
        [Source(name="app", uri=str(folder))], [WINDOW], tmp_path / "local", "INC-1", settings
    )

    items = _listed(folder, settings)
    shards = _stage.make_shards(items, max_bytes=1)
    assert len(shards) == 3
    writer = _stage._FrameWriter(tmp_path / "merged.parquet")
    for shard in shards:
        result = _stage.read_shard(shard, [WINDOW], settings)
        # The worker works on copies: the driver's records change only when merged.
        assert all(item.record.sha256 is None for item in shard.items)
        _stage.merge_shard(shard, result, writer)
    writer.close()

    assert [i.record for i in items] == local.manifest.objects
    assert items[2].record.rejected.total == 1
    assert writer.rows_written == local.manifest.stats.rows_kept == 150
    assert _frame_rows(tmp_path / "merged.parquet") == _frame_rows(local.parquet_path)


def test_a_failed_shard_fails_each_of_its_objects_with_the_cause(tmp_path: Path) -> None:
    folder = tmp_path / "logs"
    folder.mkdir()
    (folder / "a.log").write_bytes(b"x")
    (folder / "b.log").write_bytes(b"y")
    (shard,) = _stage.make_shards(_listed(folder, Settings()))
    _stage.fail_shard(shard, "The Dask worker reading shard 0 failed: KilledWorker: gone")
    assert [(i.record.status, i.record.reason) for i in shard.items] == [
        (
            ObjectStatus.FAILED,
            f"The Dask worker reading shard 0 failed: KilledWorker: gone ({i.record.uri}).",
        )
        for i in shard.items
    ]


def test_without_an_address_nothing_imports_dask(tmp_path: Path) -> None:
    folder = tmp_path / "logs"
    folder.mkdir()
    (folder / "a.log").write_bytes(lines(T0 + timedelta(minutes=10), 5))
    code = (
        "import sys\n"
        "from tasks.contracts import Source, TimeWindow\n"
        "from tasks.gather import gather_logs\n"
        "from tasks.settings import Settings\n"
        "from tests.gather.test_gather import WINDOW\n"
        f"r = gather_logs([Source(name='app', uri={str(folder)!r})], [WINDOW], {str(tmp_path)!r},"
        " 'INC-1', Settings())\n"
        "assert r.manifest.stats.rows_kept == 5, r.manifest.stats\n"
    )
    assert dask_modules_after(code) == "[]"


def dask_modules_after(code: str) -> str:
    """The Dask modules (printed as a sorted list) that running `code` in a fresh interpreter
    imported: the test's own process has them loaded already."""
    code += (
        "print(sorted(m for m in ('dask', 'distributed', 'prefect_dask') if m in sys.modules))\n"
    )
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


# --------------------------------------------------------------------------------------------
# On a LocalCluster of processes
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cluster(moto_endpoint: str) -> Iterator[str]:
    """Two worker processes of one thread each: the workers are not the test's process."""
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        processes=True, n_workers=2, threads_per_worker=1, dashboard_address=":0"
    ) as local_cluster:
        yield local_cluster.scheduler_address


@pytest.mark.slow
def test_findings_on_dask_are_those_of_a_local_run(
    tmp_path: Path,
    s3,
    bucket: str,
    moto_endpoint: str,
    cluster: str,
    prefect_harness: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    spec, _ = generate_incident(
        "bad-deploy", 3, S3Sink(s3, bucket), source_root=f"s3://{bucket}/", scale=0.03
    )
    windows = candidate_windows(spec)
    gather_windows = [windows.incident, *windows.baselines]
    # The workers get the endpoint from the settings, not from this process's environment (the
    # credentials come from boto3's chain: the session's dummy keys, inherited by the workers).
    local_settings = Settings(s3_endpoint_url=moto_endpoint)
    dask_settings = local_settings.model_copy(update={"dask_address": cluster})
    local = gather_logs(spec.sources, gather_windows, tmp_path / "local", spec.id, local_settings)
    # Small shards, so that several are in flight on both workers and merged in order.
    monkeypatch.setattr(_stage, "SHARD_BYTES", 512 * 1024)
    remote = gather_logs(spec.sources, gather_windows, tmp_path / "dask", spec.id, dask_settings)

    assert local.manifest.stats.read > 4
    read = [o for o in remote.manifest.objects if o.status is not ObjectStatus.SKIPPED]
    assert sum(o.size for o in read) > 3 * 512 * 1024  # so several shards
    assert _comparable(remote.manifest) == _comparable(local.manifest)
    assert _frame_rows(remote.parquet_path) == _frame_rows(local.parquet_path)
    local_findings = findings_from_parquet(local.parquet_path, windows, spec.id, local_settings)
    remote_findings = findings_from_parquet(remote.parquet_path, windows, spec.id, dask_settings)
    assert remote_findings.suspects
    # Everything but the recorded settings, which name the cluster.
    assert remote_findings.settings["dask_address"] == cluster
    assert remote_findings.model_dump(mode="json", exclude={"settings"}) == (
        local_findings.model_dump(mode="json", exclude={"settings"})
    )


@pytest.mark.slow
def test_a_corrupt_gzip_on_a_worker_is_reported_as_locally(
    tmp_path: Path, s3, bucket: str, moto_endpoint: str, cluster: str
) -> None:
    """Through plain Dask tasks (no Prefect API set): the other path of read_on_dask."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    bad = bytearray(gzip.compress(lines(T0 + timedelta(minutes=20), 5000)))
    bad[len(bad) // 2 : len(bad) // 2 + 100] = b"\x00" * 100
    good = gzip.compress(lines(T0 + timedelta(minutes=10), 200) + b"{not json\n")
    s3.put_object(Bucket=bucket, Key="app/broken.log.gz", Body=good + bytes(bad))
    s3.put_object(Bucket=bucket, Key="app/fine.log.gz", Body=gzip.compress(lines(T0, 3600)))
    sources = [Source(name="app", uri=f"s3://{bucket}/app/")]
    settings = Settings(s3_endpoint_url=moto_endpoint)
    local = gather_logs(sources, [WINDOW], tmp_path / "local", "INC-1", settings)
    with temporary_settings(restore_defaults={PREFECT_API_URL}):
        remote = gather_logs(
            sources,
            [WINDOW],
            tmp_path / "dask",
            "INC-1",
            settings.model_copy(update={"dask_address": cluster}),
        )
    broken = {o.key: o for o in remote.manifest.objects}["app/broken.log.gz"]
    assert broken.status is ObjectStatus.PARTIAL
    # One sentence naming the object, where the data broke, and what was kept.
    assert broken.reason.startswith("corrupt gzip after ")
    assert broken.reason.endswith(
        f"(s3://{bucket}/app/broken.log.gz); the rows parsed before the damage are kept."
    )
    assert broken.rejected.total == 1 and broken.lines_in_window >= 200
    stats = remote.manifest.stats
    assert (stats.read, stats.partial, stats.failed, stats.lines_rejected) == (1, 1, 0, 1)
    assert remote.manifest.errors == []
    assert _comparable(remote.manifest) == _comparable(local.manifest)
    assert _frame_rows(remote.parquet_path) == _frame_rows(local.parquet_path)
