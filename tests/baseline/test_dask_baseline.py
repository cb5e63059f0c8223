"""The baseline stage on Dask (settings.dask_address) gives what a local run gives.

The per-batch seam (a pool that runs one batch's work, merged in order) is tested on plain
functions with a thread pool first; the cluster tests start a real `distributed.LocalCluster`
of worker processes (the fixture of tests/gather/test_dask.py) and are slow.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tasks.baseline import findings_from_parquet, frame
from tasks.baseline.frame import FrameSource, candidate_windows
from tasks.baseline.patterns import mine_pattern_codes
from tasks.contracts import Source, WindowSet
from tasks.errors import StageError
from tasks.gather import _stage as gather_stage
from tasks.gather import gather_logs
from tasks.settings import Settings
from tasks.synthetic.generator import S3Sink, generate_incident
from tasks.workers import BoundedExecutor
from tests.gather import test_dask as gather_dask
from tests.gather.test_gather import T0, WINDOW, jl, lines

#: The LocalCluster of two worker processes, the gather tests' fixture.
cluster = gather_dask.cluster

# --------------------------------------------------------------------------------------------
# Plain functions
# --------------------------------------------------------------------------------------------


def test_map_in_order_keeps_the_input_order_and_bounds_what_is_in_flight() -> None:
    started: list[int] = []
    running = 0
    most = 0
    lock = threading.Lock()

    def slow_for_early(i: int) -> int:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
            started.append(i)
        time.sleep(0.02 if i % 3 == 0 else 0.0)  # early items finish last
        with lock:
            running -= 1
        return i * 10

    read: list[int] = []

    def items():
        for i in range(20):
            read.append(i)
            yield i

    with ThreadPoolExecutor(max_workers=8) as threads:
        results = []
        for result in BoundedExecutor(threads, 2).map_in_order(slow_for_early, items()):
            # Never more than in_flight + 1 items read ahead of the results taken.
            assert len(read) - len(results) <= 3
            results.append(result)
    assert results == [i * 10 for i in range(20)]
    assert most <= 3


def _messages(n: int) -> pa.Array:
    return pa.array(
        [f"user u{i % 7} logged in from 10.0.{i % 5}.{i % 11}" for i in range(n)]
        + ["disk /dev/sda1 full", None, "GET /api/v1/items/42 200 12ms"] * 5,
        pa.large_string(),
    )


def test_mining_through_a_pool_gives_the_codes_of_the_local_path() -> None:
    chunks = [_messages(40).slice(i, 9) for i in range(0, 55, 9)]
    local = mine_pattern_codes(iter(chunks))
    with ThreadPoolExecutor(max_workers=3) as threads:
        pooled = mine_pattern_codes(iter(chunks), BoundedExecutor(threads, 1))
    assert np.array_equal(pooled[0], local[0])
    assert pooled[1:] == local[1:]
    assert len(local[1]) > 2


def test_basics_through_a_pool_are_those_of_the_local_path(monkeypatch) -> None:
    monkeypatch.setattr(frame, "BATCH_ROWS", 7)
    ts = pa.array([1_000_000 * i for i in range(30)], pa.timestamp("us", tz="UTC"))
    attrs = pa.array(
        ['{"eventSource": "ec2.amazonaws.com"}' if i % 4 == 0 else '{"k": 1}' for i in range(30)]
    )
    table = pa.table({"ts": ts, "attrs": attrs, "message": pa.array(["m"] * 30)})
    local_ts, local_change = FrameSource(table).basics()
    with ThreadPoolExecutor(max_workers=3) as threads:
        pooled_ts, pooled_change = FrameSource(table, BoundedExecutor(threads, 1)).basics()
    assert np.array_equal(pooled_ts, local_ts) and np.array_equal(pooled_change, local_change)
    assert local_change.sum() == 8


def test_without_an_address_the_baseline_imports_no_dask(tmp_path: Path) -> None:
    folder = tmp_path / "logs"
    folder.mkdir()
    (folder / "a.log").write_bytes(
        lines(T0 - timedelta(minutes=40), 40) + lines(T0 + timedelta(minutes=10), 20)
    )
    (folder / "b.log").write_bytes(jl(T0 + timedelta(minutes=11), "disk full", level="error"))
    gathered = gather_logs(
        [Source(name="app", uri=str(folder))],
        [WINDOW, WINDOW.shifted(-WINDOW.duration)],
        tmp_path / "out",
        "INC-1",
        Settings(),
    )
    code = (
        "import sys\n"
        "from tasks.baseline import findings_from_parquet\n"
        "from tasks.contracts import WindowSet\n"
        "from tasks.settings import Settings\n"
        "from tests.gather.test_gather import WINDOW\n"
        "w = WindowSet(incident=WINDOW, baselines=[WINDOW.shifted(-WINDOW.duration)],"
        " baseline_kind='default')\n"
        f"f = findings_from_parquet({str(gathered.parquet_path)!r}, w, 'INC-1', Settings())\n"
        "assert f.total_incident_lines == 21, f.total_incident_lines\n"
    )
    assert gather_dask.dask_modules_after(code) == "[]"


# --------------------------------------------------------------------------------------------
# On a LocalCluster of processes
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def incident(tmp_path_factory, moto_endpoint: str) -> tuple[Path, WindowSet, str]:
    """One incident gathered locally: logs.parquet, its windows, its id."""
    import boto3

    s3 = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")
    bucket = "baseline-dask"
    s3.create_bucket(Bucket=bucket)
    spec, _ = generate_incident(
        "bad-deploy", 3, S3Sink(s3, bucket), source_root=f"s3://{bucket}/", scale=0.03
    )
    windows = candidate_windows(spec)
    out = tmp_path_factory.mktemp("gathered")
    with pytest.MonkeyPatch.context() as mp:
        # Several row groups, so that workers reading the file have several to share.
        mp.setattr(gather_stage, "ROW_GROUP_ROWS", 4096)
        gathered = gather_logs(
            spec.sources,
            [windows.incident, *windows.baselines],
            out,
            spec.id,
            Settings(s3_endpoint_url=moto_endpoint),
        )
    return gathered.parquet_path, windows, spec.id


def _baseline_tasks(client) -> list[dict]:
    return [t for t in client.get_task_stream() if str(t["key"]).startswith("baseline-")]


@pytest.mark.slow
@pytest.mark.parametrize("shared", [True, False], ids=["workers-read-the-file", "driver-sends"])
def test_findings_on_dask_are_those_of_a_local_run_and_ran_on_the_workers(
    incident, cluster: str, monkeypatch: pytest.MonkeyPatch, shared: bool
) -> None:
    distributed = pytest.importorskip("distributed")
    from tasks.baseline import _dask

    path, windows, incident_id = incident
    # Small batches, so that many are in flight on both workers and merged in order.
    monkeypatch.setattr(frame, "BATCH_ROWS", 2048)
    source = FrameSource(path)
    batches = len(list(source.batches(["ts"])))
    groups = source._file.num_row_groups
    assert batches > 8 and groups > 1
    if not shared:
        # As on a cluster without shared storage: the workers cannot open the driver's file.
        monkeypatch.setattr(_dask, "workers_see_file", lambda client, path: False)
    settings = Settings()
    local = findings_from_parquet(path, windows, incident_id, settings)
    with distributed.Client(cluster) as client:
        client.get_task_stream()  # starts the scheduler's record of tasks
        started = time.time()
        remote = findings_from_parquet(
            path, windows, incident_id, settings.model_copy(update={"dask_address": cluster})
        )
        ran = [
            t
            for t in client.get_task_stream(start=started)
            if str(t["key"]).startswith("baseline-")
        ]
        workers = set(client.scheduler_info()["workers"])

    assert remote.suspects and remote.patterns
    assert remote.model_dump(mode="json", exclude={"settings"}) == local.model_dump(
        mode="json", exclude={"settings"}
    )
    assert remote.settings["dask_address"] == cluster
    # Every batch (or row group) of the frame went through a worker process, in both passes.
    keys = [str(t["key"]) for t in ran]
    by_group = [k for k in keys if k.startswith("baseline-row-group-basics-")]
    by_batch = [k for k in keys if k.startswith("baseline-batch-basics-")]
    masking = [k for k in keys if k.startswith("baseline-encode-chunk-")]
    assert (len(by_group), len(by_batch)) == ((groups, 0) if shared else (0, batches))
    assert 1 < len(masking) <= batches  # only batches with rows in a window have messages
    assert {t["worker"] for t in ran} <= workers
    assert all(t["startstops"] for t in ran)


def _break_masking() -> None:
    from tasks.baseline import patterns

    def broken(arr):
        # Over two lines, as Dask's own messages often are: the sentence must stay whole.
        raise MemoryError("the worker ran out of memory\n(injected)")

    patterns._encode_chunk = broken


def _mend_masking() -> None:
    import importlib

    from tasks.baseline import patterns

    importlib.reload(patterns)


@pytest.mark.slow
def test_a_failure_on_a_worker_fails_the_stage_with_one_sentence_naming_the_batch(
    incident,
    cluster: str,
) -> None:
    distributed = pytest.importorskip("distributed")
    path, windows, incident_id = incident
    settings = Settings(dask_address=cluster)
    with distributed.Client(cluster) as client:
        # Only the workers' copy of the masking breaks: the driver's code is untouched.
        client.run(_break_masking)
        try:
            with pytest.raises(StageError) as caught:
                findings_from_parquet(path, windows, incident_id, settings)
        finally:
            client.run(_mend_masking)
    message = str(caught.value)
    assert message.startswith(
        "The baseline stage failed: the Dask worker masking message chunk 0 (baseline-encode-chunk-0-"
    )
    assert message.endswith("failed: MemoryError: the worker ran out of memory (injected)")
    assert "\n" not in message


def test_an_unreachable_scheduler_fails_the_stage_naming_the_address(tmp_path: Path) -> None:
    dask = pytest.importorskip("dask")
    table = pa.table({"ts": pa.array([0], pa.timestamp("us", tz="UTC")), "message": ["m"]})
    path = tmp_path / "logs.parquet"
    pq.write_table(table, path)
    windows = WindowSet(incident=WINDOW, baselines=[], baseline_kind="default")
    # Port 9 (discard) on loopback: nothing listens; give up after a second, not thirty.
    with (
        dask.config.set({"distributed.comm.timeouts.connect": "1s"}),
        pytest.raises(StageError) as caught,
    ):
        findings_from_parquet(path, windows, "INC-1", Settings(dask_address="tcp://127.0.0.1:9"))
    assert str(caught.value).startswith(
        "The baseline stage failed: the Dask scheduler at tcp://127.0.0.1:9 "
        "(settings.dask_address) could not be reached: Timed out trying to connect"
    )
