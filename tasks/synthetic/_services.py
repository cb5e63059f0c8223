"""How each service answers a request, including how it fails under the incident's fault.

A service calls another only through `Services.call`, with a row of the dependency table
(tasks/synthetic/topology.py): the method, path, timeout and retries come from there.
Every handler draws from the shared generator in a fixed order; moving a draw changes every
byte after it, so handlers keep the order of the original request-by-request code.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from tasks.synthetic._catalogue import (
    CATEGORIES,
    GO_PANIC,
    HIKARI,
    KEYERROR,
    NPE,
    OIDC,
    QUEUEPOOL,
    TIMEOUT_JAVA,
)
from tasks.synthetic._cluster import Pod
from tasks.synthetic._runtime import Runtime
from tasks.synthetic.topology import DEPENDENCIES, ENDPOINTS, NAMESPACE, SERVICES, Dependency


@dataclass(slots=True)
class Resp:
    status: int
    ms: float
    fault: bool = False  # the failure came from the incident's root cause


@dataclass(slots=True)
class Call:
    ok: bool
    status: int
    ms: float
    fault: bool
    timed_out: bool


@dataclass(frozen=True)
class Page:
    """A frontend page: which dependencies it calls, in order, once the session is checked."""

    calls: tuple[str, ...]
    requires_login: bool = False


PAGES = {
    "home": Page(("recs",)),
    "product": Page(("stock-one", "recs")),
    "category": Page(("stock-batch",)),
    "cart": Page(("stock-one",), requires_login=True),
    "checkout": Page(("order",), requires_login=True),
    "account": Page(("orders",), requires_login=True),
}

Handler = Callable[[float, dict, str], Resp]


class Services:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.handlers: dict[str, Handler] = {
            "auth": lambda t, trace, endpoint: self.auth(t, trace, endpoint)[0],
            "inventory": self.inventory,
            "recommendations": self.recs,
            "checkout": self.checkout,
            "payments": self.payments,
        }

    # ---------------------------------------------------------------------------- calls

    def call(self, pod: Pod, t: float, dep: Dependency, trace: dict) -> Call:
        """`pod` calls `dep` at `t`: timeouts, retries and the caller's own error lines."""
        path = dep.path.format(sku=self.rt.ri(10000, 99999)) if "{sku}" in dep.path else dep.path
        handler = self.handlers[dep.service]
        elapsed = 0.0
        for attempt in range(dep.retries + 1):
            r = handler(t + elapsed / 1000.0, trace, dep.endpoint)
            delay = self.rt.net_delay(dep.service, t + elapsed / 1000.0)
            if delay:  # spent on the wire: the callee's own logs do not show it
                r = Resp(r.status, r.ms + delay, True)
            if r.ms > dep.timeout_ms:
                elapsed += dep.timeout_ms
                c = Call(False, 504, elapsed, r.fault, True)
                last = attempt == dep.retries
                self._upstream_failed(pod, t + elapsed / 1000.0, dep, path, c, trace, final=last)
                if last:
                    return c
                continue
            elapsed += r.ms
            if r.status >= 500:
                c = Call(False, r.status, elapsed, r.fault, False)
                self._upstream_failed(pod, t + elapsed / 1000.0, dep, path, c, trace)
                return c
            return Call(True, r.status, elapsed, False, False)
        raise AssertionError("unreachable")

    def _upstream_failed(
        self,
        pod: Pod,
        t: float,
        dep: Dependency,
        path: str,
        c: Call,
        trace: dict,
        *,
        final: bool = True,
    ) -> None:
        """The caller's own words for a failed call; callers name the service they called."""
        name, method, port = dep.service, dep.method, SERVICES[dep.service].port
        host = f"{name}.{NAMESPACE}.svc.cluster.local:{port}"
        level = "warn" if (dep.optional or not final) else "error"
        f = self.rt.span(trace) | {"upstream": name}
        lang = pod.svc.lang
        if c.timed_out:
            msg = f"timeout calling {host} after {dep.timeout_ms}ms"
            if lang == "java":
                msg = f"Call to {name} failed: {msg}"
                f["logger"] = "c.e.checkout.client.UpstreamClient"
                f["stack_trace"] = TIMEOUT_JAVA.format(m=method, dep=name, port=port, path=path)
            elif lang == "node":
                f["err"] = {"type": "TimeoutError", "code": "UND_ERR_HEADERS_TIMEOUT"}
        else:
            if lang == "java":
                msg = f"Call to {name} failed: {c.status} on {method} {path}"
                f["logger"] = "c.e.checkout.client.UpstreamClient"
            else:
                msg = f"upstream {name} responded {c.status} to {method} {path}"
            f["upstream_status"] = c.status
        if not final:
            msg += ", retrying"
        self.rt.log(pod, t, level, msg, f, cascade=c.fault)

    # ---------------------------------------------------------------------------- frontend

    def frontend(
        self, t: float, kind: str, trace: dict, trace_root: str
    ) -> tuple[Resp, Pod, str, str]:
        """Server-side rendering of one page; returns (response, pod, path, method)."""
        rt = self.rt
        pod = rt.pick("frontend", t)
        method, path = self._page_request(kind)
        page = PAGES[kind]
        logged_in = page.requires_login or rt.rng.random() < 0.55
        ms = rt.ln(9.0, 0.4)
        fail: Call | None = None
        failed_dep = ""
        if logged_in:
            # A failed session check is logged as an error even where the page can fall back
            # to anonymous: nobody should be logged out silently.
            c = self.call(pod, t + ms / 1000, DEPENDENCIES["session"], trace)
            ms += c.ms
            if not c.ok and page.requires_login:
                fail, failed_dep = c, "auth"
        for name in page.calls:
            if fail is not None:
                break
            dep = DEPENDENCIES[name]
            c = self.call(pod, t + ms / 1000, dep, trace)
            ms += c.ms
            if not c.ok and not dep.optional:
                fail, failed_dep = c, dep.service
        ms += rt.ln(6.0, 0.5)
        t_end = t + ms / 1000
        f = rt.span(trace) | {"amzn_trace_id": trace_root, "method": method, "path": path}
        done = f | {"latency_ms": round(ms, 1)}
        if fail is not None:
            status = 504 if fail.timed_out else 502
            rt.log(
                pod,
                t_end - 0.001,
                "error",
                f"SSR render failed for {path.split('?')[0]}: UpstreamError: {failed_dep} "
                "unavailable",
                rt.span(trace) | {"upstream": failed_dep},
                cascade=fail.fault,
            )
            rt.log(pod, t_end, "error", "request errored", done, status=status, cascade=fail.fault)
            return Resp(status, ms, fail.fault), pod, path, method
        if rt.rng.random() < 0.0015:  # a long-standing bug on product cards, in every window
            rt.log(
                pod,
                t_end,
                "error",
                "TypeError: Cannot read properties of undefined (reading 'imageUrl')",
                rt.span(trace) | {"component": "ProductCard"},
            )
            rt.log(pod, t_end, "error", "request errored", done, status=500)
            return Resp(500, ms), pod, path, method
        rt.log(pod, t_end, "info", "request completed", done, status=200)
        return Resp(200, ms), pod, path, method

    def _page_request(self, kind: str) -> tuple[str, str]:
        rt = self.rt
        if kind == "home":
            return "GET", "/"
        if kind == "product":
            return "GET", f"/products/{rt.ri(10000, 99999)}"
        if kind == "category":
            return "GET", f"/c/{rt.rng.choice(CATEGORIES)}?page={1 + int(rt.rng.random() ** 2 * 6)}"
        if kind == "cart":
            return ("POST", "/api/cart/items") if rt.rng.random() < 0.4 else ("GET", "/cart")
        if kind == "checkout":
            return "POST", "/api/checkout"
        return "GET", "/account/orders"

    # ---------------------------------------------------------------------------- auth

    def auth(
        self, t: float, trace: dict, endpoint: str, *, from_alb: bool = False
    ) -> tuple[Resp, Pod, bool]:
        """Returns (response, pod, connection_refused)."""
        rt, rng = self.rt, self.rt.rng
        pod = rt.pick("auth", t)
        lvl = rt.fault_level("auth", t)
        kind = rt.fault_kind(lvl)
        path = ENDPOINTS["auth", endpoint].path
        ms = rt.ln(3.0, 0.35)
        if kind == "shed":
            if rng.random() < lvl * rt.plan.fault.p:
                # Rejected before the logging middleware: only the periodic summary says so.
                rt.shed[(pod.name, int(t // 10))] += 1
                refused = from_alb and rng.random() < 0.25
                return Resp(503, rt.ln(1.0, 0.3), True), pod, refused
            ms += lvl * rt.ln(300.0, 0.6)
        f = rt.span(trace) | {"method": "POST", "path": path}
        if kind == "slow":
            slow = self._slow_session_store(pod, t, trace, lvl, ms, f)
            if slow.status == 500:
                return slow, pod, False
            ms = slow.ms
        if kind == "config" and endpoint != "token" and rt.reloaded(pod, t):
            rt.log(
                pod,
                t + ms / 1000,
                "error",
                "token validation failed",
                f | {"error": OIDC, "latency_ms": round(ms, 1)},
                status=500,
            )
            return Resp(500, ms, True), pod, False
        status = 200
        if endpoint == "token":
            ms += rt.ln(38.0, 0.25)  # bcrypt
            if rng.random() < 0.07:
                status = 401
                rt.log(
                    pod,
                    t + ms / 1000,
                    "warn",
                    "invalid_grant: bad credentials",
                    rt.span(trace) | {"client_id": "web"},
                )
        level = "info" if status < 400 else "warn"
        rt.log(
            pod,
            t + ms / 1000,
            level,
            "request completed",
            f | {"latency_ms": round(ms, 1)},
            status=status,
        )
        # A slow answer caused by the fault is the fault's doing when the caller times out.
        return Resp(status, ms, kind in ("slow", "shed")), pod, False

    def _slow_session_store(
        self, pod: Pod, t: float, trace: dict, lvl: float, ms: float, f: dict
    ) -> Resp:
        """dependency-timeout on auth: Redis answers slowly; past 3 s the read times out."""
        rt = self.rt
        redis_ms = lvl * rt.ln(650.0, 0.7)
        ms += redis_ms
        if redis_ms > 3000:
            ms = 3000 + rt.ln(3.0, 0.3)
            rt.log(
                pod,
                t + ms / 1000,
                "error",
                f"failed to load session: read tcp {pod.ip}:{rt.ri(30000, 60000)}"
                "->10.0.48.9:6379: i/o timeout",
                f | {"latency_ms": round(ms, 1)},
                status=500,
            )
            return Resp(500, ms, True)
        if redis_ms > 250 and rt.rng.random() < 0.25:
            rt.log(
                pod,
                t + ms / 1000,
                "warn",
                "slow redis command",
                rt.span(trace) | {"cmd": "GET", "duration_ms": round(redis_ms, 1)},
            )
        return Resp(200, ms)

    # ---------------------------------------------------------------------------- inventory

    def inventory(self, t: float, trace: dict, endpoint: str) -> Resp:
        rt, rng = self.rt, self.rt.rng
        pod = rt.pick("inventory", t)
        lvl = rt.fault_level("inventory", t)
        kind = rt.fault_kind(lvl)
        fault = rt.plan.fault
        ep = ENDPOINTS["inventory", endpoint]
        method, path = ep.method, ep.path
        ms = rt.ln(7.0, 0.4)
        f = rt.span(trace) | {"method": method, "path": path}
        client = self._cluster_client()
        if kind == "cpu":
            ms, dropped = rt.starved(lvl, ms)
            if dropped:
                return Resp(200, ms, True)
        if kind == "silent" and endpoint != "release":
            p = fault.p if endpoint == "reserve" else 0.12
            if rng.random() < p:
                # The catch-all exception handler answers 500 and logs nothing itself.
                ms += rt.ln(4.0, 0.3)
                self._access_py(pod, t + ms / 1000, client, method, path, 500, ms, f)
                return Resp(500, ms, True)
        if kind == "bug" and pod.version == fault.version and endpoint != "release":
            p = fault.p if endpoint == "reserve" else 0.12
            if rng.random() < p:
                ms += rt.ln(4.0, 0.3)
                rt.log(
                    pod,
                    t + ms / 1000,
                    "error",
                    f"unhandled error in {method} {path}: KeyError: 'warehouse_id'",
                    f | {"exc_info": KEYERROR},
                )
                self._access_py(pod, t + ms / 1000, client, method, path, 500, ms, f)
                return Resp(500, ms, True)
        if kind == "pool":
            if rng.random() < lvl * fault.p:
                ms = 30000 + rt.ln(5.0, 0.3)
                # Callers gave up long before; most of these requests are cancelled when the
                # client disconnects, and only the rest reach the pool timeout and log it.
                if rng.random() < 0.4:
                    exc = f | {"exc_type": "sqlalchemy.exc.TimeoutError"}
                    rt.log(pod, t + ms / 1000, "error", QUEUEPOOL, exc)
                    self._access_py(pod, t + ms / 1000, client, method, path, 503, ms, f)
                return Resp(503, ms, True)
            ms += lvl * rt.ln(900.0, 0.7)
        if endpoint == "stock" and rng.random() < 0.002:
            msg = "deadlock detected, retrying transaction (attempt 1/3)"
            rt.log(pod, t + ms / 1000, "warn", msg, f)
        status = 201 if endpoint == "reserve" else 200
        self._access_py(pod, t + ms / 1000, client, method, path, status, ms, f)
        return Resp(200, ms, kind in ("pool", "cpu"))

    def _cluster_client(self) -> str:
        rt = self.rt
        return f"10.0.{16 * rt.ri(1, 3)}.{rt.ri(20, 250)}:{rt.ri(30000, 60000)}"

    def _access_py(
        self,
        pod: Pod,
        t: float,
        client: str,
        method: str,
        path: str,
        status: int,
        ms: float,
        f: dict,
    ) -> None:
        fields = {
            "trace_id": f["trace_id"],
            "span_id": f["span_id"],
            "latency_ms": round(ms, 1),
            "logger": "uvicorn.access",
        }
        msg = f'{client} - "{method} {path} HTTP/1.1" {status}'
        self.rt.log(pod, t, "info", msg, fields, status=status)

    # ---------------------------------------------------------------------------- recs, search

    def recs(self, t: float, trace: dict, endpoint: str = "recs") -> Resp:
        rt = self.rt
        pod = rt.pick("recommendations", t)
        ms = rt.ln(22.0, 0.5)
        f = rt.span(trace) | {"method": "GET", "path": "/v1/recs"}
        if rt.rng.random() < 0.01:
            msg = "feature store lookup timed out after 50ms; using popularity fallback"
            rt.log(pod, t + ms / 1000, "warn", msg, f)
        if rt.red_herring("recommendations", t) and rt.rng.random() < 0.15:
            rt.log(
                pod,
                t + ms / 1000,
                "error",
                "model snapshot reload failed, serving stale model: ReadTimeoutError: Read "
                'timeout on endpoint URL: "https://ml-artifacts-prod.s3.amazonaws.com/recs/'
                'snapshots/latest.npz"',
                f,
            )
        client = self._cluster_client()
        self._access_py(pod, t + ms / 1000, client, "GET", "/v1/recs", 200, ms, f)
        return Resp(200, ms)

    def search(self, t: float, trace: dict, path: str, client_ip: str) -> tuple[Resp, Pod]:
        rt, rng = self.rt, self.rt.rng
        pod = rt.pick("search", t)
        ms = rt.ln(35.0, 0.5)
        f = rt.span(trace) | {"method": "GET", "path": path.split("?")[0]}
        client = f"{client_ip}:{rt.ri(30000, 60000)}"
        status = 200
        if rng.random() < 0.006:
            ms = 1000 + rt.ln(4.0, 0.3)
            status = 503
            msg = (
                "opensearch query failed: ConnectionTimeout caused by ReadTimeoutError("
                "HTTPConnectionPool(host='search-os.prod.svc.cluster.local', port=9200): "
                "Read timed out. (read timeout=1.0))"
            )
            rt.log(pod, t + ms / 1000, "error", msg, f)
        elif rt.red_herring("search", t) and rng.random() < 0.12:
            status = 503
            msg = (
                "search backend error: es_rejected_execution_exception: rejected execution "
                "of coordinating operation on QueueResizingEsThreadPoolExecutor[name = "
                "search-os-data-1/search, queue capacity = 1000]"
            )
            rt.log(pod, t + ms / 1000, "error", msg, f)
        elif ms > 400 and rng.random() < 0.5:
            rt.log(pod, t + ms / 1000, "warn", f"slow opensearch query took {int(ms)}ms", f)
        self._access_py(pod, t + ms / 1000, client, "GET", path, status, ms, f)
        return Resp(status, ms), pod

    # ---------------------------------------------------------------------------- checkout

    def checkout(self, t: float, trace: dict, endpoint: str) -> Resp:
        rt, rng = self.rt, self.rt.rng
        pod = rt.pick("checkout", t)
        lvl = rt.fault_level("checkout", t)
        kind = rt.fault_kind(lvl)
        ep = ENDPOINTS["checkout", endpoint]
        method, path = ep.method, ep.path
        f = rt.span(trace)
        ms = rt.ln(12.0, 0.35)
        if kind == "cpu":
            ms, dropped = rt.starved(lvl, ms)
            if dropped:
                return Resp(200, ms, True)
        if kind == "pool" and rng.random() < lvl * rt.plan.fault.p:
            # Tomcat threads are not cancelled when the caller gives up: every one of these
            # waits the full 30 s and logs.
            ms = 30000 + rt.ln(8.0, 0.3)
            rt.log(
                pod,
                t + ms / 1000,
                "error",
                HIKARI.format(w=rt.ri(25, 60)),
                f
                | {
                    "logger": "c.e.checkout.web.GlobalExceptionHandler",
                    "stack_trace": "org.springframework.transaction."
                    "CannotCreateTransactionException: Could not open JPA EntityManager "
                    "for transaction\nCaused by: java.sql.SQLTransientConnectionException: "
                    + HIKARI.format(w=rt.ri(25, 60)),
                },
            )
            self._access_java(pod, t + ms / 1000, method, path, 500, ms, f)
            return Resp(500, ms, True)
        if kind == "pool":
            ms += lvl * rt.ln(1500.0, 0.7)
        if endpoint == "list":
            ms += rt.ln(15.0, 0.4)
            self._access_java(pod, t + ms / 1000, method, path, 200, ms, f)
            return Resp(200, ms, kind in ("pool", "cpu"))
        return self._create_order(pod, t, trace, f, ms, kind)

    def _create_order(self, pod: Pod, t: float, trace: dict, f: dict, ms: float, kind: str) -> Resp:
        """POST /v1/orders: check the token, reserve stock, charge; release stock if that fails."""
        rt, rng, fault = self.rt, self.rt.rng, self.rt.plan.fault
        method, path = "POST", "/v1/orders"
        c = self.call(pod, t + ms / 1000, DEPENDENCIES["introspect"], trace)
        ms += c.ms
        failed = None if c.ok else ("auth", c)
        order = f"ord_{rng.getrandbits(40):010x}"
        service_log = f | {"logger": "c.e.checkout.service.OrderService"}
        if failed is None:
            msg = f"Creating order {order} for cart crt_{rng.getrandbits(32):08x} "
            rt.log(pod, t + ms / 1000, "info", msg + f"({rt.ri(1, 6)} items)", service_log)
            c = self.call(pod, t + ms / 1000, DEPENDENCIES["reserve"], trace)
            ms += c.ms
            if not c.ok:
                failed = ("inventory", c)
        bug = kind == "bug" and pod.version == fault.version
        if failed is None and bug and rng.random() < fault.p:
            ms += rt.ln(3.0, 0.3)
            rt.log(
                pod,
                t + ms / 1000,
                "error",
                f"Unhandled exception processing {method} {path}",
                f | {"logger": "c.e.checkout.web.GlobalExceptionHandler", "stack_trace": NPE},
            )
            self._access_java(pod, t + ms / 1000, method, path, 500, ms, f)
            return Resp(500, ms, True)
        if failed is None:
            c = self.call(pod, t + ms / 1000, DEPENDENCIES["charge"], trace)
            ms += c.ms
            if not c.ok:
                failed = ("payments", c)
                self.inventory(t + ms / 1000, trace, "release")  # compensate the reservation
        if failed is not None:
            dep, fc = failed
            status = 504 if fc.timed_out else 502
            msg = f"Checkout failed for order {order}: {dep} unavailable"
            rt.log(
                pod, t + ms / 1000, "error", msg, service_log | {"upstream": dep}, cascade=fc.fault
            )
            self._access_java(pod, t + ms / 1000, method, path, status, ms, f, cascade=fc.fault)
            return Resp(status, ms, fc.fault)
        status = 402 if c.status == 402 else 201
        if status == 201:
            msg = f"Order {order} placed (total={rt.ri(15, 400)}.{rt.ri(0, 99):02d} EUR)"
            rt.log(pod, t + ms / 1000, "info", msg, service_log)
        self._access_java(pod, t + ms / 1000, method, path, status, ms, f)
        return Resp(status, ms, kind in ("pool", "cpu"))

    def _access_java(
        self,
        pod: Pod,
        t: float,
        method: str,
        path: str,
        status: int,
        ms: float,
        f: dict,
        *,
        cascade: bool = False,
    ) -> None:
        self.rt.log(
            pod,
            t,
            "info",
            f"{method} {path} {status} {int(ms)}ms",
            f | {"logger": "c.e.checkout.web.AccessLog", "latency_ms": round(ms, 1)},
            status=status,
            cascade=cascade,
        )

    # ---------------------------------------------------------------------------- payments

    def payments(self, t: float, trace: dict, endpoint: str = "charge") -> Resp:
        rt, rng = self.rt, self.rt.rng
        pod = rt.pick("payments", t)
        lvl = rt.fault_level("payments", t)
        kind = rt.fault_kind(lvl)
        fault = rt.plan.fault
        ms = rt.ln(9.0, 0.3)
        f = rt.span(trace) | {"method": "POST", "path": "/v1/charges"}
        if kind == "silent" and rng.random() < fault.p:
            # Recovered by a middleware outside the request log, which answers 500 silently.
            return Resp(500, ms + rt.ln(2.0, 0.3), True)
        if kind == "bug" and pod.version == fault.version and rng.random() < fault.p:
            stack = {"stacktrace": GO_PANIC.format(g=rt.ri(1000, 90000))}
            msg = (
                "panic recovered: runtime error: invalid memory address or nil pointer dereference"
            )
            rt.log(pod, t + ms / 1000, "error", msg, f | stack | {"caller": "server/recover.go:34"})
            return self._charged(pod, t, ms, f, "error", 500, True)
        if kind == "config" and rt.reloaded(pod, t):
            ms += rt.ln(60.0, 0.3)
            msg = (
                "psp rejected request: 401 Unauthorized: invalid_api_key (live key used "
                "against https://sandbox.psp.example-pay.com)"
            )
            rt.log(pod, t + ms / 1000, "error", msg, f | {"caller": "psp/client.go:118"})
            return self._charged(pod, t, ms, f, "error", 502, True)
        psp = rt.ln(180.0, 0.35)
        slowed = kind == "slow" and rng.random() < 0.4 + 0.6 * lvl
        if slowed:
            psp += lvl * rt.ln(4200.0, 0.45)
        if psp > 10_000:
            ms += 10_000
            msg = (
                'psp request failed: Post "https://api.psp.example-pay.com/v2/charges": '
                "context deadline exceeded (Client.Timeout exceeded while awaiting headers)"
            )
            rt.log(pod, t + ms / 1000, "error", msg, f | {"caller": "psp/client.go:131"})
            return self._charged(pod, t, ms, f, "error", 502, slowed)
        ms += psp
        if psp > 2000:
            slow = {"psp_ms": round(psp, 1), "caller": "psp/client.go:140"}
            rt.log(pod, t + ms / 1000, "warn", "slow psp response", f | slow)
        if rng.random() < 0.035:
            msg = "charge declined: card_declined (insufficient_funds)"
            rt.log(pod, t + ms / 1000, "warn", msg, f | {"caller": "charge/service.go:171"})
            return self._charged(pod, t, ms, f, "warn", 402, slowed)
        ref = {"psp_ref": f"ch_{rng.getrandbits(64):016x}", "caller": "charge/service.go:166"}
        rt.log(pod, t + ms / 1000, "info", "charge authorized", f | ref)
        return self._charged(pod, t, ms, f, "info", 201, slowed)

    def _charged(
        self, pod: Pod, t: float, ms: float, f: dict, level: str, status: int, fault: bool
    ) -> Resp:
        done = f | {"latency_ms": round(ms, 1)}
        self.rt.log(pod, t + ms / 1000, level, "request completed", done, status=status)
        return Resp(status, ms, fault)
