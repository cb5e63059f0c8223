"""The gather stage: every source's objects in the windows -> one canonical frame + manifest.

    list (walk, prune by key time) -> read (bounded pool: stored bytes, sha256)
        -> decompress (magic bytes) -> blocks of lines -> parse (pool) -> rows in the windows
        -> trace IDs from message text (trace_context)
        -> logs.parquet (written as results arrive) ; manifest.json (chain of custody)

Memory stays bounded whatever the input size: readers hand blocks of about 2 MiB to the parse
pool and at most `2 * workers + 2` blocks are in flight (a reader waits for a slot), and the
writer flushes a row group every ~256k rows. Rows are written in the order blocks finish, so
row order in the Parquet file carries no meaning: sort by `ts`.

Parallelism. isal, hashlib, numpy and pyarrow release the GIL, so reading and inflating run on
`download_concurrency` threads and the JSON-lines parsers on `parse_workers` threads (0 = one
per core). Formats parsed line by line in Python (text, ALB, CloudWatch export, VPC flow)
go to a pool of as many worker processes, started only when the input is big enough to repay
it; workers get blocks of bytes and return Arrow tables already cut to the windows. The pool
re-imports `__main__` (fork-server semantics), so entry points need an
`if __name__ == "__main__"` guard. With `settings.dask_address`, the objects to read are cut
into shards that Dask workers read with this same code (read_shard), and the driver merges their
Parquet parts in shard order (tasks/gather/_dask.py).

Failure policy. A source that cannot be listed adds one sentence to `manifest.errors`, and the
others are still read. An object that cannot be read is FAILED with the reason; the others
still count. An object whose compressed data is corrupt part-way, or that ends part-way through a
record, keeps the rows parsed before the break (each still leads back to its line) and is
PARTIAL with the reason ("corrupt gzip after N bytes"). Entries of a local folder that are not
regular files (a FIFO, a symlink loop) are SKIPPED with the reason.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tasks.contracts import (
    CANONICAL_SCHEMA,
    PARSED_SCHEMA,
    EvidenceManifest,
    GatherResult,
    GatherStats,
    LogFormat,
    ObjectRecord,
    ObjectStatus,
    RejectTally,
    Source,
    TimeWindow,
    is_change_record,
    object_id,
)
from tasks.gather.decompress import CorruptStream, TooLarge
from tasks.gather.formats import TRUNCATED, ParseContext, parse_block
from tasks.gather.formats.keys import default_service
from tasks.gather.layouts import (
    Interval,
    key_interval,
    may_hold_window_data,
    prefix_interval,
    widen,
)
from tasks.gather.progress import NoProgress, ProgressReporter
from tasks.gather.records import open_records
from tasks.gather.storage import ObjectInfo, SourceError, StorageError, Store, open_store, s3_client
from tasks.gather.trace_context import add_trace_context
from tasks.output import sibling_temp, write_model_json
from tasks.settings import Settings
from tasks.workers import worker_count

logger = logging.getLogger(__name__)

#: Below this many stored bytes, starting worker processes (~1 s) costs more than it saves.
PROCESS_POOL_MIN_BYTES = 8 * 1024 * 1024
#: Formats whose parser is Python line by line: parsed in worker processes (see _ParsePools).
GIL_BOUND_FORMATS = frozenset(
    {LogFormat.TEXT, LogFormat.ALB, LogFormat.CLOUDWATCH_EXPORT, LogFormat.VPC_FLOW}
)
ROW_GROUP_ROWS = 256 * 1024

PARQUET_NAME = "logs.parquet"
MANIFEST_NAME = "manifest.json"

_COLUMNS = [f.name for f in PARSED_SCHEMA]
_DICTIONARY_COLUMNS = ["service", "instance", "level", "source", "object_key"]
_STATISTICS_COLUMNS = [
    "ts",
    "service",
    "level",
    "status",
    "latency_ms",
    "line",
    "source",
    "object_key",
    # Its null count tells the baseline that every row has the flag (FrameSource.basics).
    "change_record",
]


# --------------------------------------------------------------------------------------------
# Listing and pruning
# --------------------------------------------------------------------------------------------


def skip_reason(key: str) -> tuple[str, str] | None:
    """(code, sentence) for objects that are never log records, else None."""
    if key.endswith("/"):
        return "folder_marker", "A zero-byte folder marker, not a log object."
    segments = key.split("/")
    if any(s.startswith("CloudTrail-Digest") for s in segments):
        return "cloudtrail_digest", "A CloudTrail digest file (hashes of log files), not events."
    if any("aws-logs-write-test" in s for s in segments):
        return "write_test", "The test object AWS writes when log delivery is set up."
    return None


@dataclass
class _Listed:
    source: Source
    store: Store
    info: ObjectInfo
    interval: Interval | None
    record: ObjectRecord


def _list_source(
    source: Source,
    store: Store,
    wide: list[Interval],
    on_listed: Callable[[], None],
) -> tuple[list[_Listed], str | None]:
    def keep_folder(prefix: str) -> bool:
        return may_hold_window_data(prefix_interval(prefix), wide)

    listed: list[_Listed] = []
    error = None
    try:
        for info in store.list(keep_folder):
            interval = key_interval(info.key)
            record = ObjectRecord(
                object_id=object_id(source.name, info.key),
                source=source.name,
                key=info.key,
                uri=store.uri(info.key),
                size=info.size,
                etag=info.etag,
                last_modified=info.last_modified,
            )
            listed.append(_Listed(source, store, info, interval, record))
            on_listed()
    except SourceError as exc:
        error = str(exc)
    return listed, error


def _classify(item: _Listed, wide: list[Interval], margin_minutes: float) -> str | None:
    """Marks the record SKIPPED and returns the reason code, or None when it must be read."""
    reason = item.info.unreadable or skip_reason(item.info.key)
    if reason is None and not may_hold_window_data(item.interval, wide):
        span = item.interval
        assert span is not None
        reason = (
            "outside_window",
            f"The key's time ({span.start:%Y-%m-%dT%H:%M:%SZ} to {span.end:%Y-%m-%dT%H:%M:%SZ}) "
            f"is more than {margin_minutes:g} minutes from every window.",
        )
    if reason is None:
        return None
    item.record.status = ObjectStatus.SKIPPED
    item.record.reason = reason[1]
    return reason[0]


# --------------------------------------------------------------------------------------------
# Parsing (runs in the parse pool: module-level and picklable)
# --------------------------------------------------------------------------------------------


@dataclass
class _Job:
    fmt: LogFormat
    data: bytes
    first_line: int
    ctx: ParseContext
    windows: list[tuple[datetime, datetime]]


@dataclass
class _Parsed:
    table: pa.Table  # CANONICAL_SCHEMA, rows inside the windows only
    parsed: int
    rejected: RejectTally


def _in_windows(ts: pa.ChunkedArray, windows: list[tuple[datetime, datetime]]) -> pa.Array:
    mask = None
    for start, end in windows:
        inside = pc.and_(pc.greater_equal(ts, start), pc.less(ts, end))
        mask = inside if mask is None else pc.or_(mask, inside)
    if mask is None:
        return pa.repeat(pa.scalar(False), len(ts))
    return pc.fill_null(mask, False)


def _year_reference(last_modified: datetime | None, latest_end: datetime) -> datetime:
    """The time that gives a year to lines written without one (syslog, logcat).

    No line is newer than its object, and the lines that matter lie in the windows: the earlier
    of the two gives an object's lines their year even when it was copied into the bucket long
    after the incident (a December line read in January still goes to the year before).
    """
    return min(last_modified, latest_end) if last_modified else latest_end


def _parse_job(job: _Job) -> _Parsed:
    table, rejected = parse_block(job.fmt, job.data, job.first_line, job.ctx)
    if table.schema != PARSED_SCHEMA:
        table = table.select(_COLUMNS).cast(PARSED_SCHEMA)
    parsed = table.num_rows
    inside = _in_windows(table.column("ts"), job.windows)
    if pc.all(inside).as_py() is not True:  # usually every row is inside: skip the copy
        table = table.filter(inside)
    # After every parser, whatever the format: trace context written inside the message text.
    table = add_trace_context(table)
    n = table.num_rows
    columns = [
        *table.columns,
        pa.repeat(pa.scalar(job.ctx.source, pa.string()), n),
        pa.repeat(pa.scalar(job.ctx.key, pa.string()), n),
        pa.array(is_change_record(table.column("attrs")), pa.bool_()),
    ]
    return _Parsed(pa.Table.from_arrays(columns, schema=CANONICAL_SCHEMA), parsed, rejected)


def _start_method() -> str:
    # Forking a process that runs threads (boto3, Prefect, rich) can copy held locks into the
    # child; a fork server is forked once, cleanly, and then forks cheap workers.
    return "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"


class _ParsePools:
    """Threads for vectorised parsers, worker processes for those that hold the GIL.

    Measured here (with 8 MiB blocks, before they became 2 MiB): the JSON-lines parsers run on
    pyarrow and hold the GIL ~25% of the time, so threads scale, at ~13 CPU-s per GB against ~19
    with processes (pickling blocks and tables both ways) and half the memory. The text, ALB and
    CloudWatch-export parsers work line by line in Python, 13-27 MB/s per core holding the GIL
    70-80% of the time: on threads they would use one core whatever the machine has.
    """

    def __init__(self, workers: int, allow_processes: bool) -> None:
        self.threads = ThreadPoolExecutor(workers, thread_name_prefix="parse")
        self._workers = workers
        self._allow_processes = allow_processes and workers > 1
        self._processes: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    def for_format(self, fmt: LogFormat) -> Executor:
        if not (self._allow_processes and fmt in GIL_BOUND_FORMATS):
            return self.threads
        with self._lock:
            if self._processes is None:
                context = multiprocessing.get_context(_start_method())
                if context.get_start_method() == "forkserver":
                    context.set_forkserver_preload(["tasks.gather"])
                self._processes = ProcessPoolExecutor(self._workers, mp_context=context)
            return self._processes

    def shutdown(self) -> None:
        self.threads.shutdown(wait=True, cancel_futures=True)
        if self._processes is not None:
            self._processes.shutdown(wait=True, cancel_futures=True)


# --------------------------------------------------------------------------------------------
# Reading (runs on reader threads)
# --------------------------------------------------------------------------------------------


class _Cancelled(Exception):
    pass


@dataclass
class _Outcome:
    """What a reader learned about one object, sent when it is done with it."""

    index: int
    jobs: int = 0
    fmt: LogFormat | None = None
    sha256: str | None = None
    etag: str | None = None
    bytes_read: int = 0
    failure: str | None = None
    partial: bool = False  # the failure came part-way: what was read before it is kept
    encoding: str | None = None
    invalid_utf8_lines: int = 0
    rejected: RejectTally = field(default_factory=RejectTally)


class _Pipeline:
    def __init__(
        self,
        items: list[_Listed],
        windows: list[TimeWindow],
        settings: Settings,
        pools: _ParsePools,
        slots: int,
        on_bytes: Callable[[int], None],
    ) -> None:
        self.items = items
        self.windows = [(w.start, w.end) for w in windows]
        self.latest_end = max((w.end for w in windows), default=datetime.now(UTC))
        self.settings = settings
        self.pools = pools
        self.slots = threading.Semaphore(slots)
        self.results: queue.Queue[tuple[str, Any]] = queue.Queue()
        self.stop = threading.Event()
        self.on_bytes = on_bytes

    def _acquire_slot(self) -> None:
        while not self.slots.acquire(timeout=0.2):
            if self.stop.is_set():
                raise _Cancelled

    def _submit(self, index: int, job: _Job, outcome: _Outcome) -> None:
        if self.stop.is_set():
            raise _Cancelled
        self._acquire_slot()
        future = self.pools.for_format(job.fmt).submit(_parse_job, job)
        outcome.jobs += 1
        first = job.first_line
        fmt = job.fmt
        future.add_done_callback(lambda f: self.results.put(("block", (index, first, fmt, f))))

    def read(self, index: int) -> None:
        item = self.items[index]
        outcome = _Outcome(index)
        try:
            self._read(item, outcome)
        except _Cancelled:
            outcome.failure = "Not read: the gather stage stopped."
        except CorruptStream as exc:
            outcome.partial = outcome.jobs > 0
            outcome.failure = (
                f"{exc} ({item.record.uri}); the rows parsed before the damage are kept."
            )
        except StorageError as exc:
            outcome.failure = str(exc)
        except TooLarge as exc:
            outcome.failure = f"{exc} ({item.record.uri})."
        except Exception as exc:
            logger.exception("reading %s failed", item.record.uri)
            outcome.failure = f"Unexpected error reading {item.record.uri}: {exc!r}."
        finally:
            self.results.put(("done", outcome))

    def _read(self, item: _Listed, outcome: _Outcome) -> None:
        source, info = item.source, item.info
        with item.store.open(info, self.on_bytes) as stored:
            outcome.etag = stored.etag or info.etag
            try:
                opened = open_records(
                    stored, info.key, source.format, max_line_bytes=self.settings.max_line_bytes
                )
                outcome.fmt, outcome.encoding = opened.fmt, opened.encoding
                reference = item.interval.end if item.interval else None
                ctx = ParseContext(
                    source=source.name,
                    key=info.key,
                    default_service=default_service(source, info.key),
                    reference_time=reference
                    or _year_reference(info.last_modified, self.latest_end),
                )
                for block in opened.blocks:
                    outcome.rejected.merge(block.rejected)
                    outcome.invalid_utf8_lines += block.invalid_utf8_lines
                    if block.data:
                        job = _Job(opened.fmt, block.data, block.first_line, ctx, self.windows)
                        self._submit(outcome.index, job, outcome)
                stored.drain()
            except (CorruptStream, TooLarge):
                # The content is unusable but the object is evidence: hash all of it.
                stored.drain()
                raise
            finally:
                outcome.bytes_read = stored.bytes_read
                if stored.at_eof:
                    outcome.sha256 = stored.sha256()


def _read_all(
    items: list[_Listed],
    windows: list[TimeWindow],
    settings: Settings,
    writer: _FrameWriter,
    bars: ProgressReporter,
    allow_processes: bool = True,
) -> int:
    """Read, parse and write every object; fills in their records; returns stored bytes read."""
    if not items:
        return 0
    workers = worker_count(settings.parse_workers)
    stored = sum(item.info.size for item in items)
    bars.add("downloading", stored, in_bytes=True)
    bars.add("parsing", len(items))
    pools = _ParsePools(workers, allow_processes and stored >= PROCESS_POOL_MIN_BYTES)
    pipeline = _Pipeline(
        items,
        windows,
        settings,
        pools,
        slots=2 * workers + 2,
        on_bytes=lambda n: bars.advance("downloading", n),
    )
    readers = ThreadPoolExecutor(settings.download_concurrency, thread_name_prefix="read")
    expected: dict[int, int] = {}
    received = [0] * len(items)
    jobs_expected = jobs_received = 0
    bytes_read = 0

    def object_finished(index: int) -> None:
        if expected.get(index) == received[index]:
            bars.advance("parsing")

    try:
        for index in range(len(items)):
            readers.submit(pipeline.read, index)
        while len(expected) < len(items) or jobs_received < jobs_expected:
            kind, payload = pipeline.results.get()
            if kind == "block":
                index, first_line, fmt, future = payload
                pipeline.slots.release()
                received[index] += 1
                jobs_received += 1
                _record_block(items[index].record, fmt, first_line, future, writer)
                object_finished(index)
            else:
                outcome: _Outcome = payload
                expected[outcome.index] = outcome.jobs
                jobs_expected += outcome.jobs
                bytes_read += outcome.bytes_read
                _record_outcome(items[outcome.index].record, outcome)
                object_finished(outcome.index)
    except BaseException:
        pipeline.stop.set()
        raise
    finally:
        readers.shutdown(wait=True, cancel_futures=True)
        pools.shutdown()
    bars.finish("downloading")
    return bytes_read


def _record_block(
    record: ObjectRecord,
    fmt: LogFormat,
    first_line: int,
    future: Future[_Parsed],
    writer: _FrameWriter,
) -> None:
    """A parsed block's rows written and counted on its object's record, or the parser's failure."""
    try:
        parsed: _Parsed = future.result()
    except Exception as exc:
        logger.exception("parsing %s failed", record.uri)
        record.status = ObjectStatus.FAILED
        record.reason = record.reason or (
            f"The {fmt} parser failed on the block starting at line {first_line} "
            f"of {record.uri}: {exc!r}."
        )
        return
    writer.add(parsed.table)
    record.lines_parsed += parsed.parsed
    record.lines_in_window += parsed.table.num_rows
    record.rejected.merge(parsed.rejected)
    if TRUNCATED in parsed.rejected.counts and record.status is ObjectStatus.READ:
        record.status = ObjectStatus.PARTIAL
        record.reason = (
            f"{record.uri} ends part-way through a record (a truncated object); "
            "the complete records before the break are kept."
        )


def _record_outcome(record: ObjectRecord, outcome: _Outcome) -> None:
    """What reading the object found (format, hash, encoding, failure) on its record."""
    record.format = outcome.fmt
    record.sha256 = outcome.sha256
    record.etag = outcome.etag
    if outcome.sha256:
        # What was hashed, should the object have changed since it was listed.
        record.size = outcome.bytes_read
    record.rejected.merge(outcome.rejected)
    record.encoding = outcome.encoding
    record.invalid_utf8_lines = outcome.invalid_utf8_lines
    if outcome.failure:
        # A read failure explains more than a parser error it may have caused.
        partial = outcome.partial and record.status is not ObjectStatus.FAILED
        record.status = ObjectStatus.PARTIAL if partial else ObjectStatus.FAILED
        record.reason = outcome.failure


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------


class _FrameWriter:
    """Appends tables to one Parquet file (or, without a path, to memory), a row group at a time."""

    def __init__(self, path: Path | None) -> None:
        # No path: the rows go to memory (a shard's Parquet part, sent back to the driver).
        self.path = path
        self.partial = sibling_temp(path) if path else None
        self.memory = None if path else pa.BufferOutputStream()
        self._writer = pq.ParquetWriter(
            self.partial or self.memory,
            CANONICAL_SCHEMA,
            compression="zstd",
            compression_level=1,
            use_dictionary=_DICTIONARY_COLUMNS,
            # Min/max of messages and attrs would cost time and help no reader.
            write_statistics=_STATISTICS_COLUMNS,
        )
        self._buffer: list[pa.Table] = []
        self._rows = 0
        self.rows_written = 0

    def add(self, table: pa.Table) -> None:
        if table.num_rows == 0:
            return
        self._buffer.append(table)
        self._rows += table.num_rows
        if self._rows >= ROW_GROUP_ROWS:
            self._flush()

    def _flush(self) -> None:
        if not self._buffer:
            return
        table = pa.concat_tables(self._buffer)
        self._writer.write_table(table, row_group_size=max(table.num_rows, 1))
        self.rows_written += table.num_rows
        self._buffer, self._rows = [], 0

    def close(self) -> None:
        self._flush()
        self._writer.close()
        if self.path and self.partial:
            os.replace(self.partial, self.path)

    def abort(self) -> None:
        self._writer.close()
        if self.partial:
            self.partial.unlink(missing_ok=True)


# --------------------------------------------------------------------------------------------
# Shards: the unit of work sent to a Dask cluster (tasks/gather/_dask.py)
# --------------------------------------------------------------------------------------------

#: Stored bytes per shard at most: gzip logs inflate 10-15x, so about 50 MB of text to parse,
#: enough to repay a task's round trip to the scheduler, and a Parquet part of a few MB.
SHARD_BYTES = 4 * 1024 * 1024
#: Many small objects (one per shipper flush) make a shard too, bounded by count.
SHARD_MAX_OBJECTS = 64


@dataclass(frozen=True)
class ShardItem:
    """One object to read, as the listing found it: plain data, picklable, with no client."""

    source: Source
    info: ObjectInfo
    interval: Interval | None
    record: ObjectRecord


@dataclass(frozen=True)
class Shard:
    index: int
    items: list[ShardItem]

    @property
    def stored_bytes(self) -> int:
        return sum(item.info.size for item in self.items)


@dataclass(frozen=True)
class ShardResult:
    """What a worker sends back: the shard's records as read, and its rows as one Parquet part."""

    index: int
    records: list[ObjectRecord]
    parquet: bytes
    rows: int
    bytes_read: int
    cpu_seconds: float  # of the worker process while it read the shard


def make_shards(items: list[_Listed], max_bytes: int | None = None) -> list[Shard]:
    """Consecutive runs of `items` (listing order), each up to `max_bytes` stored bytes."""
    max_bytes = max_bytes or SHARD_BYTES
    shards: list[Shard] = []
    current: list[ShardItem] = []
    size = 0
    for item in items:
        if current and (size + item.info.size > max_bytes or len(current) >= SHARD_MAX_OBJECTS):
            shards.append(Shard(len(shards), current))
            current, size = [], 0
        current.append(ShardItem(item.source, item.info, item.interval, item.record))
        size += item.info.size
    if current:
        shards.append(Shard(len(shards), current))
    return shards


def read_shard(shard: Shard, windows: list[TimeWindow], settings: Settings) -> ShardResult:
    """Read and parse one shard where this runs (a Dask worker), with its own S3 client.

    The same reading path as a local run, so each object ends with the same record. A Dask
    worker is a daemonic process, which may not start the parse pool's processes: the cluster's
    worker processes are the process-level parallelism here.
    """
    cpu = time.process_time()
    client = s3_client(settings) if any(i.source.is_s3 for i in shard.items) else None
    stores: dict[str, Store] = {}
    listed: list[_Listed] = []
    for item in shard.items:
        if item.source.name not in stores:
            stores[item.source.name] = open_store(item.source, settings, client=client)
        # A copy: the caller's records are only updated by merge_shard, on the driver.
        record = item.record.model_copy(deep=True)
        listed.append(
            _Listed(item.source, stores[item.source.name], item.info, item.interval, record)
        )
    writer = _FrameWriter(None)
    try:
        bytes_read = _read_all(
            listed,
            windows,
            settings,
            writer,
            NoProgress(),
            allow_processes=not multiprocessing.current_process().daemon,
        )
        writer.close()
    except BaseException:
        writer.abort()
        raise
    assert writer.memory is not None
    return ShardResult(
        index=shard.index,
        records=[item.record for item in listed],
        parquet=writer.memory.getvalue().to_pybytes(),
        rows=writer.rows_written,
        bytes_read=bytes_read,
        cpu_seconds=time.process_time() - cpu,
    )


def merge_shard(shard: Shard, result: ShardResult, writer: _FrameWriter) -> None:
    """A shard's rows appended to the frame (row group by row group) and its records taken over."""
    part = pq.ParquetFile(pa.BufferReader(result.parquet))
    for group in range(part.num_row_groups):
        writer.add(part.read_row_group(group).cast(CANONICAL_SCHEMA))
    for item, read in zip(shard.items, result.records, strict=True):
        for name in ObjectRecord.model_fields:
            setattr(item.record, name, getattr(read, name))


def fail_shard(shard: Shard, cause: str) -> None:
    """Every object of a shard whose worker failed as a whole is FAILED, with the cause."""
    for item in shard.items:
        item.record.status = ObjectStatus.FAILED
        item.record.reason = f"{cause} ({item.record.uri})."


# --------------------------------------------------------------------------------------------
# The stage
# --------------------------------------------------------------------------------------------


def gather_logs(
    spec_sources: list[Source],
    windows: list[TimeWindow],
    out_dir: Path,
    incident_id: str,
    settings: Settings,
    on_progress: ProgressReporter | None = None,
) -> GatherResult:
    """Read every source's objects that can hold records in `windows` into the evidence folder.

    Writes `<out_dir>/evidence/logs.parquet` (CANONICAL_SCHEMA, rows inside the windows) and
    `<out_dir>/evidence/manifest.json` (every listed object: read, skipped or failed, and why).
    """
    started = time.monotonic()
    evidence = Path(out_dir) / "evidence"
    evidence.mkdir(parents=True, exist_ok=True)
    margin = timedelta(minutes=settings.late_delivery_margin_minutes)
    wide = widen(windows, margin)
    stats = GatherStats()
    errors: list[str] = []

    bars = on_progress or NoProgress()
    # Listing: one thread per source, one S3 client shared by all (clients are thread-safe).
    client = s3_client(settings) if any(s.is_s3 for s in spec_sources) else None
    bars.add("listing", None)
    stores = [open_store(s, settings, client=client) for s in spec_sources]
    with ThreadPoolExecutor(max(1, min(8, len(stores)))) as listing_pool:
        listings = list(
            listing_pool.map(
                lambda pair: _list_source(pair[0], pair[1], wide, lambda: bars.advance("listing")),
                zip(spec_sources, stores, strict=True),
            )
        )
    bars.finish("listing")

    records: list[ObjectRecord] = []
    to_read: list[_Listed] = []
    for listed, error in listings:
        if error:
            errors.append(error)
        for item in sorted(listed, key=lambda i: i.info.key):
            records.append(item.record)
            code = _classify(item, wide, settings.late_delivery_margin_minutes)
            if code:
                stats.skipped_by_reason[code] = stats.skipped_by_reason.get(code, 0) + 1
            else:
                to_read.append(item)
    stats.listed = len(records)

    writer = _FrameWriter(evidence / PARQUET_NAME)
    try:
        if settings.dask_address:
            # Imported only here: without a cluster address nothing imports Dask or prefect-dask.
            from tasks.gather._dask import read_on_dask

            stats.bytes_read = read_on_dask(to_read, windows, settings, writer, bars)
        else:
            stats.bytes_read = _read_all(to_read, windows, settings, writer, bars)
        writer.close()
    except BaseException:
        writer.abort()
        raise

    for record in records:
        if record.status is ObjectStatus.READ:
            stats.read += 1
        elif record.status is ObjectStatus.SKIPPED:
            stats.skipped += 1
        elif record.status is ObjectStatus.PARTIAL:
            stats.partial += 1
        else:
            stats.failed += 1
        stats.lines_parsed += record.lines_parsed
        stats.lines_rejected += record.rejected.total
        stats.invalid_utf8_lines += record.invalid_utf8_lines
    stats.rows_kept = writer.rows_written
    stats.seconds = round(time.monotonic() - started, 3)

    manifest = EvidenceManifest(
        incident_id=incident_id,
        created_at=datetime.now(UTC),
        windows=windows,
        margin_minutes=settings.late_delivery_margin_minutes,
        stats=stats,
        objects=records,
        errors=errors,
    )
    manifest_path = write_model_json(manifest, evidence / MANIFEST_NAME)
    return GatherResult(manifest=manifest, parquet_path=writer.path, manifest_path=manifest_path)
