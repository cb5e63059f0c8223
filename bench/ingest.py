"""Ingest benchmark: our gather stage against DuckDB's read_json on the same files, in one run.

    python bench/ingest.py [--quick] [--scale 2.6] [--data bench/data/ingest] [--skip-s3]
                           [--engines ours-local,duckdb] [--block-mb 2]

The generator writes about 1 GB (uncompressed) of Fluent Bit k8s JSON lines, gzip, into a local
folder (`--quick`: about 100 MB, for a smoke run). Each line is about 1 KB: the container's own
JSON line inside the Fluent Bit record, plus the Kubernetes metadata. Then each engine runs in its own subprocess, so that its peak RSS is its own:

- ours, local folder: `gather_logs` over the folder (decompress, parse, the canonical frame, Parquet);
- ours, S3: the same objects from moto's server over HTTP (a local S3 server, so this measures
  the client path, not a network);
- DuckDB `read_json` with an explicit schema (the fair setting: auto-detection is about 4x
  slower), once with the outer record only, and once also extracting the fields of the nested
  container line, which is what our parser does.

It prints MB/s (uncompressed), lines/s, peak RSS, CPU seconds per GB (user + system, all
threads and child processes), the 1-minute load average when each engine finished (other work
on the machine skews the figures), and the throughput ratio of ours against DuckDB.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import resource
import shutil
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

APP_PREFIX = "fluent-bit-logs"
#: Generator scale for about 1 GB (scale 1 writes about 390 MB of Fluent Bit app logs).
FULL_SCALE = 2.6
QUICK_SCALE = 0.26


def peak_rss_mb() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children) / 1024  # ru_maxrss is in KiB on Linux


def cpu_seconds() -> float:
    """User + system CPU of this process (all threads) and its reaped children."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    return total


def gzip_stats(folder: Path) -> dict:
    """Files, compressed and uncompressed bytes and lines of the gzipped objects under folder."""
    files = [f for f in sorted(folder.rglob("*")) if f.is_file()]
    raw = lines = 0
    for f in files:
        with gzip.open(f, "rb") as fh:
            for chunk in iter(lambda fh=fh: fh.read(1 << 24), b""):
                raw += len(chunk)
                lines += chunk.count(b"\n")
    return {
        "files": len(files),
        "compressed_bytes": sum(f.stat().st_size for f in files),
        "uncompressed_bytes": raw,
        "lines": lines,
    }


def dataset(data: Path, scale: float) -> dict:
    """Generate once and reuse: the figures compare engines, not the generator."""
    meta_path = data / "meta.json"
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else None
    if meta and meta["scale"] == scale:
        return meta
    from tasks.synthetic.generator import LocalSink, generate_incident

    shutil.rmtree(data / "logs", ignore_errors=True)
    started = time.perf_counter()
    spec, _ = generate_incident(
        "bad-deploy", 1, LocalSink(data / "logs"), source_root=str(data / "logs"), scale=scale
    )
    meta = {
        "scale": scale,
        **gzip_stats(data / "logs" / APP_PREFIX),
        "window_start": spec.window.start.isoformat(),
        "window_end": spec.window.end.isoformat(),
        "generate_seconds": round(time.perf_counter() - started, 1),
    }
    meta_path.write_text(json.dumps(meta))
    return meta


def everything_window():
    from tasks.contracts import TimeWindow

    # Wide enough to keep every generated row: the benchmark measures reading, not pruning.
    now = datetime.now(UTC)
    return TimeWindow(start=now - timedelta(days=3650), end=now + timedelta(days=3650))


def run_ours(uri: str, out: Path) -> dict:
    from tasks.contracts import LogFormat, Source
    from tasks.gather import gather_logs
    from tasks.settings import load_settings

    source = Source(name="app", uri=uri, format=LogFormat.FLUENTBIT_K8S)
    window = everything_window()
    settings = load_settings()
    cpu = cpu_seconds()
    started = time.perf_counter()
    result = gather_logs([source], [window], out, incident_id="bench", settings=settings)
    seconds = time.perf_counter() - started
    stats = result.manifest.stats
    if stats.failed or stats.lines_rejected:
        raise SystemExit(f"gather failed {stats.failed} objects, rejected {stats.lines_rejected}")
    return {
        "seconds": seconds,
        "cpu": cpu_seconds() - cpu,
        "rows": stats.rows_kept,
        "rss_mb": peak_rss_mb(),
        "parquet_mb": result.parquet_path.stat().st_size / 1e6,
    }


DUCKDB_COLUMNS = {
    "date": "DOUBLE",
    "time": "VARCHAR",
    "log": "VARCHAR",
    "stream": "VARCHAR",
    "kubernetes": (
        "STRUCT(pod_name VARCHAR, namespace_name VARCHAR, container_name VARCHAR, "
        "container_image VARCHAR, host VARCHAR, labels MAP(VARCHAR, VARCHAR))"
    ),
}


INNER_STRUCTURE = json.dumps(
    {
        "timestamp": "VARCHAR",
        "level": "VARCHAR",
        "msg": "VARCHAR",
        "status": "DOUBLE",
        "latency_ms": "DOUBLE",
        "trace_id": "VARCHAR",
    }
)


def run_duckdb(folder: Path, nested: bool) -> dict:
    import duckdb

    con = duckdb.connect()
    con.execute(f"SET threads = {os.cpu_count()}")
    columns = "{" + ", ".join(f"'{k}': '{v}'" for k, v in DUCKDB_COLUMNS.items()) + "}"
    source = (
        f"read_json('{folder}/**/*', format='newline_delimited', compression='gzip', "
        f"columns={columns})"
    )
    if nested:
        # The container's own line, as our parser reads it. Some containers log plain text
        # (pgbouncer), hence try(): those rows get nulls, as in our frame.
        query = (
            "SELECT count(*), count(kubernetes.pod_name), count(j.level), count(j.msg), "
            "count(j.status), count(j.latency_ms), count(j.trace_id) FROM ("
            f"SELECT kubernetes, try(from_json(log, '{INNER_STRUCTURE}')) AS j FROM {source})"
        )
    else:
        query = f"SELECT count(*), count(kubernetes.pod_name), count(log) FROM {source}"
    cpu = cpu_seconds()
    started = time.perf_counter()
    row = con.execute(query).fetchone()
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "cpu": cpu_seconds() - cpu, "rows": row[0], "rss_mb": peak_rss_mb()}


class MotoServer:
    """moto's S3 server in a process of its own, so that its CPU and memory are not ours."""

    def __init__(self) -> None:
        from tasks.synthetic.embedded_s3 import free_port

        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    self.stop()
                    raise RuntimeError("moto's server did not start") from None
                time.sleep(0.2)

    def upload(self, folder: Path) -> str:
        """Put every file of the folder under s3://bench/fluent-bit-logs/; returns that URI."""
        import boto3

        client = boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id="bench",
            aws_secret_access_key="bench",
        )
        client.create_bucket(Bucket="bench")
        for f in sorted(folder.rglob("*")):
            if f.is_file():
                client.upload_file(str(f), "bench", f"{APP_PREFIX}/{f.relative_to(folder)}")
        return f"s3://bench/{APP_PREFIX}/"

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


def child(args: argparse.Namespace) -> None:
    """Run one engine and print its figures as JSON on stdout."""
    if args.block_mb:
        from tasks.gather import decompress

        decompress.DEFAULT_BLOCK_BYTES = int(args.block_mb * 1024 * 1024)
    folder = Path(args.data) / "logs" / APP_PREFIX
    out = Path(args.data) / f"out-{args.engine}"
    if args.engine == "ours-local":
        figures = run_ours(str(folder), out)
    elif args.engine == "ours-s3":
        os.environ.update(
            AWS_ENDPOINT_URL_S3=args.endpoint,
            AWS_ACCESS_KEY_ID="bench",
            AWS_SECRET_ACCESS_KEY="bench",
            AWS_DEFAULT_REGION="us-east-1",
        )
        figures = run_ours(args.uri, out)
    else:
        figures = run_duckdb(folder, nested=args.engine == "duckdb-nested")
    print(json.dumps(figures))


def run_engine(engine: str, data: Path, extra: list[str]) -> dict | None:
    cmd = [sys.executable, __file__, "--engine", engine, "--data", str(data), *extra]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        print(f"{engine}: failed\n{proc.stderr[-2000:]}", flush=True)
        return None
    figures = json.loads(proc.stdout.strip().splitlines()[-1])
    figures["load"] = os.getloadavg()[0]
    return figures


ENGINES = ("duckdb", "duckdb-nested", "ours-local", "ours-s3")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--scale",
        type=float,
        help=f"generator scale (default {FULL_SCALE}: about 1 GB; scale 1 is about 390 MB)",
    )
    parser.add_argument(
        "--quick", action="store_true", help=f"about 100 MB (scale {QUICK_SCALE}), a smoke run"
    )
    parser.add_argument("--data", help="dataset folder (default bench/data/ingest[-quick])")
    parser.add_argument("--skip-s3", action="store_true", help="skip the moto S3 run")
    parser.add_argument(
        "--engines",
        default=",".join(ENGINES),
        help="comma-separated subset of " + ", ".join(ENGINES),
    )
    parser.add_argument(
        "--block-mb", type=float, help="gather's block size in MiB (default: DEFAULT_BLOCK_BYTES)"
    )
    parser.add_argument("--engine", help=argparse.SUPPRESS)
    parser.add_argument("--endpoint", help=argparse.SUPPRESS)
    parser.add_argument("--uri", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.engine:
        child(args)
        return

    scale = args.scale or (QUICK_SCALE if args.quick else FULL_SCALE)
    default_data = "ingest-quick" if args.quick else "ingest"
    data = Path(args.data or ROOT / "bench" / "data" / default_data)
    data.mkdir(parents=True, exist_ok=True)
    meta = dataset(data, scale)
    mb = meta["uncompressed_bytes"] / 1e6
    print(
        f"dataset: {meta['files']} gzip files, {meta['compressed_bytes'] / 1e6:.0f} MB compressed, "
        f"{mb:.0f} MB uncompressed, {meta['lines']:,} lines (Fluent Bit k8s JSON, scale {scale}); "
        f"{os.cpu_count()} cores; load average before {os.getloadavg()[0]:.2f}",
        flush=True,
    )
    engines = [e for e in args.engines.split(",") if e]
    if args.skip_s3 and "ours-s3" in engines:
        engines.remove("ours-s3")
    results = {}
    block = ["--block-mb", str(args.block_mb)] if args.block_mb else []
    for engine in engines:
        if engine == "ours-s3":
            server = MotoServer()
            try:
                uri = server.upload(data / "logs" / APP_PREFIX)
                figures = run_engine(
                    engine, data, ["--endpoint", server.endpoint, "--uri", uri, *block]
                )
            finally:
                server.stop()
        else:
            figures = run_engine(engine, data, block)
        if figures:
            results[engine] = figures

    print(
        f"\n{'engine':<15}{'seconds':>8}{'MB/s':>8}{'lines/s':>10}{'peak RSS MB':>12}"
        f"{'CPU s/GB':>9}{'rows':>11}{'load':>6}"
    )
    for engine, r in results.items():
        print(
            f"{engine:<15}{r['seconds']:>8.2f}{mb / r['seconds']:>8.1f}"
            f"{meta['lines'] / r['seconds']:>10,.0f}{r['rss_mb']:>12,.0f}"
            f"{r['cpu'] / (mb / 1000):>9.1f}{r['rows']:>11,}{r['load']:>6.2f}"
        )
    for engine, r in results.items():
        if "parquet_mb" in r:
            print(f"{engine}: logs.parquet {r['parquet_mb']:.0f} MB")
    for ours in ("ours-local", "ours-s3"):
        for peer in ("duckdb", "duckdb-nested"):
            if ours in results and peer in results:
                ratio = results[peer]["seconds"] / results[ours]["seconds"]
                print(f"throughput ratio {ours} / {peer}: {ratio:.2f}x")


if __name__ == "__main__":
    main()
