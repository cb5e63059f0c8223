"""CloudTrail: gzip JSON files of records as delivered, and the hourly digest files beside them."""

from __future__ import annotations

import hashlib
import random
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime

import orjson

from tasks.synthetic._util import ALNUM, digest, gzip_bytes, iso_s
from tasks.synthetic.sinks import ObjectSink
from tasks.synthetic.stats import SourceStats
from tasks.synthetic.topology import ACCOUNT_ID, CLOUDTRAIL_PREFIX, TRAIL_NAME


class CloudTrailWriter:
    """Writes one object per delivery; `close` adds the digests a reader has to skip."""

    def __init__(
        self, sink: ObjectSink, stats: SourceStats, count_in_window: Callable[[float], None]
    ):
        self.sink, self.stats, self.count_in_window = sink, stats, count_in_window
        self.delivered: dict[tuple[str, int], list[dict]] = defaultdict(list)

    def deliver(self, rng: random.Random, region: str, at: float, recs: list[dict]) -> None:
        if not recs:
            return
        stamp = time.strftime("%Y%m%dT%H%MZ", time.gmtime(at))
        key = (
            f"{CLOUDTRAIL_PREFIX}/{region}/{time.strftime('%Y/%m/%d', time.gmtime(at))}/"
            f"{ACCOUNT_ID}_CloudTrail_{region}_{stamp}_{''.join(rng.choices(ALNUM, k=16))}"
            ".json.gz"
        )
        raw = orjson.dumps({"Records": recs})
        data = gzip_bytes(raw)
        self.sink.put(key, data)
        self.stats.count(len(recs), len(raw), len(data))
        for r in recs:
            self.count_in_window(datetime.fromisoformat(r["eventTime"]).timestamp())
        times = [r["eventTime"] for r in recs]
        self.delivered[(region, int(at // 3600))].append(
            {
                "s3Bucket": "shop-prod-logs",
                "s3Object": key,
                "hashValue": hashlib.sha256(raw).hexdigest(),
                "hashAlgorithm": "SHA-256",
                "newestEventTime": max(times),
                "oldestEventTime": min(times),
            }
        )

    def close(self) -> None:
        previous: dict[str, str | None] = {}
        for region, hour in sorted(self.delivered):
            end = (hour + 1) * 3600
            key = _digest_key(region, end)
            self.sink.put(key, gzip_bytes(orjson.dumps(self._digest(region, end, key, previous))))
            previous[region] = key

    def _digest(self, region: str, end: int, key: str, previous: dict[str, str | None]) -> dict:
        files = self.delivered[(region, end // 3600 - 1)]
        return {
            "awsAccountId": ACCOUNT_ID,
            "digestStartTime": iso_s(end - 3600),
            "digestEndTime": iso_s(end),
            "digestS3Bucket": "shop-prod-logs",
            "digestS3Object": key,
            "digestPublicKeyFingerprint": digest("digest-key")[:32],
            "digestSignatureAlgorithm": "SHA256withRSA",
            "newestEventTime": max(f["newestEventTime"] for f in files),
            "oldestEventTime": min(f["oldestEventTime"] for f in files),
            "previousDigestS3Bucket": "shop-prod-logs" if previous.get(region) else None,
            "previousDigestS3Object": previous.get(region),
            "previousDigestHashValue": digest("prev", previous.get(region) or ""),
            "previousDigestHashAlgorithm": "SHA-256",
            "previousDigestSignature": digest("sig", key) * 4,
            "logFiles": files,
        }


def _digest_key(region: str, end: int) -> str:
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(end))
    return (
        f"AWSLogs/{ACCOUNT_ID}/CloudTrail-Digest/{region}/"
        f"{time.strftime('%Y/%m/%d', time.gmtime(end))}/{ACCOUNT_ID}_CloudTrail-Digest_"
        f"{region}_{TRAIL_NAME}_{region}_{stamp}.json.gz"
    )
