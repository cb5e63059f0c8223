"""Small helpers shared by the generator's modules: time formats, digests, gzip."""

from __future__ import annotations

import hashlib
import time
from datetime import UTC, datetime

from isal import igzip

K8S_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
LOWER_ALNUM = "abcdefghijklmnopqrstuvwxyz0123456789"
ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

MAX_OBJECT_BYTES = 48 * 1024 * 1024  # Fluent Bit's total_file_size; ALB also splits busy files


def iso_s(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def hhmm(t: float) -> str:
    return time.strftime("%H:%M", time.gmtime(t)) + "Z"


def to_datetime(t: float) -> datetime:
    return datetime.fromtimestamp(round(t, 3), tz=UTC)


def floor_min(t: float) -> float:
    return float(int(t // 60) * 60)


def bump(version: str, part: int) -> str:
    nums = [int(x) for x in version.split(".")]
    nums[part] += 1
    for i in range(part + 1, len(nums)):
        nums[i] = 0
    return ".".join(map(str, nums))


def digest(*parts: str) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()


def gzip_bytes(data: bytes) -> bytes:
    # mtime=0 keeps the bytes reproducible; level 1 is ISA-L's fastest.
    return igzip.compress(data, 1, mtime=0)


class Timestamps:
    """ISO timestamps with fractions, formatting each whole second once."""

    def __init__(self) -> None:
        self._seconds: dict[int, str] = {}

    def base(self, s: int) -> str:
        b = self._seconds.get(s)
        if b is None:
            b = self._seconds[s] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(s))
        return b

    def iso_us(self, t: float) -> str:
        s = int(t)
        return f"{self.base(s)}.{int((t - s) * 1e6):06d}Z"

    def iso_ms(self, t: float) -> str:
        s = int(t)
        return f"{self.base(s)}.{int((t - s) * 1e3):03d}Z"
