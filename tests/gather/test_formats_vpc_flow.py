"""VPC flow logs: documented examples, header lines, bad records."""

from __future__ import annotations

import json

from tasks.contracts import LogFormat
from tests.gather.formats_support import AWS, parse, ts


def test_vpc_flow_documentation_examples_parse_with_their_fields():
    rows, tally = parse(LogFormat.VPC_FLOW, (AWS / "vpc-flow-log-examples.log").read_bytes())
    assert tally.total == 0
    assert len(rows) == 7
    accepted, rejected, nodata, skipdata = rows[:4]
    assert accepted["ts"] == ts("2014-12-14T04:06:50Z")  # the flow's start, epoch 1418530010
    assert accepted["instance"] == "eni-1235b8ca123456789"
    assert accepted["message"] == "ACCEPT tcp 172.31.16.139:20641 -> 172.31.16.21:22"
    assert accepted["level"] == "info"
    attrs = json.loads(accepted["attrs"])
    assert attrs["bytes"] == "4249" and attrs["account-id"] == "123456789010"
    assert rejected["level"] == "warn"
    assert rejected["message"] == "REJECT tcp 172.31.9.69:49761 -> 172.31.9.12:3389"
    assert nodata["message"] == "no traffic on the interface (NODATA)"
    assert "srcaddr" not in json.loads(nodata["attrs"])  # "-" means no value
    assert skipdata["level"] == "warn"
    assert rows[4]["message"].startswith("ACCEPT icmp 203.0.113.12:0 ->")
    assert rows[6]["message"] == (
        "ACCEPT tcp 2001:db8:1234:a100:8d6e:3477:df66:f105:34892 -> "
        "2001:db8:1234:a102:3304:8879:34cf:4071:22"
    )
    assert [r["line"] for r in rows] == list(range(1, 8))


def test_vpc_flow_header_line_names_the_fields_and_bad_records_are_counted():
    data = (
        b"version account-id interface-id srcaddr dstaddr srcport dstport protocol packets "
        b"bytes start end action log-status\n"
        b"2 123456789010 eni-1 10.0.0.1 10.0.0.2 443 51000 6 3 120 1764000000 1764000060 REJECT OK\n"
        b"2 123456789010 eni-1 10.0.0.1 truncated\n"
    )
    rows, tally = parse(LogFormat.VPC_FLOW, data)
    assert len(rows) == 1 and rows[0]["line"] == 2
    assert tally.counts == {"bad_fields": 1}
    assert tally.examples[0].line == 3
