"""publish() and publish_weekly(): the last gate. They check the approval themselves, whatever
the caller checked before.

A draft is published only with an approval record whose `draft_sha256` is the sha256 of the
`draft.md` in the folder right now, so a draft edited after approval (by hand, or by a re-render)
cannot slip out under someone else's name. Publishing is idempotent: the same approved sha256
published again writes nothing new and announces nothing again.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from tasks.contracts import Publication, PublishedCopy, ReviewRecord
from tasks.errors import ReviewError
from tasks.output import write_atomic, write_model_json
from tasks.publish.targets import DRAFT, WEEKLY, Stamp, open_target, sha256_file
from tasks.render.approval import stamp_html, stamp_markdown
from tasks.settings import Settings

PUBLISHED_FILE = "published.json"
REVIEW_FILE = "review.json"
#: Published beside the draft when present; the evidence folder (raw log lines) never is.
_DOCUMENTS = ("draft.html", "findings.json", "analysis.json", "verification.json")

#: The weekly review's folder: the approved page (the version's claim) and what goes with it.
WEEKLY_PAGE = "weekly_review.md"
_WEEKLY_DOCUMENTS = ("weekly_review.html", "weekly_review.json", "reviewed.md", "reviewed.html")

__all__ = ["PUBLISHED_FILE", "REVIEW_FILE", "publish", "publish_weekly", "sha256_file"]

Announcer = Callable[[str, str], None]


def publish(
    out_dir: Path,
    review: ReviewRecord | None,
    targets: list[str],
    settings: Settings,
    *,
    announce: Announcer | None = None,
) -> Publication:
    """Publish the approved draft in `out_dir` to every target; write review.json and
    published.json. `announce(subject, body)` overrides the Slack block (tests)."""
    out_dir = Path(out_dir)
    draft = out_dir / DRAFT
    current = _check_approval(draft, out_dir.name, review, settings)
    assert review is not None  # checked above; for the type checker
    write_model_json(review, out_dir / REVIEW_FILE)

    files = {DRAFT: draft, REVIEW_FILE: out_dir / REVIEW_FILE}
    files.update(_approved_copies(out_dir, review))
    files.update({name: out_dir / name for name in _DOCUMENTS if (out_dir / name).is_file()})
    files.update(_charts(out_dir))
    stamp = Stamp(
        incident_id=review.incident_id,
        reviewer=review.reviewer,
        approved_at=review.decided_at.isoformat(),
        draft_sha256=current,
    )
    copies = [open_target(uri, settings).publish(files, stamp) for uri in dict.fromkeys(targets)]

    previous = _previous(out_dir, current)
    warnings: list[str] = []
    if any(c.created for c in copies) or not (copies or previous):
        subject = f"Postmortem {review.incident_id} published"
        slack = _announce(subject, review, copies, settings, announce, warnings)
        if slack:
            copies.append(slack)
    if previous:
        # Keep what earlier calls published (Slack included) and add only what is new.
        seen = {c.target for c in copies}
        copies = [c for c in previous.copies if c.target not in seen] + copies
    publication = Publication(
        incident_id=review.incident_id,
        draft_sha256=current,
        approved_by=review.reviewer,
        approved_at=review.decided_at,
        published_at=previous.published_at if previous else datetime.now(UTC),
        copies=copies,
        warnings=warnings,
    )
    write_model_json(publication, out_dir / PUBLISHED_FILE)
    return publication


def publish_weekly(
    folder: Path,
    week: str,
    review: ReviewRecord | None,
    targets: list[str],
    settings: Settings,
    *,
    announce: Announcer | None = None,
) -> Publication:
    """Publish an approved weekly review (`weekly/<week>/` under each target), once, and
    announce it on Slack like a postmortem when a copy is new.

    The approval must name `weekly-<week>` and the sha256 of `weekly_review.md` as it is now;
    the reviewed copies (`reviewed.md`/`.html`, with the approval stamped in) go with it.
    """
    folder = Path(folder)
    page = folder / WEEKLY_PAGE
    current = _check_approval(page, f"weekly-{week}", review, settings)
    assert review is not None  # checked above; for the type checker
    files = {WEEKLY_PAGE: page, REVIEW_FILE: folder / REVIEW_FILE}
    files.update({n: folder / n for n in _WEEKLY_DOCUMENTS if (folder / n).is_file()})
    files.update(_charts(folder))
    stamp = Stamp(
        incident_id=week,
        reviewer=review.reviewer,
        approved_at=review.decided_at.isoformat(),
        draft_sha256=current,
        collection=WEEKLY,
        claim=WEEKLY_PAGE,
    )
    copies = [open_target(uri, settings).publish(files, stamp) for uri in dict.fromkeys(targets)]
    warnings: list[str] = []
    if any(c.created for c in copies):
        subject = f"Weekly reliability review {week} published"
        slack = _announce(subject, review, copies, settings, announce, warnings)
        if slack:
            copies.append(slack)
    return Publication(
        incident_id=review.incident_id,
        draft_sha256=current,
        approved_by=review.reviewer,
        approved_at=review.decided_at,
        published_at=datetime.now(UTC),
        copies=copies,
        warnings=warnings,
    )


def _charts(folder: Path) -> dict[str, Path]:
    """The SVG charts under `folder`, by their path in it; the evidence folder is never published."""
    return {
        p.relative_to(folder).as_posix(): p
        for p in sorted(folder.rglob("*.svg"))
        if "evidence" not in p.relative_to(folder).parts
    }


def _approved_copies(out_dir: Path, review: ReviewRecord) -> dict[str, Path]:
    """postmortem.md/.html: the approved draft with its approval where the draft banner was."""
    copies = {}
    for source, name, stamp in (
        (out_dir / DRAFT, "postmortem.md", stamp_markdown),
        (out_dir / "draft.html", "postmortem.html", stamp_html),
    ):
        if source.is_file():
            target = out_dir / name
            write_atomic(target, stamp(source.read_text(encoding="utf-8"), review))
            copies[name] = target
    return copies


def _check_approval(draft: Path, name: str, review: ReviewRecord | None, settings: Settings) -> str:
    """The sha256 of `draft` when `review` approves exactly it for `name`; else a ReviewError."""
    if not draft.is_file():
        raise ReviewError(f"Refusing to publish: there is no draft at {draft}.")
    current = sha256_file(draft)
    if review is None:
        raise ReviewError(f"Refusing to publish {name}: no reviewer has approved {draft}.")
    if review.incident_id != name:
        raise ReviewError(
            f"Refusing to publish {name}: the approval given is for incident {review.incident_id}."
        )
    if review.decision != "approve":
        raise ReviewError(
            f"Refusing to publish {review.incident_id}: the review by {review.reviewer} decided "
            f"{review.decision!r}, not 'approve'."
        )
    if review.draft_sha256 != current:
        raise ReviewError(
            f"Refusing to publish {review.incident_id}: {review.reviewer} approved the draft with "
            f"sha256 {review.draft_sha256[:12]}…, but {draft} now has sha256 {current[:12]}…; "
            "it changed after approval and must be reviewed again."
        )
    if settings.reviewers and review.reviewer not in settings.reviewers:
        raise ReviewError(
            f"Refusing to publish {review.incident_id}: {review.reviewer!r} is not on the reviewer "
            "allowlist (settings.reviewers)."
        )
    return current


def _previous(out_dir: Path, sha256: str) -> Publication | None:
    path = out_dir / PUBLISHED_FILE
    if not path.is_file():
        return None
    earlier = Publication.model_validate_json(path.read_text(encoding="utf-8"))
    return earlier if earlier.draft_sha256 == sha256 else None


def _announce(
    subject: str,
    review: ReviewRecord,
    copies: list[PublishedCopy],
    settings: Settings,
    announce: Announcer | None,
    warnings: list[str],
) -> PublishedCopy | None:
    if announce is None and not settings.slack_webhook_block:
        return None
    where = "\n".join(f"• {c.target}" for c in copies) or "• (no storage target)"
    body = f"Approved by {review.reviewer} at {review.decided_at:%Y-%m-%d %H:%M}Z.\n{where}"
    try:
        if announce is None:
            announce = _slack_block(settings.slack_webhook_block or "")
        announce(subject, body)
    except Exception as exc:  # an announcement is optional: the copies are already published
        warnings.append(f"Slack announcement skipped: {exc}")
        return None
    return PublishedCopy(target=f"slack:{settings.slack_webhook_block or 'announcer'}")


def _slack_block(name: str) -> Announcer:
    try:
        from prefect_slack import SlackWebhook
    except ImportError as exc:
        raise RuntimeError(
            "prefect-slack is not installed (pip install 'postmortem-flows[slack]')"
        ) from exc
    block = SlackWebhook.load(name)
    return lambda subject, body: block.notify(body, subject=subject)
