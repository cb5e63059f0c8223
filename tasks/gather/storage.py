"""Listing and opening log objects, in S3 or in a local folder, through one interface.

`open_store(source, settings)` gives a `Store` whatever the source's URI: `s3://bucket/prefix`,
`file:///dir` or a plain path. The gather stage never asks which one it has. Keys of a local
store are paths relative to its root with `/` separators, so the same files give the same keys
in a folder and in a bucket.

S3 goes through boto3 with the standard credential chain. boto3 honours `AWS_ENDPOINT_URL_S3`
by itself; `settings.s3_endpoint_url` overrides it. Retries are botocore's adaptive mode, which
backs off on throttling (503 SlowDown) and also slows the client's own request rate.

Every failure becomes a `StorageError` whose message is one sentence naming the bucket or
folder, the key and the source: `SourceError` when the whole source is unusable (missing
bucket, listing denied, endpoint unreachable), `ObjectError` when one object is (vanished
between listing and reading, read denied, throttled past the retries, connection lost).

Listing walks folders (`Delimiter="/"`) so that folders whose name proves they are outside the
windows (`.../2026/01/23/`, `date=2026-01-23/`) are never listed. Below a folder that carries
a date, and wherever a folder has too many plain subfolders to walk one by one, it switches to
one flat listing.
"""

from __future__ import annotations

import hashlib
import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from stat import S_ISBLK, S_ISCHR, S_ISFIFO, S_ISSOCK
from typing import Any, BinaryIO

import boto3
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    PartialCredentialsError,
    ReadTimeoutError,
)
from botocore.exceptions import (
    ConnectionError as BotoConnectionError,
)

from tasks.contracts import Source
from tasks.errors import ObjectError, SourceError, StorageError
from tasks.gather.decompress import ReadStream
from tasks.gather.layouts import prefix_interval
from tasks.settings import Settings

#: A folder with more plain (dateless) subfolders than this is listed flat rather than walked:
#: walking 10,000 CloudWatch log-stream folders would cost 10,000 requests.
MAX_FANOUT = 64
#: Folders deeper than this below the source prefix are listed flat.
MAX_DEPTH = 8

_THROTTLE_CODES = {
    "SlowDown",
    "Throttling",
    "ThrottlingException",
    "RequestLimitExceeded",
    "TooManyRequestsException",
    "ServiceUnavailable",
    "503",
}
_DENIED_CODES = {"AccessDenied", "AllAccessDisabled", "403", "Forbidden"}
_CREDENTIAL_CODES = {
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "InvalidToken",
    "TokenRefreshRequired",
}


@dataclass(frozen=True)
class ObjectInfo:
    key: str  # S3 key, or path relative to the local root with `/` separators
    size: int
    etag: str | None  # as S3 reports it, without quotes; None for local files
    last_modified: datetime | None
    # (code, sentence) when the listing already knows the entry cannot be read as a log:
    # a named pipe, a socket, a symlink loop or a dangling link. It is kept in the manifest
    # as skipped rather than vanishing from it.
    unreadable: tuple[str, str] | None = None


class StoredBytes(ReadStream):
    """The stored bytes of one object as they stream by, hashed and counted on the way.

    Hashing here, before any decompression, makes the manifest's sha256 describe exactly what
    is in the bucket, so a reviewer can check it with `sha256sum` on the downloaded object.
    """

    def __init__(
        self,
        body: Any,
        *,
        describe: Callable[[BaseException], StorageError],
        etag: str | None,
        on_bytes: Callable[[int], None] | None = None,
    ) -> None:
        self._body = body
        self._describe = describe
        self._hash = hashlib.sha256()
        self._on_bytes = on_bytes
        self.etag = etag
        self.bytes_read = 0
        self.at_eof = False  # the hash covers the whole object only once this is True

    def read(self, size: int = -1) -> bytes:
        whole = size is None or size < 0
        try:
            data = self._body.read() if whole else self._body.read(size)
        except (BotoCoreError, OSError, ValueError) as exc:
            raise self._describe(exc) from exc
        if whole or (not data and size):
            self.at_eof = True
        self._hash.update(data)
        self.bytes_read += len(data)
        if self._on_bytes and data:
            self._on_bytes(len(data))
        return data

    def drain(self) -> None:
        """Read to the end, so the hash covers bytes after the last compressed member."""
        while self.read(1024 * 1024):
            pass

    def sha256(self) -> str:
        """Hex digest of the bytes read so far (of the object once `at_eof`)."""
        return self._hash.hexdigest()

    def close(self) -> None:
        try:
            self._body.close()
        finally:
            super().close()


class Store(ABC):
    """One source's objects: list them, open them."""

    def __init__(self, source: Source) -> None:
        self.source = source

    @property
    @abstractmethod
    def root_prefix(self) -> str:
        """Where listing starts."""

    @abstractmethod
    def uri(self, key: str) -> str:
        """A URI a person can paste to find the object."""

    @abstractmethod
    def list_level(self, prefix: str) -> tuple[list[ObjectInfo], list[str]]:
        """Objects directly under `prefix`, and its subfolders (each ending in `/`)."""

    @abstractmethod
    def list_flat(self, prefix: str) -> Iterator[ObjectInfo]:
        """Every object under `prefix`, at any depth."""

    @abstractmethod
    def open(self, info: ObjectInfo, on_bytes: Callable[[int], None] | None = None) -> StoredBytes:
        """The object's stored bytes as a stream (raises ObjectError)."""

    def list(self, keep_folder: Callable[[str], bool] | None = None) -> Iterator[ObjectInfo]:
        """Every object of the source, never listing folders for which `keep_folder` is False.

        Without `keep_folder` this is one flat listing of the whole source.
        """
        if keep_folder is None:
            yield from self.list_flat(self.root_prefix)
            return
        yield from self._walk(self.root_prefix, keep_folder, depth=0)

    def _walk(
        self, prefix: str, keep_folder: Callable[[str], bool], depth: int
    ) -> Iterator[ObjectInfo]:
        files, folders = self.list_level(prefix)
        yield from files
        kept = [(f, prefix_interval(f)) for f in folders if keep_folder(f)]
        dated = [(f, span) for f, span in kept if span is not None]
        plain = [f for f, span in kept if span is None]
        if len(plain) > MAX_FANOUT or depth >= MAX_DEPTH:
            # Too many folders to walk: one flat listing, minus what was already decided.
            walked = set(plain)
            skip = tuple(f for f in folders if f not in walked)
            for info in self.list_flat(prefix):
                if "/" in info.key[len(prefix) :] and not info.key.startswith(skip):
                    yield info
        else:
            for folder in plain:
                yield from self._walk(folder, keep_folder, depth + 1)
        for folder, span in dated:
            # Below a day folder the per-key check prunes as well as walking would, with far
            # fewer requests; year and month folders are worth walking into.
            if span.span > timedelta(days=1):
                yield from self._walk(folder, keep_folder, depth + 1)
            else:
                yield from self.list_flat(folder)


# --------------------------------------------------------------------------------------------
# S3
# --------------------------------------------------------------------------------------------


def s3_client(settings: Settings) -> Any:
    """A thread-safe S3 client with adaptive retries, sized for the download pool."""
    config = Config(
        retries={"mode": "adaptive", "total_max_attempts": settings.s3_max_attempts},
        max_pool_connections=max(10, settings.download_concurrency * 2),
        signature_version=UNSIGNED if settings.s3_unsigned else None,
    )
    # A fresh session per client: boto3's default session is not safe to share across threads.
    session = boto3.session.Session()
    return session.client("s3", endpoint_url=settings.s3_endpoint_url or None, config=config)


class S3Store(Store):
    def __init__(self, source: Source, client: Any, *, page_size: int | None = None) -> None:
        super().__init__(source)
        self.bucket = source.bucket
        self._client = client
        self._page_size = page_size

    @property
    def root_prefix(self) -> str:
        return self.source.prefix

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def _pages(self, **kwargs: Any) -> Iterator[dict]:
        paginator = self._client.get_paginator("list_objects_v2")
        config = {"PageSize": self._page_size} if self._page_size else {}
        try:
            yield from paginator.paginate(Bucket=self.bucket, PaginationConfig=config, **kwargs)
        except (ClientError, BotoCoreError) as exc:
            raise self._list_error(exc, kwargs.get("Prefix", "")) from exc

    def list_level(self, prefix: str) -> tuple[list[ObjectInfo], list[str]]:
        files: list[ObjectInfo] = []
        folders: list[str] = []
        for page in self._pages(Prefix=prefix, Delimiter="/"):
            files.extend(_s3_info(obj) for obj in page.get("Contents", ()))
            folders.extend(p["Prefix"] for p in page.get("CommonPrefixes", ()))
        return files, folders

    def list_flat(self, prefix: str) -> Iterator[ObjectInfo]:
        for page in self._pages(Prefix=prefix):
            for obj in page.get("Contents", ()):
                yield _s3_info(obj)

    def open(self, info: ObjectInfo, on_bytes: Callable[[int], None] | None = None) -> StoredBytes:
        try:
            response = self._client.get_object(Bucket=self.bucket, Key=info.key)
        except (ClientError, BotoCoreError) as exc:
            raise self._object_error(exc, info.key) from exc
        return StoredBytes(
            response["Body"],
            describe=lambda exc: self._object_error(exc, info.key),
            etag=_strip_etag(response.get("ETag")),
            on_bytes=on_bytes,
        )

    # Errors -------------------------------------------------------------------------------

    def _where(self, prefix: str) -> str:
        return f"source '{self.source.name}', {self.uri(prefix)}"

    def _unreachable(self, where: str) -> str:
        endpoint = self._client.meta.endpoint_url
        return (
            f"Cannot reach the S3 endpoint {endpoint} ({where}); is it running, and are "
            "AWS_ENDPOINT_URL_S3 and the region right?"
        )

    def _list_error(self, exc: BaseException, prefix: str) -> SourceError:
        code = _error_code(exc)
        where = self._where(prefix)
        if isinstance(exc, (EndpointConnectionError, BotoConnectionError)):
            message = self._unreachable(where)
        elif code == "NoSuchBucket":
            message = f"Bucket '{self.bucket}' does not exist ({where})."
        elif code in _DENIED_CODES:
            message = (
                f"Access denied listing bucket '{self.bucket}' ({where}): the credentials "
                "need s3:ListBucket on it."
            )
        elif code in _THROTTLE_CODES:
            message = (
                f"S3 kept throttling the listing of bucket '{self.bucket}' ({where}) after "
                f"{_attempts(exc)} attempts; retry later."
            )
        else:
            message = f"Cannot list bucket '{self.bucket}' ({where}): {_plain(exc)}."
        return SourceError(message)

    def _object_error(self, exc: BaseException, key: str) -> ObjectError:
        code = _error_code(exc)
        uri = self.uri(key)
        name = self.source.name
        if isinstance(exc, (EndpointConnectionError, BotoConnectionError)):
            message = self._unreachable(f"source '{name}', {uri}")
        elif code in {"NoSuchKey", "404"}:
            message = (
                f"Object {uri} vanished between listing and reading (source '{name}'); "
                "a lifecycle rule or another process deleted it."
            )
        elif code in _DENIED_CODES:
            message = (
                f"Access denied reading {uri} (source '{name}'): the credentials need "
                "s3:GetObject on it (and kms:Decrypt if it is SSE-KMS encrypted)."
            )
        elif code in _THROTTLE_CODES:
            message = (
                f"S3 kept throttling reads of {uri} (source '{name}') after {_attempts(exc)} "
                "attempts; lower download_concurrency or retry later."
            )
        elif code == "NoSuchBucket":
            message = f"Bucket '{self.bucket}' vanished while reading {uri} (source '{name}')."
        else:
            message = f"Cannot read {uri} (source '{name}'): {_plain(exc)}."
        return ObjectError(message)


def _s3_info(obj: dict) -> ObjectInfo:
    return ObjectInfo(
        key=obj["Key"],
        size=int(obj.get("Size", 0)),
        etag=_strip_etag(obj.get("ETag")),
        last_modified=obj.get("LastModified"),
    )


def _strip_etag(etag: str | None) -> str | None:
    return etag.strip('"') if etag else None


def _error_code(exc: BaseException) -> str:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code") or "")
        # HEAD-style errors carry no body, so no code: the HTTP status is all there is.
        return code or str(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or "")
    return ""


def _attempts(exc: BaseException) -> int:
    if isinstance(exc, ClientError):
        return int(exc.response.get("ResponseMetadata", {}).get("RetryAttempts", 0)) + 1
    return 1


def _plain(exc: BaseException) -> str:
    """The useful part of a botocore error, for the end of a sentence."""
    if isinstance(exc, ReadTimeoutError):
        return "the S3 endpoint stopped answering (read timeout)"
    if isinstance(exc, (NoCredentialsError, PartialCredentialsError)):
        return "no AWS credentials found (set AWS_PROFILE, or the AWS_ACCESS_KEY_ID pair)"
    code = _error_code(exc)
    if code in _CREDENTIAL_CODES:
        return f"the AWS credentials were refused ({code})"
    if isinstance(exc, ClientError):
        message = exc.response.get("Error", {}).get("Message") or ""
        return f"{code}: {message}".rstrip(": ")
    return str(exc).rstrip(".")


# --------------------------------------------------------------------------------------------
# Local folders
# --------------------------------------------------------------------------------------------


class LocalStore(Store):
    """A folder on disk, or one file. Keys are relative to the root, with `/` separators."""

    def __init__(self, source: Source) -> None:
        super().__init__(source)
        self.root = source.local_path.expanduser()

    @property
    def root_prefix(self) -> str:
        return ""

    def uri(self, key: str) -> str:
        path = self.root if self.root.is_file() else self.root / key
        return path.absolute().as_uri()

    def _check_root(self) -> None:
        if not self.root.exists():
            raise SourceError(f"Folder '{self.root}' does not exist (source '{self.source.name}').")
        if not os.access(self.root, os.R_OK):
            raise SourceError(
                f"Folder '{self.root}' is not readable (source '{self.source.name}')."
            )

    def _info(self, path: Path, stat: os.stat_result) -> ObjectInfo:
        key = path.name if self.root.is_file() else path.relative_to(self.root).as_posix()
        return ObjectInfo(
            key=key,
            size=stat.st_size,
            etag=None,
            last_modified=datetime.fromtimestamp(stat.st_mtime, UTC),
        )

    def list_level(self, prefix: str) -> tuple[list[ObjectInfo], list[str]]:
        self._check_root()
        if self.root.is_file():
            return [self._info(self.root, self.root.stat())], []
        files: list[ObjectInfo] = []
        folders: list[str] = []
        try:
            entries = sorted(os.scandir(self.root / prefix), key=lambda e: e.name)
        except OSError as exc:
            raise SourceError(
                f"Cannot list folder '{self.root / prefix}' (source '{self.source.name}'): "
                f"{exc.strerror}."
            ) from exc
        ancestors: set[str] | None = None  # real paths of this folder and those above it
        for entry in entries:
            key = f"{prefix}{entry.name}"
            try:
                is_dir, is_file = entry.is_dir(), entry.is_file()
                if is_dir and entry.is_symlink():
                    if ancestors is None:
                        ancestors = self._ancestors(prefix)
                    if os.path.realpath(entry.path) in ancestors:
                        files.append(self._unreadable(key, "symlink_loop", _LOOP))
                        continue
                info_stat = entry.stat() if is_file else None
            except OSError as exc:
                # ELOOP (a link to itself) and the like: this entry is unusable, not the folder.
                files.append(self._unreadable(key, "symlink_loop", _LOOP, exc))
                continue
            if is_dir:
                folders.append(f"{key}/")
            elif info_stat is not None:
                files.append(self._info(Path(entry.path), info_stat))
            else:
                files.append(self._unreadable(key, *_special_file(entry)))
        return files, folders

    def _ancestors(self, prefix: str) -> set[str]:
        """Real paths of the folder at `prefix` and of each folder above it up to the root: a
        symlink to any of them would make the walk go round for ever."""
        parts = [p for p in prefix.split("/") if p]
        return {os.path.realpath(self.root.joinpath(*parts[:i])) for i in range(len(parts) + 1)}

    def _unreadable(
        self, key: str, code: str, sentence: str, exc: OSError | None = None
    ) -> ObjectInfo:
        detail = f" ({exc.strerror})" if exc is not None and exc.strerror else ""
        return ObjectInfo(
            key=key, size=0, etag=None, last_modified=None, unreadable=(code, sentence + detail)
        )

    def list_flat(self, prefix: str) -> Iterator[ObjectInfo]:
        files, folders = self.list_level(prefix)
        yield from files
        for folder in folders:
            yield from self.list_flat(folder)

    def open(self, info: ObjectInfo, on_bytes: Callable[[int], None] | None = None) -> StoredBytes:
        path = self.root if self.root.is_file() else self.root / info.key
        try:
            handle: BinaryIO = open(path, "rb")  # noqa: SIM115 - closed by StoredBytes
        except FileNotFoundError as exc:
            raise ObjectError(
                f"File {path} vanished between listing and reading (source '{self.source.name}')."
            ) from exc
        except OSError as exc:
            raise ObjectError(
                f"Cannot read {path} (source '{self.source.name}'): {exc.strerror}."
            ) from exc

        def describe(exc: BaseException) -> StorageError:
            return ObjectError(f"Cannot read {path} (source '{self.source.name}'): {exc}.")

        return StoredBytes(handle, describe=describe, etag=None, on_bytes=on_bytes)


_LOOP = "A symbolic link that leads back into its own folder tree, not a log file"


def _special_file(entry: os.DirEntry) -> tuple[str, str]:
    """(code, sentence) for an entry that is neither a folder nor a regular file."""
    try:
        mode = entry.stat().st_mode
    except OSError:
        return "broken_link", "A symbolic link to a file that does not exist."
    kind = (
        "a named pipe (FIFO)"
        if S_ISFIFO(mode)
        else "a socket"
        if S_ISSOCK(mode)
        else "a device"
        if S_ISCHR(mode) or S_ISBLK(mode)
        else "not a regular file"
    )
    # Opening a FIFO would block until some process writes to it.
    return "special_file", f"The entry is {kind}, not a regular file: not read."


def open_store(source: Source, settings: Settings, *, client: Any = None) -> Store:
    """The store for a source; S3 stores share `client` when one is given."""
    if source.is_s3:
        return S3Store(source, client or s3_client(settings))
    return LocalStore(source)
