"""The baseline stage's memory does not grow with the log volume.

Two generated incidents, one with four times the lines of the other, are gathered once; then
the baseline stage runs alone in a fresh interpreter on each, and the peak RSS of the two runs
(`ru_maxrss`) is compared. The smaller incident is large enough that memory proportional to
the lines would show: reading the whole frame into memory, as the stage once did, uses about
1 KB per line, well over the interpreter's fixed cost at these sizes.

The peak is the child's VmHWM, read by the child itself. Its `ru_maxrss` would not do: Linux
carries the high-water mark of the memory a process replaces at exec into `ru_maxrss`, and
subprocess starts it from pytest's process (vfork), so every child would report at least pytest's own peak.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tasks.baseline.frame import candidate_windows
from tasks.gather import gather_logs
from tasks.settings import Settings
from tasks.synthetic.generator import LocalSink, generate_incident

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads Linux's VmHWM"),
]

SMALL_SCALE = 0.1
# Lines grow with scale plus a fixed part (CloudTrail, load balancer): 0.5 gives about 4x.
LARGE_SCALE = 0.5
MAX_GROWTH = 1.3

# Run in a fresh interpreter, so that its peak is the baseline stage's alone, not pytest's.
_RUN_BASELINE = """
import json, sys
from pathlib import Path
from tasks.baseline import findings_from_parquet
from tasks.contracts import WindowSet
from tasks.settings import Settings

parquet, windows, incident_id = sys.argv[1:4]
windows = WindowSet.model_validate_json(Path(windows).read_text())
findings = findings_from_parquet(Path(parquet), windows, incident_id, Settings())
with open("/proc/self/status") as status:
    hwm = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
import tasks
print(json.dumps({"peak_kib": hwm, "code": tasks.__file__, "findings": len(findings.patterns)}))
"""


def _gathered(folder: Path, scale: float) -> tuple[Path, Path, str, int]:
    logs = folder / "logs"
    spec, _ = generate_incident(
        "bad-deploy", 1, LocalSink(logs), source_root=str(logs), scale=scale
    )
    windows = candidate_windows(spec)
    result = gather_logs(
        spec.sources,
        [windows.incident, *windows.baselines],
        folder / "out",
        incident_id=spec.id,
        settings=Settings(),
    )
    windows_path = folder / "windows.json"
    windows_path.write_text(windows.model_dump_json(), encoding="utf-8")
    return result.parquet_path, windows_path, spec.id, result.manifest.stats.rows_kept


def _baseline_peak(parquet: Path, windows: Path, incident_id: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", _RUN_BASELINE, str(parquet), str(windows), incident_id],
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_peak_memory_does_not_grow_with_the_lines(tmp_path: Path) -> None:
    small = _gathered(tmp_path / "small", SMALL_SCALE)
    large = _gathered(tmp_path / "large", LARGE_SCALE)
    # The premise: four times the lines.
    assert 3.5 <= large[3] / small[3] <= 4.5, (small[3], large[3])
    small_run = _baseline_peak(*small[:3])
    large_run = _baseline_peak(*large[:3])
    growth = large_run["peak_kib"] / small_run["peak_kib"]
    figures = (
        f"{small[3]} rows: {small_run['peak_kib'] / 1024:.0f} MB; "
        f"{large[3]} rows: {large_run['peak_kib'] / 1024:.0f} MB; growth {growth:.2f}x "
        f"({small_run['code']})"
    )
    print(figures)
    assert growth <= MAX_GROWTH, figures
