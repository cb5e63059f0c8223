"""The baseline stage's per-batch work on a Dask cluster, merged on the driver in batch order.

Used only when `settings.dask_address` is set (with tasks/gather/_dask.py, the only modules
importing Dask). Two passes of the stage are spread, each a function of one batch alone:

- `FrameSource.basics`: per batch, the row times and the CloudTrail change records, read from
  gather's change_record flag or, in frames without it, found by an RE2 scan of attrs
  (`frame._batch_basics`);
- the pattern miner's masking: per chunk of messages, the regexes and the dictionary encoding
  (`patterns._encode_chunk`), which return the chunk's distinct masked messages and codes.

The driver takes the results back in the order it sent the work, so the frame arrays and the
global index of masked messages are built exactly as locally: the findings are the same by
construction (tests/baseline/test_dask_baseline.py compares them).

Where the data comes from. The driver reads each batch of logs.parquet and sends it: that works
on any cluster, with no shared filesystem. But measured, the first pass's columns are about 290
bytes a row (nearly all `attrs`) for an RE2 scan that runs far faster than a network carries
them, and reading plus sending them cost the driver more CPU than the local scan. So when every
worker sees logs.parquet at the same path (same size and modification time: a shared volume, a
LocalCluster), the workers read its row groups for that pass themselves, and only the times and
flags come back. The messages of the masking pass are always sent: the driver has already picked
the rows in the windows, and the regexes cost more than the transfer. Figures in
docs/scale-out.md. Mining the distinct masked messages, the view pass and everything after stay
on the driver: they need every batch at once, or cost little.

Batches run as plain Dask tasks on prefect-dask's client, never as Prefect task runs: a large
draft has hundreds, and each would cost API calls and a persisted result, while they have no
side effects and a rerun after a lost worker costs only time. Their keys name them
(`baseline-encode-chunk-<n>-<run>`), for the dashboard and for an error. A batch that fails
fails the stage with one StageError naming the work and the batch: the findings would be
wrong without it, so nothing is published from a partial baseline.
"""

from __future__ import annotations

import concurrent.futures as cf
import itertools
import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from distributed.cfexecutor import ClientExecutor
from prefect_dask import DaskTaskRunner

from tasks.errors import StageError, one_line
from tasks.settings import Settings
from tasks.workers import BoundedExecutor

#: What each function sent to the cluster does, for an error message.
_WORK = {
    "_batch_basics": "reading row times and change records of frame batch",
    "_row_group_basics": "reading row times and change records of row group",
    "_encode_chunk": "masking message chunk",
}


class _ClusterExecutor(ClientExecutor):
    """Dask's concurrent.futures executor, with named keys and a worker's failure as StageError."""

    def __init__(self, client: Any) -> None:
        super().__init__(client, pure=False)
        self._run = uuid.uuid4().hex[:8]
        self._counters: dict[str, Iterator[int]] = {}

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> cf.Future:
        name = fn.__name__
        number = next(self._counters.setdefault(name, itertools.count()))
        key = f"baseline-{name.strip('_').replace('_', '-')}-{number}-{self._run}"
        what = f"{_WORK.get(name, name)} {number}"
        inner = super().submit(fn, *args, key=key, **kwargs)
        outer: cf.Future = cf.Future()
        outer.set_running_or_notify_cancel()

        def relay(done: cf.Future) -> None:
            if done.cancelled():
                outer.set_exception(
                    StageError("baseline", f"the Dask task {what} ({key}) was cancelled.")
                )
                return
            exc = done.exception()
            if exc is None:
                outer.set_result(done.result())
                return
            # Dask's own messages run over several lines ("...This frequently\noccurs if").
            outer.set_exception(
                StageError("baseline", f"the Dask worker {what} ({key}) failed: {one_line(exc)}")
            )

        inner.add_done_callback(relay)
        return outer


def _stat(path: str) -> tuple[int, int] | None:
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return stat.st_size, stat.st_mtime_ns


def workers_see_file(client: Any, path: Path) -> bool:
    """Whether every worker sees this file at this path, the same size and modification time."""
    local = _stat(str(path))
    seen = client.run(_stat, str(path))
    return local is not None and bool(seen) and all(s == local for s in seen.values())


@contextmanager
def cluster_pool(settings: Settings, parquet_path: Path) -> Iterator[tuple[BoundedExecutor, bool]]:
    """The cluster at `settings.dask_address` as a pool for `FrameSource` and the miner, and
    whether its workers can read `parquet_path` themselves."""
    with DaskTaskRunner(address=settings.dask_address) as runner:
        try:
            client = runner.client  # connects on first use
            workers = client.scheduler_info()["workers"].values()
        except OSError as exc:  # distributed's connection errors and timeouts are OSErrors
            raise StageError(
                "baseline",
                f"the Dask scheduler at {settings.dask_address} (settings.dask_address) could "
                f"not be reached: {' '.join(str(exc).split())[:300]}",
            ) from exc
        threads = max(1, sum(w.get("nthreads", 1) for w in workers))
        # As in gather: enough batches queued that no worker thread waits on the driver.
        pool = BoundedExecutor(_ClusterExecutor(client), 2 * threads + 2)
        yield pool, workers_see_file(client, parquet_path)
