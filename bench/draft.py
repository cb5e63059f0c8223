"""Draft benchmark: the whole `postmortem draft` against DuckDB's scan-and-aggregate, in one run.

    python bench/draft.py [--sizes 1,4] [--quick] [--prefect server|ephemeral] [--profile]

For each size (GB of uncompressed Fluent Bit k8s JSON, gzip, in a local folder) and for a twin
of about 10 MB, the generator writes one incident once (kept under bench/data/draft/ and reused).
The spec keeps only the Fluent Bit source, so the draft and DuckDB read the same objects. Then,
each in its own subprocess, so that each peak RSS (`ru_maxrss`) is its own:

- `postmortem draft INCIDENT.yaml --analyst offline --json` (the CLI, as a user runs it);
- DuckDB `read_json` over the same objects with an explicit schema, the container's own JSON line
  parsed too, then lines and error lines (level error/fatal or HTTP status >= 500) counted per
  service and minute.

Prefect's fixed cost: by default the bench starts `prefect server start` once (its start-up is
printed, not counted) and hands PREFECT_API_URL to every draft, so no draft starts Prefect's
ephemeral API. The twin is also drafted once without it, which shows what a user pays without a
server. `--prefect ephemeral` times every draft with the ephemeral API instead.

It prints the draft's wall time, its marginal time over the twin, peak RSS, CPU seconds, the
DuckDB time, the ratio marginal/DuckDB, RSS(largest)/RSS(smallest), the issue's targets, and the
1-minute load average when each run finished (other work on the machine skews the figures).

`--profile` runs the largest size's draft under `py-spy record` (non-blocking sampling at 50 Hz,
so its timing moves little; one such draft can take half an hour on a busy machine, hence no
second run) and prints the CPU samples per stage, the top functions of each stage, and the peak
RSS seen while each stage ran (sampled each second with `py-spy dump` and /proc). Needs py-spy
(the `bench` extra).
"""

from __future__ import annotations

import argparse
import collections
import concurrent.futures
import json
import multiprocessing
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from ingest import (  # noqa: E402
    APP_PREFIX,
    DUCKDB_COLUMNS,
    INNER_STRUCTURE,
    cpu_seconds,
    gzip_stats,
    peak_rss_mb,
)

#: Generator scale per GB of uncompressed Fluent Bit logs (scale 1 writes about 390 MB).
SCALE_PER_GB = 2.6
TWIN_GB = 0.01
QUICK_SIZES = (0.1,)
STAGES = ("gather", "baseline", "evidence", "analysis", "verify", "render")

#: The issue's targets.
MAX_RSS_MB = 1500
MAX_RSS_GROWTH = 1.2
MAX_MARGINAL_OVER_DUCKDB = 2.0


# --- pure helpers (tested in tests/test_bench_draft.py) ---------------------------------------


def parse_sizes(text: str) -> list[float]:
    """`1,4` -> [1.0, 4.0]: sizes in GB of uncompressed logs, ascending, each above the twin's."""
    try:
        sizes = sorted({float(part) for part in text.split(",") if part.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a list of numbers like 1,4") from None
    if not sizes:
        raise argparse.ArgumentTypeError("no size given; expected e.g. 1,4")
    if sizes[0] <= TWIN_GB:
        raise argparse.ArgumentTypeError(f"every size must exceed the {TWIN_GB} GB twin")
    return sizes


def size_label(gb: float) -> str:
    return f"{gb * 1000:.0f} MB" if gb < 1 else f"{gb:g} GB"


@dataclass
class Row:
    """One size's figures; `draft` and `duckdb` are the children's JSON figures."""

    label: str
    mb: float
    lines: int
    draft: dict | None
    duckdb: dict | None
    marginal: float | None = None
    marginal_cpu: float | None = None


def with_marginals(rows: list[Row], twin: dict | None) -> list[Row]:
    """Each row's draft minus the twin's: wall seconds and CPU seconds."""
    for row in rows:
        if row.draft and twin:
            row.marginal = row.draft["seconds"] - twin["seconds"]
            row.marginal_cpu = row.draft["cpu"] - twin["cpu"]
    return rows


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def results_table(rows: list[Row]) -> str:
    """Wall and CPU seconds side by side: on a busy machine CPU seconds move less."""
    head = (
        f"{'size':<9}{'MB':>6}{'lines':>11}{'draft s':>8}{'marg s':>8}{'RSS MB':>7}"
        f"{'CPU s':>7}{'marg CPU':>9}{'duck s':>7}{'duck CPU':>9}{'duck RSS':>9}"
        f"{'marg/duck':>10}{'CPU ratio':>10}{'load':>6}"
    )
    out = [head]
    for r in rows:
        d, k = r.draft or {}, r.duckdb or {}
        ratio = r.marginal / k["seconds"] if r.marginal is not None and k else None
        cpu_ratio = r.marginal_cpu / k["cpu"] if r.marginal_cpu is not None and k else None
        out.append(
            f"{r.label:<9}{r.mb:>6.0f}{r.lines:>11,}{_fmt(d.get('seconds'), '.1f'):>8}"
            f"{_fmt(r.marginal, '.1f'):>8}{_fmt(d.get('rss_mb'), ',.0f'):>7}"
            f"{_fmt(d.get('cpu'), '.1f'):>7}{_fmt(r.marginal_cpu, '.1f'):>9}"
            f"{_fmt(k.get('seconds'), '.2f'):>7}{_fmt(k.get('cpu'), '.2f'):>9}"
            f"{_fmt(k.get('rss_mb'), ',.0f'):>9}{_fmt(ratio, '.1f'):>10}"
            f"{_fmt(cpu_ratio, '.1f'):>10}{_fmt(d.get('load'), '.2f'):>6}"
        )
    return "\n".join(out)


def verdicts(rows: list[Row]) -> list[str]:
    """The issue's targets, each with the figure it was judged on; the twin row is excluded."""
    out = []
    measured = [r for r in rows if r.draft]
    for r in measured:
        rss = r.draft["rss_mb"]
        ok = "met" if rss <= MAX_RSS_MB else "NOT met"
        out.append(f"peak RSS <= {MAX_RSS_MB} MB at {r.label}: {rss:,.0f} MB, {ok}")
    if len(measured) >= 2:
        small, large = measured[0], measured[-1]
        growth = large.draft["rss_mb"] / small.draft["rss_mb"]
        ok = "met" if growth <= MAX_RSS_GROWTH else "NOT met"
        out.append(
            f"RSS({large.label}) / RSS({small.label}) <= {MAX_RSS_GROWTH}: {growth:.2f}, {ok}"
        )
    for r in measured:
        if r.marginal is not None and r.duckdb:
            ratio = r.marginal / r.duckdb["seconds"]
            ok = "met" if ratio <= MAX_MARGINAL_OVER_DUCKDB else "NOT met"
            out.append(
                f"marginal draft / DuckDB <= {MAX_MARGINAL_OVER_DUCKDB} at {r.label}: "
                f"{ratio:.1f}x, {ok}"
            )
        if r.marginal_cpu is not None and r.duckdb and r.duckdb.get("cpu"):
            ratio = r.marginal_cpu / r.duckdb["cpu"]
            ok = "met" if ratio <= MAX_MARGINAL_OVER_DUCKDB else "NOT met"
            out.append(
                f"(CPU seconds) marginal draft / DuckDB <= {MAX_MARGINAL_OVER_DUCKDB} at "
                f"{r.label}: {ratio:.1f}x, {ok}"
            )
    return out


_STAGE_FRAME = re.compile(r"(\w+)_stage \(")
_PROJECT_FRAME = re.compile(r"[(/]tasks/(\w+)/")


def stage_of(stack: list[str]) -> str:
    """The pipeline stage a stack (outermost frame first) is in: its Prefect task function, or
    else, for worker threads that have none, the stage package of its innermost project frame."""
    for frame in stack:
        m = _STAGE_FRAME.match(frame)
        if m and m.group(1) in STAGES:
            return m.group(1)
    # Below the entry script's own <module> frame: importing modules, whoever asked for them.
    if any(frame.startswith("<module> (") for frame in stack[1:]):
        return "import"
    for frame in reversed(stack):
        m = _PROJECT_FRAME.search(frame)
        if m and m.group(1) in STAGES:
            return m.group(1)
    return "other"


def summarise_collapsed(lines: list[str], top: int = 8) -> dict[str, dict]:
    """py-spy's raw (collapsed) stacks -> per stage: samples, and the functions most often on
    the stack (inclusive) and at its top (self), ignoring frames outside this project."""
    stages: dict[str, dict] = {}
    for line in lines:
        stack_text, _, count_text = line.rstrip().rpartition(" ")
        if not stack_text or not count_text.isdigit():
            continue
        count = int(count_text)
        stack = stack_text.split(";")
        s = stages.setdefault(
            stage_of(stack),
            {"samples": 0, "self": collections.Counter(), "inclusive": collections.Counter()},
        )
        s["samples"] += count
        s["self"][_short(stack[-1])] += count
        for frame in set(stack):
            if _PROJECT_FRAME.search(frame):
                s["inclusive"][_short(frame)] += count
    for s in stages.values():
        s["self"] = s["self"].most_common(top)
        s["inclusive"] = s["inclusive"].most_common(top)
    return stages


def _short(frame: str) -> str:
    """`fn (/a/b/tasks/baseline/frame.py:12)` -> `fn (tasks/baseline/frame.py)`."""
    m = re.match(r"(.*?) \((.*?)(?::\d+)?\)$", frame)
    if not m:
        return frame
    name, path = m.groups()
    for marker in ("/tasks/", "/flows/", "/site-packages/"):
        if marker in path:
            path = path[path.index(marker) + 1 :].removeprefix("site-packages/")
            break
    return f"{name} ({path})"


# --- data --------------------------------------------------------------------------------------


def dataset_folder(data: Path, gb: float) -> Path:
    return data / f"scale-{gb * SCALE_PER_GB:g}"


def dataset(folder: Path, gb: float) -> dict:
    """Generate once and reuse: the figures compare runs, not the generator."""
    scale = round(gb * SCALE_PER_GB, 4)
    meta_path = folder / "meta.json"
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else None
    if meta and meta["scale"] == scale:
        return meta
    # In a process of its own: Linux carries a process's peak RSS into the children it starts
    # (ru_maxrss survives fork and exec), so a bench grown to the generator's 700 MB reported
    # that figure as the peak of every smaller draft and of DuckDB after it.
    spawn = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=spawn) as pool:
        return pool.submit(generate_dataset, folder, scale).result()


def generate_dataset(folder: Path, scale: float) -> dict:
    from tasks.synthetic.generator import LocalSink, generate_incident, write_outputs

    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    logs = (folder / "logs").resolve()
    started = time.perf_counter()
    spec, truth = generate_incident(
        "bad-deploy", 1, LocalSink(logs), source_root=str(logs), scale=scale
    )
    # Only the Fluent Bit source: the draft then reads exactly the objects DuckDB reads.
    spec = spec.model_copy(update={"sources": [s for s in spec.sources if s.name == "app"]})
    write_outputs(spec, truth, folder)
    meta = {
        "scale": scale,
        **gzip_stats(logs / APP_PREFIX),
        "generate_seconds": round(time.perf_counter() - started, 1),
    }
    (folder / "meta.json").write_text(json.dumps(meta))
    return meta


def data_mismatches(folder: Path, meta: dict, draft: dict | None, duck: dict | None) -> list[str]:
    """Where the runs read other lines than the generator wrote (data damaged or regenerated
    since meta.json): such a row's figures are not comparable with earlier runs."""
    problems = []
    for engine, counted in (
        ("the draft", draft and draft.get("lines_parsed")),
        ("DuckDB", duck and duck.get("lines")),
    ):
        if counted is not None and counted != meta["lines"]:
            problems.append(
                f"{engine} read {counted:,} lines in {folder}, whose meta.json says "
                f"{meta['lines']:,}; delete the folder to regenerate it."
            )
    return problems


# --- runs --------------------------------------------------------------------------------------


def draft_command(spec: Path, out: Path) -> list[str]:
    cli = Path(sys.executable).with_name("postmortem")
    return [str(cli), "draft", str(spec), "--out", str(out), "--analyst", "offline", "--json"]


def draft_env(prefect_home: Path, api_url: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "ANTHROPIC_"))}
    env.update(PREFECT_HOME=str(prefect_home), PREFECT_SERVER_ANALYTICS_ENABLED="false")
    if api_url:
        env["PREFECT_API_URL"] = api_url
    return env


def run_draft(
    spec: Path, out: Path, env: dict[str, str], profile_dir: Path | None = None
) -> dict | None:
    """One draft in a subprocess; its own peak RSS and CPU from wait4 (an ephemeral Prefect API
    it starts is its child: its RSS counts as a max, its CPU adds up). With `profile_dir`, the
    draft is sampled by `py-spy record --pid` (non-blocking, 50 Hz)."""
    shutil.rmtree(out, ignore_errors=True)
    stdout, stderr = out.with_name(out.name + ".stdout"), out.with_name(out.name + ".stderr")
    recorder = sampler = None
    started = time.perf_counter()
    with open(stdout, "wb") as so, open(stderr, "wb") as se:
        proc = subprocess.Popen(draft_command(spec, out), env=env, stdout=so, stderr=se)
        if profile_dir is not None:
            # py-spy attaches to the draft rather than starting it, so the draft stays our
            # child and wait4 below reports the draft's own RSS and CPU, not py-spy's.
            recorder = subprocess.Popen(
                pyspy_command(profile_dir, proc.pid),
                stdout=subprocess.DEVNULL,
                stderr=open(profile_dir / "profile.stderr", "wb"),  # noqa: SIM115
            )
            sampler = StageSampler(proc.pid, started)
        _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    if recorder:
        try:
            recorder.wait(timeout=120)
        except subprocess.TimeoutExpired:
            recorder.terminate()
    if sampler:
        try:
            sampler.finish(profile_dir)
        except Exception as exc:  # the timed figures matter more than the profile's summary
            print(f"profile summary failed: {exc!r}", flush=True)
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        tail = stderr.read_text(errors="replace")[-2000:]
        print(f"draft of {spec} failed (exit {code})\n{tail}", flush=True)
        return None
    # py-spy, when profiling, writes its own lines to the same stdout.
    result = json.loads(
        next(ln for ln in reversed(stdout.read_text().splitlines()) if ln.startswith("{"))
    )
    stats = result.get("stats") or {}
    return {
        "seconds": seconds,
        "rss_mb": usage.ru_maxrss / 1024,
        "cpu": usage.ru_utime + usage.ru_stime,
        "rows": stats.get("rows_kept"),
        "lines_parsed": stats.get("lines_parsed"),
        "gather_seconds": stats.get("seconds"),
        "failures": result.get("stage_failures"),
        "load": os.getloadavg()[0],
    }


def duckdb_query(folder: Path) -> str:
    columns = "{" + ", ".join(f"'{k}': '{v}'" for k, v in DUCKDB_COLUMNS.items()) + "}"
    source = (
        f"read_json('{folder}/**/*', format='newline_delimited', compression='gzip', "
        f"columns={columns})"
    )
    # The service as our parser names it: the app labels, else the container.
    service = (
        "coalesce(kubernetes.labels['app.kubernetes.io/name'], kubernetes.labels['app'], "
        "kubernetes.labels['k8s-app'], kubernetes.container_name)"
    )
    # try(): some containers log plain text (pgbouncer); their rows get nulls, as in our frame.
    return (
        "SELECT count(*), sum(n), sum(errors), count(DISTINCT service) FROM ("
        "SELECT service, minute, count(*) AS n, "
        "count(*) FILTER (WHERE lower(j.level) IN ('error', 'fatal', 'critical') "
        "OR j.status >= 500) AS errors FROM ("
        f"SELECT {service} AS service, date_trunc('minute', to_timestamp(date)) AS minute, "
        f"try(from_json(log, '{INNER_STRUCTURE}')) AS j FROM {source}) GROUP BY ALL)"
    )


def duckdb_child(folder: Path) -> dict:
    import duckdb

    con = duckdb.connect()
    con.execute(f"SET threads = {os.cpu_count()}")
    cpu = cpu_seconds()
    started = time.perf_counter()
    groups, lines, errors, services = con.execute(duckdb_query(folder)).fetchone()
    return {
        "seconds": time.perf_counter() - started,
        "cpu": cpu_seconds() - cpu,
        "rss_mb": peak_rss_mb(),
        "groups": groups,
        "lines": int(lines),
        "errors": int(errors),
        "services": services,
    }


def run_duckdb(folder: Path) -> dict | None:
    cmd = [sys.executable, __file__, "--duckdb-child", str(folder)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        print(f"duckdb failed\n{proc.stderr[-2000:]}", flush=True)
        return None
    figures = json.loads(proc.stdout.strip().splitlines()[-1])
    figures["load"] = os.getloadavg()[0]
    return figures


class PrefectServer:
    """`prefect server start` in a process of its own, so no draft starts the ephemeral API."""

    def __init__(self, prefect_home: Path) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.api_url = f"http://127.0.0.1:{self.port}/api"
        env = draft_env(prefect_home, None)
        env.update(PREFECT_UI_ENABLED="false", PREFECT_SERVER_LOGGING_LEVEL="WARNING")
        self.log = open(prefect_home / "server.log", "wb")  # noqa: SIM115 (closed in stop)
        started = time.perf_counter()
        prefect = Path(sys.executable).with_name("prefect")
        self.proc = subprocess.Popen(
            [str(prefect), "server", "start", "--host", "127.0.0.1", "--port", str(self.port)],
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        import urllib.request

        deadline = time.monotonic() + 300
        while True:
            try:
                with urllib.request.urlopen(f"{self.api_url}/health", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.stop()
                raise RuntimeError(f"prefect server did not start; see {prefect_home}/server.log")
            time.sleep(0.5)
        self.startup_seconds = time.perf_counter() - started

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


# --- profile -----------------------------------------------------------------------------------


def _pyspy() -> str:
    return shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))


def pyspy_command(profile_dir: Path, pid: int) -> list[str]:
    raw = profile_dir / "profile.txt"
    options = ["--format", "raw", "-o", str(raw), "-r", "50", "--nonblocking", "--pid", str(pid)]
    return [_pyspy(), "record", *options]


class StageSampler:
    """Every second, the draft's RSS (from /proc) and, with `py-spy dump`, the stage it is in."""

    def __init__(self, pid: int, started: float) -> None:
        self.pid = pid
        self.started = started
        self.timeline: list[tuple[float, float, str]] = []
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        import psutil

        try:
            target = psutil.Process(self.pid)
        except psutil.Error:
            return
        while not self.done.is_set():
            try:
                rss = target.memory_info().rss / 2**20
                dump = subprocess.run(
                    [_pyspy(), "dump", "--nonblocking", "--pid", str(target.pid)],
                    capture_output=True,
                    text=True,
                    timeout=30,
                    check=False,
                ).stdout
            except (psutil.Error, subprocess.TimeoutExpired):
                return
            frames = [ln.strip() for ln in dump.splitlines() if ln.startswith("    ")]
            # py-spy dump lists each thread innermost frame first; a stage in any thread counts.
            stage = stage_of(list(reversed(frames)))
            self.timeline.append((time.perf_counter() - self.started, rss, stage))
            self.done.wait(1.0)

    def finish(self, profile_dir: Path) -> None:
        self.done.set()
        self.thread.join(timeout=60)
        (profile_dir / "profile-rss.tsv").write_text(
            "".join(f"{t:.1f}\t{r:.0f}\t{s}\n" for t, r, s in self.timeline)
        )
        rss_by_stage: dict[str, float] = collections.defaultdict(float)
        seconds_by_stage: dict[str, float] = collections.Counter()
        last = 0.0
        for t, rss, stage in self.timeline:
            rss_by_stage[stage] = max(rss_by_stage[stage], rss)
            seconds_by_stage[stage] += t - last
            last = t
        raw = profile_dir / "profile.txt"
        if not raw.exists():
            print(f"py-spy wrote no profile ({raw})", flush=True)
            return
        print_profile(summarise_collapsed(raw.read_text().splitlines()), rss_by_stage, raw)
        wall = ", ".join(f"{k} {v:.0f} s" for k, v in seconds_by_stage.items())
        print(f"wall time by stage (1 s samples): {wall}", flush=True)


def print_profile(stages: dict[str, dict], rss_by_stage: dict[str, float], raw: Path) -> None:
    total = sum(s["samples"] for s in stages.values()) or 1
    print(f"\nprofile (py-spy, 50 Hz, non-idle samples): {raw}")
    print(f"{'stage':<10}{'CPU share':>10}{'peak RSS MB (1 s samples)':>27}")
    for name in (*STAGES, "import", "other"):
        if name in stages or name in rss_by_stage:
            share = stages.get(name, {"samples": 0})["samples"] / total
            print(f"{name:<10}{share:>10.0%}{rss_by_stage.get(name, 0):>27,.0f}")
    for name in (*STAGES, "import", "other"):
        if name not in stages:
            continue
        s = stages[name]
        print(f"\n{name}: functions of this project most often on the stack (share of all)")
        for fn, n in s["inclusive"]:
            print(f"  {n / total:>6.1%}  {fn}")
        print(f"{name}: top self time")
        for fn, n in s["self"]:
            print(f"  {n / total:>6.1%}  {fn}")


# --- main --------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--sizes",
        type=parse_sizes,
        default=[1.0, 4.0],
        help="GB of uncompressed logs, comma-separated (default 1,4)",
    )
    parser.add_argument("--quick", action="store_true", help="one size of about 100 MB")
    parser.add_argument(
        "--prefect",
        choices=("server", "ephemeral"),
        default="server",
        help="server: one `prefect server start` for every draft (default); "
        "ephemeral: each draft starts Prefect's ephemeral API",
    )
    parser.add_argument(
        "--skip-ephemeral-twin",
        action="store_true",
        help="with --prefect server, do not also draft the twin with the ephemeral API",
    )
    parser.add_argument(
        "--profile", action="store_true", help="run the largest size's draft under py-spy"
    )
    parser.add_argument("--data", help="data folder (default bench/data/draft)")
    parser.add_argument("--duckdb-child", help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    if args.duckdb_child:
        print(json.dumps(duckdb_child(Path(args.duckdb_child))))
        return

    sizes = list(QUICK_SIZES) if args.quick else args.sizes
    data = Path(args.data or ROOT / "bench" / "data" / "draft").resolve()
    prefect_home = data / "prefect-home"
    prefect_home.mkdir(parents=True, exist_ok=True)
    metas = {}
    for gb in (TWIN_GB, *sizes):
        metas[gb] = dataset(dataset_folder(data, gb), gb)
        m = metas[gb]
        print(
            f"{size_label(gb)}: {m['files']} gzip objects, {m['compressed_bytes'] / 1e6:.0f} MB "
            f"compressed, {m['uncompressed_bytes'] / 1e6:.0f} MB uncompressed, "
            f"{m['lines']:,} lines",
            flush=True,
        )
    print(f"{os.cpu_count()} cores; load average now {os.getloadavg()[0]:.2f}", flush=True)

    server = None
    api_url = None
    if args.prefect == "server":
        server = PrefectServer(prefect_home)
        api_url = server.api_url
        print(
            f"prefect server started in {server.startup_seconds:.1f} s at {api_url} "
            "(once, not counted in the drafts)",
            flush=True,
        )
    env = draft_env(prefect_home, api_url)
    rows = []
    try:
        if server and not args.skip_ephemeral_twin:
            eph = run_draft(
                dataset_folder(data, TWIN_GB) / "incident.yaml",
                data / "out-twin-ephemeral",
                draft_env(prefect_home, None),
            )
            if eph:
                print(
                    f"twin with the ephemeral API: {eph['seconds']:.1f} s, "
                    f"RSS {eph['rss_mb']:,.0f} MB (load {eph['load']:.2f})",
                    flush=True,
                )
        for gb in (TWIN_GB, *sizes):
            folder = dataset_folder(data, gb)
            profiled = args.profile and gb == sizes[-1]
            draft = run_draft(
                folder / "incident.yaml", data / f"out-{gb:g}", env, data if profiled else None
            )
            if draft and draft["failures"]:
                print(f"{size_label(gb)}: stage failures {draft['failures']}", flush=True)
            duck = run_duckdb(folder / "logs" / APP_PREFIX)
            m = metas[gb]
            for problem in data_mismatches(folder, m, draft, duck):
                print(f"{size_label(gb)}: DATA MISMATCH: {problem}", flush=True)
            rows.append(Row(size_label(gb), m["uncompressed_bytes"] / 1e6, m["lines"], draft, duck))
            print(
                f"{size_label(gb)} done: draft {draft and round(draft['seconds'], 1)} s, "
                f"duckdb {duck and round(duck['seconds'], 2)} s",
                flush=True,
            )
        with_marginals(rows[1:], rows[0].draft)
        how = "one running server (PREFECT_API_URL)" if server else "the ephemeral API per draft"
        print(f"\nPrefect: {how}")
        print(results_table(rows))
        for r in rows:
            if r.draft and r.duckdb:
                d = r.draft
                print(
                    f"{r.label}: draft kept {_fmt(d['rows'], ',')} of "
                    f"{_fmt(d['lines_parsed'], ',')} lines (gather {_fmt(d['gather_seconds'], '.1f')}"
                    " s); DuckDB "
                    f"{r.duckdb['lines']:,} lines, {r.duckdb['errors']:,} errors, "
                    f"{r.duckdb['groups']:,} service-minutes"
                )
        for line in verdicts(rows[1:]):
            print(line)
    finally:
        if server:
            server.stop()


if __name__ == "__main__":
    main()
