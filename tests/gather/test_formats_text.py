"""Free-text logs: syslog, Apache, ISO and epoch headers, continuations, loghub samples."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from tasks.contracts import LogFormat
from tests.gather.formats_support import LOGHUB, parse, ts


def test_syslog_year_comes_from_the_reference_time():
    line = b"Dec 10 06:55:46 LabSZ sshd[24200]: Invalid user webmaster from 173.234.31.186\n"
    rows, _ = parse(LogFormat.TEXT, line, ref=datetime(2026, 1, 5, tzinfo=UTC))
    assert rows[0]["ts"] == ts("2025-12-10T06:55:46Z")  # December read in January: last year
    rows, _ = parse(LogFormat.TEXT, line, ref=datetime(2025, 12, 10, 6, 0, tzinfo=UTC))
    assert rows[0]["ts"] == ts("2025-12-10T06:55:46Z")  # an hour ahead: clock skew, same year
    rows, _ = parse(LogFormat.TEXT, line, ref=datetime(2025, 12, 31, tzinfo=UTC))
    assert rows[0]["ts"] == ts("2025-12-10T06:55:46Z")
    assert rows[0]["service"] == "sshd"
    assert rows[0]["instance"] == "LabSZ"
    assert rows[0]["message"] == "Invalid user webmaster from 173.234.31.186"
    assert json.loads(rows[0]["attrs"]) == {"pid": 24200}


def test_syslog_feb_29_takes_the_last_leap_year_or_is_a_bad_timestamp():
    line = b"Feb 29 10:00:00 host app: leap\n"
    rows, _ = parse(LogFormat.TEXT, line, ref=datetime(2025, 3, 1, tzinfo=UTC))
    assert rows[0]["ts"] == ts("2024-02-29T10:00:00Z")
    rows, tally = parse(LogFormat.TEXT, line, ref=datetime(2026, 3, 1, tzinfo=UTC))
    assert rows == []
    assert tally.counts == {"bad_timestamp": 1}


def test_apache_error_and_access_lines():
    data = (
        b"[Sun Dec 04 04:47:44 2005] [error] mod_jk child workerEnv in error state 6\n"
        b'10.1.2.3 - frank [10/Oct/2000:13:55:36 -0700] "GET /a.gif?x=1 HTTP/1.0" 503 2326 '
        b'"http://ref/" "Mozilla/4.08"\n'
    )
    rows, tally = parse(LogFormat.TEXT, data)
    assert tally.total == 0
    err, access = rows
    assert err["ts"] == ts("2005-12-04T04:47:44Z")
    assert err["level"] == "error"
    assert err["message"] == "mod_jk child workerEnv in error state 6"
    assert access["ts"] == ts("2000-10-10T20:55:36Z")
    assert access["status"] == 503
    assert access["level"] == "error"
    assert access["message"] == "GET /a.gif -> 503"
    assert json.loads(access["attrs"])["user_agent"] == "Mozilla/4.08"


def test_text_iso_and_epoch_headers_with_levels():
    data = (
        b"2026-01-05T10:00:00.5+01:00 WARN disk almost full\n"
        b"2026-01-05 10:00:01,250 [ERROR] db down\n"
        b"[2026-01-05 10:00:02] <info> bracketed\n"
        b"1767607203 INFO epoch seconds\n"
        b"1767607204000 epoch millis with ERROR in the text\n"
        b"2026-01-05T10:00:05Z error in lower case is a word, not a level\n"
    )
    rows, tally = parse(LogFormat.TEXT, data, default_service="svc")
    assert tally.total == 0
    assert [r["ts"] for r in rows] == [
        ts("2026-01-05T09:00:00.5Z"),
        ts("2026-01-05T10:00:01.25Z"),
        ts("2026-01-05T10:00:02Z"),
        ts("2026-01-05T10:00:03Z"),
        ts("2026-01-05T10:00:04Z"),
        ts("2026-01-05T10:00:05Z"),
    ]
    assert [r["level"] for r in rows] == ["warn", "error", "info", "info", "error", None]
    assert rows[0]["message"] == "disk almost full"
    assert rows[1]["message"] == "db down"
    assert {r["service"] for r in rows} == {"svc"}


def test_text_continuation_lines_join_their_record_and_orphans_are_rejected():
    data = (
        b"orphan line before any record\n"
        b"2026-01-05 10:00:00,000 ERROR Request failed\n"
        b"java.lang.IllegalStateException: boom\n"
        b"\tat com.acme.Cart.add(Cart.java:42)\n"
        b"Caused by: java.io.IOException: ERROR reading\n"
    )
    rows, tally = parse(LogFormat.TEXT, data, first_line=50)
    assert tally.counts == {"no_timestamp": 1}
    assert [e.line for e in tally.examples] == [50]
    assert [r["line"] for r in rows] == [51, 52, 53, 54]
    assert {r["ts"] for r in rows} == {ts("2026-01-05T10:00:00Z")}
    assert [r["level"] for r in rows] == ["error", None, None, None]  # frames are not errors
    assert json.loads(rows[2]["attrs"]) == {"continuation_of": 51}


@pytest.mark.parametrize(
    "system, first_ts, level",
    [
        ("Apache", "2005-12-04T04:47:44Z", "info"),
        ("HDFS", "2008-11-09T20:36:15Z", "info"),
        ("Hadoop", "2015-10-18T18:01:47.978Z", "info"),
        ("OpenSSH", "2025-12-10T06:55:46Z", None),
        ("OpenStack", "2017-05-16T00:00:00.008Z", "info"),
        ("Spark", "2017-06-09T20:10:40Z", "info"),
        ("Zookeeper", "2015-07-29T17:41:44.747Z", "info"),
    ],
)
def test_loghub_files_parse_with_timestamps(system, first_ts, level):
    data = (LOGHUB / system / f"{system}_2k.log").read_bytes()
    rows, tally = parse(LogFormat.TEXT, data)
    assert tally.total == 0
    assert len(rows) == 2000
    assert rows[0]["ts"] == ts(first_ts)
    assert rows[0]["level"] == level
    assert all(r["message"] for r in rows)
    assert [r["line"] for r in rows] == list(range(1, 2001))


def test_loghub_levels_and_services_are_found():
    rows, _ = parse(LogFormat.TEXT, (LOGHUB / "Zookeeper" / "Zookeeper_2k.log").read_bytes())
    assert {r["level"] for r in rows} >= {"info", "warn", "error"}
    rows, _ = parse(LogFormat.TEXT, (LOGHUB / "OpenStack" / "OpenStack_2k.log").read_bytes())
    assert {r["service"] for r in rows} >= {"nova-api", "nova-compute"}
