"""Where generated objects go: a local folder or an S3 bucket."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol


class ObjectSink(Protocol):
    def put(self, key: str, data: bytes) -> None: ...


class LocalSink:
    """Writes each object to `root/key`, creating parent folders."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def put(self, key: str, data: bytes) -> None:
        path = (self.root / key).resolve()
        # Keys come from this module, but a sink is also handed to callers' code: never let a
        # key climb out of the root.
        if not path.is_relative_to(self.root.resolve()):
            raise ValueError(f"key {key!r} escapes the sink root {self.root}")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


class S3Sink:
    """Writes each object with `put_object` to one bucket."""

    def __init__(self, client, bucket: str):
        self.client = client
        self.bucket = bucket

    def put(self, key: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=key, Body=data)
