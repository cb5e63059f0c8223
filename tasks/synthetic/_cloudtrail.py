"""CloudTrail records: the changes that cause or fix an incident, and the routine noise.

Every record draws its request and event IDs from the generator it is given, after whatever
its parameters drew, so a record's place in the draw order is where it is built.
"""

from __future__ import annotations

import hashlib
import random
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from tasks.synthetic._util import digest, iso_s
from tasks.synthetic.topology import ACCOUNT_ID, REGION, TARGET_GROUPS
from tasks.synthetic.writers.cloudtrail import CloudTrailWriter

_CI_ROLE = "github-actions-deploy"
_HUMAN_ROLE = "AWSReservedSSO_PlatformAdmin_4f2a9c1e7b3d5a60"
_SRE_ROLE = "AWSReservedSSO_SRE-OnCall_9e1c3b5a7d2f4068"
_GO_UA = "aws-sdk-go-v2/1.32.6 os/linux lang/go#1.23.4 md/GOOS#linux md/GOARCH#amd64"
_OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


@dataclass(frozen=True)
class ApiCall:
    """What a record says about the call itself; `record` adds the IDs and the envelope."""

    source: str
    name: str
    identity: dict
    ip: str
    ua: str
    req: dict | None
    resp: dict | None = None
    read_only: bool = True
    region: str = REGION


def record(rng: random.Random, t: float, c: ApiCall) -> dict:
    return {
        "eventVersion": "1.10",
        "userIdentity": c.identity,
        "eventTime": iso_s(t),
        "eventSource": c.source,
        "eventName": c.name,
        "awsRegion": c.region,
        "sourceIPAddress": c.ip,
        "userAgent": c.ua,
        "requestParameters": c.req,
        "responseElements": c.resp,
        "requestID": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "eventID": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "readOnly": c.read_only,
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": ACCOUNT_ID,
        "eventCategory": "Management",
        "tlsDetails": {
            "tlsVersion": "TLSv1.3",
            "cipherSuite": "TLS_AES_128_GCM_SHA256",
            "clientProvidedHostHeader": f"{c.source.split('.')[0]}.{c.region}.amazonaws.com",
        },
    }


def identity(role: str, session: str, *, human: bool = False) -> dict:
    rid = hashlib.blake2b(role.encode(), digest_size=8).hexdigest().upper()
    return {
        "type": "AssumedRole",
        "principalId": f"AROA{rid[:17]}:{session}",
        "arn": f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/{role}/{session}",
        "accountId": ACCOUNT_ID,
        "accessKeyId": "ASIA"
        + hashlib.blake2b(f"{role}/{session}".encode(), digest_size=8).hexdigest().upper(),
        "sessionContext": {
            "sessionIssuer": {
                "type": "Role",
                "principalId": f"AROA{rid[:17]}",
                "arn": f"arn:aws:iam::{ACCOUNT_ID}:role/"
                + ("aws-reserved/sso.amazonaws.com/" if human else "")
                + role,
                "accountId": ACCOUNT_ID,
                "userName": role,
            },
            "attributes": {
                "creationDate": "2026-11-24T08:00:00Z",
                "mfaAuthenticated": "true" if human else "false",
            },
        },
    }


# --------------------------------------------------------------------------------------------
# Changes: causes and fixes
# --------------------------------------------------------------------------------------------


def put_image(rng: random.Random, t: float, service: str, version: str) -> dict:
    who = identity(_CI_ROLE, f"GitHubActions-{rng.randint(10**9, 10**10 - 1)}")
    call = ApiCall(
        "ecr.amazonaws.com",
        "PutImage",
        who,
        "140.82.115.12",
        "aws-cli/2.22.4 md/awscrt#0.22.0 ua/2.0 os/linux#6.5.0-1025-azure "
        "md/arch#x86_64 lang/python#3.12.6 md/pyimpl#CPython exec-env/GitHubActions "
        "md/command#ecr.put-image",
        {
            "repositoryName": service,
            "imageTag": version,
            "registryId": ACCOUNT_ID,
            "imageManifestMediaType": _OCI_MANIFEST,
        },
        {
            "image": {
                "registryId": ACCOUNT_ID,
                "repositoryName": service,
                "imageId": {
                    "imageDigest": "sha256:" + digest(service, version),
                    "imageTag": version,
                },
                "imageManifestMediaType": _OCI_MANIFEST,
            }
        },
        read_only=False,
    )
    return record(rng, t, call)


def put_parameter(rng: random.Random, t: float, name: str, version: int, who: str) -> dict:
    call = ApiCall(
        "ssm.amazonaws.com",
        "PutParameter",
        identity(_HUMAN_ROLE, who, human=True),
        "203.0.113.24",
        "aws-cli/2.22.4 md/awscrt#0.22.0 ua/2.0 os/macos#24.1.0 md/arch#arm64 "
        "lang/python#3.12.7 md/pyimpl#CPython md/command#ssm.put-parameter",
        {
            "name": name,
            "type": "String",
            "overwrite": True,
            "value": "HIDDEN_DUE_TO_SECURITY_REASONS",
        },
        {"version": version, "tier": "Standard"},
        read_only=False,
    )
    return record(rng, t, call)


def waf_update(rng: random.Random, t: float) -> dict:
    rule = {
        "name": "rate-limit-oauth-token",
        "priority": 1,
        "action": {"block": {}},
        "statement": {"rateBasedStatement": {"limit": 300, "aggregateKeyType": "IP"}},
    }
    req = {
        "name": "shop-prod-edge",
        "scope": "REGIONAL",
        "id": "a1b2c3d4-5678-90ab-cdef-EXAMPLE11111",
        "rules": [rule],
    }
    who = identity(_SRE_ROLE, "oncall@example.com", human=True)
    # The lock token is drawn before the record's IDs, as the call's response comes first.
    resp = {"nextLockToken": str(uuid.UUID(int=rng.getrandbits(128), version=4))}
    call = ApiCall(
        "wafv2.amazonaws.com",
        "UpdateWebACL",
        who,
        "203.0.113.57",
        "AWS Internal",
        req,
        resp,
        read_only=False,
    )
    return record(rng, t, call)


def change_summary(rec: dict, service: str) -> dict:
    """The ground truth's `change_event`: the record that caused the incident."""
    return {
        "time": rec["eventTime"],
        "eventName": rec["eventName"],
        "eventSource": rec["eventSource"],
        "service": service,
        "actor": rec["userIdentity"]["arn"],
        "eventID": rec["eventID"],
    }


# --------------------------------------------------------------------------------------------
# Noise: controllers, pods and nodes talking to AWS all day long
# --------------------------------------------------------------------------------------------


def _instance_session(rng: random.Random) -> str:
    return f"i-0{rng.getrandbits(64):016x}"[:19]


def _karpenter_describe(rng: random.Random, t: float, ip: str) -> ApiCall:
    name = rng.choice(
        (
            "DescribeInstances",
            "DescribeInstanceTypeOfferings",
            "DescribeSubnets",
            "DescribeLaunchTemplates",
        )
    )
    who = identity("shop-prod-karpenter", "karpenter")
    return ApiCall(
        "ec2.amazonaws.com", name, who, ip, _GO_UA + " api/ec2#1.190.0", {"maxResults": 500}
    )


def _target_health(rng: random.Random, t: float, ip: str) -> ApiCall:
    tg = rng.choice(list(TARGET_GROUPS.values()))
    who = identity("shop-prod-aws-lb-controller", f"{int(t) - 3000}{rng.randint(100, 999)}")
    return ApiCall(
        "elasticloadbalancing.amazonaws.com",
        "DescribeTargetHealth",
        who,
        ip,
        _GO_UA + " api/elasticloadbalancingv2#1.43.2",
        {"targetGroupArn": tg},
    )


def _web_identity(rng: random.Random, t: float, ip: str) -> ApiCall:
    svc = rng.choice(("checkout", "payments", "inventory", "auth", "recommendations"))
    provider = f"arn:aws:iam::{ACCOUNT_ID}:oidc-provider/oidc.eks.{REGION}.amazonaws.com/id/"
    who = {
        "type": "WebIdentityUser",
        "principalId": f"{provider}8E1F4C2A9B7D3E5F:system:serviceaccount:prod:{svc}",
        "userName": f"system:serviceaccount:prod:{svc}",
        "identityProvider": f"{provider}8E1F4C2A9B7D3E5F",
    }
    return ApiCall(
        "sts.amazonaws.com",
        "AssumeRoleWithWebIdentity",
        who,
        ip,
        "Boto3/1.35.76 md/Botocore#1.35.76 ua/2.0 os/linux#6.1.115 md/arch#x86_64"
        " lang/python#3.12.7",
        {
            "roleArn": f"arn:aws:iam::{ACCOUNT_ID}:role/prod-{svc}",
            "roleSessionName": f"botocore-session-{int(t) - 60}",
        },
    )


def _get_parameter(rng: random.Random, t: float, ip: str) -> ApiCall:
    svc, name = rng.choice(
        (
            ("auth", "/prod/auth/oidc/issuer_url"),
            ("payments", "/prod/payments/psp/base_url"),
            ("recommendations", "/prod/recommendations/ranker/model_version"),
        )
    )
    who = identity(f"prod-{svc}", f"botocore-session-{int(t) // 900}")
    return ApiCall(
        "ssm.amazonaws.com",
        "GetParameter",
        who,
        ip,
        _GO_UA + " api/ssm#1.56.0",
        {"name": name, "withDecryption": False},
    )


def _get_secret(rng: random.Random, t: float, ip: str) -> ApiCall:
    return ApiCall(
        "secretsmanager.amazonaws.com",
        "GetSecretValue",
        identity("prod-checkout", f"botocore-session-{int(t) // 900}"),
        ip,
        "aws-sdk-java/2.29.20 Linux/6.1.115 OpenJDK_64-Bit_Server_VM/21.0.5+11-LTS Java/21.0.5",
        {"secretId": "prod/checkout/db"},
    )


def _kms_decrypt(rng: random.Random, t: float, ip: str) -> ApiCall:
    who = identity("shop-prod-node", _instance_session(rng))
    return ApiCall(
        "kms.amazonaws.com",
        "Decrypt",
        who,
        ip,
        _GO_UA,
        {"encryptionAlgorithm": "SYMMETRIC_DEFAULT"},
    )


def _ecr_token(rng: random.Random, t: float, ip: str) -> ApiCall:
    who = identity("shop-prod-node", _instance_session(rng))
    return ApiCall(
        "ecr.amazonaws.com", "GetAuthorizationToken", who, ip, _GO_UA, {"registryIds": [ACCOUNT_ID]}
    )


def _oncall_reads(rng: random.Random, t: float, ip: str) -> ApiCall:
    return ApiCall(
        "monitoring.amazonaws.com",
        rng.choice(("GetMetricData", "DescribeAlarms")),
        identity(_SRE_ROLE, "oncall@example.com", human=True),
        "203.0.113.57",
        "AWS Internal",
        {"maxDatapoints": 1440},
    )


def _node_churn(rng: random.Random, t: float, ip: str) -> ApiCall:
    name = rng.choice(("CreateFleet", "CreateTags", "TerminateInstances", "DescribeInstances"))
    who = identity("shop-prod-karpenter", "karpenter")
    if name == "DescribeInstances":
        req: dict = {"maxResults": 500}
    else:
        req = {"resourcesSet": {"items": [{"resourceId": _instance_session(rng)}]}}
    ua = _GO_UA + " api/ec2#1.190.0"
    return ApiCall(
        "ec2.amazonaws.com", name, who, ip, ua, req, read_only=name == "DescribeInstances"
    )


_NoiseCall = Callable[[random.Random, float, str], ApiCall]

#: Routine calls by cumulative share; the on-call's reads happen only during the incident, and
#: outside it their share goes to node churn.
_NOISE: tuple[tuple[float, bool, _NoiseCall], ...] = (
    (0.22, False, _karpenter_describe),
    (0.40, False, _target_health),
    (0.58, False, _web_identity),
    (0.72, False, _get_parameter),
    (0.80, False, _get_secret),
    (0.88, False, _kms_decrypt),
    (0.94, False, _ecr_token),
    (0.97, True, _oncall_reads),
)


def noise(rng: random.Random, t: float, incident: bool) -> dict:
    """One routine record."""
    x = rng.random()
    node_ip = f"10.0.{16 * rng.randint(1, 3)}.{rng.randint(20, 250)}"
    build = next(
        (f for share, only_incident, f in _NOISE if x < share and (incident or not only_incident)),
        _node_churn,
    )
    return record(rng, t, build(rng, t, node_ip))


# --------------------------------------------------------------------------------------------
# Delivery
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Span:
    """A stretch of simulated time to write records for, with the planned events or without."""

    start: float
    end: float
    planned: bool  # whether the incident (and its planned records) happens in this span
    events: Sequence[tuple[float, dict]] = ()  # (time, record), sorted by time


def write_cloudtrail(
    key: str,
    spans: Sequence[Span],
    scale: float,
    incident: tuple[float, float],
    writer: CloudTrailWriter,
) -> None:
    """Records in 5-minute batches, delivered late, some a batch later; then the digests."""
    rng = random.Random(f"cloudtrail/{key}")
    per_5min = 150 * max(scale, 0.25)
    carry: list[dict] = []
    for span in spans:
        start = int(span.start // 300) * 300
        for p in range(start, int(span.end), 300):
            busy = span.planned and incident[0] + 120 <= p < incident[1]
            carry = _batch(rng, p, per_5min, busy, span.events, carry, writer)
        if carry:
            writer.deliver(rng, REGION, span.end + 300, carry)
            carry = []
    writer.close()


def _batch(
    rng: random.Random,
    p: int,
    per_5min: float,
    incident: bool,
    events: Sequence[tuple[float, dict]],
    carry: list[dict],
    writer: CloudTrailWriter,
) -> list[dict]:
    """One 5-minute batch; returns the records that arrive with the next one."""
    n = int(rng.gauss(per_5min, per_5min**0.5 * 0.5))
    recs = [noise(rng, p + rng.random() * 300, incident) for _ in range(max(n, 1))]
    recs += [rec for t, rec in events if p <= t < p + 300]
    recs.sort(key=lambda r: r["eventTime"])
    # CloudTrail batches about 5 minutes and delivers late; some records arrive in the next file.
    keep, late = [], []
    for r in recs:
        (late if rng.random() < 0.08 else keep).append(r)
    deliver = p + 300 + rng.uniform(60, 290)
    writer.deliver(rng, REGION, deliver, carry + keep)
    if rng.random() < 0.3:
        scanner = identity("SecurityAudit-Prowler", "prowler-scan")
        scan = ApiCall(
            "ec2.amazonaws.com",
            "DescribeRegions",
            scanner,
            "52.94.76.10",
            "prowler/4.5.0",
            None,
            region="us-west-2",
        )
        other = [record(rng, p + rng.random() * 300, scan) for _ in range(rng.randint(1, 4))]
        writer.deliver(rng, "us-west-2", deliver + rng.uniform(1, 30), other)
    return late
