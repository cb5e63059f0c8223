"""Fluent Bit's S3 output: per-service buffers flushed on an upload timer, gzip JSON lines."""

from __future__ import annotations

import math
import random
import time
from itertools import pairwise

import orjson

from tasks.synthetic._util import MAX_OBJECT_BYTES, Timestamps, gzip_bytes
from tasks.synthetic.sinks import ObjectSink
from tasks.synthetic.stats import SourceStats
from tasks.synthetic.topology import APP_PREFIX, NAMESPACE, SERVICES


class FluentBitWriter:
    """Objects keyed `fluent-bit-logs/kube.prod.<service>/%Y/%m/%d/%H/%M/%S`, one per upload."""

    def __init__(
        self,
        sink: ObjectSink,
        rng: random.Random,
        stats: SourceStats,
        start: float,
        timestamps: Timestamps,
    ):
        self.sink, self.rng, self.stats, self.timestamps = sink, rng, stats, timestamps
        self.buf: dict[str, list[tuple[float, bytes]]] = {s: [] for s in SERVICES}
        self.size: dict[str, int] = dict.fromkeys(SERVICES, 0)
        self.interval = {s: d.upload_interval for s, d in SERVICES.items()}
        self.deadline = {s: start + rng.uniform(10, self.interval[s]) for s in SERVICES}
        self.used: set[str] = set()

    def add_log(self, service: str, kubernetes: bytes, t: float, log: str, stream: bytes) -> None:
        """One container log line as Fluent Bit's kubernetes filter records it.

        `kubernetes` is the serialized ',"kubernetes":{...}}' that ends each of the pod's records.
        """
        s = int(t)
        us = int((t - s) * 1e6)
        rec = b'{"date":%d.%06d,"time":"%s.%06d%03dZ","stream":"%b","logtag":"F","log":%b%b' % (
            s,
            us,
            self.timestamps.base(s).encode(),
            us,
            (us * 7) % 1000,
            stream,
            orjson.dumps(log),
            kubernetes,
        )
        self.add(service, t, rec)

    def add(self, service: str, t: float, record: bytes) -> None:
        self.buf[service].append((t, record))
        self.size[service] += len(record) + 1
        if self.size[service] > MAX_OBJECT_BYTES:
            self._flush(service, math.inf)

    def flush(self, clock: float) -> None:
        # Records may be appended up to a minute after their timestamp (slow requests log when
        # they end), so an object is written only once the clock is well past its deadline.
        for service in SERVICES:
            while self.deadline[service] + 60 <= clock:
                self._flush(service, self.deadline[service])
                self.deadline[service] += self.interval[service] + self.rng.uniform(-4, 4)

    def close(self) -> None:
        for service in SERVICES:
            self._flush(service, math.inf)

    def _flush(self, service: str, before: float) -> None:
        items = self.buf[service]
        if not items:
            return
        out = [x for x in items if x[0] < before]
        if not out:
            return
        self.buf[service] = [x for x in items if x[0] >= before]
        self.size[service] = sum(len(r) + 1 for _, r in self.buf[service])
        out.sort(key=lambda x: x[0])
        key = self._key(service, int(out[0][0]))
        records = [r for _, r in out]
        parts = self._members(records)
        data = b"".join(gzip_bytes(p) for p in parts)
        self.sink.put(key, data)
        self.stats.count(len(records), sum(len(p) for p in parts), len(data))

    def _key(self, service: str, first: int) -> str:
        while True:
            key = f"{APP_PREFIX}kube.{NAMESPACE}.{service}/" + time.strftime(
                "%Y/%m/%d/%H/%M/%S", time.gmtime(first)
            )
            if key not in self.used:
                break
            first += 1  # Fluent Bit would overwrite; keep both by nudging the key
        self.used.add(key)
        return key

    def _members(self, records: list[bytes]) -> list[bytes]:
        # Chunked writers concatenate gzip members; readers that stop after the first member
        # silently lose data, so about a quarter of the objects are multi-member.
        if len(records) >= 3 and self.rng.random() < 0.25:
            cuts = sorted(self.rng.sample(range(1, len(records)), min(2, len(records) - 1)))
            bounds = [0, *cuts, len(records)]
            return [b"\n".join(records[a:b]) + b"\n" for a, b in pairwise(bounds)]
        return [b"\n".join(records) + b"\n"]
