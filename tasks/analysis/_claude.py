"""Claude as the analyst, through the official SDK: first-party API, a gateway, or Bedrock."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from typing import Any, Literal

import anthropic
import httpx2
from pydantic import ValidationError

from tasks.analysis._base import AnalystFailed
from tasks.analysis._health import (
    HealthRecorder,
    SpendLimitReached,
    add_usage,
    error_kind,
    estimate_cost,
    summarise,
)
from tasks.analysis._prompts import render_prompt
from tasks.contracts import Analysis, AnalysisDraft, EvidencePack, Findings, IncidentSpec, Usage
from tasks.contracts.analysis import AnalystHealth
from tasks.settings import Settings

Backend = Literal["claude", "bedrock"]

MAX_CLAIMS = 40
# The first answer, then one repair that shows the model its validation errors; after that the
# offline analyst stands in, because a third try rarely fixes what two did not.
MAX_CALLS = 2
_CACHE = {"type": "ephemeral"}


@cache
def _output_schema() -> dict[str, Any]:
    # The SDK's own transform strips the JSON-schema keywords that structured output refuses, the
    # same transform `messages.parse(output_format=...)` applies. We call `create` with it rather
    # than `parse` so that a response that fails validation still yields its usage, stop reason
    # and request id: `parse` raises before we could read them.
    return anthropic.transform_schema(AnalysisDraft)


def _describe_validation(exc: ValidationError) -> list[str]:
    lines = []
    for err in exc.errors(include_input=False, include_url=False)[:20]:
        loc = ".".join(str(part) for part in err["loc"]) or "(the whole answer)"
        lines.append(f"{loc}: {err['msg']}")
    return lines


def _check_draft(draft: AnalysisDraft) -> list[str]:
    """Problems pydantic cannot see: what the schema allows but the stage cannot use."""
    problems = []
    if not draft.claims:
        problems.append("claims: the list is empty")
    ids = [c.id for c in draft.claims]
    repeated = sorted({i for i in ids if ids.count(i) > 1})
    if repeated:
        problems.append(f"claims: the IDs {', '.join(repeated)} are used more than once")
    return problems


def all_request_ids(request_ids: list[str], recorder: HealthRecorder) -> list[str]:
    """`request_ids` (those of returned messages and errors), then those only the recorder saw:
    attempts the SDK retried never returned a message."""
    return request_ids + [
        a.request_id for a in recorder.attempts if a.request_id and a.request_id not in request_ids
    ]


def build_client(
    settings: Settings,
    backend: Backend,
    api_key: str | None,
    recorder: HealthRecorder,
    *,
    http_client: httpx2.Client | None = None,
) -> anthropic.Anthropic | anthropic.AnthropicBedrock:
    """The SDK client every model call of the tool uses: retries, timeout and the health
    recorder from the settings; Bedrock with its region, or the first-party API / a gateway."""
    common: dict[str, Any] = {
        "max_retries": settings.model_max_retries,
        "timeout": settings.model_timeout_seconds,
        "middleware": [recorder],
    }
    if http_client is not None:
        common["http_client"] = http_client
    if backend == "bedrock":
        # AWS credentials come from boto's chain; only the region is ours to give.
        return anthropic.AnthropicBedrock(aws_region=settings.bedrock_region, **common)
    return anthropic.Anthropic(api_key=api_key, base_url=settings.anthropic_base_url, **common)


class ClaudeAnalyst:
    """Claude behind the Analyst interface; raises AnalystFailed instead of failing the run."""

    def __init__(
        self,
        settings: Settings,
        *,
        backend: Backend = "claude",
        api_key: str | None = None,
        http_client: httpx2.Client | None = None,
    ) -> None:
        self.settings = settings
        self.backend = backend
        self.name = backend
        self.api_key = api_key
        self.http_client = http_client
        self.model = settings.bedrock_model if backend == "bedrock" else settings.model

    def _client(self, recorder: HealthRecorder) -> anthropic.Anthropic | anthropic.AnthropicBedrock:
        return build_client(
            self.settings, self.backend, self.api_key, recorder, http_client=self.http_client
        )

    def analyze(self, pack: EvidencePack, findings: Findings, spec: IncidentSpec) -> Analysis:
        recorder = HealthRecorder()
        client = self._configured_client(recorder)
        system, messages = _build_request(pack)
        run = _Run(self.model, self.settings, recorder)
        draft: AnalysisDraft | None = None
        for call in range(MAX_CALLS):
            message = self._ask(client, system, messages, run)
            text, draft, errors = _read_answer(message, run)
            if draft is not None and not errors:
                break
            if call + 1 == MAX_CALLS:
                raise run.failed(
                    f"Claude's answer was still malformed after {run.repairs} repair attempt"
                    f"{'s' if run.repairs != 1 else ''} ({errors[0]})."
                )
            run.repairs += 1
            messages += _repair_turn(text, errors, cut_off=message.stop_reason == "max_tokens")

        assert draft is not None  # the loop either breaks with a draft or raises
        usage, health = run.record()
        return Analysis(
            incident_id=spec.id,
            analyst=self.backend,
            model=self.model,
            title=draft.title,
            claims=draft.claims,
            request_ids=run.request_ids,
            usage=usage,
            health=health,
            created_at=datetime.now(UTC),
        )

    def _configured_client(
        self, recorder: HealthRecorder
    ) -> anthropic.Anthropic | anthropic.AnthropicBedrock:
        if self.backend == "claude" and not self.api_key:
            # Checked here rather than left to the SDK, which would read the environment itself
            # and then fail with a TypeError at request time.
            raise AnalystFailed(
                "Claude was chosen but no API key was given: set ANTHROPIC_API_KEY.",
                model=self.model,
            )
        try:
            return self._client(recorder)
        except anthropic.AnthropicError as exc:  # no API key, no region: a set-up problem
            raise AnalystFailed(f"Claude is not configured: {exc}", model=self.model) from exc

    def _ask(
        self,
        client: anthropic.Anthropic | anthropic.AnthropicBedrock,
        system: list[dict[str, Any]],
        messages: list[dict[str, Any]],
        run: _Run,
    ) -> Any:
        """One call; every way it can fail becomes AnalystFailed with the reason a reader needs."""
        try:
            return client.messages.create(
                model=self.model,
                max_tokens=self.settings.max_tokens,
                system=system,
                messages=messages,
                output_config={"format": {"type": "json_schema", "schema": _output_schema()}},
            )
        except SpendLimitReached as exc:
            if exc.request_id:
                run.request_ids.append(exc.request_id)
            raise run.failed(f"Claude was not asked again: {exc}.") from exc
        except anthropic.APIStatusError as exc:
            if exc.request_id:
                run.request_ids.append(exc.request_id)
            raise run.failed(
                f"Claude failed with {error_kind(exc)} (HTTP {exc.status_code}) after "
                f"{run.recorder.retries} retries."
            ) from exc
        except anthropic.APIConnectionError as exc:
            raise run.failed(
                f"Claude could not be reached ({error_kind(exc)}) after "
                f"{run.recorder.retries} retries."
            ) from exc
        except Exception as exc:
            # Signing a Bedrock request without AWS credentials, a gateway answering
            # nonsense: whatever it is, a model outage must not fail the run. The reason is
            # kept in the draft, so nothing is hidden.
            raise run.failed(f"Claude's call failed: {type(exc).__name__}: {exc}") from exc


@dataclass
class _Run:
    """What one analysis has spent and seen so far, kept whether it succeeds or fails."""

    model: str
    settings: Settings
    recorder: HealthRecorder
    usage: Usage = field(default_factory=Usage)
    request_ids: list[str] = field(default_factory=list)
    truncated: bool = False
    repairs: int = 0
    started: float = field(default_factory=time.perf_counter)

    def record(self, extra_reasons: list[str] | None = None) -> tuple[Usage, AnalystHealth]:
        """The usage with its cost, and the health summary, as of now."""
        self.usage.estimated_cost_usd = estimate_cost(self.usage, self.model, self.settings)
        health = summarise(
            self.recorder,
            wall_seconds=time.perf_counter() - self.started,
            truncated=self.truncated,
            repair_attempts=self.repairs,
            settings=self.settings,
            extra_reasons=extra_reasons,
        )
        return self.usage, health

    def failed(self, reason: str) -> AnalystFailed:
        usage, health = self.record(extra_reasons=[reason])
        ids = all_request_ids(self.request_ids, self.recorder)
        return AnalystFailed(reason, model=self.model, health=health, usage=usage, request_ids=ids)


def _build_request(pack: EvidencePack) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    # Prompt caching: the system prompt is one breakpoint; the pack is the second, so that a
    # repair call re-reads the whole prefix (system + instructions + pack) from the cache.
    system = [{"type": "text", "text": render_prompt("system"), "cache_control": _CACHE}]
    messages: list[dict[str, Any]] = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": render_prompt("user", max_claims=MAX_CLAIMS)},
                {"type": "text", "text": pack.text, "cache_control": _CACHE},
            ],
        }
    ]
    return system, messages


def _read_answer(message: Any, run: _Run) -> tuple[str, AnalysisDraft | None, list[str]]:
    """Records the message's ID and usage, then its text, the draft if it parses, and the
    problems a repair call must name (empty when the draft is usable)."""
    if message._request_id:
        run.request_ids.append(message._request_id)
    add_usage(run.usage, message.usage)
    run.truncated = run.truncated or message.stop_reason == "max_tokens"
    if message.stop_reason == "refusal":
        raise run.failed("Claude declined to analyse this evidence (stop reason: refusal).")
    text = "".join(block.text for block in message.content if block.type == "text")
    try:
        draft = AnalysisDraft.model_validate_json(text)
        return text, draft, _check_draft(draft)
    except ValidationError as exc:
        return text, None, _describe_validation(exc)


def _repair_turn(text: str, errors: list[str], *, cut_off: bool) -> list[dict[str, Any]]:
    """The model's answer and the request to fix it, appended to the conversation."""
    problem = (
        "it was cut off at the output limit and is not complete JSON."
        if cut_off
        else "it does not match the required schema."
    )
    return [
        {"role": "assistant", "content": text or "(empty)"},
        {
            "role": "user",
            "content": render_prompt("repair", problem=problem, errors=errors, truncated=cut_off),
        },
    ]
