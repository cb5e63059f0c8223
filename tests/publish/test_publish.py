"""publish(): refuses unapproved drafts, writes versions once, and never overwrites one."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tasks.contracts import Publication, ReviewRecord
from tasks.errors import ReviewError
from tasks.publish import (
    PUBLISHED_FILE,
    REVIEW_FILE,
    S3Target,
    publish,
    publish_weekly,
    sha256_file,
)
from tasks.publish.targets import Stamp
from tasks.settings import Settings

APPROVED_AT = datetime(2026, 11, 29, 15, 0, tzinfo=UTC)
#: What a version of `draft_folder()` holds: the evidence folder's chart is never published.
PUBLISHED_NAMES = [
    "charts/errors.svg",
    "draft.html",
    "draft.md",
    "findings.json",
    "postmortem.html",
    "postmortem.md",
    "review.json",
]


def draft_folder(root: Path, incident_id: str = "INC-7", text: str = "# INC-7\nbody\n") -> Path:
    folder = root / incident_id
    (folder / "charts").mkdir(parents=True)
    (folder / "evidence").mkdir()
    (folder / "draft.md").write_text(text)
    (folder / "draft.html").write_text("<html>INC-7</html>")
    (folder / "findings.json").write_text("{}")
    (folder / "charts" / "errors.svg").write_text("<svg/>")
    (folder / "evidence" / "secret.svg").write_text("<svg>raw</svg>")
    return folder


def approval(folder: Path, reviewer: str = "alice", decision: str = "approve") -> ReviewRecord:
    return ReviewRecord(
        incident_id=folder.name,
        decision=decision,
        reviewer=reviewer,
        decided_at=APPROVED_AT,
        draft_sha256=sha256_file(folder / "draft.md"),
    )


def test_refuses_without_an_approval(tmp_path: Path) -> None:
    folder = draft_folder(tmp_path)
    with pytest.raises(ReviewError, match="no reviewer has approved"):
        publish(folder, None, [str(tmp_path / "pub")], Settings())
    with pytest.raises(ReviewError, match="'reject', not 'approve'"):
        publish(folder, approval(folder, decision="reject"), [str(tmp_path / "pub")], Settings())
    assert not (tmp_path / "pub").exists()
    assert not (folder / PUBLISHED_FILE).exists()


def test_refuses_an_approval_of_a_different_draft(tmp_path: Path) -> None:
    folder = draft_folder(tmp_path)
    record = approval(folder)
    (folder / "draft.md").write_text("# INC-7\nedited after approval\n")
    with pytest.raises(ReviewError, match="changed after approval") as caught:
        publish(folder, record, [str(tmp_path / "pub")], Settings())
    assert str(caught.value).count(".") >= 1 and "\n" not in str(caught.value)
    assert not (tmp_path / "pub").exists()


def test_refuses_a_reviewer_off_the_allowlist(tmp_path: Path) -> None:
    folder = draft_folder(tmp_path)
    with pytest.raises(ReviewError, match="allowlist"):
        publish(
            folder,
            approval(folder, "mallory"),
            [str(tmp_path / "p")],
            Settings(reviewers=["alice"]),
        )


def test_folder_target_publishes_once_and_records_who_and_where(tmp_path: Path) -> None:
    folder = draft_folder(tmp_path)
    target = str(tmp_path / "pub")
    first = publish(folder, approval(folder), [target], Settings())
    version = tmp_path / "pub" / "postmortems" / "INC-7" / "v1"
    assert (
        sorted(p.relative_to(version).as_posix() for p in version.rglob("*") if p.is_file())
        == PUBLISHED_NAMES
    )
    recorded = Publication.model_validate_json((folder / PUBLISHED_FILE).read_text())
    assert recorded == first
    assert recorded.approved_by == "alice" and recorded.approved_at == APPROVED_AT
    assert recorded.draft_sha256 == sha256_file(folder / "draft.md")
    assert [c.target for c in recorded.copies] == [str(version) + "/"]
    assert ReviewRecord.model_validate_json((folder / REVIEW_FILE).read_text()).reviewer == "alice"

    again = publish(folder, approval(folder), [target], Settings())
    assert [c.created for c in again.copies] == [False]
    assert again.published_at == first.published_at
    assert not (version.parent / "v2").exists()


def test_a_new_approved_draft_becomes_the_next_version(tmp_path: Path) -> None:
    folder = draft_folder(tmp_path)
    publish(folder, approval(folder), [str(tmp_path / "pub")], Settings())
    (folder / "draft.md").write_text("# INC-7\nsecond edition\n")
    second = publish(folder, approval(folder, "bob"), [str(tmp_path / "pub")], Settings())
    assert second.copies[-1].version == 2
    v1 = tmp_path / "pub" / "postmortems" / "INC-7" / "v1" / "draft.md"
    assert v1.read_text() == "# INC-7\nbody\n"  # never overwritten


def test_s3_target_writes_versioned_keys_with_the_approval_as_metadata(
    tmp_path: Path, s3, bucket: str, moto_endpoint: str
) -> None:
    folder = draft_folder(tmp_path)
    settings = Settings(s3_endpoint_url=moto_endpoint)
    uri = f"s3://{bucket}/team-a"
    pub = publish(folder, approval(folder), [uri], settings)
    assert pub.copies[0].target == f"s3://{bucket}/team-a/postmortems/INC-7/v1/"
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"])
    assert keys == [f"team-a/postmortems/INC-7/v1/{n}" for n in PUBLISHED_NAMES]
    head = s3.head_object(Bucket=bucket, Key="team-a/postmortems/INC-7/v1/draft.md")
    assert head["Metadata"] == {
        "incident-id": "INC-7",
        "reviewer": "alice",
        "approved-at": APPROVED_AT.isoformat(),
        "draft-sha256": sha256_file(folder / "draft.md"),
    }

    # A re-run publishes nothing twice: same keys, same objects.
    etags = {k: s3.head_object(Bucket=bucket, Key=k)["ETag"] for k in keys}
    again = publish(folder, approval(folder), [uri], settings)
    assert [c.created for c in again.copies] == [False]
    after = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"])
    assert after == keys
    assert {k: s3.head_object(Bucket=bucket, Key=k)["ETag"] for k in keys} == etags


def test_s3_conditional_put_never_overwrites_a_version(
    tmp_path: Path, s3, bucket: str, moto_endpoint: str
) -> None:
    """moto's server honours If-None-Match: *; a version claimed meanwhile is left alone."""
    folder = draft_folder(tmp_path)
    s3.put_object(Bucket=bucket, Key="postmortems/INC-7/v1/draft.md", Body=b"someone else's")
    target = S3Target(f"s3://{bucket}", s3)
    stamp = Stamp("INC-7", "alice", APPROVED_AT.isoformat(), sha256_file(folder / "draft.md"))
    assert target._put(stamp.folder, 1, "draft.md", folder / "draft.md", stamp) is False
    body = s3.get_object(Bucket=bucket, Key="postmortems/INC-7/v1/draft.md")["Body"].read()
    assert body == b"someone else's"
    copy = target.publish({"draft.md": folder / "draft.md"}, stamp)
    assert copy.version == 2 and copy.created


def test_racing_publishers_get_distinct_versions(tmp_path: Path, s3, bucket: str) -> None:
    drafts = [draft_folder(tmp_path / str(n), text=f"# INC-7\nedition {n}\n") for n in range(4)]
    target = S3Target(f"s3://{bucket}", s3)
    versions: list[int] = []
    barrier = threading.Barrier(len(drafts))

    def run(folder: Path) -> None:
        barrier.wait()
        stamp = Stamp("INC-7", "alice", APPROVED_AT.isoformat(), sha256_file(folder / "draft.md"))
        versions.append(target.publish({"draft.md": folder / "draft.md"}, stamp).version or 0)

    threads = [threading.Thread(target=run, args=(f,)) for f in drafts]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(versions) == [1, 2, 3, 4]


def test_a_crash_mid_publish_is_completed_not_duplicated(tmp_path: Path, s3, bucket: str) -> None:
    folder = draft_folder(tmp_path)
    record = approval(folder)
    stamp = Stamp("INC-7", "alice", APPROVED_AT.isoformat(), record.draft_sha256)
    target = S3Target(f"s3://{bucket}", s3)
    assert target._put(stamp.folder, 1, "draft.md", folder / "draft.md", stamp)  # then "crashed"
    pub = publish(
        folder, record, [f"s3://{bucket}"], Settings(s3_endpoint_url=s3.meta.endpoint_url)
    )
    assert pub.copies[0].version == 1
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]}
    assert "postmortems/INC-7/v1/draft.html" in keys
    assert not any("/v2/" in k for k in keys)


def test_slack_is_announced_once_and_skipped_cleanly_when_unavailable(tmp_path: Path) -> None:
    folder = draft_folder(tmp_path)
    sent: list[tuple[str, str]] = []
    target = [str(tmp_path / "pub")]
    pub = publish(
        folder, approval(folder), target, Settings(), announce=lambda s, b: sent.append((s, b))
    )
    assert len(sent) == 1 and "INC-7" in sent[0][0] and "alice" in sent[0][1]
    assert pub.copies[-1].target.startswith("slack:")
    again = publish(
        folder, approval(folder), target, Settings(), announce=lambda s, b: sent.append((s, b))
    )
    assert len(sent) == 1
    assert any(c.target.startswith("slack:") for c in again.copies)

    def broken(subject: str, body: str) -> None:
        raise RuntimeError("prefect-slack is not installed")

    other = draft_folder(tmp_path / "b")
    pub = publish(other, approval(other), [str(tmp_path / "pub-b")], Settings(), announce=broken)
    assert pub.warnings == ["Slack announcement skipped: prefect-slack is not installed"]
    assert [c.created for c in pub.copies] == [True]


def test_unknown_target_scheme_is_one_clear_error(tmp_path: Path) -> None:
    folder = draft_folder(tmp_path)
    from tasks.errors import StorageError

    with pytest.raises(StorageError, match="gs://x"):
        publish(folder, approval(folder), ["gs://x/y"], Settings())


def weekly_folder(root: Path, week: str = "2026-W48") -> Path:
    folder = root / "weekly" / week
    (folder / "charts").mkdir(parents=True)
    (folder / "weekly_review.md").write_text("# Weekly reliability review\n")
    (folder / "reviewed.md").write_text("# Weekly reliability review\nReviewed and approved\n")
    (folder / "weekly_review.html").write_text("<html>week</html>")
    (folder / "charts" / "trend.svg").write_text("<svg/>")
    (folder / REVIEW_FILE).write_text("{}")
    return folder


def weekly_approval(folder: Path, name: str = "weekly-2026-W48") -> ReviewRecord:
    return ReviewRecord(
        incident_id=name,
        decision="approve",
        reviewer="alice",
        decided_at=APPROVED_AT,
        draft_sha256=sha256_file(folder / "weekly_review.md"),
    )


def test_an_approved_weekly_review_is_published_under_weekly_once(
    tmp_path: Path, s3, bucket: str
) -> None:
    folder = weekly_folder(tmp_path)
    settings = Settings(s3_endpoint_url=s3.meta.endpoint_url)
    targets = [f"s3://{bucket}/reports", str(tmp_path / "out")]
    copies = publish_weekly(folder, "2026-W48", weekly_approval(folder), targets, settings).copies

    assert [c.target for c in copies] == [
        f"s3://{bucket}/reports/weekly/2026-W48/v1/",
        str(tmp_path / "out" / "weekly" / "2026-W48" / "v1") + "/",
    ]
    head = s3.head_object(Bucket=bucket, Key="reports/weekly/2026-W48/v1/weekly_review.md")
    assert head["Metadata"]["week"] == "2026-W48" and head["Metadata"]["reviewer"] == "alice"
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]}
    assert "reports/weekly/2026-W48/v1/charts/trend.svg" in keys
    assert "reports/weekly/2026-W48/v1/reviewed.md" in keys
    # The same approval again writes nothing new.
    again = publish_weekly(folder, "2026-W48", weekly_approval(folder), targets, settings)
    assert [c.created for c in again.copies] == [False, False]
    assert {o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]} == keys


def test_a_published_weekly_review_is_announced_on_slack_once(tmp_path: Path) -> None:
    folder = weekly_folder(tmp_path)
    sent: list[tuple[str, str]] = []
    target = [str(tmp_path / "out")]

    def post(subject: str, body: str) -> None:
        sent.append((subject, body))

    pub = publish_weekly(
        folder, "2026-W48", weekly_approval(folder), target, Settings(), announce=post
    )
    assert sent == [
        (
            "Weekly reliability review 2026-W48 published",
            f"Approved by alice at {APPROVED_AT:%Y-%m-%d %H:%M}Z.\n"
            f"• {tmp_path / 'out' / 'weekly' / '2026-W48' / 'v1'}/",
        )
    ]
    assert pub.incident_id == "weekly-2026-W48" and pub.copies[-1].target.startswith("slack:")
    # Published already: nothing new, so no second announcement.
    publish_weekly(folder, "2026-W48", weekly_approval(folder), target, Settings(), announce=post)
    assert len(sent) == 1

    def broken(subject: str, body: str) -> None:
        raise RuntimeError("the webhook answered 404")

    other = weekly_folder(tmp_path / "b")
    out = [str(tmp_path / "out-b")]
    pub = publish_weekly(
        other, "2026-W48", weekly_approval(other), out, Settings(), announce=broken
    )
    assert pub.warnings == ["Slack announcement skipped: the webhook answered 404"]
    assert [c.created for c in pub.copies] == [True]


def test_a_weekly_review_is_not_published_on_another_weeks_or_an_old_approval(
    tmp_path: Path,
) -> None:
    folder = weekly_folder(tmp_path)
    out = tmp_path / "out"
    with pytest.raises(ReviewError, match="approval given is for incident weekly-2026-W47"):
        publish_weekly(
            folder, "2026-W48", weekly_approval(folder, "weekly-2026-W47"), [str(out)], Settings()
        )
    record = weekly_approval(folder)
    (folder / "weekly_review.md").write_text("# Weekly reliability review\nedited after\n")
    with pytest.raises(ReviewError, match="changed after approval"):
        publish_weekly(folder, "2026-W48", record, [str(out)], Settings())
    assert not out.exists()
