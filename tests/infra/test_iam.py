"""The IAM policies in infra/ stay least-privilege, and the checker really rejects wide ones."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from tests.infra.iam_check import load_policy, policy_problems

INFRA = Path(__file__).resolve().parents[2] / "infra"
POLICIES = sorted([*INFRA.glob("iam/*.json"), *INFRA.glob("minio/*.json")])


def test_the_policies_are_found() -> None:
    names = {p.name for p in POLICIES}
    assert {
        "postmortem-gather.json",
        "postmortem-publish.json",
        "postmortem-bedrock.json",
        "worker-policy.json",
    } <= names


@pytest.mark.parametrize("path", POLICIES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_policy_is_least_privilege(path: Path) -> None:
    policy = load_policy(path)  # invalid JSON fails here
    assert policy_problems(policy) == []


def test_publish_writes_only_under_the_postmortem_and_weekly_prefixes() -> None:
    policy = load_policy(INFRA / "iam" / "postmortem-publish.json")
    writes = [
        s
        for s in policy["Statement"]
        if "s3:PutObject" in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])
    ]
    assert writes
    resources = {
        r
        for s in writes
        for r in (s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]])
    }
    assert resources == {
        "arn:aws:s3:::OUTPUT_BUCKET/OUTPUT_PREFIX/postmortems/*",
        "arn:aws:s3:::OUTPUT_BUCKET/OUTPUT_PREFIX/weekly/*",
    }


def test_gather_cannot_write() -> None:
    text = (INFRA / "iam" / "postmortem-gather.json").read_text(encoding="utf-8")
    assert "Put" not in text and "Delete" not in text


def _good() -> dict[str, Any]:
    return load_policy(INFRA / "iam" / "postmortem-publish.json")


def _with(statement_index: int, **changes: Any) -> dict[str, Any]:
    policy = copy.deepcopy(_good())
    policy["Statement"][statement_index].update(changes)
    for key, value in changes.items():
        if value is None:
            del policy["Statement"][statement_index][key]
    return policy


# Each case widens the good publish policy in one way; the checker must name it.
WIDE = {
    "all actions": (_with(2, Action="*"), "wildcard action '*'"),
    "service wildcard": (_with(2, Action="s3:*"), "wildcard action 's3:*'"),
    "verb wildcard": (_with(2, Action="s3:Put*"), "wildcard action 's3:Put*'"),
    "any resource": (_with(2, Resource="*"), "resource '*'"),
    "whole bucket": (
        _with(2, Resource="arn:aws:s3:::OUTPUT_BUCKET/*"),
        "reaches beyond a named prefix",
    ),
    "any bucket": (_with(2, Resource="arn:aws:s3:::*/postmortems/*"), "needs an object ARN"),
    "prefix glob": (
        _with(2, Resource="arn:aws:s3:::OUTPUT_BUCKET/OUTPUT_PREFIX*"),
        "reaches beyond a named prefix",
    ),
    "unconstrained list": (_with(0, Condition=None), "not narrowed by an s3:prefix"),
    "list everything": (
        _with(0, Condition={"StringLike": {"s3:prefix": ["*"]}}),
        "list the whole bucket",
    ),
    "delete": (_with(2, Action=["s3:PutObject", "s3:DeleteObject"]), "never deletes"),
    "not action": (_with(2, Action=None, NotAction="s3:DeleteObject"), "NotAction"),
    "bedrock any model": (
        _with(
            2, Action="bedrock:InvokeModel", Resource="arn:aws:bedrock:REGION::foundation-model/*"
        ),
        "needs one model's ARN",
    ),
    "unknown service": (_with(2, Action="iam:PassRole"), "not one this tool needs"),
}


@pytest.mark.parametrize("name", sorted(WIDE))
def test_the_checker_rejects_a_wide_policy(name: str) -> None:
    policy, expected = WIDE[name]
    problems = policy_problems(policy)
    assert any(expected in p for p in problems), problems


def test_the_checker_rejects_what_is_not_a_policy(tmp_path: Path) -> None:
    assert policy_problems([]) == ["The policy is not an object with a 'Statement' list."]
    broken = tmp_path / "broken.json"
    broken.write_text('{"Version": "2012-10-17",', encoding="utf-8")
    with pytest.raises(json.JSONDecodeError):
        load_policy(broken)


def test_a_deny_may_be_broad() -> None:
    policy = _good()
    policy["Statement"].append({"Effect": "Deny", "Action": "s3:*", "Resource": "*"})
    assert policy_problems(policy) == []
