"""The simulated shop as tables: AWS names, services, their endpoints and who calls whom.

A service's behaviour under a fault is code (tasks/synthetic/_services.py); everything a caller
needs to reach it (method, path, timeout, retries, whether it may fail quietly) is a row here.
"""

from __future__ import annotations

from dataclasses import dataclass

ACCOUNT_ID = "284619730551"
REGION = "us-east-1"
NAMESPACE = "prod"
DOMAIN = "shop.example.com"
LB_NAME = "shop-prod-edge"
LB_ID = "6f2b1c9d04e7a315"
LB_NODE_IPS = ("10.0.101.37", "10.0.102.118", "10.0.103.74")
REGISTRY = f"{ACCOUNT_ID}.dkr.ecr.{REGION}.amazonaws.com"
TRAIL_NAME = "org-management-events"

APP_PREFIX = "fluent-bit-logs/"
ALB_PREFIX = f"AWSLogs/{ACCOUNT_ID}/elasticloadbalancing/"
# Deliberately slash-less, as SREs often write it: it also matches CloudTrail-Digest/, which a
# reader has to skip.
CLOUDTRAIL_PREFIX = f"AWSLogs/{ACCOUNT_ID}/CloudTrail"


@dataclass(frozen=True)
class ServiceDef:
    name: str
    lang: str  # node | java | go | python | text: decides the shape of its log lines
    port: int
    replicas: int
    version: str  # running when the incident starts
    week_ago_version: str  # running 7 days earlier
    probes_logged: bool  # whether kubelet probes show up in its access log
    upload_interval: int  # seconds between Fluent Bit's uploads of this service's logs


SERVICES: dict[str, ServiceDef] = {
    s.name: s
    for s in (
        ServiceDef("frontend", "node", 3000, 4, "2.18.3", "2.17.9", False, 60),
        ServiceDef("checkout", "java", 8080, 3, "1.42.0", "1.41.2", False, 180),
        ServiceDef("payments", "go", 8080, 2, "3.7.1", "3.7.0", False, 180),
        ServiceDef("inventory", "python", 8000, 3, "5.3.2", "5.3.1", True, 120),
        ServiceDef("auth", "go", 8080, 3, "2.9.0", "2.9.0", True, 120),
        ServiceDef("search", "python", 8000, 2, "4.2.0", "4.1.7", True, 180),
        ServiceDef("recommendations", "python", 8000, 2, "0.9.3", "0.9.1", True, 120),
        ServiceDef("pgbouncer", "text", 6432, 2, "1.23.1", "1.23.1", False, 300),
    )
}


@dataclass(frozen=True)
class Endpoint:
    """One operation a service serves, named as its handler knows it."""

    service: str
    name: str
    method: str
    path: str


ENDPOINTS: dict[tuple[str, str], Endpoint] = {
    (e.service, e.name): e
    for e in (
        Endpoint("auth", "validate", "POST", "/v1/sessions/validate"),
        Endpoint("auth", "introspect", "POST", "/v1/introspect"),
        Endpoint("auth", "token", "POST", "/oauth/token"),
        Endpoint("inventory", "stock", "GET", "/v1/stock"),
        Endpoint("inventory", "reserve", "POST", "/v1/reservations"),
        Endpoint("inventory", "release", "DELETE", "/v1/reservations"),
        Endpoint("recommendations", "recs", "GET", "/v1/recs"),
        Endpoint("checkout", "create", "POST", "/v1/orders"),
        Endpoint("checkout", "list", "GET", "/v1/orders"),
        Endpoint("payments", "charge", "POST", "/v1/charges"),
    )
}


@dataclass(frozen=True)
class Dependency:
    """A synchronous call from one service to another, as the caller's client is configured.

    `path` is what the caller logs; `{sku}` in it is filled with a random SKU per request.
    A call slower than `timeout_ms` is abandoned and retried up to `retries` times; an
    `optional` dependency's failures are logged as warnings and do not fail the request.
    """

    name: str
    caller: str
    service: str
    endpoint: str
    path: str
    timeout_ms: int
    retries: int = 0
    optional: bool = False

    @property
    def method(self) -> str:
        return ENDPOINTS[self.service, self.endpoint].method


DEPENDENCIES: dict[str, Dependency] = {
    d.name: d
    for d in (
        Dependency("session", "frontend", "auth", "validate", "/v1/sessions/validate", 800),
        Dependency("stock-one", "frontend", "inventory", "stock", "/v1/stock/{sku}", 1500, 1),
        Dependency("stock-batch", "frontend", "inventory", "stock", "/v1/stock", 1500, 1),
        Dependency("recs", "frontend", "recommendations", "recs", "/v1/recs", 300, optional=True),
        Dependency("order", "frontend", "checkout", "create", "/v1/orders", 8000),
        Dependency("orders", "frontend", "checkout", "list", "/v1/orders", 3000),
        Dependency("introspect", "checkout", "auth", "introspect", "/v1/introspect", 1000),
        Dependency("reserve", "checkout", "inventory", "reserve", "/v1/reservations", 2000),
        Dependency("charge", "checkout", "payments", "charge", "/v1/charges", 3000, 1),
    )
}

#: What the ALB forwards to (its target groups), and the dependencies that write no logs here:
#: "psp" is the external payment provider, "redis" auth's session store.
EDGE_TARGETS = ("frontend", "search", "auth")
_SILENT_DEPENDENCIES = {"payments": ("psp",), "auth": ("redis",)}
_DATABASE_CLIENTS = ("checkout", "inventory")  # through pgbouncer, not request by request


def _call_graph() -> dict[str, tuple[str, ...]]:
    graph: dict[str, list[str]] = {"alb": list(EDGE_TARGETS)}
    graph |= {name: [] for name in SERVICES}
    for dep in DEPENDENCIES.values():
        if dep.service not in graph[dep.caller]:
            graph[dep.caller].append(dep.service)
    for caller in _DATABASE_CLIENTS:
        graph[caller].append("pgbouncer")
    for caller, deps in _SILENT_DEPENDENCIES.items():
        graph[caller] += deps
    return {caller: tuple(deps) for caller, deps in graph.items()}


#: Who calls whom (synchronously), derived from the tables above.
CALL_GRAPH: dict[str, tuple[str, ...]] = _call_graph()

#: ALB target groups, named after the services behind them.
TARGET_GROUPS = {
    svc: f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT_ID}:targetgroup/{svc}/{tg_id}"
    for svc, tg_id in (
        ("frontend", "3c5e7a9b1d2f4068"),
        ("search", "8a1f0e2d4c6b9375"),
        ("auth", "b7d9e1f3a5c20486"),
    )
}
RULE_PRIORITY = {"frontend": 0, "search": 10, "auth": 20}
CERT_ARN = f"arn:aws:acm:{REGION}:{ACCOUNT_ID}:certificate/5d0b2f7e-93a1-4c6e-8f2b-1a7c9e4d3b60"
