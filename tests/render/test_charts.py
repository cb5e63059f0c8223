"""The draft's SVG charts: present when the findings support them, self-contained, deterministic."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

from tasks.baseline import build_findings
from tasks.contracts import TimeWindow, WindowSet
from tasks.render.charts import build_charts, write_charts
from tasks.settings import Settings
from tests.frames import Logs

T0 = datetime(2026, 11, 24, 13, 5, tzinfo=UTC)
INCIDENT = TimeWindow(start=T0, end=T0 + timedelta(minutes=20))
BEFORE = INCIDENT.shifted(-INCIDENT.duration)
WINDOWS = WindowSet(incident=INCIDENT, baselines=[BEFORE], baseline_kind="default")


def findings(latency: bool = True):
    logs = Logs(seed=2)
    extra = {"latency_ms": 12.0} if latency else {}
    logs.per_minute("checkout", 20, BEFORE.start, INCIDENT.end, **extra)
    step = T0 + timedelta(minutes=6)
    logs.per_minute("checkout", 9, step, INCIDENT.end, "payment failed {n}", level="error", **extra)
    return build_findings(logs.frame(), WINDOWS, "INC-1", Settings())


def test_error_latency_and_volume_charts_name_each_service() -> None:
    charts = build_charts(findings())
    assert [c.name for c in charts] == ["error_rate", "latency", "volume"]
    for chart in charts:
        root = ET.fromstring(chart.svg)  # well-formed, inline-able SVG
        assert root.tag.endswith("svg")
        assert not chart.svg.startswith("<?xml")
        assert "checkout" in chart.svg and "incident" in chart.svg and "baseline" in chart.svg
        # Nothing fetched from elsewhere: no external hrefs, fonts or images.
        assert not re.search(r'(href|src)="(https?:)?//', chart.svg)


def test_no_latency_data_means_no_latency_chart_and_no_series_no_charts() -> None:
    assert [c.name for c in build_charts(findings(latency=False))] == ["error_rate", "volume"]
    empty = findings().model_copy(update={"series": []})
    assert build_charts(empty) == []


def test_the_same_findings_give_the_same_bytes(tmp_path) -> None:
    first, second = build_charts(findings()), build_charts(findings())
    assert [c.svg for c in first] == [c.svg for c in second]
    paths = write_charts(first, tmp_path)
    assert [p.relative_to(tmp_path).as_posix() for p in paths] == [
        "charts/error_rate.svg",
        "charts/latency.svg",
        "charts/volume.svg",
    ]
