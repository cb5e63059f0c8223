"""Peak memory of the baseline stage alone, per step, on a gathered frame.

    python bench/baseline_mem.py <run folder with spec.json and evidence/logs.parquet> [--steps]
        [--traced]
        [--trace-sample-limit N]

Runs `findings_from_parquet` in this (fresh) interpreter and prints its VmHWM, the findings
JSON's SHA-256 (to check that a change leaves the findings alone) and the 1-minute load
average. With `--steps` it runs the stage's steps one by one instead and prints, per step, the
RSS after it and its own peak: VmHWM is reset before each step (writing 5 to
/proc/self/clear_refs), so each peak is that step's, on top of what earlier steps still hold.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import time
import tracemalloc
from pathlib import Path


def _status(field: str) -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith(field + ":"))


def _reset_peak() -> None:
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("folder", type=Path, help="run folder: spec.json, evidence/logs.parquet")
    parser.add_argument("--steps", action="store_true", help="each step's own peak")
    parser.add_argument(
        "--traced",
        action="store_true",
        help="with --steps: also each step's peak of numpy and Python allocations (tracemalloc)",
    )
    parser.add_argument("--trace-sample-limit", type=int, help="override the setting")
    args = parser.parse_args()
    folder, steps = args.folder, args.steps
    from tasks.baseline import findings_from_parquet
    from tasks.baseline.frame import candidate_windows
    from tasks.contracts import IncidentSpec
    from tasks.settings import Settings

    spec = IncidentSpec.model_validate_json((folder / "spec.json").read_text())
    windows = candidate_windows(spec)
    parquet = folder / "evidence" / "logs.parquet"
    limit = args.trace_sample_limit
    settings = Settings(trace_sample_limit=limit) if limit else Settings()
    start_kib = _status("VmRSS")
    started = time.monotonic()
    if steps:
        findings = _by_step(parquet, windows, spec.id, settings, traced=args.traced)
    else:
        findings = findings_from_parquet(parquet, windows, spec.id, settings)
    elapsed = time.monotonic() - started
    body = findings.model_dump_json(exclude={"settings"}).encode()
    print(
        json.dumps(
            {
                "frame": str(parquet),
                "rss_before_mib": round(start_kib / 1024),
                "peak_mib": round(_status("VmHWM") / 1024) if not steps else None,
                "seconds": round(elapsed, 1),
                "load1": os.getloadavg()[0],
                "findings_sha256": hashlib.sha256(body).hexdigest()[:16],
                "trace_sample_limit": settings.trace_sample_limit,
                "warnings": [w for w in findings.warnings if "sample" in w],
            }
        )
    )


def _by_step(parquet, windows, incident_id, settings, traced: bool = False):
    from tasks.baseline import changes as changes_mod
    from tasks.baseline import onset as onset_mod
    from tasks.baseline import suspects as suspects_mod
    from tasks.baseline import traces as traces_mod
    from tasks.baseline.comparison import compare_view
    from tasks.baseline.frame import FrameSource, drop_empty_baselines, window_view
    from tasks.baseline.series import charted_services, minute_series
    from tasks.memory import fix_mmap_threshold
    from tasks.settings import settings_record

    fix_mmap_threshold()  # as findings_from_parquet does
    state: dict = {}

    def step(name: str, fn) -> None:
        _reset_peak()
        if traced:
            tracemalloc.start()
        t0 = time.monotonic()
        fn()
        seconds = time.monotonic() - t0
        allocated = ""
        if traced:
            # numpy's and Python's own allocations: what the step asked for at its peak, apart
            # from pages the allocator keeps (RSS) and Arrow's pool (not traced).
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            allocated = f"  traced peak {peak / 2**20:6.0f} MiB"
        print(
            f"{name:<16} rss {_status('VmRSS') / 1024:6.0f} MiB  peak {_status('VmHWM') / 1024:6.0f} MiB"
            f"{allocated}  {seconds:6.1f} s  load1 {os.getloadavg()[0]:.1f}",
            flush=True,
        )

    frame = FrameSource(parquet)
    step("basics", lambda: state.update(dw=drop_empty_baselines(windows, frame)))
    used, warnings = state["dw"]
    step("window_view", lambda: state.update(view=window_view(frame, used)))
    view = state["view"]
    step("compare_view", lambda: state.update(cmp=compare_view(view, settings, incident_id)))
    findings, codes = state["cmp"]
    step(
        "changes",
        lambda: state.update(ch=changes_mod.detect_changes(view, (codes.codes, codes.templates))),
    )
    step("trace_signals", lambda: state.update(sig=traces_mod.trace_signals(view, settings)))
    signals = state["sig"]
    services = traces_mod.annotate_services(findings.services, view, signals)
    step("onsets", lambda: state.update(on=onset_mod.detect_onsets(view)))
    onsets, onset_warnings = state["on"]
    step(
        "suspects",
        lambda: state.update(
            su=suspects_mod.rank_suspects(
                view,
                services,
                findings.patterns,
                onsets,
                state["ch"],
                signals,
                alpha=settings.significance_level,
            )
        ),
    )
    step(
        "timeline+series",
        lambda: state.update(
            tl=onset_mod.build_timeline(view, onsets, state["ch"], findings.patterns),
            se=minute_series(view, charted_services(findings.services, state["su"])),
        ),
    )
    out = findings.model_copy(
        update={
            "services": services,
            "onsets": onsets,
            "suspects": state["su"],
            "changes": state["ch"],
            "timeline": state["tl"],
            "warnings": findings.warnings + onset_warnings + getattr(signals, "warnings", []),
            "series": state["se"],
            "settings": settings_record(settings),
        }
    )
    out.warnings.extend(warnings)
    return out


if __name__ == "__main__":
    main()
