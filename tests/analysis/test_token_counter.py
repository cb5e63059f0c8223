"""The evidence pack is counted by the API only when the first-party API will read it."""

from __future__ import annotations

import httpx2

from tasks.analysis import api_token_counter
from tasks.evidence import estimate_tokens
from tasks.settings import Settings


def client(status: int, requests: list[str]) -> httpx2.Client:
    def handler(request: httpx2.Request) -> httpx2.Response:
        requests.append(request.url.path)
        if status != 200:
            return httpx2.Response(status, json={"type": "error", "error": {"type": "api_error"}})
        return httpx2.Response(200, json={"input_tokens": 4321})

    return httpx2.Client(transport=httpx2.MockTransport(handler))


def test_counted_by_the_api_with_a_key_and_estimated_when_the_api_fails() -> None:
    seen: list[str] = []
    count = api_token_counter(Settings(), "sk-test", http_client=client(200, seen))
    assert count is not None and count("some pack text") == 4321
    assert seen == ["/v1/messages/count_tokens"]
    failing = api_token_counter(Settings(), "sk-test", http_client=client(500, []))
    assert failing is not None and failing("x" * 300) == estimate_tokens("x" * 300)


def test_no_api_count_without_a_key_for_a_gateway_or_offline() -> None:
    assert api_token_counter(Settings(), None) is None
    assert api_token_counter(Settings(anthropic_base_url="https://gw.internal"), "k") is None
    assert api_token_counter(Settings(analyst="offline"), "k") is None
    assert api_token_counter(Settings(analyst="bedrock", bedrock_region="eu-west-1"), "k") is None
