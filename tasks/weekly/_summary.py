"""The optional AI summary of a week's themes, proposed by Claude and checked like a postmortem.

The model sees only the weekly review's own aggregates (counts, durations, recurrences,
incident IDs and titles), redacted, with every text that came from the logs or the specs inside
data blocks. It writes themes as claims that cite incident IDs and figure IDs (`{F:week.mttr.
median}`), never numbers; a deterministic check then verifies every citation and every number it
wrote anyway. Without a model (offline), or when the call fails, the summary is omitted with a
note saying why: nothing stands in for it.

On the first-party API the call goes through the Message Batches API (half price; a weekly
review can wait); Bedrock and gateways have no batch endpoint, so they get one plain call.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from functools import cache
from typing import Any, Literal

import anthropic
import httpx2
from pydantic import ValidationError

from tasks.analysis import choose_analyst
from tasks.analysis._claude import _describe_validation, all_request_ids, build_client
from tasks.analysis._health import (
    HealthRecorder,
    SpendLimitReached,
    add_usage,
    error_kind,
    estimate_cost,
    summarise,
)
from tasks.analysis._prompts import render_prompt
from tasks.contracts import Check, ClaimVerdict, Usage
from tasks.contracts.pack import FACT_REFERENCE
from tasks.evidence import Redactor
from tasks.evidence._stage import neutralise
from tasks.settings import Settings
from tasks.verify import find_blame
from tasks.verify._numbers import NumberPool, fact_refs, literal_numbers, number_matches
from tasks.weekly._report import _minutes as page_minutes
from tasks.weekly._review import SEVERITIES, WeeklyReview
from tasks.weekly._themes import (
    SummaryTheme,
    ThemeClaim,
    ThemeDraft,
    WeeklyFact,
    WeeklySummary,
)

MAX_THEMES = 6
# The evidence pack's neutraliser knows its own delimiters; this block adds one.
_OWN_DELIMITER = re.compile(r"<(\s*/?\s*weekly_review\b)", re.IGNORECASE)
CUSTOM_ID = "weekly-summary"
# The Batches API is billed at half the Messages API's price.
BATCH_DISCOUNT = 0.5


# --------------------------------------------------------------------------------------------
# The review's figures, and the prompt built from them
# --------------------------------------------------------------------------------------------


def _key(text: str) -> str:
    # Fact IDs allow [A-Za-z0-9._:/-]; anything else in a service name or week becomes "_".
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in text)


def _count(fid: str, label: str, value: int) -> WeeklyFact:
    return WeeklyFact(id=fid, label=label, value=float(value), display=str(value))


def _minutes(fid: str, label: str, value: float | None) -> WeeklyFact | None:
    if value is None:
        return None
    return WeeklyFact(id=fid, label=label, value=value, unit="min", display=page_minutes(value))


def weekly_facts(review: WeeklyReview) -> dict[str, WeeklyFact]:
    """Every figure of the review the summary may cite, by ID."""
    facts: list[WeeklyFact | None] = [
        _count("F:week.incidents", "incidents this week", len(review.incidents)),
        _count("F:week.published", "published postmortems", review.published),
        _count("F:week.pending", "drafts awaiting review", review.pending),
        *(
            _count(f"F:week.severity.{s}", f"{s} incidents", review.by_severity.get(s, 0))
            for s in SEVERITIES
        ),
        _minutes("F:week.mttd.median", "median minutes to detect", review.mttd.median_minutes),
        _minutes("F:week.mttd.mean", "mean minutes to detect", review.mttd.mean_minutes),
        _minutes("F:week.mttr.median", "median minutes to resolve", review.mttr.median_minutes),
        _minutes("F:week.mttr.mean", "mean minutes to resolve", review.mttr.mean_minutes),
        _count("F:week.action_items.open", "open action items", len(review.action_items)),
        *(
            _count(
                f"F:week.action_items.{p}",
                f"open {p} action items",
                sum(a.priority == p for a in review.action_items),
            )
            for p in ("P1", "P2", "P3")
        ),
        _count("F:week.recurring", "things seen in two incidents or more", len(review.recurring)),
    ]
    for w in review.trend:
        facts.append(_count(f"F:trend.{_key(w.week)}.incidents", f"incidents in {w.week}", w.total))
        facts.append(
            _minutes(
                f"F:trend.{_key(w.week)}.mttr.median",
                f"median minutes to resolve in {w.week}",
                w.mttr_median_minutes,
            )
        )
    for s in review.by_service:
        k = _key(s.service)
        facts.append(
            _count(f"F:service.{k}.top_suspect", "times top suspect this week", s.top_suspect)
        )
        facts.append(_count(f"F:service.{k}.affected", "times affected this week", s.affected))
    for n, r in enumerate(review.recurring, 1):
        facts.append(_count(f"F:recurring.R{n}.incidents", "incidents (5 weeks)", len(r.incidents)))
        facts.append(_count(f"F:recurring.R{n}.this_week", "incidents this week", r.this_week))
    for i in review.incidents:
        k = _key(i.incident_id)
        facts.append(
            WeeklyFact(
                id=f"F:incident.{k}.minutes",
                label="incident window",
                value=i.minutes,
                unit="min",
                display=page_minutes(i.minutes),
            )
        )
        facts.append(_minutes(f"F:incident.{k}.mttd", "minutes to detect", i.mttd_minutes))
        facts.append(_minutes(f"F:incident.{k}.mttr", "minutes to resolve", i.mttr_minutes))
    return {f.id: f for f in facts if f is not None}


def known_incidents(review: WeeklyReview) -> set[str]:
    """The incident IDs the review names: this week's, and earlier ones it shows recurring or
    with open action items. A theme citing any other ID cites something the model never saw."""
    ids = {i.incident_id for i in review.incidents}
    ids |= {i for r in review.recurring for i in r.incidents}
    ids |= {a.incident_id for a in review.action_items}
    return ids


def _data(text: object, limit: int = 200) -> str:
    text = _OWN_DELIMITER.sub(r"‹\1", neutralise(str(text)))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _action_counts(review: WeeklyReview) -> list[tuple[str, int]]:
    counts: dict[str, int] = {}
    for a in review.action_items:
        counts[a.incident_id] = counts.get(a.incident_id, 0) + 1
    return sorted(counts.items())


def build_prompt(
    review: WeeklyReview, facts: dict[str, WeeklyFact], settings: Settings
) -> tuple[str, str, dict[str, int]]:
    """(system, user, redaction counts): the review's aggregates only, redacted once, with every
    text that came from logs or specs neutralised inside data blocks."""
    redactor = Redactor(ips=settings.redact_ips, emails=settings.redact_emails)
    aggregates = render_prompt(
        "weekly_summary_data",
        review=review,
        facts=facts.values(),
        data=_data,
        fact_key=_key,
        action_counts=_action_counts,
    )
    aggregates = redactor.redact(aggregates)
    user = render_prompt("weekly_summary_user", max_themes=MAX_THEMES, aggregates=aggregates)
    return render_prompt("weekly_summary_system"), user, dict(redactor.report().counts)


@cache
def _output_schema() -> dict[str, Any]:
    return anthropic.transform_schema(ThemeDraft)


# --------------------------------------------------------------------------------------------
# Verification: the postmortem verifier's checks, against the review's own figures
# --------------------------------------------------------------------------------------------


def number_pool(facts: dict[str, WeeklyFact]) -> NumberPool:
    """The facts' values, with those in minutes also as durations in seconds."""
    values = [f.value for f in facts.values() if f.value is not None]
    durations = [f.value * 60 for f in facts.values() if f.value is not None and f.unit == "min"]
    return NumberPool(values=values, durations_s=durations)


def verify_theme(
    claim: ThemeClaim,
    facts: dict[str, WeeklyFact],
    incidents: set[str],
    review: WeeklyReview,
) -> ClaimVerdict:
    """verified, unsupported (cites nothing, or what it cites is not in the review) or
    contradicted (a number it wrote is none of the review's figures)."""
    checks: list[Check] = []
    worst: list[str] = []

    def check(kind: str, ok: bool, detail: str, failure: str) -> None:
        checks.append(Check(kind=kind, ok=ok, detail=detail))
        if not ok:
            worst.append(failure)

    cited_facts = list(dict.fromkeys([*claim.fact_ids, *fact_refs(claim.text)]))
    if not claim.incident_ids and not cited_facts:
        check("evidence_exists", False, "It cites no incident and no figure.", "unsupported")
    for iid in claim.incident_ids:
        check(
            "evidence_exists",
            iid in incidents,
            f"{iid} is in this review." if iid in incidents else f"{iid} is not in this review.",
            "unsupported",
        )
    for fid in cited_facts:
        check(
            "fact_exists",
            fid in facts,
            f"{fid} is one of the review's figures."
            if fid in facts
            else f"{fid} is not one of the review's figures.",
            "unsupported",
        )
    # A theme citing a recurrence must name incidents of that recurrence.
    for fid in cited_facts:
        if fid.startswith("F:recurring.R") and fid in facts:
            n = int(fid.split(".")[1][1:])
            members = set(review.recurring[n - 1].incidents)
            stray = [i for i in claim.incident_ids if i not in members]
            check(
                "evidence_matches",
                not stray,
                f"The incidents it names are those of {fid.rsplit('.', 1)[0]}."
                if not stray
                else f"{', '.join(stray)} is not among the incidents of {fid.rsplit('.', 1)[0]}.",
                "unsupported",
            )
    pool = number_pool(facts)
    for literal in literal_numbers(claim.text):
        ok = number_matches(literal, pool)
        check(
            "literal_number",
            ok,
            f"'{literal.text}' matches a figure of the review."
            if ok
            else f"'{literal.text}' is none of the review's figures.",
            "contradicted",
        )
    blame = find_blame(FACT_REFERENCE.sub(" ", claim.text), [s.service for s in review.by_service])
    if blame:
        check(
            "blameless",
            False,
            f"Blames a person ('{blame[0].phrase}'): {blame[0].suggestion}",
            "unsupported",
        )
    if "contradicted" in worst:
        status = "contradicted"
    elif worst:
        status = "unsupported"
    else:
        status = "verified"
    failed = [c.detail for c in checks if not c.ok]
    reason = (
        "Every incident and figure it cites is in this review, and its numbers match."
        if status == "verified"
        else " ".join(failed)
    )
    return ClaimVerdict(claim_id=claim.id, status=status, reason=reason, checks=checks)


def fill_figures(text: str, facts: dict[str, WeeklyFact]) -> str:
    """Each {F:...} replaced by its value; an unknown ID is marked, never guessed."""

    def value(match: Any) -> str:
        fact = facts.get(match[1])
        return fact.display if fact else f"[unknown figure {match[1]}]"

    return FACT_REFERENCE.sub(value, text)


def check_themes(
    draft: ThemeDraft, review: WeeklyReview, facts: dict[str, WeeklyFact]
) -> tuple[list[SummaryTheme], list[str]]:
    """The themes kept (verified, and unsupported ones to be shown as such) and one reason per
    theme dropped (contradicted by the review's figures, or beyond the limit)."""
    incidents = known_incidents(review)
    kept, dropped = [], []
    # The prompt asks for MAX_THEMES; far more is a runaway answer, whose tail is counted out.
    limit = MAX_THEMES * 2
    dropped += [f"{c.id}: beyond the first {limit} themes." for c in draft.themes[limit:]]
    for claim in draft.themes[:limit]:
        verdict = verify_theme(claim, facts, incidents, review)
        if verdict.status == "contradicted":
            dropped.append(f"{claim.id}: {verdict.reason}")
            continue
        kept.append(
            SummaryTheme(claim=claim, text=fill_figures(claim.text, facts), verdict=verdict)
        )
    return kept, dropped


# --------------------------------------------------------------------------------------------
# The call: Batches API on the first-party API, one plain call elsewhere
# --------------------------------------------------------------------------------------------


class _Omit(Exception):
    """The summary cannot be written; the message is the note the page shows."""


def omitted(note: str, **fields: Any) -> WeeklySummary:
    return WeeklySummary(state="omitted", note=note, **fields)


def summarise_week(
    review: WeeklyReview,
    settings: Settings,
    *,
    api_key: str | None,
    http_client: httpx2.Client | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> WeeklySummary:
    """The AI summary of `review`'s themes, or an omitted one with the reason.

    `api_key` comes from the edge (the flow reads ANTHROPIC_API_KEY); `http_client` lets tests
    replay recorded responses through the real SDK.
    """
    name = choose_analyst(settings, api_key_present=bool(api_key))
    if name == "offline":
        return omitted(
            "No model is configured (no ANTHROPIC_API_KEY, no Bedrock region, or the offline "
            "analyst chosen), so there is no AI summary; nothing was written in its place."
        )
    if not review.incidents:
        return omitted("No incidents this week: there are no themes to summarise.")
    if name == "claude" and not api_key:
        return omitted("Claude was chosen but no API key was given: set ANTHROPIC_API_KEY.")
    backend: Literal["claude", "bedrock"] = "bedrock" if name == "bedrock" else "claude"
    model = settings.bedrock_model if backend == "bedrock" else settings.model
    use_batch = backend == "claude" and not settings.anthropic_base_url
    facts = weekly_facts(review)
    system, user, redactions = build_prompt(review, facts, settings)
    params: dict[str, Any] = {
        "model": model,
        "max_tokens": min(settings.max_tokens, 4_000),
        "system": system,
        "messages": [{"role": "user", "content": user}],
        "output_config": {"format": {"type": "json_schema", "schema": _output_schema()}},
    }
    recorder = HealthRecorder()
    run: dict[str, Any] = {
        "analyst": backend,
        "model": model,
        "api": "batch" if use_batch else "messages",
        "redactions": redactions,
    }
    request_ids: list[str] = []
    usage = Usage()
    truncated = False
    try:
        client = build_client(settings, backend, api_key, recorder, http_client=http_client)
        if use_batch:
            message = _ask_batch(client, params, settings, run, sleep)
        else:
            message = client.messages.create(**params)
        if getattr(message, "_request_id", None):
            request_ids.append(message._request_id)
        add_usage(usage, message.usage)
        truncated = message.stop_reason == "max_tokens"
        if message.stop_reason == "refusal":
            raise _Omit("Claude declined to summarise this week (stop reason: refusal).")
        text = "".join(b.text for b in message.content if b.type == "text")
        try:
            draft = ThemeDraft.model_validate_json(text)
        except ValidationError as exc:
            cut = " (cut off at the output limit)" if truncated else ""
            raise _Omit(
                f"Claude's answer was malformed{cut} ({_describe_validation(exc)[0]}), so the "
                "summary is omitted rather than guessed."
            ) from None
    except _Omit as exc:
        return _finish(omitted(str(exc), **run), settings, recorder, usage, request_ids, truncated)
    except SpendLimitReached as exc:
        request_ids += [exc.request_id] if exc.request_id else []
        note = f"Claude was not asked again: {exc}."
        return _finish(omitted(note, **run), settings, recorder, usage, request_ids, truncated)
    except anthropic.APIStatusError as exc:
        request_ids += [exc.request_id] if exc.request_id else []
        note = (
            f"Claude failed with {error_kind(exc)} (HTTP {exc.status_code}) after "
            f"{recorder.retries} retries, so there is no AI summary this week."
        )
        return _finish(omitted(note, **run), settings, recorder, usage, request_ids, truncated)
    except anthropic.APIConnectionError as exc:
        note = f"Claude could not be reached ({error_kind(exc)}) after {recorder.retries} retries."
        return _finish(omitted(note, **run), settings, recorder, usage, request_ids, truncated)
    except Exception as exc:
        # Bedrock without credentials, a gateway answering nonsense: a missing summary must
        # never fail the weekly review.
        note = f"The summary call failed: {type(exc).__name__}: {exc}"
        return _finish(omitted(note, **run), settings, recorder, usage, request_ids, truncated)
    themes, dropped = check_themes(draft, review, facts)
    verified = sum(t.verdict.status == "verified" for t in themes)
    how = "the Message Batches API" if use_batch else "one Messages API call"
    summary = WeeklySummary(
        state="written",
        note=f"Written by {model} through {how} from this review's own figures; "
        f"{verified} of {len(draft.themes)} themes verified against them.",
        themes=themes,
        dropped=len(dropped),
        dropped_reasons=dropped,
        **run,
    )
    return _finish(summary, settings, recorder, usage, request_ids, truncated)


def _finish(
    summary: WeeklySummary,
    settings: Settings,
    recorder: HealthRecorder,
    usage: Usage,
    request_ids: list[str],
    truncated: bool,
) -> WeeklySummary:
    """The summary with what it spent and the API's health during the calls."""
    # The time counted is the HTTP attempts', not the batch's time in the queue: waiting for a
    # batch is expected, and says nothing about the API's health.
    busy = sum(a.latency_ms for a in recorder.attempts) / 1000
    health = summarise(
        recorder, wall_seconds=busy, truncated=truncated, repair_attempts=0, settings=settings
    )
    if summary.model:
        usage.estimated_cost_usd = estimate_cost(usage, summary.model, settings)
        if summary.api == "batch":
            usage.estimated_cost_usd = round(usage.estimated_cost_usd * BATCH_DISCOUNT, 6)
    ids = all_request_ids(request_ids, recorder)
    return summary.model_copy(update={"usage": usage, "health": health, "request_ids": ids})


def _ask_batch(
    client: Any,
    params: dict[str, Any],
    settings: Settings,
    run: dict[str, Any],
    sleep: Callable[[float], None],
) -> Any:
    """Create a one-request batch, poll it until it ends, and return its message."""
    batch = client.messages.batches.create(requests=[{"custom_id": CUSTOM_ID, "params": params}])
    run["batch_id"] = batch.id
    deadline = time.monotonic() + settings.weekly_summary_wait_minutes * 60
    while batch.processing_status != "ended":
        if time.monotonic() >= deadline:
            client.messages.batches.cancel(batch.id)
            raise _Omit(
                f"Batch {batch.id} had not ended after {settings.weekly_summary_wait_minutes:g} "
                "min; it was cancelled and the summary is omitted."
            )
        sleep(settings.weekly_summary_poll_seconds)
        batch = client.messages.batches.retrieve(batch.id)
    for entry in client.messages.batches.results(batch.id):
        if entry.custom_id != CUSTOM_ID:
            continue
        result = entry.result
        if result.type == "succeeded":
            return result.message
        if result.type == "errored":
            error = result.error.error
            raise _Omit(
                f"The batch request failed with {error.type}: {error.message} "
                f"(batch {batch.id}), so there is no AI summary this week."
            )
        raise _Omit(f"The batch request was {result.type} (batch {batch.id}).")
    raise _Omit(f"Batch {batch.id} ended without a result for the summary.")
