"""Traffic at the edge: clients, the request mix per minute, and the ALB's access log lines."""

from __future__ import annotations

import math
from bisect import bisect_right

import numpy as np

from tasks.synthetic._catalogue import BASE_RPM, BROWSERS, MIX, STATIC, STORM_UA, TERMS
from tasks.synthetic._cluster import Pod
from tasks.synthetic._runtime import Runtime
from tasks.synthetic._services import Services
from tasks.synthetic.writers import AlbEntry, Client

_CLIENT_FIRST_OCTETS = (24, 31, 46, 51, 67, 73, 81, 92, 98, 176, 185, 203)


class Edge:
    """The ALB in front of the shop and the clients that use it."""

    def __init__(self, rt: Runtime, services: Services, np_rng: np.random.Generator) -> None:
        self.rt, self.services, self.np_rng = rt, services, np_rng
        self.clients = [self._new_client() for _ in range(4000)]
        self.kinds = [k for k, _ in MIX]
        cum = [float(c) for c in np.cumsum([w for _, w in MIX]) / sum(w for _, w in MIX)]
        cum[-1] = 1.0
        self.cum = cum

    def _new_client(self) -> Client:
        rng = self.rt.rng
        ua, proto = rng.choice(BROWSERS)
        ip = (
            f"{rng.choice(_CLIENT_FIRST_OCTETS)}."
            f"{rng.randint(1, 254)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
        )
        return Client(ip, rng.randrange(3), ua, proto)

    def minute(self, m: int, rate_level: float, storm: tuple[float, float] | None) -> None:
        """Every request arriving in the minute starting at `m`, in arrival order."""
        rng, np_rng = self.rt.rng, self.np_rng
        hour = (m % 86400) / 3600.0
        diurnal = 1.0 + 0.12 * math.sin((hour - 9.0) / 24.0 * 2 * math.pi)
        wobble = math.exp(np_rng.normal(0.0, 0.04))
        rate = BASE_RPM * self.rt.scale * diurnal * wobble * rate_level
        n = int(np_rng.poisson(rate))
        reqs = [
            (m + rng.random() * 60, self.kinds[bisect_right(self.cum, rng.random())], None)
            for _ in range(n)
        ]
        if storm is not None:
            s0, s1 = storm
            lvl = min(1.0, max(0.0, (m + 30 - s0) / 120.0)) if m + 60 > s0 and m < s1 else 0
            extra = int(np_rng.poisson(rate * 0.04 * 4.5 * lvl)) if lvl else 0
            reqs += [(m + rng.random() * 60, "login", STORM_UA) for _ in range(extra)]
        reqs.sort(key=lambda x: x[0])
        for t, kind, ua in reqs:
            self.request(t, kind, ua)

    def request(self, t0: float, kind: str, ua: str | None) -> None:
        rt, rng = self.rt, self.rt.rng
        # Heavy users send more requests: a squared uniform biases towards the head.
        client = self.clients[int(len(self.clients) * rng.random() ** 2)]
        if ua is not None:
            client = Client(client.ip, client.node, ua, "https")
        trace_root = f"Root=1-{int(t0):08x}-{rng.getrandbits(96):024x}"
        trace = rt.trace()
        rq = rng.uniform(0.0, 0.002)
        if kind == "static":
            self._static(t0, rq, client)
        elif kind == "search":
            self._search(t0, rq, client, trace)
        elif kind == "login":
            self._login(t0, rq, client, trace)
        else:
            self._page(t0, rq, client, kind, trace, trace_root)

    def _log(self, entry: AlbEntry) -> None:
        self.rt.tally.line(self.rt.alb.log(entry))

    def _static(self, t0: float, rq: float, client: Client) -> None:
        rt, rng = self.rt, self.rt.rng
        target = rt.pick("frontend", t0 + rq)
        path = "/static/" + rng.choice(STATIC)
        status = 304 if rng.random() < 0.18 else 200
        ms = rt.ln(2.5, 0.5)
        sent = 180 if status == 304 else rt.ri(2_000, 240_000)
        self._log(
            AlbEntry(
                t0, rq, ms, client, "frontend", _addr(target), status, status, "GET", path, sent
            )
        )

    def _search(self, t0: float, rq: float, client: Client, trace: dict) -> None:
        rng = self.rt.rng
        path = f"/api/search?q={rng.choice(TERMS)}&page={1 + int(rng.random() ** 3 * 5)}"
        r, target = self.services.search(t0 + rq, trace, path, client.ip)
        sent = self.rt.ri(900, 14_000)
        self._log(
            AlbEntry(
                t0, rq, r.ms, client, "search", _addr(target), r.status, r.status, "GET", path, sent
            )
        )

    def _login(self, t0: float, rq: float, client: Client, trace: dict) -> None:
        method, path = "POST", "/oauth/token"
        r, target, refused = self.services.auth(t0 + rq, trace, "token", from_alb=True)
        addr = _addr(target)
        if refused:
            entry = AlbEntry(t0, rq, -1, client, "auth", addr, 502, None, method, path, 272)
        elif r.ms > 5000 and client.ua.startswith("ShopApp"):
            entry = AlbEntry(
                t0, rq, -1, client, "auth", addr, 460, None, method, path, 0, give_up=5.0
            )
        else:
            sent = 1_650 if r.status == 200 else 310
            entry = AlbEntry(
                t0, rq, r.ms, client, "auth", addr, r.status, r.status, method, path, sent
            )
        self._log(entry)

    def _page(
        self, t0: float, rq: float, client: Client, kind: str, trace: dict, trace_root: str
    ) -> None:
        rt, rng = self.rt, self.rt.rng
        r, target, path, method = self.services.frontend(t0 + rq, kind, trace, trace_root)
        addr = _addr(target)
        x = rng.random()
        if (r.ms > 10_000 and client.proto == "https") or x < 0.001:
            # The client gave up (apps time out after 10 s; browsers navigate away).
            give_up = min(r.ms / 1000, 10.0) * rng.uniform(0.3, 1.0)
            entry = AlbEntry(
                t0, rq, -1, client, "frontend", addr, 460, None, method, path, 0, give_up=give_up
            )
        elif x > 0.9998:
            # Keep-alive race with Node's 5 s server timeout: the ALB gets a reset.
            entry = AlbEntry(t0, rq, -1, client, "frontend", addr, 502, None, method, path, 272)
        else:
            sent = rt.ri(14_000, 62_000) if r.status == 200 else rt.ri(300, 900)
            entry = AlbEntry(
                t0,
                rq,
                r.ms,
                client,
                "frontend",
                addr,
                r.status,
                r.status,
                method,
                path,
                sent,
                trace_root=trace_root,
            )
        self._log(entry)


def _addr(pod: Pod) -> str:
    return f"{pod.ip}:{pod.svc.port}"
