"""Block JSON parsers side by side on the ingest benchmark's Fluent Bit objects, one thread each.

    python bench/json_parsers.py [--quick] [--files 60]

Run `bench/ingest.py` first: it writes the data set. Each parser reads whole decompressed objects
(one block each, as gather's fast path does) into Arrow; the figure is CPU seconds per GB of
JSON (process time, so other work on a shared machine skews it less than wall time). Engines
that are not installed (polars) are skipped. The outer record only: the container's own line
inside `log` is a second, smaller read of the same kind.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("POLARS_MAX_THREADS", "1")  # before polars is imported

import pyarrow as pa
import pyarrow.json as pj

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.ingest import APP_PREFIX  # noqa: E402
from tasks.gather.decompress import open_decompressed  # noqa: E402

READ = pj.ReadOptions(use_threads=False, block_size=4 << 20)


def _blocks(folder: Path, limit: int) -> list[bytes]:
    files = sorted(f for f in folder.rglob("*") if f.is_file())[:limit]
    out = []
    for f in files:
        with f.open("rb") as raw:
            _, stream = open_decompressed(raw)
            out.append(stream.read())
    return out


def _duck_type(t: pa.DataType) -> str:
    if pa.types.is_struct(t):
        return (
            "STRUCT("
            + ", ".join(
                f'"{t.field(i).name}" {_duck_type(t.field(i).type)}' for i in range(t.num_fields)
            )
            + ")"
        )
    if pa.types.is_integer(t):
        return "BIGINT"
    if pa.types.is_floating(t):
        return "DOUBLE"
    if pa.types.is_boolean(t):
        return "BOOLEAN"
    return "VARCHAR"


def _parsers(sample: bytes) -> dict:
    inferred = pj.read_json(pa.BufferReader(sample), read_options=READ).schema
    strict = pj.ParseOptions(explicit_schema=inferred, unexpected_field_behavior="error")
    parsers = {
        "pyarrow read_json, inferred types (gather's fast path)": lambda b: pj.read_json(
            pa.BufferReader(b), read_options=READ
        ),
        "pyarrow read_json, explicit schema": lambda b: pj.read_json(
            pa.BufferReader(b), read_options=READ, parse_options=strict
        ),
    }
    try:
        import polars as pl

        schema = pl.from_arrow(inferred.empty_table()).schema
        parsers["polars read_ndjson, explicit schema, to Arrow"] = lambda b: pl.read_ndjson(
            io.BytesIO(b), schema=schema
        ).to_arrow()
    except ImportError:
        pass
    try:
        import duckdb

        con = duckdb.connect()
        con.execute("SET threads = 1")
        columns = "{" + ", ".join(f"'{f.name}': '{_duck_type(f.type)}'" for f in inferred) + "}"
        path = Path(tempfile.gettempdir()) / f"json-parsers-{os.getpid()}.json"

        def duck(b: bytes) -> pa.Table:
            # DuckDB reads files, not buffers: the write is a memory copy (tmpfs or page cache).
            path.write_bytes(b)
            query = (
                f"SELECT * FROM read_json('{path}', format='newline_delimited', columns={columns})"
            )
            try:
                return con.sql(query).to_arrow_table()
            finally:
                path.unlink(missing_ok=True)

        parsers["duckdb read_json, explicit columns, to Arrow"] = duck
    except ImportError:
        pass
    return parsers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="the --quick data set")
    parser.add_argument("--files", type=int, default=60, help="objects to read (default 60)")
    args = parser.parse_args()
    data = ROOT / "bench" / "data" / ("ingest-quick" if args.quick else "ingest")
    blocks = _blocks(data / "logs" / APP_PREFIX, args.files)
    if not blocks:
        raise SystemExit(f"no data in {data}: run bench/ingest.py first")
    gb = sum(map(len, blocks)) / 1e9
    print(
        f"{len(blocks)} objects, {gb * 1000:.0f} MB of JSON; load average {os.getloadavg()[0]:.2f}"
    )
    for name, fn in _parsers(blocks[0]).items():
        started = time.process_time()
        rows = sum(fn(b).num_rows for b in blocks)
        cpu = time.process_time() - started
        print(f"{name:<55}{cpu / gb:>6.1f} CPU s/GB  ({rows:,} rows)", flush=True)


if __name__ == "__main__":
    main()
