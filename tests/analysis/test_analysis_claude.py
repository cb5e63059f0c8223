"""Claude through the real SDK, replaying recorded responses: success and every failure we plan for.

Each test counts the HTTP requests the SDK made, because "retried" and "not retried" are the
behaviours under test, and checks the analyst's health as the draft will show it.
"""

from __future__ import annotations

import json

import pytest

from tasks.analysis import analyze
from tasks.contracts import Analysis, EvidencePack, Findings, IncidentSpec
from tasks.settings import Settings
from tests.analysis import fixtures as fx
from tests.analysis.replay import RECORDINGS, Replay

KEY = "sk-ant-test-key"


def run(case: str, **overrides) -> tuple[Analysis, Replay]:
    replay = Replay(case)
    settings = Settings(analyst="claude", **overrides)
    analysis = analyze(
        fx.pack(), fx.findings(), fx.spec(), settings, http_client=replay.client, api_key=KEY
    )
    return analysis, replay


def test_success_records_model_request_id_usage_cost_and_sends_a_cached_prefix() -> None:
    analysis, replay = run("success")

    assert len(replay.requests) == 1
    assert analysis.analyst == "claude"
    assert analysis.fallback_reason is None
    assert analysis.model == "claude-sonnet-5-5"
    assert [c.id for c in analysis.claims] == ["C1", "C2", "C3", "C4", "C5"]
    assert analysis.request_ids == ["req_000000000000000000000001"]
    assert analysis.usage.input_tokens == 3120
    assert analysis.usage.cache_creation_input_tokens == 2890
    # 3120 in at $2, 640 out at $10, 2890 cache writes at 1.25 x $2, per million tokens.
    assert analysis.usage.estimated_cost_usd == pytest.approx(
        (3120 * 2 + 640 * 10 + 2890 * 2.5) / 1e6
    )
    health = analysis.health
    assert not health.degraded and health.reasons == []
    assert [(a.status_code, a.request_id) for a in health.attempts] == [
        (200, "req_000000000000000000000001")
    ]

    request = replay.requests[0]
    assert request.url.path == "/v1/messages"
    assert request.headers["authorization"] == f"Bearer {KEY}"  # 2.14 no longer sends x-api-key
    body = replay.bodies[0]
    assert body["model"] == "claude-sonnet-5-5"
    assert body["max_tokens"] == 8000
    for removed in ("temperature", "top_p", "top_k", "tool_choice"):
        assert removed not in body
    assert body["output_config"]["format"]["type"] == "json_schema"
    assert "claims" in body["output_config"]["format"]["schema"]["properties"]
    # The static prefix is cached: the system prompt, then the pack as the last block.
    assert body["system"][0]["cache_control"] == {"type": "ephemeral"}
    assert "untrusted data" in body["system"][0]["text"]
    instructions, data = body["messages"][0]["content"]
    assert "cache_control" not in instructions
    assert data == {"type": "text", "text": fx.pack().text, "cache_control": {"type": "ephemeral"}}


def test_a_gateway_base_url_receives_the_call() -> None:
    analysis, replay = run("success", anthropic_base_url="https://llm-gateway.internal/anthropic")

    assert analysis.analyst == "claude"
    assert str(replay.requests[0].url) == "https://llm-gateway.internal/anthropic/v1/messages"


def test_429_with_retry_after_is_retried_after_the_wait_the_server_asked_for() -> None:
    analysis, replay = run("rate-limited")

    assert len(replay.requests) == 2
    assert analysis.analyst == "claude"
    health = analysis.health
    assert (health.retries, health.rate_limited) == (1, 1)
    assert [a.status_code for a in health.attempts] == [429, 200]
    assert health.attempts[0].error_type == "rate_limit_error"
    waited = health.attempts[1].started_at - health.attempts[0].started_at
    assert waited.total_seconds() >= 0.05  # retry-after-ms: 50
    assert not health.degraded  # one retry is within the default threshold of two


def test_529_then_success_counts_the_overload_without_failing() -> None:
    analysis, replay = run("overloaded-then-success")

    assert len(replay.requests) == 2
    assert analysis.analyst == "claude"
    assert (analysis.health.retries, analysis.health.overloaded) == (1, 1)
    assert analysis.request_ids == ["req_000000000000000000000022"]


def test_529_then_success_is_degraded_when_the_retry_threshold_is_lower() -> None:
    analysis, _ = run("overloaded-then-success", degraded_after_retries=0)

    assert analysis.analyst == "claude"
    assert analysis.health.degraded
    assert "1 overloaded" in analysis.health.reasons[0]


def test_529_throughout_is_degraded_and_falls_back_to_the_offline_analyst() -> None:
    analysis, replay = run("overloaded-throughout")

    assert len(replay.requests) == 3  # the first try and the SDK's two retries
    assert analysis.analyst == "offline"
    assert analysis.claims and analysis.claims[0].section == "summary"
    assert "overloaded_error" in analysis.fallback_reason
    health = analysis.health
    assert health.degraded and health.overloaded == 3 and health.retries == 2
    assert any("overloaded_error" in r for r in health.reasons)
    # Every attempt's request id is kept, so the provider can be asked about them.
    assert analysis.request_ids == [
        "req_000000000000000000000033",
        "req_000000000000000000000031",
        "req_000000000000000000000032",
    ]


def test_an_overloaded_error_with_status_200_is_recognised_by_its_type_and_not_retried() -> None:
    analysis, replay = run("overloaded-status-200")

    assert len(replay.requests) == 1
    assert analysis.analyst == "offline"
    assert "overloaded_error (HTTP 200)" in analysis.fallback_reason
    assert analysis.health.overloaded == 1
    assert analysis.health.attempts[0].status_code == 200


def test_a_timeout_is_retried_and_recorded() -> None:
    analysis, replay = run("timeout-then-success")

    assert len(replay.requests) == 2
    assert analysis.analyst == "claude"
    health = analysis.health
    assert (health.timeouts, health.retries) == (1, 1)
    assert health.attempts[0].status_code is None
    assert health.attempts[0].error_type == "timeout"


def test_timeouts_throughout_fall_back() -> None:
    analysis, replay = run("timeout-throughout", model_max_retries=1)

    assert len(replay.requests) == 2
    assert analysis.analyst == "offline"
    assert "could not be reached (timeout)" in analysis.fallback_reason
    assert analysis.health.timeouts == 2 and analysis.health.degraded


def test_a_spend_limit_is_never_retried() -> None:
    analysis, replay = run("spend-limit", model_max_retries=5)

    assert len(replay.requests) == 1
    assert analysis.analyst == "offline"
    assert "enforced_spend_limit_reached" in analysis.fallback_reason
    assert analysis.health.retries == 0 and analysis.health.degraded
    assert analysis.request_ids == ["req_000000000000000000000051"]


def test_malformed_output_gets_one_repair_then_the_fallback() -> None:
    analysis, replay = run("malformed-then-fallback")

    assert len(replay.requests) == 2
    assert analysis.analyst == "offline"
    assert "malformed after 1 repair attempt" in analysis.fallback_reason
    assert analysis.health.repair_attempts == 1
    # The repair sends the model its own answer and what the validator said about it.
    first, repair = replay.bodies
    assert repair["messages"][0] == first["messages"][0]
    assert repair["messages"][1]["role"] == "assistant"
    feedback = repair["messages"][2]["content"]
    assert "claims.0.section" in feedback and "claims.1.kind" in feedback
    # Both calls were paid for; the repair read the cached prefix.
    assert analysis.usage.input_tokens == 3120 + 3900
    assert analysis.usage.cache_read_input_tokens == 2890
    assert len(analysis.request_ids) == 2


def test_malformed_output_repaired_once_is_used() -> None:
    analysis, replay = run("malformed-then-repaired")

    assert len(replay.requests) == 2
    assert analysis.analyst == "claude"
    assert analysis.health.repair_attempts == 1
    assert not analysis.health.degraded
    assert analysis.request_ids == [
        "req_000000000000000000000071",
        "req_000000000000000000000072",
    ]


def test_truncation_is_flagged_degraded_and_repaired_with_a_shorter_answer() -> None:
    analysis, replay = run("truncated")

    assert len(replay.requests) == 2
    assert analysis.analyst == "claude"
    assert analysis.health.truncated
    assert analysis.health.degraded
    assert any("cut off at the output limit (8000 tokens)" in r for r in analysis.health.reasons)
    assert "be briefer" in replay.bodies[1]["messages"][2]["content"]


def test_a_latency_above_the_threshold_is_degraded() -> None:
    analysis, _ = run("success", degraded_after_seconds=1e-6)

    assert analysis.analyst == "claude"
    assert analysis.health.degraded
    assert "The model calls took" in analysis.health.reasons[0]


def test_prompt_injection_stays_inside_the_data_block_and_the_obedient_answer_is_kept() -> None:
    incident = Replay("prompt-injection")
    folder = RECORDINGS / "prompt-injection" / "incident"
    spec = IncidentSpec.model_validate_json((folder / "spec.json").read_text())
    findings = Findings.model_validate_json((folder / "findings.json").read_text())
    pack = EvidencePack.model_validate_json((folder / "pack.json").read_text())
    analysis = analyze(
        pack,
        findings,
        spec,
        Settings(analyst="claude"),
        http_client=incident.client,
        api_key=KEY,
    )

    raw = incident.requests[0].content.decode()
    assert raw.count(json.dumps(fx.INJECTION)[1:-1]) == 1
    body = incident.bodies[0]
    assert fx.INJECTION not in json.dumps(body["system"])
    instructions, data = body["messages"][0]["content"]
    assert fx.INJECTION not in instructions["text"]
    inside = data["text"].split(fx.DATA_OPEN, 1)[1].split(fx.DATA_CLOSE, 1)[0]
    assert fx.INJECTION in inside
    # The analyst passes the obedient claim on; marking it is the verifier's job.
    obedient = analysis.claims[0]
    assert (obedient.service, obedient.confidence, obedient.evidence_ids) == (
        "orders-db",
        "high",
        [],
    )
