"""What object keys say: the service, the workload behind a pod name."""

from __future__ import annotations

from tasks.gather.formats import (
    service_from_key,
    workload_name,
)
from tests.gather.formats_support import EXPORT_KEY


def test_workload_name_strips_generated_pod_suffixes():
    assert workload_name("checkout-7d9f8b6c5d-x2x4z") == "checkout"
    assert workload_name("web-0") == "web"
    assert workload_name("node-exporter-bbx5c") == "node-exporter"
    assert workload_name("redis-cache") == "redis-cache"  # vowels: not a generated suffix
    assert workload_name("order-worker-queue") == "order-worker-queue"


def test_service_from_key():
    tag = (
        "fluent-bit-logs/kube.var.log.containers.checkout-7d9f8b6c5d-x2x4z_prod_checkout-"
        + "a" * 64
        + ".log/2026/01/05/10/00/00-obj"
    )
    assert service_from_key(tag) == "checkout"
    assert service_from_key(EXPORT_KEY) == "checkout"
    uuid = "0123abcd-1111-2222-3333-444455556666"
    lambda_key = f"exports/aws/lambda/resize/{uuid}/2026/01/05/[$LATEST]ab/000000.gz"
    assert service_from_key(lambda_key) == "resize"
    eks_key = f"{uuid}/payments-api-7d9f8b6c5d-x2x4z_prod_api/000000.gz"
    assert service_from_key(eks_key) == "payments-api"
    alb = (
        "AWSLogs/123456789012/elasticloadbalancing/eu-west-1/2026/01/05/123456789012_"
        "elasticloadbalancing_eu-west-1_app.shop-lb.50dc6c495c0c9188_20260105T1000Z_"
        "10.0.0.1_x.log.gz"
    )
    assert service_from_key(alb) == "shop-lb"
    assert service_from_key("vector/date=2026-01-05/service=cart/part-1.ndjson.gz") == "cart"
    assert service_from_key("logs/2026/01/05/app.log") is None
