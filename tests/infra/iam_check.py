"""A least-privilege checker for the IAM policies in infra/.

It encodes what "least privilege" means for this tool, so that a later edit that widens a policy
fails the tests instead of passing review unnoticed: every action named (no wildcard), every
resource a concrete bucket, prefix, key or model, listing narrowed by `s3:prefix`, and nothing
that deletes.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

# Object-level S3 actions take object ARNs (bucket/prefix/*); bucket-level ones the bucket ARN.
_S3_OBJECT_ACTIONS = {"s3:getobject", "s3:putobject", "s3:getobjectversion"}
_S3_BUCKET_ACTIONS = {"s3:listbucket", "s3:listbucketversions"}

_ACTION = re.compile(r"^[a-z0-9-]+:[A-Za-z0-9]+$")
# A bucket name without wildcards, then a non-empty prefix that ends in "/*" or names a key.
_S3_OBJECT_ARN = re.compile(r"^arn:aws:s3:::(?P<bucket>[a-zA-Z0-9._-]+)/(?P<key>.+)$")
_S3_BUCKET_ARN = re.compile(r"^arn:aws:s3:::[a-zA-Z0-9._-]+$")
_BEDROCK_MODEL_ARN = re.compile(
    r"^arn:aws:bedrock:[a-zA-Z0-9-]+:(?:[A-Z0-9_]*):"
    r"(?:foundation-model|inference-profile)/[A-Za-z0-9._:-]+$"
)
_KMS_KEY_ARN = re.compile(r"^arn:aws:kms:[a-zA-Z0-9-_]+:[A-Za-z0-9_]+:key/[A-Za-z0-9_-]+$")


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def policy_problems(policy: Any) -> list[str]:
    """Every way `policy` (a parsed IAM policy document) is wider than it needs to be.

    An empty list means the policy passes. Each problem is one sentence naming the statement.
    """
    if not isinstance(policy, dict) or not isinstance(policy.get("Statement"), list):
        return ["The policy is not an object with a 'Statement' list."]
    problems: list[str] = []
    if policy.get("Version") != "2012-10-17":
        problems.append("'Version' must be '2012-10-17' (the older grammar lacks conditions).")
    for index, statement in enumerate(policy["Statement"]):
        problems += _statement_problems(statement, f"Statement {statement.get('Sid', index)!r}")
    return problems


def _statement_problems(statement: dict[str, Any], where: str) -> list[str]:
    if statement.get("Effect") != "Allow":
        return []  # a Deny only narrows
    problems: list[str] = []
    for key in ("NotAction", "NotResource", "NotPrincipal"):
        if key in statement:
            problems.append(f"{where} allows with {key}, which grants everything not listed.")
    actions = [str(a) for a in _as_list(statement.get("Action", []))]
    resources = [str(r) for r in _as_list(statement.get("Resource", []))]
    if not actions:
        problems.append(f"{where} names no Action.")
    if not resources:
        problems.append(f"{where} names no Resource.")
    for action in actions:
        if "*" in action or "?" in action:
            problems.append(f"{where} allows the wildcard action {action!r}; name each action.")
        elif not _ACTION.match(action):
            problems.append(f"{where} has the malformed action {action!r}.")
        elif action.split(":", 1)[1].lower().startswith("delete"):
            problems.append(f"{where} allows {action!r}; this tool never deletes anything.")
    for resource in resources:
        if resource == "*" or resource.startswith("arn:aws:*") or resource.startswith("*"):
            problems.append(
                f"{where} allows resource {resource!r}; name the bucket, prefix or ARN."
            )
    if problems:
        return problems
    for action in (a.lower() for a in actions):
        problems += _resource_problems(action, resources, statement, where)
    return problems


def _resource_problems(
    action: str, resources: list[str], statement: dict[str, Any], where: str
) -> list[str]:
    problems: list[str] = []
    if action in _S3_OBJECT_ACTIONS:
        for resource in resources:
            match = _S3_OBJECT_ARN.match(resource)
            if not match:
                problems.append(f"{where}: {action} needs an object ARN, not {resource!r}.")
                continue
            key = match.group("key")
            # Only a trailing "/*" after a named prefix: "bucket/*" would do where a prefix will.
            wild = key == "*" or "*" in key[:-1] or "?" in key
            if wild or (key.endswith("*") and not key.endswith("/*")):
                problems.append(f"{where}: {action} on {resource!r} reaches beyond a named prefix.")
    elif action in _S3_BUCKET_ACTIONS:
        for resource in resources:
            if not _S3_BUCKET_ARN.match(resource):
                problems.append(f"{where}: {action} needs one bucket's ARN, not {resource!r}.")
        prefixes = _condition_values(statement.get("Condition", {}), "s3:prefix")
        if not prefixes:
            problems.append(f"{where}: {action} is not narrowed by an s3:prefix condition.")
        for prefix in prefixes:
            if not prefix.strip("*/"):
                problems.append(f"{where}: the s3:prefix {prefix!r} lets it list the whole bucket.")
    elif action.startswith("bedrock:"):
        for resource in resources:
            if not _BEDROCK_MODEL_ARN.match(resource):
                problems.append(f"{where}: {action} needs one model's ARN, not {resource!r}.")
    elif action.startswith("kms:"):
        for resource in resources:
            if not _KMS_KEY_ARN.match(resource):
                problems.append(f"{where}: {action} needs one key's ARN, not {resource!r}.")
    else:
        problems.append(
            f"{where}: {action} is not one this tool needs; add it to the checker first."
        )
    return problems


def _condition_values(condition: dict[str, Any], key: str) -> list[str]:
    values: list[str] = []
    for operator, clauses in condition.items():
        if operator.startswith(("StringLike", "StringEquals")) and key in clauses:
            values += [str(v) for v in _as_list(clauses[key])]
    return values


def load_policy(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))
