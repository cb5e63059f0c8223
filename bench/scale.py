"""Scale-out benchmark: the gather and baseline stages locally, then on a Dask LocalCluster of
1, 2 and 4 workers.

    python bench/scale.py [--quick] [--scale 1.0] [--workers 1,2,4] [--data bench/data/ingest]

The dataset is bench/ingest.py's (Fluent Bit k8s JSON lines, gzip, in a local folder; generated
once and reused; scale 1 is about 390 MB uncompressed, `--quick` about 100 MB). Each Dask run
uses a fresh `distributed.LocalCluster(processes=True, threads_per_worker=1)`; its start-up is
not timed (a real cluster is already running). Every run must give the same manifest and the
same number of rows as the local run, or the benchmark stops; so must the baseline stage's
findings (on the generated incident's windows), timed apart on the same cluster, twice: on
fresh workers, then warm (a real cluster's workers have imported the code already), then warm
with the driver sending the columns (as on a cluster without shared storage).

It prints, per run: wall seconds, speed-up against 1 worker and against the local run (no
Dask), CPU seconds of the driver and of the workers, the Parquet parts' bytes sent to the
driver, and the 1-minute load average when the run ended (other work on the machine skews the
figures). Then what one shard costs to send as an Arrow table (pickled) against a Parquet part.
"""

from __future__ import annotations

import argparse
import os
import pickle
import resource
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.ingest import APP_PREFIX, QUICK_SCALE, dataset, everything_window  # noqa: E402

DEFAULT_SCALE = 1.0
#: One window for every run (everything_window() moves with the clock), so manifests compare.
WINDOW = everything_window()


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _comparable(manifest) -> dict:
    data = manifest.model_dump(mode="json", exclude={"created_at"})
    data["stats"].pop("seconds")
    return data


def gather(folder: Path, out: Path, dask_address: str | None = None):
    from tasks.contracts import LogFormat, Source
    from tasks.gather import gather_logs
    from tasks.settings import Settings

    source = Source(name="app", uri=str(folder), format=LogFormat.FLUENTBIT_K8S)
    settings = Settings(dask_address=dask_address)
    return gather_logs([source], [WINDOW], out, incident_id="bench", settings=settings)


def incident_windows(meta: dict):
    """The generated incident's window and its default baselines (as candidate_windows makes them)."""
    from datetime import datetime

    from tasks.contracts import TimeWindow, WindowSet

    incident = TimeWindow(
        start=datetime.fromisoformat(meta["window_start"]),
        end=datetime.fromisoformat(meta["window_end"]),
    )
    return WindowSet(
        incident=incident,
        baselines=[incident.shifted(-incident.duration), incident.shifted(-timedelta(days=7))],
        baseline_kind="default",
    )


def baseline(parquet: Path, windows, dask_address: str | None = None) -> dict:
    from tasks.baseline import findings_from_parquet
    from tasks.settings import Settings

    findings = findings_from_parquet(parquet, windows, "bench", Settings(dask_address=dask_address))
    return findings.model_dump(mode="json", exclude={"settings"})


def run_local(folder: Path, out: Path, windows) -> dict:
    cpu, started = own_cpu(), time.perf_counter()
    result = gather(folder, out)
    run = {
        "seconds": time.perf_counter() - started,
        "driver_cpu": own_cpu() - cpu,
        "worker_cpu": 0.0,
        "manifest": result.manifest,
        "load": os.getloadavg()[0],
    }
    cpu, started = own_cpu(), time.perf_counter()
    findings = baseline(result.parquet_path, windows)
    run["baseline"] = {
        "seconds": time.perf_counter() - started,
        "driver_cpu": own_cpu() - cpu,
        "worker_cpu": 0.0,
        "findings": findings,
        "load": os.getloadavg()[0],
    }
    return run


def _worker_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _baseline_on(client, parquet: Path, windows, address: str) -> dict:
    before = sum(client.run(_worker_cpu).values())
    cpu, started = own_cpu(), time.perf_counter()
    findings = baseline(parquet, windows, address)
    return {
        "seconds": time.perf_counter() - started,
        "driver_cpu": own_cpu() - cpu,
        "worker_cpu": sum(client.run(_worker_cpu).values()) - before,
        "findings": findings,
        "load": os.getloadavg()[0],
    }


def run_dask(folder: Path, out: Path, workers: int, windows) -> dict:
    from distributed import Client, LocalCluster

    with (
        LocalCluster(
            processes=True, n_workers=workers, threads_per_worker=1, dashboard_address=":0"
        ) as cluster,
        Client(cluster) as client,
    ):
        client.wait_for_workers(workers)
        before = sum(client.run(_worker_cpu).values())
        cpu, started = own_cpu(), time.perf_counter()
        result = gather(folder, out, cluster.scheduler_address)
        seconds = time.perf_counter() - started
        driver_cpu = own_cpu() - cpu
        worker_cpu = sum(client.run(_worker_cpu).values()) - before
        load = os.getloadavg()[0]
        # Twice: the first run on fresh workers also pays their imports of the baseline's
        # modules (pandas, scipy), once per worker process; the second is a warm cluster's.
        cold, stage = (
            _baseline_on(client, result.parquet_path, windows, cluster.scheduler_address)
            for _ in range(2)
        )
        stage["cold_seconds"] = cold["seconds"]
        stage["cold_worker_cpu"] = cold["worker_cpu"]
        # The workers of a LocalCluster see the driver's logs.parquet; on a cluster without
        # shared storage the driver sends the columns instead (see tasks/baseline/_dask.py).
        from tasks.baseline import _dask

        shared = _dask.workers_see_file
        _dask.workers_see_file = lambda client, path: False
        try:
            sent = _baseline_on(client, result.parquet_path, windows, cluster.scheduler_address)
        finally:
            _dask.workers_see_file = shared
    return {
        "seconds": seconds,
        "driver_cpu": driver_cpu,
        "worker_cpu": worker_cpu,
        "manifest": result.manifest,
        "load": load,
        "baseline": stage,
        "baseline_sent": sent,
    }


def transfer_costs(folder: Path) -> dict:
    """One shard read in this process: its rows pickled as an Arrow table, against the Parquet part."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from tasks.contracts import LogFormat, Source
    from tasks.gather import _stage
    from tasks.settings import Settings

    settings = Settings()
    source = Source(name="app", uri=str(folder), format=LogFormat.FLUENTBIT_K8S)
    store = _stage.open_store(source, settings)
    wide = _stage.widen([WINDOW], timedelta(0))
    listed, _ = _stage._list_source(source, store, wide, lambda: None)
    listed.sort(key=lambda i: i.info.key)
    shard = _stage.make_shards(listed)[0]
    result = _stage.read_shard(shard, [WINDOW], settings)
    started = time.perf_counter()
    table = pq.read_table(pa.BufferReader(result.parquet))
    decode = time.perf_counter() - started
    started = time.perf_counter()
    pickled = pickle.dumps(table, protocol=5)
    pickle_seconds = time.perf_counter() - started
    return {
        "stored_mb": shard.stored_bytes / 1e6,
        "rows": result.rows,
        "read_cpu": result.cpu_seconds,
        "parquet_mb": len(result.parquet) / 1e6,
        "parquet_decode_s": decode,
        "arrow_mb": len(pickled) / 1e6,
        "arrow_pickle_s": pickle_seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scale", type=float, help=f"generator scale (default {DEFAULT_SCALE})")
    parser.add_argument("--quick", action="store_true", help=f"scale {QUICK_SCALE}, a smoke run")
    parser.add_argument("--workers", default="1,2,4", help="Dask worker counts to run")
    parser.add_argument("--data", help="dataset folder (default bench/data/ingest[-quick])")
    args = parser.parse_args()

    scale = args.scale or (QUICK_SCALE if args.quick else DEFAULT_SCALE)
    default_data = "ingest-quick" if args.quick else f"scale-{scale:g}"
    data = Path(args.data or ROOT / "bench" / "data" / default_data)
    data.mkdir(parents=True, exist_ok=True)
    meta = dataset(data, scale)
    folder = data / "logs" / APP_PREFIX
    mb = meta["uncompressed_bytes"] / 1e6
    print(
        f"dataset: {meta['files']} gzip files, {meta['compressed_bytes'] / 1e6:.0f} MB compressed, "
        f"{mb:.0f} MB uncompressed, {meta['lines']:,} lines (scale {scale}); "
        f"{os.cpu_count()} cores; load average before {os.getloadavg()[0]:.2f}",
        flush=True,
    )

    windows = incident_windows(meta)
    runs: dict[str, dict] = {"local": run_local(folder, data / "out-local", windows)}
    print(
        f"local: gather {runs['local']['seconds']:.1f} s, "
        f"baseline {runs['local']['baseline']['seconds']:.1f} s",
        flush=True,
    )
    reference = _comparable(runs["local"]["manifest"])
    for n in [int(w) for w in args.workers.split(",") if w]:
        run = run_dask(folder, data / f"out-dask-{n}", n, windows)
        if _comparable(run["manifest"]) != reference:
            raise SystemExit(f"{n} Dask workers gave a different manifest from the local run")
        for stage in ("baseline", "baseline_sent"):
            if run[stage]["findings"] != runs["local"]["baseline"]["findings"]:
                raise SystemExit(f"{n} Dask workers gave different findings from the local run")
        runs[f"dask x{n}"] = run
        print(
            f"dask x{n}: gather {run['seconds']:.1f} s, baseline {run['baseline']['seconds']:.1f} s",
            flush=True,
        )

    rows = runs["local"]["manifest"].stats.rows_kept
    baseline_runs = {name: r["baseline"] for name, r in runs.items()}
    baseline_runs.update(
        {f"{name} sent": r["baseline_sent"] for name, r in runs.items() if "baseline_sent" in r}
    )
    for stage, stage_runs in (("gather", runs), ("baseline", baseline_runs)):
        one = stage_runs.get("dask x1")
        local = stage_runs["local"]["seconds"]
        print(
            f"\n{stage:<15}{'seconds':>9}{'vs 1 worker':>12}{'vs local':>9}{'MB/s':>7}"
            f"{'driver CPU s':>13}{'worker CPU s':>13}{'load':>6}"
        )
        for name, r in stage_runs.items():
            vs_one = f"{one['seconds'] / r['seconds']:.2f}x" if one and name != "local" else "-"
            print(
                f"{name:<15}{r['seconds']:>9.1f}{vs_one:>12}"
                f"{local / r['seconds']:>8.2f}x{mb / r['seconds']:>7.1f}"
                f"{r['driver_cpu']:>13.1f}{r['worker_cpu']:>13.1f}{r['load']:>6.2f}"
            )
        if stage == "baseline":
            print(
                "(Dask rows: runs on warm workers, which read logs.parquet's row groups "
                "themselves, or, 'sent', receive its columns from the driver; the first run, on "
                "fresh workers: "
                + ", ".join(
                    f"{name} {r['cold_seconds']:.1f} s and {r['cold_worker_cpu']:.1f} worker CPU s"
                    for name, r in stage_runs.items()
                    if "cold_seconds" in r
                )
                + ")"
            )
    print(
        f"rows kept: {rows:,} in every run (same manifest as the local run); "
        "same findings as the local run in every run"
    )

    t = transfer_costs(folder)
    print(
        f"\none shard ({t['stored_mb']:.0f} MB stored, {t['rows']:,} rows, read+parse "
        f"{t['read_cpu']:.1f} CPU s): Parquet part {t['parquet_mb']:.1f} MB "
        f"(decoded on the driver in {t['parquet_decode_s']:.2f} s) against "
        f"{t['arrow_mb']:.1f} MB as a pickled Arrow table ({t['arrow_pickle_s']:.2f} s to pickle)"
    )


if __name__ == "__main__":
    main()
