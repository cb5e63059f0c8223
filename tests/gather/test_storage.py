"""Listing and opening objects in S3 (moto's server over HTTP) and in local folders.

Faults that moto does not produce by itself (403, 503 SlowDown, a key vanishing between list
and get) come from tests/s3_faults.py, a proxy that answers with genuine S3 XML errors.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tasks.contracts import Source
from tasks.gather.storage import (
    LocalStore,
    ObjectError,
    S3Store,
    SourceError,
    open_store,
    s3_client,
)
from tasks.settings import Settings
from tasks.synthetic.embedded_s3 import free_port
from tests.s3_faults import ACCESS_DENIED, NO_SUCH_KEY, SLOW_DOWN, S3FaultProxy

KEYS = [
    "logs/app/2026/01/23/10/00/00",
    "logs/app/2026/01/24/13/05/12",
    "logs/app/2026/01/24/13/06/40",
    "logs/app/2026/01/25/00/00/01",
    "logs/db/2026/01/24/13/05/59",
    "logs/readme.txt",
]


def body(key: str) -> bytes:
    return f"{key}\n".encode() * 10


@pytest.fixture()
def proxy(moto_endpoint: str) -> Iterator[S3FaultProxy]:
    with S3FaultProxy(moto_endpoint) as p:
        yield p


@pytest.fixture()
def filled(s3, bucket: str) -> str:
    for key in KEYS:
        s3.put_object(Bucket=bucket, Key=key, Body=body(key))
    return bucket


def settings_for(endpoint: str, attempts: int = 3) -> Settings:
    return Settings(s3_endpoint_url=endpoint, s3_max_attempts=attempts)


def s3_store(bucket: str, endpoint: str, prefix: str = "logs/", **kwargs) -> S3Store:
    source = Source(name="app", uri=f"s3://{bucket}/{prefix}")
    return S3Store(source, s3_client(settings_for(endpoint)), **kwargs)


def test_listing_paginates(s3, bucket: str, proxy: S3FaultProxy) -> None:
    keys = [f"many/{i:04d}.log" for i in range(23)]
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=b"x\n")
    store = s3_store(bucket, proxy.endpoint, prefix="many/", page_size=5)
    assert [o.key for o in store.list_flat("many/")] == keys
    assert proxy.count("list") == 5  # 23 keys, 5 per page


def test_walk_and_flat_listing_agree_and_the_walk_skips_folders(
    filled: str, proxy: S3FaultProxy
) -> None:
    store = s3_store(filled, proxy.endpoint)
    flat = sorted(o.key for o in store.list())
    assert flat == sorted(KEYS)
    assert sorted(o.key for o in store.list(lambda prefix: True)) == flat

    proxy.clear()
    not_the_23rd = sorted(o.key for o in store.list(lambda prefix: not prefix.endswith("/23/")))
    assert not_the_23rd == sorted(k for k in KEYS if "/23/" not in k)
    # The walk listed the day folders beside 2026/01/23/, never inside it.
    assert proxy.count("list", "logs/app/2026/01/24/") > 0
    assert proxy.count("list", "*/23/*") == 0


def test_objects_carry_size_etag_and_time(filled: str, moto_endpoint: str) -> None:
    store = s3_store(filled, moto_endpoint)
    info = next(o for o in store.list() if o.key == KEYS[1])
    assert info.size == len(body(KEYS[1]))
    assert info.etag == hashlib.md5(body(KEYS[1])).hexdigest()
    assert info.last_modified is not None
    with store.open(info) as stored:
        assert stored.read() == body(KEYS[1])
        assert stored.sha256() == hashlib.sha256(body(KEYS[1])).hexdigest()
        assert stored.etag == info.etag
        assert stored.bytes_read == info.size


def test_local_folder_lists_the_same_objects_as_s3(
    filled: str, moto_endpoint: str, tmp_path: Path
) -> None:
    for key in KEYS:
        path = tmp_path / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body(key))
    from_s3 = [(o.key, o.size) for o in s3_store(filled, moto_endpoint, prefix="").list()]
    settings = Settings()
    for uri in (tmp_path.as_uri(), str(tmp_path)):
        store = open_store(Source(name="app", uri=uri), settings)
        assert isinstance(store, LocalStore)
        assert sorted((o.key, o.size) for o in store.list()) == sorted(from_s3)
        assert sorted(o.key for o in store.list(lambda p: True)) == sorted(k for k, _ in from_s3)
        info = next(o for o in store.list() if o.key == KEYS[1])
        assert info.etag is None and info.last_modified is not None
        with store.open(info) as stored:
            assert stored.read() == body(KEYS[1])
            assert stored.sha256() == hashlib.sha256(body(KEYS[1])).hexdigest()


def test_a_single_local_file(tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    path.write_bytes(b"a\nb\n")
    store = open_store(Source(name="one", uri=str(path)), Settings())
    assert [(o.key, o.size) for o in store.list()] == [("app.log", 4)]
    with store.open(next(store.list())) as stored:
        assert stored.read() == b"a\nb\n"


def test_missing_bucket(moto_endpoint: str) -> None:
    store = s3_store("no-such-bucket-here", moto_endpoint)
    with pytest.raises(SourceError) as info:
        list(store.list())
    assert str(info.value) == (
        "Bucket 'no-such-bucket-here' does not exist (source 'app', s3://no-such-bucket-here/logs/)."
    )


def test_missing_local_folder(tmp_path: Path) -> None:
    store = open_store(Source(name="app", uri=str(tmp_path / "nope")), Settings())
    with pytest.raises(SourceError, match=r"^Folder '.*nope' does not exist \(source 'app'\)\.$"):
        list(store.list())


def test_access_denied_on_listing(filled: str, proxy: S3FaultProxy) -> None:
    proxy.fail("list", "*", ACCESS_DENIED)
    with pytest.raises(SourceError) as info:
        list(s3_store(filled, proxy.endpoint).list())
    assert str(info.value) == (
        f"Access denied listing bucket '{filled}' (source 'app', s3://{filled}/logs/): "
        "the credentials need s3:ListBucket on it."
    )


def test_access_denied_on_reading(filled: str, proxy: S3FaultProxy) -> None:
    proxy.fail("get", KEYS[1], ACCESS_DENIED)
    store = s3_store(filled, proxy.endpoint)
    info = next(o for o in store.list() if o.key == KEYS[1])
    with pytest.raises(ObjectError) as exc:
        store.open(info)
    assert str(exc.value).startswith(
        f"Access denied reading s3://{filled}/{KEYS[1]} (source 'app')"
    )


def test_object_vanishing_between_list_and_get(filled: str, proxy: S3FaultProxy) -> None:
    store = s3_store(filled, proxy.endpoint)
    info = next(o for o in store.list() if o.key == KEYS[2])
    proxy.fail("get", KEYS[2], NO_SUCH_KEY)
    with pytest.raises(ObjectError, match="vanished between listing and reading"):
        store.open(info)


def test_throttling_is_retried_adaptively(filled: str, proxy: S3FaultProxy) -> None:
    # botocore's backoff sleeps up to 2 s per retry: one 503 keeps the test quick.
    proxy.fail("get", KEYS[1], SLOW_DOWN, times=1)
    source = Source(name="app", uri=f"s3://{filled}/logs/")
    store = S3Store(source, s3_client(settings_for(proxy.endpoint, attempts=2)))
    info = next(o for o in store.list() if o.key == KEYS[1])
    with store.open(info) as stored:
        assert stored.read() == body(KEYS[1])
    assert proxy.count("get", KEYS[1]) == 2  # a 503 SlowDown, then success


def test_permanent_throttling_gives_a_clear_message(filled: str, proxy: S3FaultProxy) -> None:
    proxy.fail("get", KEYS[1], SLOW_DOWN)
    source = Source(name="app", uri=f"s3://{filled}/logs/")
    # s3_max_attempts counts every attempt, the first included.
    store = S3Store(source, s3_client(settings_for(proxy.endpoint, attempts=2)))
    info = next(o for o in store.list() if o.key == KEYS[1])
    with pytest.raises(ObjectError) as exc:
        store.open(info)
    assert str(exc.value) == (
        f"S3 kept throttling reads of s3://{filled}/{KEYS[1]} (source 'app') after 2 attempts; "
        "lower download_concurrency or retry later."
    )
    assert proxy.count("get", KEYS[1]) == 2


def test_unreachable_endpoint() -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"
    source = Source(name="app", uri="s3://some-bucket/logs/")
    store = S3Store(source, s3_client(settings_for(endpoint, attempts=1)))
    started = time.monotonic()
    with pytest.raises(SourceError) as info:
        list(store.list())
    assert str(info.value) == (
        f"Cannot reach the S3 endpoint {endpoint} (source 'app', s3://some-bucket/logs/); "
        "is it running, and are AWS_ENDPOINT_URL_S3 and the region right?"
    )
    assert time.monotonic() - started < 10


def test_many_plain_folders_are_listed_flat(s3, bucket: str, proxy: S3FaultProxy) -> None:
    streams = [f"export/task/stream-{i:03d}/000000.gz" for i in range(70)]
    for key in [*streams, "export/2026/01/23/old.gz", "export/2026/01/24/new.gz"]:
        s3.put_object(Bucket=bucket, Key=key, Body=b"x\n")
    store = s3_store(bucket, proxy.endpoint, prefix="export/")
    listed = sorted(o.key for o in store.list(lambda prefix: not prefix.endswith("/23/")))
    assert listed == sorted([*streams, "export/2026/01/24/new.gz"])
    # Seventy undated folders are listed in one sweep of export/task/, not one request each.
    assert proxy.count("list", "export/task/stream-*") == 0
    assert proxy.count("list", "export/task/") >= 1
