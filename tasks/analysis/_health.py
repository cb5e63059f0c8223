"""The analyst's own health: every HTTP attempt the SDK makes, recorded by client middleware.

The middleware runs inside the SDK's retry loop, once per attempt, so it sees the 429s and 529s
that the SDK retries on its own and that the caller would otherwise never hear about.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import anthropic

from tasks.contracts import AnalystHealth, AttemptRecord, Usage
from tasks.settings import Settings


class SpendLimitReached(Exception):
    """The organisation's spend limit was reached: retrying only spends more time, never money.

    Deliberately not an SDK error type: the SDK's retry loop lets exceptions of other types
    through at once, which is how the middleware stops it retrying this 429.
    """

    def __init__(self, message: str, request_id: str | None) -> None:
        super().__init__(message)
        self.request_id = request_id


def _error_fields(body: Any) -> tuple[str | None, str | None, str | None]:
    """(error.type, error.details.error_code, error.message) from an API error body."""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return None, None, None
    details = error.get("details")
    code = details.get("error_code") if isinstance(details, dict) else None
    return error.get("type"), code, error.get("message")


def is_spend_limit(error_code: str | None) -> bool:
    # enforced_spend_limit_reached, contract_spend_limit_reached, linked_organization_...: all
    # mean the same thing for us, and none of them is cured by waiting a few seconds.
    return bool(error_code) and error_code.endswith("spend_limit_reached")


class HealthRecorder:
    """Client middleware (`Anthropic(middleware=[recorder])`) that records each attempt."""

    def __init__(self) -> None:
        self.attempts: list[AttemptRecord] = []
        self.retries = 0

    def __call__(self, request: Any, call_next: Any) -> Any:
        started = datetime.now(UTC)
        t0 = time.perf_counter()
        if request.retries_taken:
            self.retries += 1
        try:
            response = call_next(request)
        except anthropic.APITimeoutError:
            self._add(started, t0, None, None, "timeout")
            raise
        except anthropic.APIConnectionError:
            self._add(started, t0, None, None, "connection_error")
            raise
        http = response.http_response
        request_id = http.headers.get("request-id")
        body = None
        if not request.stream:
            try:
                body = http.json()
            except ValueError:
                body = None
        error_type, error_code, message = _error_fields(body)
        self._add(started, t0, http.status_code, request_id, error_type or _status_type(http))
        if http.status_code == 429 and is_spend_limit(error_code):
            raise SpendLimitReached(
                f"the API refused the call because a spend limit was reached ({error_code}"
                f"{': ' + message if message else ''})",
                request_id,
            ) from None
        if http.status_code < 400 and isinstance(body, dict) and body.get("type") == "error":
            # An error with status 200: what the SDK raises for an error event mid-stream, and
            # what some gateways send. Raised as the SDK's own error type, which its retry
            # policy (status-based) does not retry; callers branch on `err.type`.
            raise anthropic.APIStatusError(
                f"Error with status {http.status_code}: {message or error_type}",
                response=http,
                body=body,
            ) from None
        return response

    def _add(
        self,
        started: datetime,
        t0: float,
        status: int | None,
        request_id: str | None,
        error_type: str | None,
    ) -> None:
        self.attempts.append(
            AttemptRecord(
                started_at=started,
                status_code=status,
                latency_ms=round((time.perf_counter() - t0) * 1000, 1),
                request_id=request_id,
                error_type=error_type,
            )
        )


def _status_type(http: Any) -> str | None:
    if http.status_code < 400:
        return None
    return {429: "rate_limit_error", 529: "overloaded_error"}.get(
        http.status_code, "api_error" if http.status_code >= 500 else "invalid_request_error"
    )


def error_kind(err: BaseException) -> str:
    """A short name for a failed call. Branches on `err.type` before the status code: an
    overloaded_error can arrive with status 200 (mid-stream), where the code says nothing."""
    if isinstance(err, SpendLimitReached):
        return "spend_limit"
    if isinstance(err, anthropic.APITimeoutError):
        return "timeout"
    if isinstance(err, anthropic.APIConnectionError):
        return "connection_error"
    if isinstance(err, anthropic.APIStatusError):
        if err.type == "overloaded_error" or err.status_code == 529:
            return "overloaded_error"
        if is_spend_limit(err.error_code):
            return "spend_limit"
        return err.type or f"http_{err.status_code}"
    return type(err).__name__


def summarise(
    recorder: HealthRecorder,
    *,
    wall_seconds: float,
    truncated: bool,
    repair_attempts: int,
    settings: Settings,
    extra_reasons: list[str] | None = None,
) -> AnalystHealth:
    """Counts from the attempts, then the thresholds from the settings turned into reasons."""
    attempts = recorder.attempts
    health = AnalystHealth(
        attempts=attempts,
        retries=recorder.retries,
        rate_limited=sum(a.status_code == 429 for a in attempts),
        overloaded=sum(a.error_type == "overloaded_error" for a in attempts),
        server_errors=sum(
            a.status_code is not None and a.status_code >= 500 and a.status_code != 529
            for a in attempts
        ),
        timeouts=sum(a.error_type == "timeout" for a in attempts),
        total_latency_ms=round(wall_seconds * 1000, 1),
        truncated=truncated,
        repair_attempts=repair_attempts,
    )
    reasons = list(extra_reasons or [])
    if health.retries > settings.degraded_after_retries:
        reasons.append(
            f"The API needed {health.retries} retries (more than {settings.degraded_after_retries}):"
            f" {health.rate_limited} rate-limited, {health.overloaded} overloaded,"
            f" {health.server_errors} server errors, {health.timeouts} timeouts."
        )
    if wall_seconds > settings.degraded_after_seconds:
        reasons.append(
            f"The model calls took {wall_seconds:.1f} s (more than "
            f"{settings.degraded_after_seconds:g} s)."
        )
    if truncated:
        reasons.append(
            f"The model's answer was cut off at the output limit ({settings.max_tokens} tokens)."
        )
    health.reasons = reasons
    health.degraded = bool(reasons)
    return health


def price_for(model: str, table: dict[str, tuple[float, float]]) -> tuple[float, float] | None:
    """(input, output) USD per million tokens for the longest matching prefix, or None."""
    name = model.rsplit("/", 1)[-1]
    # Bedrock IDs: "anthropic.claude-…", or with an inference-profile region "us.anthropic.claude-…".
    if "anthropic." in name:
        name = name.split("anthropic.", 1)[1]
    matches = [prefix for prefix in table if name.startswith(prefix)]
    return table[max(matches, key=len)] if matches else None


def add_usage(total: Usage, usage: Any) -> None:
    """Add one response's usage (the SDK's Usage object) to the running total."""
    total.input_tokens += usage.input_tokens or 0
    total.output_tokens += usage.output_tokens or 0
    total.cache_creation_input_tokens += getattr(usage, "cache_creation_input_tokens", 0) or 0
    total.cache_read_input_tokens += getattr(usage, "cache_read_input_tokens", 0) or 0


def estimate_cost(usage: Usage, model: str, settings: Settings) -> float:
    price = price_for(model, settings.price_per_mtok_usd)
    if price is None:
        return 0.0
    per_in, per_out = price
    dollars = (
        usage.input_tokens * per_in
        + usage.output_tokens * per_out
        + usage.cache_read_input_tokens * per_in * 0.1
        + usage.cache_creation_input_tokens * per_in * 1.25
    ) / 1_000_000
    return round(dollars, 6)
