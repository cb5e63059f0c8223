"""Writes the API responses the weekly summary tests replay: `python -m tests.weekly.make_recordings`.

One folder per case under recordings/, one file per HTTP attempt in order, in the shape
tests/analysis/replay.py serves: `{"status", "headers", "body"}`, or `"text"` for the Batches
API's JSONL results. They follow the Messages and Message Batches APIs' wire formats. They were
written here rather than captured, because this machine has no network; a capture from the real
API can replace any file as long as it keeps the shape.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

ROOT = Path(__file__).parent / "recordings"
MODEL = "claude-sonnet-5-5"
BATCH = "msgbatch_01weeklysummary000000001"
RESULTS_URL = f"https://api.anthropic.com/v1/messages/batches/{BATCH}/results"


def theme(n: int, text: str, incidents: list[str], facts: list[str]) -> dict[str, Any]:
    return {"id": f"T{n}", "text": text, "incident_ids": incidents, "fact_ids": facts}


GOOD = [
    theme(
        1,
        "payments was the top suspect in {F:service.payments.top_suspect} incidents this week, "
        "and it has recurred across {F:recurring.R1.incidents} incidents since the week before.",
        ["INC-OLD", "INC-A", "INC-B"],
        ["F:service.payments.top_suspect", "F:recurring.R1.incidents"],
    ),
    theme(
        2,
        "Detection was quick (median {F:week.mttd.median}) but resolution was slow (median "
        "{F:week.mttr.median}), slowest for the SEV1.",
        ["INC-A", "INC-B"],
        ["F:week.mttd.median", "F:week.mttr.median", "F:incident.INC-B.mttr"],
    ),
    theme(
        3,
        "The same connection-refused pattern appears in every payments incident.",
        ["INC-A", "INC-B"],
        ["F:recurring.R2.this_week"],
    ),
]
# What a model that strays does: cites an incident that is not in the review, and writes a
# number of its own that none of the review's figures holds.
STRAYING = [
    GOOD[0],
    theme(
        2,
        "Both incidents followed a deploy of payments.",
        ["INC-A", "INC-Z"],
        [],
    ),
    theme(
        3,
        "Detection took 45 minutes on average.",
        ["INC-A", "INC-B"],
        ["F:week.mttd.mean"],
    ),
]


def message(n: int, themes: list[dict[str, Any]] | str) -> dict[str, Any]:
    text = themes if isinstance(themes, str) else json.dumps({"themes": themes})
    return {
        "id": f"msg_0000000000000000000weekly{n:02d}",
        "type": "message",
        "role": "assistant",
        "model": MODEL,
        "content": [{"type": "text", "text": text}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {
            "input_tokens": 1850,
            "output_tokens": 420,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "service_tier": "batch",
        },
    }


def ok(request_id: str, body: dict[str, Any]) -> dict[str, Any]:
    return {
        "status": 200,
        "headers": {"content-type": "application/json", "request-id": request_id},
        "body": body,
    }


def batch(status: str, n: int) -> dict[str, Any]:
    ended = status == "ended"
    return ok(
        f"req_weekly_batch_{n:02d}",
        {
            "id": BATCH,
            "type": "message_batch",
            "processing_status": status,
            "request_counts": {
                "processing": 0 if ended else 1,
                "succeeded": 1 if ended else 0,
                "errored": 0,
                "canceled": 0,
                "expired": 0,
            },
            "created_at": "2026-11-30T09:00:01Z",
            "expires_at": "2026-12-01T09:00:01Z",
            "ended_at": "2026-11-30T09:03:12Z" if ended else None,
            "archived_at": None,
            "cancel_initiated_at": None,
            "results_url": RESULTS_URL if ended else None,
        },
    )


def results(result: dict[str, Any]) -> dict[str, Any]:
    line = json.dumps({"custom_id": "weekly-summary", "result": result})
    return {
        "status": 200,
        "headers": {"content-type": "application/binary", "request-id": "req_weekly_results"},
        "text": line + "\n",
    }


def succeeded(themes: list[dict[str, Any]] | str) -> dict[str, Any]:
    return results({"type": "succeeded", "message": message(1, themes)})


def batch_run(result: dict[str, Any]) -> list[dict[str, Any]]:
    # create, one poll still in progress, one poll that sees it ended, the retrieve that
    # `results()` makes itself, then the JSONL.
    return [
        batch("in_progress", 1),
        batch("in_progress", 2),
        batch("ended", 3),
        batch("ended", 4),
        result,
    ]


def error(status: int, kind: str, request_id: str, **headers: str) -> dict[str, Any]:
    return {
        "status": status,
        "headers": {"content-type": "application/json", "request-id": request_id, **headers},
        "body": {
            "type": "error",
            "error": {"type": kind, "message": f"{kind} (recorded)"},
            "request_id": request_id,
        },
    }


CASES: dict[str, list[dict[str, Any]]] = {
    "batch-success": batch_run(succeeded(GOOD)),
    "batch-straying": batch_run(succeeded(STRAYING)),
    "batch-rate-limited": [
        error(429, "rate_limit_error", "req_weekly_429", **{"retry-after-ms": "50"}),
        *batch_run(succeeded(GOOD)),
    ],
    "batch-errored": batch_run(
        results(
            {
                "type": "errored",
                "error": {
                    "type": "error",
                    "error": {
                        "type": "invalid_request_error",
                        "message": "max_tokens: 4000 > 2048, the maximum for this model",
                    },
                },
            }
        )
    ),
    "batch-malformed": batch_run(succeeded('{"themes": [{"id": "T1", "text": 42}]}')),
    # Still in progress when the wait runs out: cancelled.
    "batch-timeout": [batch("in_progress", 1), batch("in_progress", 2), batch("canceling", 3)],
    "messages-success": [ok("req_weekly_plain_01", message(2, GOOD))],
    "messages-overloaded": [
        error(529, "overloaded_error", f"req_weekly_529_{n}", **{"retry-after-ms": "10"})
        for n in range(3)
    ],
}


def main() -> None:
    for case, responses in CASES.items():
        folder = ROOT / case
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob("[0-9][0-9].json"):
            old.unlink()
        for n, response in enumerate(responses, 1):
            (folder / f"{n:02d}.json").write_text(json.dumps(response, indent=2) + "\n")


if __name__ == "__main__":
    main()
