"""ALB access logs: one gzip file per LB node per 5 minutes, named by the end of the interval."""

from __future__ import annotations

import random
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import NamedTuple

from tasks.synthetic._util import LOWER_ALNUM, MAX_OBJECT_BYTES, Timestamps, gzip_bytes
from tasks.synthetic.sinks import ObjectSink
from tasks.synthetic.stats import SourceStats
from tasks.synthetic.topology import (
    ACCOUNT_ID,
    ALB_PREFIX,
    CERT_ARN,
    DOMAIN,
    LB_ID,
    LB_NAME,
    LB_NODE_IPS,
    REGION,
    RULE_PRIORITY,
    TARGET_GROUPS,
)


class Client(NamedTuple):
    ip: str
    node: int  # which LB node its connection lands on
    ua: str
    proto: str  # h2 | https


@dataclass(frozen=True, slots=True)
class AlbEntry:
    """One request as the ALB logs it.

    `ms` < 0 means the target never answered; `give_up` is when the client closed the
    connection, in seconds after the request arrived.
    """

    t0: float
    rq: float  # request processing time, seconds
    ms: float
    client: Client
    target_group: str
    target: str | None  # ip:port
    elb_status: int
    target_status: int | None
    method: str
    path: str
    sent: int
    trace_root: str | None = None
    give_up: float | None = None


_TLS = {
    "h2": ("h2", "HTTP/2.0", "TLS_AES_128_GCM_SHA256", "TLSv1.3"),
    "https": ("https", "HTTP/1.1", "ECDHE-RSA-AES128-GCM-SHA256", "TLSv1.2"),
}


class AlbWriter:
    def __init__(
        self, sink: ObjectSink, rng: random.Random, stats: SourceStats, timestamps: Timestamps
    ):
        self.sink, self.rng, self.stats, self.timestamps = sink, rng, stats, timestamps
        self.buf: dict[tuple[int, int], list[bytes]] = defaultdict(list)
        self.size: Counter[tuple[int, int]] = Counter()

    def log(self, e: AlbEntry) -> float:
        """Format and buffer one entry; returns when the ALB wrote it (the response time)."""
        rng = self.rng
        if e.give_up is not None:
            t_resp = e.t0 + e.give_up + rng.random() * 0.5
            tgt_t = resp_t = "-1"
        elif e.ms < 0:
            t_resp = e.t0 + e.rq + rng.uniform(0.0005, 0.003)
            tgt_t = resp_t = "-1"
        else:
            t_resp = e.t0 + e.rq + e.ms / 1000.0 + 0.0004
            tgt_t, resp_t = f"{e.ms / 1000.0:.3f}", "0.000"
        tgt = e.target or "-"
        tst = str(e.target_status) if e.target_status is not None else "-"
        typ, ver, cipher, tls = _TLS["h2" if e.client.proto == "h2" else "https"]
        root = e.trace_root or f"Root=1-{int(e.t0):08x}-{rng.getrandbits(96):024x}"
        tg = e.target_group
        line = (
            f"{typ} {self.timestamps.iso_us(t_resp)} app/{LB_NAME}/{LB_ID} "
            f"{e.client.ip}:{_ri(rng, 1024, 65535)} {tgt} {e.rq:.3f} {tgt_t} {resp_t} "
            f"{e.elb_status} {tst} {_ri(rng, 280, 1400)} {e.sent} "
            f'"{e.method} https://{DOMAIN}:443{e.path} {ver}" "{e.client.ua}" {cipher} {tls} '
            f'{TARGET_GROUPS[tg]} "{root}" "{DOMAIN}" "{CERT_ARN}" {RULE_PRIORITY[tg]} '
            f'{self.timestamps.iso_us(e.t0)} "forward" "-" "-" "{tgt}" "{tst}" "-" "-" '
            f"TID_{rng.getrandbits(128):032x}"
        )
        self.add(e.client.node, t_resp, line.encode())
        return t_resp

    def add(self, node: int, t: float, line: bytes) -> None:
        slot = (node, int(t // 300))
        self.buf[slot].append(line)
        self.size[slot] += len(line) + 1
        if self.size[slot] > MAX_OBJECT_BYTES:
            self._flush(slot)

    def flush(self, clock: float) -> None:
        for slot in sorted(self.buf):
            if (slot[1] + 1) * 300 + 60 <= clock:
                self._flush(slot)

    def close(self) -> None:
        for slot in sorted(self.buf):
            self._flush(slot)

    def _flush(self, slot: tuple[int, int]) -> None:
        lines = self.buf.pop(slot, None)
        self.size.pop(slot, None)
        if not lines:
            return
        node, idx = slot
        end = (idx + 1) * 300
        rand = "".join(self.rng.choices(LOWER_ALNUM, k=8))
        key = (
            f"{ALB_PREFIX}{REGION}/{time.strftime('%Y/%m/%d', time.gmtime(end))}/"
            f"{ACCOUNT_ID}_elasticloadbalancing_{REGION}_app.{LB_NAME}.{LB_ID}_"
            f"{time.strftime('%Y%m%dT%H%MZ', time.gmtime(end))}_{LB_NODE_IPS[node]}_{rand}.log.gz"
        )
        raw = b"\n".join(lines) + b"\n"
        data = gzip_bytes(raw)
        self.sink.put(key, data)
        self.stats.count(len(lines), len(raw), len(data))


def _ri(rng: random.Random, a: int, b: int) -> int:
    # The same draw as the simulation's cheap randint: one random() per integer.
    return a + int(rng.random() * (b - a + 1))
