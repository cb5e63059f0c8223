"""Time from object keys for each shipper's layout, and pruning with the late-delivery margin."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tasks.contracts import TimeWindow
from tasks.gather.layouts import (
    Interval,
    is_cloudwatch_export,
    key_interval,
    may_hold_window_data,
    prefix_interval,
    widen,
)


def t(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


WINDOW = TimeWindow(start=t(2026, 1, 24, 13, 5), end=t(2026, 1, 24, 13, 47))
WIDE = widen([WINDOW], timedelta(minutes=15))  # [12:50, 14:02)


@pytest.mark.parametrize(
    ("key", "start", "span"),
    [
        # Fluent Bit %Y/%m/%d/%H/%M/%S, with and without a suffix on the last part
        ("fluent-bit-logs/kube.checkout/2026/01/24/13/05/12", t(2026, 1, 24, 13, 5, 12), 1),
        ("fluent-bit-logs/app/2026/01/24/13/05/12-objectZ1a2.gz", t(2026, 1, 24, 13, 5, 12), 1),
        # Firehose: hour folders, and a second-resolution stamp in the name
        (
            "firehose/2026/01/24/13/app-stream-1-2026-01-24-13-07-41-0a1b2c3d-aaaa-bbbb",
            t(2026, 1, 24, 13, 7, 41),
            1,
        ),
        ("firehose/2026/01/24/13/part-0000.gz", t(2026, 1, 24, 13), 3600),
        # AWS file-name stamps: ALB, CloudTrail, VPC Flow Logs (minute resolution)
        (
            "AWSLogs/123456789012/elasticloadbalancing/us-east-1/2026/01/24/"
            "123456789012_elasticloadbalancing_us-east-1_app.my-lb.1a2b_20260124T1305Z_"
            "10.0.1.5_5xyz.log.gz",
            t(2026, 1, 24, 13, 5),
            60,
        ),
        (
            "AWSLogs/123456789012/CloudTrail/us-east-1/2026/01/24/"
            "123456789012_CloudTrail_us-east-1_20260124T1310Z_AbCdEf.json.gz",
            t(2026, 1, 24, 13, 10),
            60,
        ),
        # Folders only: the day
        (
            "AWSLogs/123456789012/CloudTrail/us-east-1/2026/01/24/file.json.gz",
            t(2026, 1, 24),
            86400,
        ),
        # Vector date=%F, Hive partitions
        ("vector/date=2026-01-24/1769259912-0a1b.log.gz", t(2026, 1, 24), 86400),
        ("logs/dt=2026-01-24/hour=13/a.gz", t(2026, 1, 24, 13), 3600),
        ("hive/year=2026/month=01/day=24/hour=13/part-0.gz", t(2026, 1, 24, 13), 3600),
        ("hive/year=2026/month=01/day=24/part-0.gz", t(2026, 1, 24), 86400),
    ],
)
def test_key_time_for_each_layout(key: str, start: datetime, span: int) -> None:
    assert key_interval(key) == Interval(start, start + timedelta(seconds=span))


@pytest.mark.parametrize(
    "key",
    [
        "exports/0a1b2c3d-1111-2222-3333-444455556666/checkout-7d9f/000000.gz",
        # A Lambda stream is named by its start day: that says nothing about its records.
        "exports/0a1b2c3d-1111-2222-3333-444455556666/2026/01/24/[$LATEST]abc/000000.gz",
        "lambda/2026/01/24/[$LATEST]abc/000001.gz",
        "app/app.log",
        "builds/1999/05/app.log",  # a lone year/month is too likely to be an ID
        "logs/2026/13/45/x.log",  # not a date
    ],
)
def test_keys_without_a_usable_time(key: str) -> None:
    assert key_interval(key) is None
    assert may_hold_window_data(key_interval(key), WIDE)


def test_cloudwatch_export_layout() -> None:
    assert is_cloudwatch_export("exp/0a1b2c3d-1111-2222-3333-444455556666/stream/000000.gz")
    assert not is_cloudwatch_export("exp/stream/000000.gz")


@pytest.mark.parametrize(
    ("key", "kept"),
    [
        ("fb/app/2026/01/24/12/49/59", False),  # just before start - 15 min
        ("fb/app/2026/01/24/12/50/00", True),  # first-record name: holds 12:50..13:00
        ("fb/app/2026/01/24/14/01/59", True),
        ("fb/app/2026/01/24/14/02/00", False),
        ("x_20260124T1400Z_y.log.gz", True),  # flush-time name: holds records before 14:00
        ("x_20260124T1403Z_y.log.gz", False),
        ("x_20260124T1249Z_y.log.gz", False),
        ("x_20260124T1250Z_y.log.gz", True),
        ("AWSLogs/1/CloudTrail/r/2026/01/23/f.json.gz", False),
        ("AWSLogs/1/CloudTrail/r/2026/01/24/f.json.gz", True),
        ("AWSLogs/1/CloudTrail/r/2026/01/25/f.json.gz", False),
        ("vector/date=2026-01-23/f.gz", False),
        ("hive/year=2026/month=01/day=24/hour=12/f.gz", True),  # 12:00-13:00 meets 12:50
        ("hive/year=2026/month=01/day=24/hour=11/f.gz", False),
    ],
)
def test_pruning_uses_the_margin_on_both_sides(key: str, kept: bool) -> None:
    assert may_hold_window_data(key_interval(key), WIDE) is kept


def test_a_window_near_midnight_keeps_the_previous_day() -> None:
    window = TimeWindow(start=t(2026, 1, 25, 0, 5), end=t(2026, 1, 25, 1))
    wide = widen([window], timedelta(minutes=15))
    assert may_hold_window_data(key_interval("ct/2026/01/24/f.json.gz"), wide)
    assert not may_hold_window_data(key_interval("ct/2026/01/23/f.json.gz"), wide)


def test_several_windows() -> None:
    baseline = WINDOW.shifted(-timedelta(days=7))
    wide = widen([WINDOW, baseline], timedelta(minutes=15))
    assert may_hold_window_data(key_interval("ct/2026/01/17/f.gz"), wide)
    assert not may_hold_window_data(key_interval("ct/2026/01/20/f.gz"), wide)


@pytest.mark.parametrize(
    ("prefix", "start", "end"),
    [
        ("AWSLogs/1/CloudTrail/us-east-1/2026/01/24/", t(2026, 1, 24), t(2026, 1, 25)),
        ("fb/app/2026/01/24/13/", t(2026, 1, 24, 13), t(2026, 1, 24, 14)),
        ("vector/date=2026-01-24/", t(2026, 1, 24), t(2026, 1, 25)),
        ("hive/year=2026/", t(2026, 1, 1), t(2027, 1, 1)),
        ("hive/year=2026/month=02/", t(2026, 2, 1), t(2026, 3, 1)),
    ],
)
def test_prefix_time(prefix: str, start: datetime, end: datetime) -> None:
    assert prefix_interval(prefix) == Interval(start, end)


@pytest.mark.parametrize(
    "prefix",
    [
        "fb/app/2026/",  # a lone year folder could be anything
        "fb/app/2026/01/",  # as in keys, year/month alone is not trusted
        "fb/2026/01/24/app/",  # the date was judged on the way down
        "exports/0a1b2c3d-1111-2222-3333-444455556666/2026/01/24/",
        "builds/1999/05/",  # keys below it have no usable time, so it must be listed
        "fb/app/",
    ],
)
def test_prefixes_without_a_time(prefix: str) -> None:
    assert prefix_interval(prefix) is None
