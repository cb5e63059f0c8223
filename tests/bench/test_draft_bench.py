"""bench/draft.py's pure helpers: size parsing, the result table, the targets, the profile
summary. The benchmark itself is run by hand (it generates gigabytes)."""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_draft", ROOT / "bench" / "draft.py")
    module = importlib.util.module_from_spec(spec)
    # dataclasses look their module up in sys.modules while the class is built.
    sys.modules[spec.name] = module
    saved_path = list(sys.path)
    spec.loader.exec_module(module)
    yield module
    sys.path[:] = saved_path  # the script puts bench/ on the path for `import ingest`
    sys.modules.pop("ingest", None)
    del sys.modules[spec.name]


def test_sizes_are_parsed_sorted_and_must_exceed_the_twin(bench) -> None:
    assert bench.parse_sizes("4, 1") == [1.0, 4.0]
    assert bench.build_parser().parse_args(["--sizes", "0.5,2"]).sizes == [0.5, 2.0]
    for bad in ("", "a,b", "0.001"):
        with pytest.raises(argparse.ArgumentTypeError):
            bench.parse_sizes(bad)


def _row(bench, label, seconds, rss, duck_seconds):
    draft = {"seconds": seconds, "rss_mb": rss, "cpu": seconds, "load": 1.0}
    duck = {"seconds": duck_seconds, "cpu": duck_seconds, "rss_mb": 300.0}
    return bench.Row(label, 1000.0, 1_000_000, draft, duck)


def test_marginal_time_and_targets_are_judged_on_the_measured_figures(bench) -> None:
    rows = [_row(bench, "1 GB", 12.0, 1400.0, 2.0), _row(bench, "4 GB", 30.0, 2800.0, 8.0)]
    bench.with_marginals(rows, {"seconds": 2.0, "cpu": 1.0})
    assert [r.marginal for r in rows] == [10.0, 28.0]
    assert [r.marginal_cpu for r in rows] == [11.0, 29.0]
    verdicts = bench.verdicts(rows)
    assert "peak RSS <= 1500 MB at 1 GB: 1,400 MB, met" in verdicts
    assert "peak RSS <= 1500 MB at 4 GB: 2,800 MB, NOT met" in verdicts
    assert "RSS(4 GB) / RSS(1 GB) <= 1.2: 2.00, NOT met" in verdicts
    assert "marginal draft / DuckDB <= 2.0 at 1 GB: 5.0x, NOT met" in verdicts
    assert "marginal draft / DuckDB <= 2.0 at 4 GB: 3.5x, NOT met" in verdicts
    table = bench.results_table(rows)
    assert table.splitlines()[1].split()[-3:] == ["5.0", "5.5", "1.00"]


def test_a_failed_run_shows_dashes_not_a_crash(bench) -> None:
    row = bench.Row("1 GB", 1000.0, 10, None, None)
    assert bench.results_table([row]).splitlines()[1].count("-") >= 5
    assert bench.verdicts([row]) == []


def test_profile_samples_are_attributed_to_the_stage_on_the_stack(bench) -> None:
    lines = [
        "<module> (postmortem:8);gather_stage (/x/flows/postmortem.py:83);"
        "parse (/x/tasks/gather/formats/fluentbit_k8s.py:10) 30",
        "<module> (postmortem:8);baseline_stage (/x/flows/postmortem.py:96);"
        "findings_from_parquet (/x/tasks/baseline/_stage.py:5);"
        "read_table (/v/site-packages/pyarrow/parquet/core.py:1) 20",
        "<module> (postmortem:8);start (/v/site-packages/prefect/x.py:3) 5",
        "<module> (postmortem:8);<module> (tasks/analysis/_claude.py:1);"
        "<module> (anthropic/__init__.py:1) 4",
        # A worker thread has no stage frame: its project frames name the stage.
        "_bootstrap (threading.py:1);_read_all (tasks/gather/_stage.py:9);"
        "wrapper (pyarrow/compute.py:2) 7",
    ]
    stages = bench.summarise_collapsed(lines)
    assert {k: v["samples"] for k, v in stages.items()} == {
        "gather": 37,
        "baseline": 20,
        "other": 5,
        "import": 4,
    }
    assert stages["baseline"]["self"] == [("read_table (pyarrow/parquet/core.py)", 20)]
    assert ("findings_from_parquet (tasks/baseline/_stage.py)", 20) in stages["baseline"][
        "inclusive"
    ]


def test_data_that_changed_since_its_meta_json_is_named(bench) -> None:
    meta = {"lines": 911_186}
    folder = Path("bench/data/draft/scale-2.6")
    assert bench.data_mismatches(folder, meta, {"lines_parsed": 911_186}, {"lines": 911_186}) == []
    assert bench.data_mismatches(folder, meta, None, None) == []
    (problem,) = bench.data_mismatches(
        folder, meta, {"lines_parsed": 911_186}, {"lines": 4_223_080}
    )
    assert problem.startswith("DuckDB read 4,223,080 lines in bench/data/draft/scale-2.6")
    assert "meta.json says 911,186" in problem
