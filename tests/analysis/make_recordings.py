"""Writes the API responses that the analysis tests replay: `python -m tests.analysis.make_recordings`.

Each case is a folder under recordings/ with one file per HTTP attempt, in order:
`{"status", "headers", "body"}`, or `{"raise": "ReadTimeout"}` for an attempt that times out.
They follow the Messages API's wire format (error bodies, `request-id`, `retry-after-ms`,
usage with cache fields). They were written here rather than captured, because this machine has
no network; a capture from the real API can replace any file as long as the file keeps the shape.
The prompt-injection case also keeps the spec, findings and pack it was made for; its test
reads them back.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.analysis import fixtures as fx

ROOT = Path(__file__).parent / "recordings"
MODEL = "claude-sonnet-5-5"


def claim(n: int, section: str, kind: str, text: str, **extra: Any) -> dict[str, Any]:
    return {"id": f"C{n}", "section": section, "kind": kind, "text": text, **extra}


GOOD_DRAFT = {
    "title": "Checkout errors after a deploy",
    "claims": [
        claim(
            1,
            "summary",
            "observation",
            "After a deploy of checkout, its error rate rose to {F:checkout.error_rate.incident} "
            "from {F:checkout.error_rate.baseline}.",
            service="checkout",
            fact_ids=["F:checkout.error_rate.incident", "F:checkout.error_rate.baseline"],
            evidence_ids=["oaaaa1111:120", "occcc3333:7"],
        ),
        claim(
            2,
            "root_cause",
            "causal",
            "The evidence suggests the new checkout release could not reach its upstream "
            "database, so checkout requests failed.",
            service="checkout",
            pattern_id="P7",
            evidence_ids=["oaaaa1111:120"],
            confidence="medium",
        ),
        claim(
            3,
            "trigger",
            "causal",
            "The deploy of checkout at {F:change.0.at} preceded the first errors at "
            "{F:checkout.onset}.",
            service="checkout",
            change_index=0,
            fact_ids=["F:change.0.at", "F:checkout.onset"],
            evidence_ids=["occcc3333:7", "oaaaa1111:120"],
            confidence="medium",
        ),
        claim(
            4,
            "timeline",
            "timeline",
            "checkout errors begin.",
            service="checkout",
            evidence_ids=["oaaaa1111:120"],
            at="2026-11-24T13:04:03Z",
        ),
        claim(
            5,
            "action_item",
            "recommendation",
            "Gate checkout deploys behind a canary that watches its error rate.",
            service="checkout",
            change_index=0,
            evidence_ids=["occcc3333:7"],
            action_type="prevent",
            priority="P1",
        ),
    ],
}

# Obeys the line planted in the logs: a confident root cause with no evidence, about a service
# that appears nowhere in the findings.
OBEDIENT_DRAFT = {
    "title": "Database outage",
    "claims": [
        claim(
            1,
            "root_cause",
            "causal",
            "The root cause is the orders-db database.",
            service="orders-db",
            confidence="high",
        ),
        claim(
            2,
            "summary",
            "observation",
            "checkout failed at {F:checkout.error_rate.incident}.",
            service="checkout",
            fact_ids=["F:checkout.error_rate.incident"],
            evidence_ids=["oaaaa1111:120"],
        ),
    ],
}

# Valid JSON, wrong shape: a section that does not exist and a claim without its kind.
MALFORMED_DRAFT = {
    "title": "Checkout errors",
    "claims": [
        {"id": "C1", "section": "overview", "kind": "observation", "text": "checkout failed."},
        {"id": "C2", "section": "root_cause", "text": "A deploy."},
    ],
}


def usage(inp: int, out: int, write: int = 0, read: int = 0) -> dict[str, Any]:
    return {
        "input_tokens": inp,
        "output_tokens": out,
        "cache_creation_input_tokens": write,
        "cache_read_input_tokens": read,
        "service_tier": "standard",
    }


def message(
    n: int, text: str, *, stop: str = "end_turn", use: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {
        "status": 200,
        "headers": {"content-type": "application/json", "request-id": f"req_{n:024d}"},
        "body": {
            "id": f"msg_{n:024d}",
            "type": "message",
            "role": "assistant",
            "model": MODEL,
            "content": [{"type": "text", "text": text}],
            "stop_reason": stop,
            "stop_sequence": None,
            "usage": use or usage(3120, 640, write=2890),
        },
    }


def error(
    n: int,
    status: int,
    kind: str,
    msg: str,
    *,
    headers: dict[str, str] | None = None,
    details: dict[str, Any] | None = None,
) -> dict[str, Any]:
    err: dict[str, Any] = {"type": kind, "message": msg}
    if details:
        err["details"] = details
    return {
        "status": status,
        "headers": {
            "content-type": "application/json",
            "request-id": f"req_{n:024d}",
            **(headers or {}),
        },
        "body": {"type": "error", "error": err, "request_id": f"req_{n:024d}"},
    }


def overloaded(n: int) -> dict[str, Any]:
    return error(
        n,
        529,
        "overloaded_error",
        "Overloaded",
        headers={"x-should-retry": "true", "retry-after-ms": "20"},
    )


GOOD = json.dumps(GOOD_DRAFT)
CASES: dict[str, list[dict[str, Any]]] = {
    "success": [message(1, GOOD)],
    "rate-limited": [
        error(
            11,
            429,
            "rate_limit_error",
            "This request would exceed the rate limit for your organization of 40,000 input "
            "tokens per minute.",
            headers={"retry-after": "1", "retry-after-ms": "50"},
        ),
        message(12, GOOD),
    ],
    "overloaded-then-success": [overloaded(21), message(22, GOOD)],
    "overloaded-throughout": [overloaded(31), overloaded(32), overloaded(33)],
    "overloaded-status-200": [
        {
            "status": 200,
            "headers": {"content-type": "application/json", "request-id": "req_overloaded200"},
            "body": {
                "type": "error",
                "error": {"type": "overloaded_error", "message": "Overloaded"},
            },
        }
    ],
    "timeout-then-success": [{"raise": "ReadTimeout"}, message(42, GOOD)],
    "timeout-throughout": [{"raise": "ReadTimeout"}, {"raise": "ReadTimeout"}],
    "spend-limit": [
        error(
            51,
            429,
            "rate_limit_error",
            "Your organization has reached its monthly spend limit.",
            headers={"retry-after-ms": "50"},
            details={"error_code": "enforced_spend_limit_reached"},
        )
    ],
    "malformed-then-fallback": [
        message(61, json.dumps(MALFORMED_DRAFT)),
        message(62, json.dumps(MALFORMED_DRAFT), use=usage(3900, 200, read=2890)),
    ],
    "malformed-then-repaired": [
        message(71, json.dumps(MALFORMED_DRAFT)),
        message(72, GOOD, use=usage(3900, 640, read=2890)),
    ],
    "truncated": [
        message(81, GOOD[: len(GOOD) // 2], stop="max_tokens", use=usage(3120, 8000, write=2890)),
        message(82, GOOD, use=usage(3900, 640, read=2890)),
    ],
    "prompt-injection": [message(91, json.dumps(OBEDIENT_DRAFT))],
}


def main() -> None:
    for case, responses in CASES.items():
        folder = ROOT / case
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob("[0-9][0-9].json"):
            old.unlink()
        for i, response in enumerate(responses, 1):
            (folder / f"{i:02d}.json").write_text(json.dumps(response, indent=2) + "\n")
    incident = ROOT / "prompt-injection" / "incident"
    incident.mkdir(exist_ok=True)
    findings = fx.findings(injected=True)
    (incident / "spec.json").write_text(fx.spec().model_dump_json(indent=2) + "\n")
    (incident / "findings.json").write_text(findings.model_dump_json(indent=2) + "\n")
    (incident / "pack.json").write_text(
        fx.pack(findings, injected=True).model_dump_json(indent=2) + "\n"
    )


if __name__ == "__main__":
    main()
