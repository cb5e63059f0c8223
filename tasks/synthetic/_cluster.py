"""The pods of one simulated stretch of time: who runs which version, and when it is ready."""

from __future__ import annotations

import hashlib
import math
import random
import uuid
from dataclasses import dataclass

import orjson

from tasks.synthetic._util import K8S_ALPHABET, digest
from tasks.synthetic.scenarios import Rollout
from tasks.synthetic.topology import NAMESPACE, REGISTRY, SERVICES, ServiceDef


@dataclass(eq=False)
class Pod:
    svc: ServiceDef
    name: str
    ip: str
    version: str
    ready_from: float
    ready_until: float
    probe_offset: float = 0.0  # where in each 10 s its kubelet probes land
    kubernetes: bytes = b""  # the serialized ',"kubernetes":{...}}' that ends each record

    def ready(self, t: float) -> bool:
        return self.ready_from <= t < self.ready_until


@dataclass(frozen=True)
class LifecycleEvent:
    pod: Pod
    t: float
    what: str  # start | stop


class Cluster:
    """Pods per service; rollouts replace them one by one, scale-ups add some."""

    def __init__(
        self,
        key: str,
        segment: str,
        versions: dict[str, str],
        start: float,
        rollouts: list[Rollout],
        rng: random.Random,
    ):
        self.key, self.rng = key, rng
        self.pods: dict[str, list[Pod]] = {s: [] for s in SERVICES}
        self.lifecycle: list[LifecycleEvent] = []
        self._ready: dict[str, tuple[float, float, list[Pod]]] = {}
        self.hosts = [
            f"ip-10-0-{16 * (1 + i % 3)}-{rng.randint(10, 250)}.ec2.internal" for i in range(6)
        ]
        for svc in SERVICES.values():
            version = versions[svc.name]
            tmpl = self._template_hash(svc.name, version, segment)
            for _ in range(svc.replicas):
                self._new_pod(svc, version, tmpl, start - 86400, math.inf)
        for ro in sorted(rollouts, key=lambda x: x.at):
            self._apply_rollout(ro)

    def pick(self, service: str, t: float) -> Pod:
        """A ready pod of `service` at `t`, as a load balancer would pick it."""
        lo, hi, pods = self._ready.get(service, (0.0, -1.0, []))
        if not lo <= t < hi:
            # Pods change rarely (rollouts), so the ready set is cached between changes.
            every = self.pods[service]
            pods = [p for p in every if p.ready(t)]
            lo = max(
                [p.ready_from for p in every if p.ready_from <= t]
                + [p.ready_until for p in every if p.ready_until <= t],
                default=-math.inf,
            )
            hi = min(
                [p.ready_from for p in every if p.ready_from > t]
                + [p.ready_until for p in every if p.ready_until > t],
                default=math.inf,
            )
            self._ready[service] = (lo, hi, pods)
        return pods[int(self.rng.random() * len(pods))] if pods else self.pods[service][-1]

    def _template_hash(self, service: str, version: str, salt: str) -> str:
        h = hashlib.blake2b(f"{self.key}/{service}/{version}/{salt}".encode(), digest_size=8)
        n = int.from_bytes(h.digest(), "big")
        out = []
        for _ in range(9 + n % 2):
            n, i = divmod(n, len(K8S_ALPHABET))
            out.append(K8S_ALPHABET[i])
        return "".join(out)

    def _new_pod(
        self, svc: ServiceDef, version: str, tmpl: str, ready_from: float, ready_until: float
    ) -> Pod:
        rng = self.rng
        name = f"{svc.name}-{tmpl}-{''.join(rng.choices(K8S_ALPHABET, k=5))}"
        host = rng.choice(self.hosts)
        subnet = host.split("-")[3]
        ip = f"10.0.{subnet}.{rng.randint(20, 250)}"
        image_repo = "mirror/bitnami/pgbouncer" if svc.name == "pgbouncer" else svc.name
        kube = {
            "pod_name": name,
            "namespace_name": NAMESPACE,
            "pod_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "labels": {
                "app.kubernetes.io/name": svc.name,
                "app.kubernetes.io/version": version,
                "app.kubernetes.io/part-of": "shop",
                "pod-template-hash": tmpl,
            },
            "host": host,
            "pod_ip": ip,
            "container_name": svc.name,
            "docker_id": f"{rng.getrandbits(256):064x}",
            "container_hash": f"{REGISTRY}/{image_repo}@sha256:{digest(svc.name, version)}",
            "container_image": f"{REGISTRY}/{image_repo}:{version}",
        }
        kubernetes = b',"kubernetes":' + orjson.dumps(kube) + b"}"
        pod = Pod(svc, name, ip, version, ready_from, ready_until, rng.uniform(0, 10), kubernetes)
        self.pods[svc.name].append(pod)
        return pod

    def _apply_rollout(self, ro: Rollout) -> None:
        svc = SERVICES[ro.service]
        live = [p for p in self.pods[svc.name] if p.ready_until == math.inf]
        if ro.reason == "scale-up":
            tmpl = live[0].name.split("-")[-2]
            for i in range(ro.count or 1):
                start = ro.at + i * self.rng.uniform(5, 20)
                pod = self._new_pod(svc, ro.version, tmpl, start + 15, math.inf)
                self.lifecycle.append(LifecycleEvent(pod, start, "start"))
            return
        tmpl = self._template_hash(svc.name, ro.version, "main")
        step = self.rng.uniform(35, 55)
        for i, old_pod in enumerate(live):
            start = ro.at + i * step
            pod = self._new_pod(svc, ro.version, tmpl, start + 25, math.inf)
            old_pod.ready_until = start + 25
            self.lifecycle.append(LifecycleEvent(pod, start, "start"))
            self.lifecycle.append(LifecycleEvent(old_pod, start + 25, "stop"))
