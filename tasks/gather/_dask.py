"""Gather on a Dask cluster: shards of objects read and parsed on the workers, merged here.

Used only when `settings.dask_address` is set (this module is the only one importing Dask).
The driver lists and classifies as usual, cuts the objects to read into shards in listing order
(tasks/gather/_stage.make_shards), and sends each shard to the cluster with the settings, never
a client: a worker builds its own S3 client, so it needs its own route to S3 and credentials
from boto3's chain. A worker returns the shard's records and its rows as one Parquet part; the
driver appends the parts in shard order, so the frame and the manifest do not depend on which
worker finished first.

Through prefect-dask. When a Prefect API is configured (a server the workers can reach), each
shard is a Prefect task run (`gather-shard`), visible in the UI, retried once, and cached for
the flow run: prefect-dask can run a finished task again when a worker dies, and the cache makes
that rerun a lookup. Without an API URL (the ephemeral API lives inside the driver process) a
worker would start an API server of its own, so shards run as plain Dask tasks on the same
client instead; they have no side effects, so a rerun costs only time.

At most `2 * threads + 2` shards are in flight, so the driver holds a bounded number of parts
while it waits for the next one in order.
"""

from __future__ import annotations

from collections import deque
from itertools import islice
from typing import Any

from prefect import task
from prefect.cache_policies import INPUTS, RUN_ID, TASK_SOURCE
from prefect.settings import get_current_settings
from prefect_dask import DaskTaskRunner

from tasks.contracts import TimeWindow
from tasks.errors import one_line
from tasks.gather import _stage
from tasks.gather._stage import (
    Shard,
    ShardResult,
    _FrameWriter,
    _Listed,
    fail_shard,
    make_shards,
    merge_shard,
    read_shard,
)
from tasks.gather.progress import ProgressReporter
from tasks.settings import Settings

#: Below this, a shard's round trip to the scheduler costs more than its work.
MIN_SHARD_BYTES = 64 * 1024


@task(
    name="gather-shard",
    task_run_name="gather-shard-{shard.index}",
    cache_policy=INPUTS + TASK_SOURCE + RUN_ID,
    persist_result=True,
    retries=1,
)
def gather_shard(shard: Shard, windows: list[TimeWindow], settings: Settings) -> ShardResult:
    return read_shard(shard, windows, settings)


def _submit(
    runner: DaskTaskRunner,
    shard: Shard,
    windows: list[TimeWindow],
    settings: Settings,
    as_task_run: bool,
):
    if as_task_run:
        return runner.submit(
            gather_shard, parameters={"shard": shard, "windows": windows, "settings": settings}
        )
    return runner.client.submit(read_shard, shard, windows, settings, pure=False)


def read_on_dask(
    items: list[_Listed],
    windows: list[TimeWindow],
    settings: Settings,
    writer: _FrameWriter,
    bars: ProgressReporter,
) -> int:
    """Read `items` on the cluster at `settings.dask_address`; returns stored bytes read."""
    if not items:
        return 0
    bars.add("downloading", sum(item.info.size for item in items), in_bytes=True)
    bars.add("parsing", len(items))
    bytes_read = 0
    with DaskTaskRunner(address=settings.dask_address) as runner:
        workers = runner.client.scheduler_info()["workers"].values()
        threads = max(1, sum(w.get("nthreads", 1) for w in workers))
        # At least about four shards per worker thread, so that no thread waits on the last one.
        total = sum(item.info.size for item in items)
        shards = make_shards(
            items, max(MIN_SHARD_BYTES, min(_stage.SHARD_BYTES, total // (4 * threads)))
        )
        as_task_run = bool(get_current_settings().api.url)
        queued = iter(shards)
        pending: deque[tuple[Shard, Any]] = deque(
            (shard, _submit(runner, shard, windows, settings, as_task_run))
            for shard in islice(queued, 2 * threads + 2)
        )
        while pending:
            shard, future = pending.popleft()
            try:
                result: ShardResult = future.result()
            except Exception as exc:
                fail_shard(
                    shard, f"The Dask worker reading shard {shard.index} failed: {one_line(exc)}"
                )
            else:
                merge_shard(shard, result, writer)
                bytes_read += result.bytes_read
            bars.advance("downloading", shard.stored_bytes)
            bars.advance("parsing", len(shard.items))
            nxt = next(queued, None)
            if nxt is not None:
                pending.append((nxt, _submit(runner, nxt, windows, settings, as_task_run)))
    bars.finish("downloading")
    return bytes_read
