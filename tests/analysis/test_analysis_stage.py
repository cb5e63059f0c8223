"""Choosing the analyst, Bedrock's route, self-analysis, and the price table."""

from __future__ import annotations

import pytest

from tasks.analysis import analyze, choose_analyst, self_analysis_services
from tasks.analysis._health import price_for
from tasks.settings import Settings
from tests.analysis import fixtures as fx
from tests.analysis.replay import Replay


@pytest.mark.parametrize(
    ("analyst", "key", "region", "expected"),
    [
        ("auto", True, None, "claude"),
        ("auto", True, "eu-west-1", "claude"),
        ("auto", False, "eu-west-1", "bedrock"),
        ("auto", False, None, "offline"),
        ("offline", True, "eu-west-1", "offline"),
        ("bedrock", True, None, "bedrock"),
        ("claude", False, None, "claude"),
    ],
)
def test_choose_analyst(analyst: str, key: bool, region: str | None, expected: str) -> None:
    settings = Settings(analyst=analyst, bedrock_region=region)
    assert choose_analyst(settings, api_key_present=key) == expected


def test_auto_without_a_key_or_region_makes_no_request() -> None:
    replay = Replay("success")
    analysis = analyze(fx.pack(), fx.findings(), fx.spec(), Settings(), http_client=replay.client)

    assert analysis.analyst == "offline"
    assert analysis.fallback_reason is None  # chosen, not fallen back to
    assert replay.requests == []


def test_claude_without_a_key_falls_back_instead_of_failing(monkeypatch) -> None:
    # Even with a key in the environment: the stage uses only the key it is given.
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-from-the-environment")
    replay = Replay("success")
    analysis = analyze(
        fx.pack(), fx.findings(), fx.spec(), Settings(analyst="claude"), http_client=replay.client
    )

    assert analysis.analyst == "offline"
    assert analysis.health.degraded
    assert "no API key was given" in analysis.fallback_reason
    assert replay.requests == []


def test_bedrock_calls_the_region_from_the_settings_with_a_signed_request() -> None:
    replay = Replay("success")
    settings = Settings(analyst="bedrock", bedrock_region="eu-west-1")
    analysis = analyze(fx.pack(), fx.findings(), fx.spec(), settings, http_client=replay.client)

    assert analysis.analyst == "bedrock"
    assert analysis.model == "anthropic.claude-sonnet-5-5"
    request = replay.requests[0]
    assert request.url.host == "bedrock-runtime.eu-west-1.amazonaws.com"
    assert "anthropic.claude-sonnet-5-5" in request.url.path
    assert request.headers["authorization"].startswith("AWS4-HMAC-SHA256")
    # 3120 in at $2, 640 out at $10, cache writes at 1.25 x $2: Bedrock's ID is priced too.
    assert analysis.usage.estimated_cost_usd > 0


def test_self_analysis_names_the_analysts_dependencies_that_the_incident_touched() -> None:
    findings = fx.findings()
    spec = fx.spec(ai_dependencies=["payments", "llm-gateway", "search"])

    # payments is a suspect; llm-gateway is not in the findings; search did not deviate.
    assert self_analysis_services(findings, spec) == ["payments"]
    analysis = analyze(fx.pack(), findings, spec, Settings(analyst="offline"))
    assert analysis.self_analysis_services == ["payments"]


def test_self_analysis_is_set_on_a_fallback_too() -> None:
    replay = Replay("spend-limit")
    spec = fx.spec(ai_dependencies=["checkout"])
    analysis = analyze(
        fx.pack(),
        fx.findings(),
        spec,
        Settings(analyst="claude"),
        http_client=replay.client,
        api_key="k",
    )
    assert analysis.analyst == "offline"
    assert analysis.self_analysis_services == ["checkout"]


@pytest.mark.parametrize(
    ("model", "price"),
    [
        ("claude-sonnet-5-5", (2.0, 10.0)),
        ("claude-sonnet-4-5-20250929", (3.0, 15.0)),
        ("claude-opus-4-1", (15.0, 75.0)),
        ("claude-opus-4-6", (5.0, 25.0)),  # the longer prefix wins over claude-opus-4
        ("claude-opus-5-5", (4.0, 20.0)),
        ("anthropic.claude-sonnet-5-5", (2.0, 10.0)),
        ("us.anthropic.claude-haiku-4-5-20251001-v1:0", (1.0, 5.0)),
        ("some-gateway-model", None),
    ],
)
def test_price_for(model: str, price: tuple[float, float] | None) -> None:
    assert price_for(model, Settings().price_per_mtok_usd) == price
