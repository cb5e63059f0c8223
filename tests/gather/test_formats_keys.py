"""What object keys say: the service, the workload behind a pod name."""

from __future__ import annotations

from tasks.contracts import Source
from tasks.gather.formats import (
    service_from_key,
    workload_name,
)
from tasks.gather.formats.keys import default_service, file_service
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


def test_file_service_strips_log_compression_and_rotation_suffixes():
    assert file_service("nova/nova-compute.log.gz") == "nova-compute"
    assert file_service("cinder-volume.log") == "cinder-volume"
    assert file_service("hosts/web1/app.log.1.gz") == "app"
    assert file_service("app.log.2026-01-05") == "app"
    assert file_service("payments.jsonl.zst") == "payments"
    assert file_service("syslog") == "syslog"
    assert file_service("dir/.log") == ".log"  # nothing left to name: keep the name


def test_default_service_order_pattern_then_layout_then_file_name_then_source():
    local = Source(name="openstack", uri="/var/log/incident")
    assert default_service(local, "nova/nova-compute.log.gz") == "nova-compute"
    # A recognised layout wins over the file name.
    assert default_service(local, "vector/service=cart/part-1.log") == "cart"
    # A bucket's file names are no promise: the source name stays the fallback there.
    bucket = Source(name="app", uri="s3://acme-logs/app/")
    assert default_service(bucket, "app/2026/01/05/part-1.log.gz") == "app"
    patterned = Source(
        name="app", uri="s3://acme-logs/", service_pattern=r"^hosts/[^/]+/(?P<service>[^/]+)/"
    )
    assert default_service(patterned, "hosts/web1/checkout/x.log") == "checkout"
    assert default_service(patterned, "elsewhere/x.log") == "app"  # no match: next rule
