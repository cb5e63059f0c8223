"""The incident generator: layouts, determinism, realism rules and the ground truth.

Most tests generate at scale 0.05 (a few seconds in all) and read the objects back the way a
reader would: decompress every member, parse every line.
"""

from __future__ import annotations

import gzip
import hashlib
import re
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from tasks.contracts import IncidentSpec, LogFormat
from tasks.synthetic.generator import (
    ACCOUNT_ID,
    CALL_GRAPH,
    SCENARIOS,
    SERVICES,
    TARGET_GROUPS,
    GeneratedIncident,
    GroundTruth,
    LocalSink,
    S3Sink,
    generate,
    generate_incident,
    write_outputs,
)

SMALL = 0.05

# One seed per root-cause variant, so every variant is checked.
VARIANTS = [
    ("bad-deploy", 0, "checkout"),
    ("bad-deploy", 1, "inventory"),
    ("bad-deploy", 2, "payments"),
    ("dependency-timeout", 0, "auth"),
    ("dependency-timeout", 1, "payments"),
    ("db-pool-exhaustion", 0, "inventory"),
    ("db-pool-exhaustion", 2, "checkout"),
    ("config-change", 0, "payments"),
    ("config-change", 3, "auth"),
    ("lb-throttling", 0, "auth"),
]

APP_KEY = re.compile(
    r"^fluent-bit-logs/kube\.prod\.([a-z]+)/(\d{4}/\d{2}/\d{2}/\d{2}/\d{2}/\d{2})$"
)
ALB_KEY = re.compile(
    r"^AWSLogs/(\d{12})/elasticloadbalancing/([a-z]{2}-[a-z]+-\d)/(\d{4}/\d{2}/\d{2})/"
    r"\1_elasticloadbalancing_\2_app\.([a-z0-9-]+)\.([0-9a-f]{16})_(\d{8}T\d{4}Z)_"
    r"(\d{1,3}(?:\.\d{1,3}){3})_([a-z0-9]{8})\.log\.gz$"
)
CT_KEY = re.compile(
    r"^AWSLogs/(\d{12})/CloudTrail/([a-z]{2}-[a-z]+-\d)/(\d{4}/\d{2}/\d{2})/"
    r"\1_CloudTrail_\2_(\d{8}T\d{4}Z)_([A-Za-z0-9]{16})\.json\.gz$"
)
DIGEST_KEY = re.compile(
    r"^AWSLogs/(\d{12})/CloudTrail-Digest/([a-z]{2}-[a-z]+-\d)/(\d{4}/\d{2}/\d{2})/"
    r"\1_CloudTrail-Digest_\2_([A-Za-z0-9-]+)_\2_(\d{8}T\d{6}Z)\.json\.gz$"
)
# The documented ALB fields up to classification_reason, then the newer conn_trace_id.
ALB_LINE = re.compile(
    r"^(?P<type>https?|h2|wss?) (?P<time>\S+Z) app/[\w-]+/[0-9a-f]{16} "
    r"(?P<client>[\d.]+:\d+) (?P<target>[\d.]+:\d+|-) (?P<rq>-1|\d+\.\d{3}) "
    r"(?P<tg_t>-1|\d+\.\d{3}) (?P<rs>-1|\d+\.\d{3}) (?P<elb>\d{3}) (?P<tst>\d{3}|-) \d+ \d+ "
    r'"(?P<method>[A-Z]+) https://[\w.]+:443(?P<path>\S*) HTTP/[\d.]+" "[^"]*" \S+ \S+ '
    r"(?P<tg>arn:aws:elasticloadbalancing:[\w-]+:\d{12}:targetgroup/(?P<tgname>[\w-]+)/[0-9a-f]{16}) "
    r'"Root=1-[0-9a-f]{8}-[0-9a-f]{24}" "[^"]*" "[^"]*" \d+ (?P<created>\S+Z) "forward" "-" '
    r'"-" "(?P<tlist>[^"]*)" "(?P<slist>[^"]*)" "-" "-" TID_[0-9a-f]{32}$'
)


# --------------------------------------------------------------------------------------------
# Reading back what was written
# --------------------------------------------------------------------------------------------


@dataclass
class Written:
    root: Path
    result: GeneratedIncident

    @property
    def spec(self) -> IncidentSpec:
        return self.result.spec

    @property
    def truth(self) -> GroundTruth:
        return self.result.truth

    def object_keys(self) -> list[str]:
        return sorted(
            p.relative_to(self.root).as_posix() for p in self.root.rglob("*") if p.is_file()
        )

    def read(self, key: str) -> bytes:
        return gzip.decompress((self.root / key).read_bytes())

    def app_records(self) -> Iterator[tuple[str, float, dict]]:
        """(service, time, inner log as a dict) for every Fluent Bit record."""
        for key in self.object_keys():
            if not key.startswith("fluent-bit-logs/"):
                continue
            for line in self.read(key).splitlines():
                rec = orjson.loads(line)
                log = rec["log"]
                inner = orjson.loads(log) if log.startswith("{") else {"msg": log}
                yield rec["kubernetes"]["container_name"], rec["date"], inner | {"_rec": rec}

    def alb_lines(self) -> Iterator[tuple[str, re.Match]]:
        for key in self.object_keys():
            if ALB_KEY.match(key):
                for line in self.read(key).decode().splitlines():
                    m = ALB_LINE.match(line)
                    assert m, f"not an ALB access log line: {line}"
                    yield key, m

    def cloudtrail_records(self) -> Iterator[dict]:
        for key in self.object_keys():
            if CT_KEY.match(key):
                yield from orjson.loads(self.read(key))["Records"]


def is_error(inner: dict) -> bool:
    status = inner.get("status")
    level = str(inner.get("level", "")).lower()
    return level in ("error", "fatal", "critical") or (isinstance(status, int) and status >= 500)


def ts(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


@pytest.fixture(scope="module")
def make(tmp_path_factory) -> Callable[..., Written]:
    cache: dict[tuple, Written] = {}

    def _make(scenario: str, seed: int, scale: float = SMALL) -> Written:
        key = (scenario, seed, scale)
        if key not in cache:
            root = tmp_path_factory.mktemp(f"{scenario}-{seed}")
            result = generate(
                scenario, seed, LocalSink(root), source_root=f"file://{root}", scale=scale
            )
            cache[key] = Written(root, result)
        return cache[key]

    return _make


def error_counts(w: Written) -> tuple[Counter, Counter]:
    """Error lines per service in the reported incident window: app logs, and ALB by target."""
    start, end = w.spec.window.start.timestamp(), w.spec.window.end.timestamp()
    app: Counter[str] = Counter()
    for svc, t, inner in w.app_records():
        if start <= t < end and is_error(inner):
            app[svc] += 1
    alb: Counter[str] = Counter()
    for _, m in w.alb_lines():
        if start <= ts(m["time"]) < end and int(m["elb"]) >= 500:
            alb[m["tgname"]] += 1
    return app, alb


# --------------------------------------------------------------------------------------------
# Interface
# --------------------------------------------------------------------------------------------


def test_scenarios_listed() -> None:
    assert {
        "bad-deploy",
        "dependency-timeout",
        "db-pool-exhaustion",
        "config-change",
        "lb-throttling",
    } <= set(SCENARIOS)
    for sc in SCENARIOS.values():
        assert sc.summary and sc.roots
        assert all(r in SERVICES for r in sc.roots)


def test_rejects_bad_arguments(tmp_path: Path) -> None:
    sink = LocalSink(tmp_path)
    with pytest.raises(ValueError, match="unknown scenario"):
        generate_incident("meteor-strike", 1, sink, source_root="s3://demo-logs")
    with pytest.raises(ValueError, match="timezone"):
        generate_incident(
            "bad-deploy",
            1,
            sink,
            source_root="s3://demo-logs",
            incident_start=datetime(2026, 11, 24, 13, 5),
        )
    with pytest.raises(ValueError, match="scale"):
        generate_incident("bad-deploy", 1, sink, source_root="s3://demo-logs", scale=0)
    assert not any(tmp_path.iterdir())


def test_local_sink_refuses_keys_outside_its_root(tmp_path: Path) -> None:
    sink = LocalSink(tmp_path / "root")
    sink.put("a/b/c.gz", b"x")
    assert (tmp_path / "root/a/b/c.gz").read_bytes() == b"x"
    with pytest.raises(ValueError, match="escapes"):
        sink.put("../outside", b"x")


def test_s3_sink_writes_objects(s3, bucket: str) -> None:
    sink = S3Sink(s3, bucket)
    sink.put("fluent-bit-logs/kube.prod.checkout/2026/11/24/13/05/00", b"\x1f\x8b data")
    got = s3.get_object(Bucket=bucket, Key="fluent-bit-logs/kube.prod.checkout/2026/11/24/13/05/00")
    assert got["Body"].read() == b"\x1f\x8b data"


def test_spec_is_what_an_sre_would_hand_over(make) -> None:
    w = make("bad-deploy", 0)
    spec = w.spec
    assert spec.id == "INC-bad-deploy-0"
    assert spec.window.start == datetime(2026, 11, 24, 13, 5, tzinfo=UTC)
    assert spec.window.start.tzinfo is not None
    assert 30 <= spec.window.minutes <= 45
    assert spec.baseline == []
    assert spec.severity in ("SEV1", "SEV2", "SEV3", "SEV4")
    assert spec.services and set(spec.services) <= set(SERVICES)
    by_name = {s.name: s for s in spec.sources}
    assert by_name["app"].format == LogFormat.FLUENTBIT_K8S
    assert by_name["alb"].format == LogFormat.ALB
    assert by_name["cloudtrail"].format == LogFormat.CLOUDTRAIL
    for src in spec.sources:
        assert src.uri.startswith(f"file://{w.root}/")
        assert any(k.startswith(str(src.local_path.relative_to(w.root))) for k in w.object_keys())


def test_s3_source_root_and_custom_start(tmp_path: Path) -> None:
    start = datetime(2027, 3, 2, 22, 40, tzinfo=UTC)
    spec, truth = generate_incident(
        "lb-throttling",
        5,
        LocalSink(tmp_path),
        source_root="s3://demo-logs/",
        scale=0.02,
        incident_start=start,
    )
    assert spec.window.start == start
    assert [s.uri for s in spec.sources] == [
        "s3://demo-logs/fluent-bit-logs/",
        f"s3://demo-logs/AWSLogs/{ACCOUNT_ID}/elasticloadbalancing/",
        f"s3://demo-logs/AWSLogs/{ACCOUNT_ID}/CloudTrail",
    ]
    assert abs(truth.onset - start) < timedelta(minutes=10)
    assert any("/2027/03/02/" in p.as_posix() for p in tmp_path.rglob("*"))


# --------------------------------------------------------------------------------------------
# Determinism and layouts
# --------------------------------------------------------------------------------------------


def test_same_seed_same_bytes(tmp_path: Path) -> None:
    def run(folder: str, seed: int) -> dict[str, bytes]:
        root = tmp_path / folder
        generate_incident(
            "config-change", seed, LocalSink(root), source_root="s3://x-logs", scale=0.02
        )
        return {
            p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()
        }

    first, second, other = run("a", 11), run("b", 11), run("c", 12)
    assert first.keys() == second.keys()
    assert all(first[k] == second[k] for k in first)
    assert first != other


def test_keys_follow_aws_and_fluent_bit_conventions(make) -> None:
    w = make("bad-deploy", 0)
    kinds: Counter[str] = Counter()
    for key in w.object_keys():
        if m := APP_KEY.match(key):
            assert m[1] in SERVICES
            # Fluent Bit names an object by its first record's time.
            first = orjson.loads(w.read(key).split(b"\n", 1)[0])
            assert time.strftime("%Y/%m/%d/%H/%M/%S", time.gmtime(int(first["date"]))) == m[2]
            kinds["app"] += 1
        elif m := ALB_KEY.match(key):
            assert m[1] == ACCOUNT_ID
            end = datetime.strptime(m[6], "%Y%m%dT%H%MZ").replace(tzinfo=UTC)
            assert end.minute % 5 == 0 and end.strftime("%Y/%m/%d") == m[3]
            # The name carries the end of the 5-minute interval its records fall in.
            for line in w.read(key).decode().splitlines():
                t = ts(line.split(" ")[1])
                assert end.timestamp() - 300 <= t < end.timestamp()
            kinds["alb"] += 1
        elif m := CT_KEY.match(key):
            assert m[1] == ACCOUNT_ID
            doc = orjson.loads(w.read(key))
            assert set(doc) == {"Records"} and doc["Records"]
            kinds["cloudtrail"] += 1
        elif DIGEST_KEY.match(key):
            kinds["digest"] += 1
        else:
            pytest.fail(f"unexpected object {key}")
    assert all(kinds[k] > 0 for k in ("app", "alb", "cloudtrail", "digest")), kinds
    # Several pods per service, one object per service every 1-5 minutes.
    per_service = Counter(APP_KEY.match(k)[1] for k in w.object_keys() if APP_KEY.match(k))
    assert set(per_service) == set(SERVICES)


def test_cloudtrail_digest_is_there_to_be_skipped(make) -> None:
    w = make("config-change", 3)
    digests = [k for k in w.object_keys() if DIGEST_KEY.match(k)]
    assert digests
    ct_source = next(s for s in w.spec.sources if s.name == "cloudtrail")
    prefix = ct_source.uri.removeprefix(f"file://{w.root}/")
    # The slash-less prefix an SRE writes also matches the digests: a reader must skip them.
    assert all(k.startswith(prefix) for k in digests)
    doc = orjson.loads(w.read(digests[0]))
    assert doc["logFiles"]
    for entry in doc["logFiles"]:
        assert hashlib.sha256(w.read(entry["s3Object"])).hexdigest() == entry["hashValue"]


def test_some_objects_have_several_gzip_members(make) -> None:
    w = make("dependency-timeout", 1)
    multi = 0
    for key in w.object_keys():
        if not APP_KEY.match(key):
            continue
        data = (w.root / key).read_bytes()
        members, first_only = 0, b""
        while data:
            d = zlib.decompressobj(31)
            out = d.decompress(data)
            first_only = first_only or out
            members += 1
            data = d.unused_data
        if members > 1:
            multi += 1
            assert len(first_only) < len(w.read(key))  # a one-member reader loses lines
    assert multi >= 10


# --------------------------------------------------------------------------------------------
# Record formats
# --------------------------------------------------------------------------------------------


def test_fluent_bit_records_look_like_kubernetes(make) -> None:
    w = make("bad-deploy", 1)
    access = 0
    for svc, t, inner in w.app_records():
        rec = inner["_rec"]
        assert rec["stream"] in ("stdout", "stderr")
        assert ts(rec["time"]) == pytest.approx(t, abs=1e-6)
        k8s = rec["kubernetes"]
        assert k8s["namespace_name"] == "prod"
        assert k8s["pod_name"].startswith(svc + "-")
        assert k8s["labels"]["app.kubernetes.io/name"] == svc
        assert (
            k8s["container_image"].rsplit(":", 1)[1] == k8s["labels"]["app.kubernetes.io/version"]
        )
        assert k8s["host"].endswith(".ec2.internal")
        if SERVICES[svc].lang != "text" and "level" in inner:
            assert inner["msg"]
            if "latency_ms" in inner and "trace_id" in inner:
                assert isinstance(inner["status"], int)
                access += 1
    assert access > 1000


def test_alb_lines_parse_and_name_their_target_groups(make) -> None:
    w = make("lb-throttling", 0)
    tgs: Counter[str] = Counter()
    for _, m in w.alb_lines():
        assert m["tg"] in TARGET_GROUPS.values()
        tgs[m["tgname"]] += 1
        assert ts(m["created"]) <= ts(m["time"])
        if m["target"] == "-":
            assert m["tlist"] == "-"
        if m["tst"] == "-":
            assert m["tg_t"] == "-1"
    assert set(tgs) == {"frontend", "search", "auth"}


# --------------------------------------------------------------------------------------------
# Realism rules
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("scenario", "seed", "root"), VARIANTS)
def test_root_cause_is_honest_but_not_the_loudest(
    make, scenario: str, seed: int, root: str
) -> None:
    w = make(scenario, seed)
    assert w.truth.root_cause_service == root
    services = {svc for svc, _, _ in w.app_records()}
    assert len(services) >= 5
    app, alb = error_counts(w)
    loudest = max(app, key=app.get)
    assert loudest != root, app
    combined = app + alb
    assert max(combined, key=combined.get) != root, combined
    # The generator's own counters agree with what a reader counts.
    assert {k: v for k, v in w.result.stats.errors_incident.items() if v} == dict(app)
    # The SRE reports the loudest symptoms.
    assert w.spec.services[0] == loudest
    # Callers the incident spilled into are louder in the incident than in the baseline.
    for svc in w.truth.cascading_services:
        assert app[svc] > w.result.stats.errors_baseline[svc]


@pytest.mark.parametrize(("scenario", "seed", "root"), VARIANTS)
def test_ground_truth_is_consistent(
    make, tmp_path: Path, scenario: str, seed: int, root: str
) -> None:
    w = make(scenario, seed)
    truth, spec = w.truth, w.spec
    assert truth.scenario == scenario and truth.seed == seed
    assert truth.kind == SCENARIOS[scenario].kind
    assert truth.onset == truth.incident_window.start
    # SREs report late or early: the onset is near the reported start, not necessarily inside.
    assert spec.window.start - timedelta(minutes=5) <= truth.onset < spec.window.end
    assert truth.incident_window.end <= spec.window.end
    assert truth.description and truth.noise
    assert root not in truth.cascading_services
    callers = {caller for caller, deps in CALL_GRAPH.items() if root in deps}
    # Every cascading service sits upstream of the root cause in the call graph.
    upstream, frontier = set(), set(callers)
    while frontier:
        upstream |= frontier
        frontier = {c for c, deps in CALL_GRAPH.items() if set(deps) & frontier} - upstream
    assert set(truth.cascading_services) <= upstream
    assert truth.cascading_services
    write_outputs(spec, truth, tmp_path)
    assert IncidentSpec.from_file(tmp_path / "incident.yaml") == spec
    again = GroundTruth.model_validate_json((tmp_path / "ground_truth.json").read_text())
    assert again == truth


@pytest.mark.parametrize("scenario", ["bad-deploy", "config-change"])
def test_change_event_in_cloudtrail_before_onset(make, scenario: str) -> None:
    for seed in (0, 3):
        w = make(scenario, seed)
        change = w.truth.change_event
        assert change is not None and change["service"] == w.truth.root_cause_service
        recs = [r for r in w.cloudtrail_records() if r["eventID"] == change["eventID"]]
        assert len(recs) == 1
        rec = recs[0]
        assert rec["eventName"] == change["eventName"] and rec["readOnly"] is False
        at = ts(rec["eventTime"])
        onset = w.truth.onset.timestamp()
        assert onset - 15 * 60 <= at < onset
        assert rec["userIdentity"]["arn"] == change["actor"]


@pytest.mark.parametrize(
    ("scenario", "seed"),
    [("dependency-timeout", 1), ("db-pool-exhaustion", 2), ("lb-throttling", 0)],
)
def test_no_change_event_where_nothing_changed(make, scenario: str, seed: int) -> None:
    assert make(scenario, seed).truth.change_event is None


def test_writes_in_the_baseline_are_noise(make) -> None:
    w = make("bad-deploy", 2)
    start = w.spec.window.start.timestamp()
    baseline_start = start - w.spec.window.duration.total_seconds()
    writes = [
        r
        for r in w.cloudtrail_records()
        if not r["readOnly"]
        and baseline_start <= ts(r["eventTime"]) < start
        and r["eventSource"] != "ec2.amazonaws.com"
    ]
    assert {r["eventName"] for r in writes} >= {"PutImage", "PutParameter"}
    reads = Counter(r["eventName"] for r in w.cloudtrail_records() if r["readOnly"])
    assert {"AssumeRoleWithWebIdentity", "GetParameter", "DescribeTargetHealth"} <= set(reads)


def test_deploy_markers_in_app_logs(make) -> None:
    w = make("bad-deploy", 1)
    root = w.truth.root_cause_service
    new = w.truth.change_event
    assert new is not None
    version = next(r for r in w.cloudtrail_records() if r["eventID"] == new["eventID"])[
        "requestParameters"
    ]["imageTag"]
    onset = w.truth.onset.timestamp()
    banners, new_image_times = [], []
    for svc, t, inner in w.app_records():
        if svc != root:
            continue
        if inner["msg"].startswith(f"Starting {root} version {version}"):
            banners.append(t)
        if inner["_rec"]["kubernetes"]["container_image"].endswith(f":{version}"):
            new_image_times.append(t)
    assert banners and new_image_times
    assert min(new_image_times) >= onset - 60
    assert min(banners) <= onset


def test_background_noise_and_red_herring(make) -> None:
    w = make("db-pool-exhaustion", 0)
    stats = w.result.stats
    assert sum(1 for n in stats.errors_baseline.values() if n > 0) >= 2
    red = w.truth.noise[0].split(":", 1)[0]
    assert red in SERVICES and red != w.truth.root_cause_service
    assert red not in w.truth.cascading_services
    assert stats.errors_incident[red] > stats.errors_baseline[red]


def test_seven_days_earlier_only_where_the_scenario_says(make) -> None:
    for scenario, seed in (("bad-deploy", 0), ("lb-throttling", 0)):
        w = make(scenario, seed)
        week_ago = (w.spec.window.start - timedelta(days=7)).strftime("%Y/%m/%d")
        has = any(week_ago in k for k in w.object_keys() if APP_KEY.match(k) or ALB_KEY.match(k))
        assert has == SCENARIOS[scenario].week_ago


# --------------------------------------------------------------------------------------------
# Volume at scale 1.0
# --------------------------------------------------------------------------------------------


def test_scale_one_has_200k_lines_in_the_windows(tmp_path: Path) -> None:
    cpu = time.process_time()
    result = generate(
        "dependency-timeout", 1, LocalSink(tmp_path), source_root=f"file://{tmp_path}", scale=1.0
    )
    cpu = time.process_time() - cpu
    w = Written(tmp_path, result)
    start = w.spec.window.start.timestamp()
    lo = start - w.spec.window.duration.total_seconds()
    hi = w.spec.window.end.timestamp()
    date = re.compile(rb'^\{"date":([\d.]+),')
    count = 0
    for key in w.object_keys():
        data = w.read(key)
        if APP_KEY.match(key):
            count += sum(1 for line in data.splitlines() if lo <= float(date.match(line)[1]) < hi)
        elif ALB_KEY.match(key):
            count += sum(
                1
                for line in data.split(b"\n")
                if line and lo <= ts(line.split(b" ", 2)[1].decode()) < hi
            )
        elif CT_KEY.match(key):
            count += sum(1 for r in orjson.loads(data)["Records"] if lo <= ts(r["eventTime"]) < hi)
    assert count >= 200_000
    assert count == result.stats.lines_in_windows
    # Generous: it takes a few seconds of CPU here; this only catches a pathological slowdown.
    assert cpu < 60
