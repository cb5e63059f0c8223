"""Free-text logs: syslog, Apache, ISO and epoch headers, continuations, loghub samples."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from tasks.contracts import LogFormat
from tasks.gather.formats.text import message_content
from tests.gather.formats_support import DATA, LOGHUB, parse, ts


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


# The first line of each shared Loghub system: (system, its time, its level).
LOGHUB_FIRST_LINES = [
    ("Android", "2025-03-17T16:13:38.811Z", "debug"),
    ("Apache", "2005-12-04T04:47:44Z", "info"),
    ("HDFS", "2008-11-09T20:36:15Z", "info"),
    ("Hadoop", "2015-10-18T18:01:47.978Z", "info"),
    ("OpenSSH", "2025-12-10T06:55:46Z", None),
    ("OpenStack", "2017-05-16T00:00:00.008Z", "info"),
    ("Spark", "2017-06-09T20:10:40Z", "info"),
    ("Windows", "2016-09-28T04:30:30Z", "info"),
    ("Zookeeper", "2015-07-29T17:41:44.747Z", "info"),
]


@pytest.mark.parametrize("system, first_ts, level", LOGHUB_FIRST_LINES)
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


def test_every_shared_loghub_system_parses():
    # Android and Windows were refused line by line ("no_timestamp") before their headers
    # were known; the test above must cover every system in the folder.
    tested = {system for system, _, _ in LOGHUB_FIRST_LINES}
    assert tested == {p.name for p in LOGHUB.iterdir() if p.is_dir()}


def test_logcat_lines_give_the_tag_as_service_and_the_letter_as_level():
    rows, _ = parse(LogFormat.TEXT, (LOGHUB / "Android" / "Android_2k.log").read_bytes())
    first = rows[0]
    assert (first["service"], first["level"]) == ("WindowManager", "debug")
    assert first["message"].startswith("printFreezingDisplayLogsopening app wtoken")
    assert json.loads(first["attrs"]) == {"pid": 1702, "tid": 2395}
    assert {r["level"] for r in rows} >= {"debug", "info", "warn", "error"}
    # A December logcat line read in January belongs to the year before, as syslog's does.
    line = b"12-31 23:59:59.500  1702  2395 E Tag: late\n"
    rows, _ = parse(LogFormat.TEXT, line, ref=datetime(2026, 1, 1, 0, 5, tzinfo=UTC))
    assert rows[0]["ts"] == ts("2025-12-31T23:59:59.5Z")
    assert (rows[0]["service"], rows[0]["level"], rows[0]["message"]) == ("Tag", "error", "late")


def test_windows_cbs_lines_give_the_component_as_service():
    rows, _ = parse(LogFormat.TEXT, (LOGHUB / "Windows" / "Windows_2k.log").read_bytes())
    assert (rows[0]["service"], rows[0]["level"]) == ("CBS", "info")
    assert rows[0]["message"].startswith("Loaded Servicing Stack v6.1.7601.23505 with Core:")
    assert {r["service"] for r in rows} >= {"CBS", "CSI"}


def test_a_log4j_thread_goes_to_attrs_not_the_message():
    rows, _ = parse(LogFormat.TEXT, (LOGHUB / "Hadoop" / "Hadoop_2k.log").read_bytes())
    assert rows[0]["message"] == (
        "org.apache.hadoop.mapreduce.v2.app.MRAppMaster: Created MRAppMaster for application "
        "appattempt_1445144423722_0020_000001"
    )
    assert json.loads(rows[0]["attrs"]) == {"thread": "main"}
    rows, _ = parse(LogFormat.TEXT, (LOGHUB / "Zookeeper" / "Zookeeper_2k.log").read_bytes())
    assert rows[0]["message"] == "Notification time out: 3200"
    assert json.loads(rows[0]["attrs"]) == {
        "thread": "QuorumPeer[myid=1]/0:0:0:0:0:0:0:0:2181:FastLeaderElection@774"
    }
    # A bracketed word that is not a thread before a logger or a dash stays in the message.
    rows, _ = parse(LogFormat.TEXT, b"2026-01-05T10:00:00Z INFO [SUCCESS] deploy done\n")
    assert (rows[0]["message"], rows[0]["attrs"]) == ("[SUCCESS] deploy done", None)


@pytest.mark.parametrize(
    "message, content",
    [
        (
            "dfs.DataNode$PacketResponder: PacketResponder 1 terminating",
            "PacketResponder 1 terminating",
        ),
        (
            "nova.osapi_compute.wsgi.server [req-3 113d 54fa - - -] 10.11.10.1 GET",
            "10.11.10.1 GET",
        ),
        ("nova.compute.manager [-] Running periodic task", "Running periodic task"),
        ("nova.api [None req-9 admin admin] Accepted", "Accepted"),
        # Exception class names are content, and so is anything not shaped like a logger.
        (
            "java.lang.ClassCastException: cannot be cast",
            "java.lang.ClassCastException: cannot be cast",
        ),
        ("config: reloaded", "config: reloaded"),
        ("db.pool:no space after the colon", "db.pool:no space after the colon"),
    ],
)
def test_message_content_drops_the_logger_and_request_context(message, content):
    assert message_content(message) == content


HEADERS = DATA / "loghub-headers"


@pytest.mark.parametrize(
    "system, line, want",
    [
        # BGL: the epoch is UTC; the local time adds the microseconds.
        (
            "BGL",
            1,
            (
                "2005-06-03T22:42:50.675872Z",
                "KERNEL",
                "R02-M1-N0-C:J12-U11",
                "info",
                "instruction cache parity error corrected",
                {"type": "RAS"},
            ),
        ),
        (
            "BGL",
            3,
            (
                "2005-06-04T07:24:32.432192Z",
                "APP",
                "R04-M1-N4-I:J18-U11",
                "fatal",
                "ciod: failed to read message prefix on control stream (CioStream socket to "
                "172.16.96.116:33569",
                {"alert": "APPREAD", "type": "RAS"},
            ),
        ),
        (
            "HPC",
            2,
            (
                "2004-01-14T22:36:57Z",
                "action",
                "node-70",
                None,
                "clusterAddMember  (command 1902)",
                {"log_id": 2568643, "state": "start", "flag": 1},
            ),
        ),
        (
            "Thunderbird",
            3,
            (
                "2005-11-09T20:01:01Z",
                "/apps/x86_64/system/ganglia-3.0.1/sbin/gmetad",
                "tbird-admin1",
                None,
                "data_thread() got not answer from any [Thunderbird_A8] datasource",
                {"location": "local@tbird-admin1", "pid": 1682},
            ),
        ),
        (
            "Proxifier",
            2,
            (
                "2025-10-30T16:49:07Z",
                "chrome.exe",
                None,
                None,
                "proxy.cse.cuhk.edu.hk:5070 close, 0 bytes sent, 0 bytes received, lifetime 00:01",
                None,
            ),
        ),
        # HealthApp writes milliseconds without padding: ":11" is 11 ms.
        (
            "HealthApp",
            5,
            (
                "2017-12-23T22:15:35.011Z",
                "Step_SPUtils",
                None,
                None,
                "getTodayTotalDetailSteps = 1514038440000##7015##548365##8661##13026##27177962",
                {"pid": 30002312},
            ),
        ),
        (
            "Linux",
            2,
            (
                "2025-06-15T04:06:18Z",
                "su(pam_unix)",
                "combo",
                None,
                "session opened for user cyrus by (uid=0)",
                {"pid": 21416},
            ),
        ),
        # macOS: the sender's address after the pid is header, not message.
        (
            "Mac",
            4,
            (
                "2025-07-01T09:29:02Z",
                "sandboxd",
                "calvisitor-10-105-160-95",
                None,
                "com.apple.Addres(31211) deny network-outbound /private/var/run/mDNSResponder",
                {"pid": 129},
            ),
        ),
    ],
)
def test_loghub_headers_of_other_systems(system, line, want):
    data = (HEADERS / f"{system}.log").read_bytes()
    rows, tally = parse(LogFormat.TEXT, data)
    assert tally.total == 0
    assert len(rows) == data.count(b"\n")
    row = rows[line - 1]
    got = (row["ts"], row["service"], row["instance"], row["level"], row["message"])
    assert got == (ts(want[0]), *want[1:5])
    assert (json.loads(row["attrs"]) if row["attrs"] else None) == want[5]
