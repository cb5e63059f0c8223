"""Where an approved postmortem (or weekly review) goes: S3 or a folder, behind one interface.

Both lay a publication out as `<root>/postmortems/<incident-id>/v<N>/` (weekly reviews:
`<root>/weekly/<ISO week>/v<N>/`), and both treat a version as immutable: a version is claimed
by creating its approved page (`draft.md`, `weekly_review.md`) only if it does not exist yet (a
conditional put, `If-None-Match: *`, on S3; an exclusive create in a folder), so two publishers
racing for `v3` cannot both win, and nothing ever overwrites a published version. Before
claiming a new version, a target looks for one that already holds the same draft (by the sha256
recorded with it); finding one, it only fills in files a crash may have left missing.
"""

from __future__ import annotations

import hashlib
import os
import re
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from botocore.exceptions import BotoCoreError, ClientError

from tasks.contracts import PublishedCopy
from tasks.errors import StorageError
from tasks.output import write_atomic
from tasks.settings import Settings

DRAFT = "draft.md"
POSTMORTEMS = "postmortems"
WEEKLY = "weekly"
_VERSION = re.compile(r"^v(\d+)$")
# S3 answers 412 when the key exists, and 409 when another conditional write to it is in flight.
_TAKEN_CODES = {"PreconditionFailed", "412", "ConditionalRequestConflict", "409"}


@dataclass(frozen=True)
class Stamp:
    """What travels with every published file: who approved which draft, and when.

    `incident_id` names the folder under `collection` (an ISO week for a weekly review), and
    `claim` is the approved page itself, whose creation claims a version.
    """

    incident_id: str
    reviewer: str
    approved_at: str
    draft_sha256: str
    collection: str = POSTMORTEMS
    claim: str = DRAFT

    @property
    def folder(self) -> str:
        return f"{self.collection}/{self.incident_id}"

    def metadata(self) -> dict[str, str]:
        # S3 metadata must be ASCII; a reviewer's name need not be.
        return {
            "incident-id" if self.collection == POSTMORTEMS else "week": self.incident_id,
            "reviewer": quote(self.reviewer, safe=""),
            "approved-at": self.approved_at,
            "draft-sha256": self.draft_sha256,
        }


class Target(ABC):
    """One place an approved draft is published to."""

    uri: str

    def publish(self, files: dict[str, Path], stamp: Stamp) -> PublishedCopy:
        """Copy `files` (name in the version folder -> local path; `stamp.claim` among them) as
        a new version, or complete the version that already holds this draft."""
        folder, claim = stamp.folder, stamp.claim
        while True:
            versions = self._versions(folder)
            for number in sorted(versions):
                if self._draft_sha256(folder, number, claim) == stamp.draft_sha256:
                    present = self._names(folder, number)
                    for name, path in files.items():
                        if name not in present:
                            self._put(folder, number, name, path, stamp)
                    return self._copy(stamp, number, files, created=False)
            number = max(versions, default=0) + 1
            if not self._put(folder, number, claim, files[claim], stamp):
                continue  # another publisher took this version first; look again
            for name, path in files.items():
                if name != claim:
                    self._put(folder, number, name, path, stamp)
            return self._copy(stamp, number, files, created=True)

    def _copy(
        self, stamp: Stamp, number: int, files: dict[str, Path], *, created: bool
    ) -> PublishedCopy:
        return PublishedCopy(
            target=self.version_uri(stamp.folder, number),
            version=number,
            files=sorted(files),
            created=created,
        )

    # `folder` below is a Stamp's folder, `<collection>/<id>`, relative to the target's root.

    @abstractmethod
    def version_uri(self, folder: str, number: int) -> str: ...

    @abstractmethod
    def _versions(self, folder: str) -> set[int]: ...

    @abstractmethod
    def _names(self, folder: str, number: int) -> set[str]: ...

    @abstractmethod
    def _draft_sha256(self, folder: str, number: int, claim: str) -> str | None: ...

    @abstractmethod
    def _put(self, folder: str, number: int, name: str, path: Path, stamp: Stamp) -> bool:
        """Create one file only if it does not exist; False when it already did."""


class S3Target(Target):
    """`s3://bucket/prefix`: objects under `prefix/postmortems/<id>/v<N>/` (and
    `prefix/weekly/<week>/v<N>/`) with the approval (reviewer, time, sha256) as object metadata."""

    def __init__(self, uri: str, client: Any) -> None:
        bucket, _, prefix = uri.removeprefix("s3://").partition("/")
        if not bucket:
            raise StorageError(
                f"Publish target {uri!r} names no bucket; expected s3://bucket/prefix."
            )
        self.uri = uri
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.client = client

    def _folder(self, folder: str) -> str:
        return f"{self.prefix}{folder}/"

    def version_uri(self, folder: str, number: int) -> str:
        return f"s3://{self.bucket}/{self._folder(folder)}v{number}/"

    def _versions(self, folder: str) -> set[int]:
        folder = self._folder(folder)
        found: set[int] = set()
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=folder, Delimiter="/"
            )
            for page in pages:
                for common in page.get("CommonPrefixes", []):
                    match = _VERSION.match(common["Prefix"][len(folder) :].strip("/"))
                    if match:
                        found.add(int(match.group(1)))
        except (ClientError, BotoCoreError) as exc:
            raise self._error("list", folder, exc) from exc
        return found

    def _names(self, folder: str, number: int) -> set[str]:
        folder = f"{self._folder(folder)}v{number}/"
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=folder
            )
            return {obj["Key"][len(folder) :] for page in pages for obj in page.get("Contents", [])}
        except (ClientError, BotoCoreError) as exc:
            raise self._error("list", folder, exc) from exc

    def _draft_sha256(self, folder: str, number: int, claim: str) -> str | None:
        key = f"{self._folder(folder)}v{number}/{claim}"
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if _code(exc) in {"404", "NoSuchKey", "NotFound"}:
                return None  # a version another publisher is still writing
            raise self._error("read", key, exc) from exc
        except BotoCoreError as exc:
            raise self._error("read", key, exc) from exc
        return head.get("Metadata", {}).get("draft-sha256")

    def _put(self, folder: str, number: int, name: str, path: Path, stamp: Stamp) -> bool:
        key = f"{self._folder(folder)}v{number}/{name}"
        try:
            self.client.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=path.read_bytes(),
                ContentType=_content_type(name),
                Metadata=stamp.metadata(),
                IfNoneMatch="*",
            )
        except ClientError as exc:
            if _code(exc) in _TAKEN_CODES:
                return False
            raise self._error("write", key, exc) from exc
        except BotoCoreError as exc:
            raise self._error("write", key, exc) from exc
        return True

    def _error(self, verb: str, key: str, exc: BaseException) -> StorageError:
        detail = _code(exc) if isinstance(exc, ClientError) else type(exc).__name__
        return StorageError(
            f"Could not {verb} s3://{self.bucket}/{key} while publishing: {detail}."
        )


class FolderTarget(Target):
    """A local (or mounted) folder, laid out like the bucket: `<root>/postmortems/<id>/v<N>/`.
    The approval is recorded beside the files in `review.json`, which is always published."""

    def __init__(self, uri: str) -> None:
        self.uri = uri
        self.root = Path(unquote(uri.removeprefix("file://")) if uri.startswith("file://") else uri)

    def _folder(self, folder: str) -> Path:
        return self.root / folder

    def version_uri(self, folder: str, number: int) -> str:
        return str(self._folder(folder) / f"v{number}") + "/"

    def _versions(self, folder: str) -> set[int]:
        path = self._folder(folder)
        if not path.is_dir():
            return set()
        return {int(m.group(1)) for p in path.iterdir() if (m := _VERSION.match(p.name))}

    def _names(self, folder: str, number: int) -> set[str]:
        path = self._folder(folder) / f"v{number}"
        return {p.relative_to(path).as_posix() for p in path.rglob("*") if p.is_file()}

    def _draft_sha256(self, folder: str, number: int, claim: str) -> str | None:
        path = self._folder(folder) / f"v{number}" / claim
        return sha256_file(path) if path.is_file() else None

    def _put(self, folder: str, number: int, name: str, path: Path, stamp: Stamp) -> bool:
        dest = self._folder(folder) / f"v{number}" / name
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            if name == stamp.claim:
                # The exclusive create is the claim on the version; its content follows.
                try:
                    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
                except FileExistsError:
                    return False
                with os.fdopen(fd, "wb") as out:
                    out.write(path.read_bytes())
                return True
            if dest.exists():
                return False
            write_atomic(dest, path.read_bytes())
        except OSError as exc:
            raise StorageError(
                f"Could not write {dest} while publishing: {exc.strerror or exc}."
            ) from exc
        return True


def open_target(uri: str, settings: Settings) -> Target:
    """The target for a URI: `s3://bucket/prefix`, `file:///dir` or a plain folder path."""
    if uri.startswith("s3://"):
        from tasks.gather.storage import s3_client

        return S3Target(uri, s3_client(settings))
    if "://" in uri and not uri.startswith("file://"):
        raise StorageError(
            f"Publish target {uri!r} is not supported; use s3://bucket/prefix, file:///dir or a folder."
        )
    return FolderTarget(uri)


def sha256_file(path: Path) -> str:
    """The hex sha256 of a file's bytes: how an approval names the exact draft it approved."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _code(exc: ClientError) -> str:
    error = exc.response.get("Error", {})
    return str(error.get("Code") or exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode"))


def _content_type(name: str) -> str:
    if name.endswith(".md"):
        return "text/markdown; charset=utf-8"
    if name.endswith(".html"):
        return "text/html; charset=utf-8"
    if name.endswith(".svg"):
        return "image/svg+xml"
    if name.endswith(".json"):
        return "application/json"
    return "application/octet-stream"
