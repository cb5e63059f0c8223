"""Format sniffing, by key and by content."""

from __future__ import annotations

from tasks.contracts import LogFormat
from tasks.gather.formats import (
    sniff_format,
)
from tests.gather.formats_support import AWS, EXPORT_KEY, LOGHUB, jline, k8s_record


def test_sniff_by_key():
    ct = "AWSLogs/123456789012/CloudTrail/eu-west-1/2026/01/05/x_CloudTrail_eu-west-1_a.json.gz"
    alb = "AWSLogs/123456789012/elasticloadbalancing/eu-west-1/2026/01/05/x.log.gz"
    assert sniff_format(ct, b"") == LogFormat.CLOUDTRAIL
    assert sniff_format(alb, b"") == LogFormat.ALB


def test_sniff_by_content():
    k8s = k8s_record("web-0", "hello")
    cases = {
        LogFormat.CLOUDTRAIL: (AWS / "cloudtrail-examples.json").read_bytes(),
        LogFormat.FLUENTBIT_K8S: b"\n" + k8s + b"\n",
        LogFormat.JSONL: jline(time="2026-01-05T10:00:00Z", msg="x") + b"\n",
        LogFormat.ALB: (AWS / "alb-access-log-examples.log").read_bytes(),
        LogFormat.TEXT: (LOGHUB / "HDFS" / "HDFS_2k.log").read_bytes()[:65536],
    }
    for expected, head in cases.items():
        assert sniff_format("logs/2026/01/05/object", head) == expected
    assert sniff_format("x", k8s[:40] + b'"kubernetes"') == LogFormat.FLUENTBIT_K8S  # cut short
    assert sniff_format("x", jline(a=1) + jline(b=2)) == LogFormat.JSONL  # Firehose


def test_sniff_iso_lines_as_cloudwatch_export_only_under_an_export_key():
    head = b"2026-01-05T10:00:00.000Z hello\n"
    assert sniff_format(EXPORT_KEY, head) == LogFormat.CLOUDWATCH_EXPORT
    assert sniff_format("app/2026/01/05/app.log", head) == LogFormat.TEXT


def test_vpc_flow_logs_are_sniffed_by_key_and_by_content():
    key = "AWSLogs/1/vpcflowlogs/us-east-1/2026/11/24/1_vpcflowlogs_us-east-1_fl-1_20261124T1305Z_a.log.gz"
    assert sniff_format(key, b"") is LogFormat.VPC_FLOW
    head = (AWS / "vpc-flow-log-examples.log").read_bytes()
    assert sniff_format("flows/x.log", head) is LogFormat.VPC_FLOW
    assert (
        sniff_format("flows/x.log", b"version account-id interface-id srcaddr\n")
        is LogFormat.VPC_FLOW
    )
