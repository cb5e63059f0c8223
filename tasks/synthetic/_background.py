"""What happens whether or not anyone sends a request: probes, pool stats, jobs, pod starts."""

from __future__ import annotations

import time

from tasks.synthetic._cluster import Pod
from tasks.synthetic._runtime import Runtime
from tasks.synthetic._util import digest
from tasks.synthetic.topology import SERVICES

_STOP_MESSAGES = {
    "node": "SIGTERM received, draining connections",
    "java": "Commencing graceful shutdown. Waiting for active requests to complete",
    "go": "shutting down: received signal terminated",
    "python": "Shutting down",
    "text": "got SIGTERM, fast exit",
}


class Background:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    # ---------------------------------------------------------------------------- per minute

    def minute(self, m: int) -> None:
        """Once per simulated minute: probes, pool stats, jobs, summaries."""
        rng = self.rt.rng
        for name, pods in self.rt.cluster.pods.items():
            svc = SERVICES[name]
            for pod in pods:
                if not (pod.ready_from < m + 60 and pod.ready_until > m):
                    continue
                if svc.probes_logged:
                    self._probes(pod, m)
                if name == "checkout":
                    self._hikari_stats(pod, m)
                if name == "pgbouncer":
                    self._pgbouncer_stats(pod, m + 59.5 + rng.random() * 0.4)
                if name == "auth":
                    self._shed_summary(pod, m)
        self._jobs(m)
        self._slow_queries(m)
        rh = self.rt.plan.red_herring
        if self.rt.active and rh.service == "search" and rh.start <= m + 60 and m <= rh.start:
            pod = self.rt.pick("search", rh.start)
            msg = "opensearch cluster health changed from GREEN to YELLOW (2 unassigned shards)"
            self.rt.log(pod, rh.start, "warn", msg, {"logger": "search.health"})

    def _probes(self, pod: Pod, m: int) -> None:
        rt = self.rt
        for k in range(6):
            t = m + k * 10 + pod.probe_offset
            if not pod.ready(t):
                continue
            for probe in ("/healthz", "/readyz"):
                tt = t + rt.rng.random() * 0.01
                if pod.svc.lang == "go":
                    fields = {
                        "method": "GET",
                        "path": probe,
                        "latency_ms": 0.2,
                        "user_agent": "kube-probe/1.31",
                    }
                    rt.log(pod, tt, "info", "request completed", fields, status=200)
                else:
                    rt.log(
                        pod,
                        tt,
                        "info",
                        f"10.0.{pod.ip.split('.')[2]}.1:{rt.ri(30000, 60000)}"
                        f' - "GET {probe} HTTP/1.1" 200',
                        {"latency_ms": self._probe_ms(pod, tt), "logger": "uvicorn.access"},
                        status=200,
                    )

    def _probe_ms(self, pod: Pod, t: float) -> float:
        """0.9 ms, unless the pod's CPU is throttled: then probes wait in the run queue too."""
        rt = self.rt
        lvl = rt.fault_level(pod.svc.name, t)
        if rt.fault_kind(lvl) != "cpu":
            return 0.9
        return round(0.9 * (1 + 5 * lvl) + lvl * rt.ln(rt.plan.fault.delay_ms, 0.8), 1)

    def _hikari_stats(self, pod: Pod, m: int) -> None:
        rt = self.rt
        lvl = rt.fault_level("checkout", m)
        pool = rt.fault_kind(lvl) == "pool"
        for k in (0, 30):
            t = m + k + rt.rng.random()
            if pool:
                stats = f"total=10, active=10, idle=0, waiting={int(lvl * 40)}"
            else:
                a = rt.ri(0, 3)
                stats = f"total=10, active={a}, idle={10 - a}, waiting=0"
            fields = {
                "logger": "com.zaxxer.hikari.pool.HikariPool",
                "thread": "HikariPool-1 housekeeper",
            }
            rt.log(pod, t, "debug", f"HikariPool-1 - Pool stats ({stats})", fields)

    def _shed_summary(self, pod: Pod, m: int) -> None:
        for k in range(6):
            n = self.rt.shed.pop((pod.name, m // 10 + k), 0)
            if n:
                self.rt.log(
                    pod,
                    m + k * 10 + 9.9,
                    "warn",
                    f"load shedding active: rejected {n} requests in the last 10s",
                    {"max_inflight": 256, "inflight": 256, "caller": "server/limit.go:52"},
                )

    def _pgbouncer_stats(self, pod: Pod, t: float) -> None:
        rt, rng = self.rt, self.rt.rng
        f = rt.plan.fault
        lvl = rt.fault_level(f.service, t) if f is not None and f.kind == "pool" else 0.0
        xact = int(rt.ln(1500, 0.2) + lvl * rt.ln(2_800_000, 0.3))
        wait = int(rt.ln(12, 0.4) + lvl * rt.ln(450_000, 0.4))
        x = int(rt.ln(410, 0.1) * rt.scale)
        ts = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t)) + f".{int((t % 1) * 1000):03d} UTC"
        rt.app.text(
            pod,
            t,
            f"{ts} [1] LOG stats: {x} xacts/s, {x * 3} queries/s, 0 client "
            f"parses/s, 0 server parses/s, 0 binds/s, in {x * 370} B/s, out "
            f"{x * 2110} B/s, xact {xact} us, query {int(xact / 3)} us, wait {wait} us",
        )
        if rng.random() < 0.3:
            rt.app.text(
                pod,
                t + 0.2,
                f"{ts} [1] LOG C-0x55d1{rng.getrandbits(24):06x}: "
                f"inventory/inventory_app@10.0.32.{rt.ri(20, 250)}:"
                f"{rt.ri(30000, 60000)} closing because: client close request "
                f"(age={rt.ri(300, 3600)}s)",
            )

    def _jobs(self, m: int) -> None:
        """One-pod jobs run by whichever pod holds the lease, and the auth pods' JWKS refresh."""
        rt, rng = self.rt, self.rt.rng
        inv = rt.pick("inventory", m + 30)
        rt.log(
            inv,
            m + 30 + rng.random(),
            "info",
            f"stock sync completed: {rt.ri(800, 1600)} skus updated",
            {"logger": "inventory.sync", "duration_ms": round(rt.ln(800, 0.3), 1)},
        )
        if m % 420 == 0:
            recs = rt.pick("recommendations", m + 5)
            rt.log(
                recs,
                m + 5 + rng.random(),
                "error",
                "failed to refresh embeddings index: An error occurred (AccessDenied) when "
                "calling the GetObject operation: Access Denied",
                {
                    "logger": "recommendations.refresh",
                    "key": "s3://ml-artifacts-prod/recs/embeddings/v2/index.faiss",
                },
            )
        if m % 300 == 0:
            for pod in rt.cluster.pods["auth"]:
                if pod.ready(m):
                    fields = {"caller": "oidc/jwks.go:88"}
                    rt.log(pod, m + 2 + rng.random(), "info", "refreshed JWKS (3 keys)", fields)

    def _slow_queries(self, m: int) -> None:
        """db-pool-exhaustion: the job's long queries, in the root cause's own log."""
        rt = self.rt
        fault, root = rt.plan.fault, rt.plan.root
        if not (fault and fault.kind == "pool" and rt.active):
            return
        lvl = fault.level(m)
        if lvl <= 0:
            return
        pod = rt.pick(root, m)
        for _ in range(int(3 + lvl * 6)):
            t = m + rt.rng.random() * 60
            ms = rt.ln(9000.0, 0.4)
            if root == "inventory":
                msg = (
                    f"slow query ({int(ms)} ms): UPDATE stock_levels SET on_hand = "
                    "$1, updated_at = now() WHERE sku = $2"
                )
                rt.log(pod, t, "warn", msg, {"logger": "inventory.db"})
            else:
                msg = (
                    f"SlowQuery: {int(ms)} milliseconds. SQL: 'select o.id, "
                    "o.total, i.sku from orders o join order_items i on ...'"
                )
                rt.log(pod, t, "warn", msg, {"logger": "org.hibernate.SQL_SLOW"})

    # ---------------------------------------------------------------------------- one-offs

    def one_offs(self) -> None:
        """Config reloads, job markers, pod starts and stops, at their own times."""
        rt = self.rt
        if rt.active and rt.plan.config is not None:
            self._config_reloads()
        if rt.active:
            for line in rt.plan.trigger_lines:
                rt.log(rt.pick(line.service, line.t), line.t, line.level, line.msg, line.fields)
        for event in rt.cluster.lifecycle:
            if event.what == "stop":
                self._stop(event.pod, event.t)
            else:
                self._start(event.pod, event.t)

    def _config_reloads(self) -> None:
        rt, cfg = self.rt, self.rt.plan.config
        live = [p for p in rt.cluster.pods[rt.plan.root] if p.ready(cfg.first)]
        for i, pod in enumerate(live):
            at = cfg.first if i == 0 else cfg.first + rt.rng.uniform(20, max(cfg.spread, 30))
            rt.reloaded_at[pod.name] = at
            reloads = (
                (at, cfg.old_version + 1),
                (cfg.end + rt.rng.uniform(0, 60), cfg.old_version + 2),
            )
            for when, ver in reloads:
                fields = {
                    "source": f"ssm:{cfg.param}",
                    "version": ver,
                    "caller": "config/watch.go:77",
                }
                rt.log(pod, when, "info", "configuration reloaded", fields)

    def _stop(self, pod: Pod, t: float) -> None:
        msg = _STOP_MESSAGES[pod.svc.lang]
        if pod.svc.lang == "text":
            self.rt.app.text(pod, t, msg)
        else:
            self.rt.log(pod, t, "info", msg)

    def _start(self, pod: Pod, t: float) -> None:
        rt, svc = self.rt, pod.svc
        banner = f"Starting {svc.name} version {pod.version}"
        if svc.lang == "java":
            main = {"thread": "main"}
            rt.app.text(pod, t, "  .   ____          _            __ _ _")
            rt.log(
                pod,
                t + 0.4,
                "info",
                banner + " using Java 21.0.5 with PID 1",
                {"logger": "c.e.checkout.CheckoutApplication"} | main,
            )
            msg = "Tomcat started on port 8080 (http) with context path '/'"
            rt.log(
                pod, t + 14.2, "info", msg, {"logger": "o.s.b.w.e.tomcat.TomcatWebServer"} | main
            )
            msg = "Started CheckoutApplication in 14.1 seconds (process running for 14.9)"
            rt.log(
                pod, t + 14.3, "info", msg, {"logger": "c.e.checkout.CheckoutApplication"} | main
            )
        elif svc.lang == "go":
            build = {"commit": digest(svc.name, pod.version)[:7], "go": "go1.23.4"}
            rt.log(pod, t + 0.2, "info", banner, build)
            rt.log(pod, t + 0.5, "info", f"listening on :{svc.port}")
        elif svc.lang == "python":
            rt.log(pod, t + 0.8, "info", banner, {"logger": f"{svc.name}.main"})
            msg = f"Uvicorn running on http://0.0.0.0:{svc.port} (Press CTRL+C to quit)"
            rt.log(pod, t + 1.9, "info", msg, {"logger": "uvicorn.error"})
        elif svc.lang == "node":
            rt.log(pod, t + 0.6, "info", banner, {"node": "v22.11.0"})
            rt.log(pod, t + 1.1, "info", f"server listening on 0.0.0.0:{svc.port}")
        else:
            stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t))
            rt.app.text(pod, t, f"{stamp}.000 UTC [1] LOG kernel file descriptor limit: 1048576")
