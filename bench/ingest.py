"""Ingest benchmark: our gather stage against DuckDB's read_json on the same files, in one run.

    python bench/ingest.py [--scale 12] [--data bench/data/ingest]

The generator writes about 1 GB (uncompressed) of Fluent Bit k8s JSON lines, gzip, into a local
folder. Then each engine runs in its own subprocess, so that its peak RSS is its own:

- ours, local folder: `gather_logs` over the folder (decompress, parse, the canonical frame, Parquet);
- ours, S3: the same objects from moto's server over HTTP (a local S3 server, so this measures
  the client path, not a network);
- DuckDB `read_json` with an explicit schema (the fair setting: auto-detection is about 4x
  slower), once with the outer record only, and once also extracting the fields of the nested
  container line, which is what our parser does.

It prints MB/s (uncompressed), lines/s, peak RSS, and the ratio of each against DuckDB.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import resource
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

APP_PREFIX = "fluent-bit-logs"


def peak_rss_mb() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children) / 1024  # ru_maxrss is in KiB on Linux


def dataset(data: Path, scale: float) -> dict:
    """Generate once and reuse: the figures compare engines, not the generator."""
    meta_path = data / "meta.json"
    if meta_path.exists() and json.loads(meta_path.read_text())["scale"] == scale:
        return json.loads(meta_path.read_text())
    from tasks.generator import LocalSink, generate_incident

    started = time.perf_counter()
    spec, _ = generate_incident(
        "bad-deploy", 1, LocalSink(data / "logs"), source_root=str(data / "logs"), scale=scale
    )
    files = sorted((data / "logs" / APP_PREFIX).rglob("*"))
    files = [f for f in files if f.is_file()]
    raw = lines = 0
    for f in files:
        with gzip.open(f, "rb") as fh:
            for chunk in iter(lambda fh=fh: fh.read(1 << 24), b""):
                raw += len(chunk)
                lines += chunk.count(b"\n")
    meta = {
        "scale": scale,
        "files": len(files),
        "compressed_bytes": sum(f.stat().st_size for f in files),
        "uncompressed_bytes": raw,
        "lines": lines,
        "window_start": spec.window.start.isoformat(),
        "window_end": spec.window.end.isoformat(),
        "generate_seconds": round(time.perf_counter() - started, 1),
    }
    meta_path.write_text(json.dumps(meta))
    return meta


def everything_window():
    from tasks.models import TimeWindow

    # Wide enough to keep every generated row: the benchmark measures reading, not pruning.
    now = datetime.now(UTC)
    return TimeWindow(start=now - timedelta(days=3650), end=now + timedelta(days=3650))


def run_ours(uri: str, out: Path) -> dict:
    from tasks.gather import gather_logs
    from tasks.models import LogFormat, Source
    from tasks.settings import load_settings

    source = Source(name="app", uri=uri, format=LogFormat.FLUENTBIT_K8S)
    started = time.perf_counter()
    result = gather_logs(
        [source], [everything_window()], out, incident_id="bench", settings=load_settings()
    )
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "rows": result.manifest.stats.rows_kept, "rss_mb": peak_rss_mb()}


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


def run_duckdb(folder: Path, nested: bool) -> dict:
    import duckdb

    con = duckdb.connect()
    con.execute(f"SET threads = {os.cpu_count()}")
    columns = "{" + ", ".join(f"'{k}': '{v}'" for k, v in DUCKDB_COLUMNS.items()) + "}"
    source = (
        f"read_json('{folder}/**/*', format='newline_delimited', compression='gzip', "
        f"columns={columns})"
    )
    inner = (
        ", count(json_extract_string(log, '$.level')), count(json_extract_string(log, '$.msg')), "
        "count(json_extract(log, '$.status')), count(json_extract(log, '$.latency_ms'))"
        if nested
        else ""
    )
    started = time.perf_counter()
    row = con.execute(
        f"SELECT count(*), count(kubernetes.pod_name), count(log){inner} FROM {source}"
    ).fetchone()
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "rows": row[0], "rss_mb": peak_rss_mb()}


def upload_to_moto(folder: Path) -> tuple[object, str]:
    import boto3
    from moto.server import ThreadedMotoServer

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    os.environ.update(
        AWS_ENDPOINT_URL_S3=endpoint, AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench"
    )
    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    client.create_bucket(Bucket="bench")
    for f in folder.rglob("*"):
        if f.is_file():
            client.upload_file(str(f), "bench", f"{APP_PREFIX}/{f.relative_to(folder)}")
    return server, "s3://bench/" + APP_PREFIX + "/"


def child(args: argparse.Namespace) -> None:
    """Run one engine and print its figures as JSON on stdout."""
    folder = Path(args.data) / "logs" / APP_PREFIX
    out = Path(args.data) / f"out-{args.engine}"
    if args.engine == "ours-local":
        figures = run_ours(str(folder), out)
    elif args.engine == "ours-s3":
        server, uri = upload_to_moto(folder)
        try:
            figures = run_ours(uri, out)
        finally:
            server.stop()
    else:
        figures = run_duckdb(folder, nested=args.engine == "duckdb-nested")
    print(json.dumps(figures))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--scale", type=float, default=12.0, help="generator scale (12 is about 1 GB)"
    )
    parser.add_argument("--data", default=str(ROOT / "bench" / "data" / "ingest"))
    parser.add_argument("--engine", help=argparse.SUPPRESS)
    parser.add_argument("--skip-s3", action="store_true", help="skip the moto S3 run")
    args = parser.parse_args()
    if args.engine:
        child(args)
        return

    data = Path(args.data)
    data.mkdir(parents=True, exist_ok=True)
    meta = dataset(data, args.scale)
    mb = meta["uncompressed_bytes"] / 1e6
    print(
        f"dataset: {meta['files']} gzip files, {meta['compressed_bytes'] / 1e6:.0f} MB compressed, "
        f"{mb:.0f} MB uncompressed, {meta['lines']:,} lines (Fluent Bit k8s JSON); "
        f"{os.cpu_count()} cores"
    )
    engines = ["duckdb", "duckdb-nested", "ours-local"] + ([] if args.skip_s3 else ["ours-s3"])
    results = {}
    for engine in engines:
        cmd = [
            sys.executable,
            __file__,
            "--engine",
            engine,
            "--data",
            str(data),
            "--scale",
            str(args.scale),
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            print(f"{engine}: failed\n{proc.stderr[-2000:]}")
            continue
        results[engine] = json.loads(proc.stdout.strip().splitlines()[-1])

    print(
        f"\n{'engine':<16}{'seconds':>9}{'MB/s':>9}{'lines/s':>12}{'peak RSS MB':>13}{'rows':>12}"
    )
    for engine, r in results.items():
        print(
            f"{engine:<16}{r['seconds']:>9.2f}{mb / r['seconds']:>9.1f}"
            f"{meta['lines'] / r['seconds']:>12,.0f}{r['rss_mb']:>13,.0f}{r['rows']:>12,}"
        )
    for ours in ("ours-local", "ours-s3"):
        for peer in ("duckdb", "duckdb-nested"):
            if ours in results and peer in results:
                ratio = results[peer]["seconds"] / results[ours]["seconds"]
                print(f"throughput ratio {ours} / {peer}: {ratio:.2f}x")


if __name__ == "__main__":
    main()
