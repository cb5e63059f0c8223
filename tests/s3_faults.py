"""A fault-injecting HTTP proxy in front of moto's S3 server.

moto answers every request correctly; real S3 also says 403 AccessDenied, 503 SlowDown and,
when an object disappears between listing and reading, 404 NoSuchKey. This proxy forwards
everything to moto except requests that match a rule, which get the genuine S3 XML error, so
boto3 and botocore's retry logic see exactly what they would see from AWS:

    with S3FaultProxy(moto_endpoint) as proxy:
        proxy.fail("get", "logs/a.gz", SLOW_DOWN, times=2)   # two 503s, then moto answers
        settings = Settings(s3_endpoint_url=proxy.endpoint)

Requests are path-style (`/bucket/key?query`), which is what botocore sends to an IP endpoint.
"""

from __future__ import annotations

import fnmatch
import http.client
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit
from xml.sax.saxutils import escape


@dataclass(frozen=True)
class S3Error:
    status: int
    code: str
    message: str


ACCESS_DENIED = S3Error(403, "AccessDenied", "Access Denied")
SLOW_DOWN = S3Error(503, "SlowDown", "Please reduce your request rate.")
NO_SUCH_KEY = S3Error(404, "NoSuchKey", "The specified key does not exist.")


@dataclass
class Rule:
    op: str  # "list" (GET on the bucket), "get", "head", "put", or "*"
    key: str  # glob over the key ("list": over the listed prefix); "*" for any
    error: S3Error
    times: int | None  # None: every time
    hits: int = 0

    def matches(self, op: str, key: str) -> bool:
        if self.times is not None and self.hits >= self.times:
            return False
        if self.op not in ("*", op):
            return False
        return op == "list" or fnmatch.fnmatchcase(key, self.key)


@dataclass
class S3FaultProxy:
    upstream: str
    rules: list[Rule] = field(default_factory=list)
    requests: list[tuple[str, str]] = field(default_factory=list)  # (op, key or listed prefix)

    def __post_init__(self) -> None:
        parts = urlsplit(self.upstream)
        self._upstream_host = parts.hostname or "127.0.0.1"
        self._upstream_port = parts.port or 80
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )

    @property
    def endpoint(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def fail(self, op: str, key: str, error: S3Error, times: int | None = None) -> Rule:
        """Answer matching requests with `error`, `times` times (None: always)."""
        rule = Rule(op, key, error, times)
        with self._lock:
            self.rules.append(rule)
        return rule

    def clear(self) -> None:
        with self._lock:
            self.rules.clear()
            self.requests.clear()

    def count(self, op: str, key: str = "*") -> int:
        with self._lock:
            return sum(1 for o, k in self.requests if o == op and fnmatch.fnmatchcase(k, key))

    def _decide(self, op: str, key: str) -> S3Error | None:
        with self._lock:
            self.requests.append((op, key))
            for rule in self.rules:
                if rule.matches(op, key):
                    rule.hits += 1
                    return rule.error
        return None

    def start(self) -> S3FaultProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> S3FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _operation(method: str, path: str, query: str) -> tuple[str, str, str]:
    """(op, bucket, key) for a path-style S3 request; a listing's key is its prefix."""
    parts = unquote(path).lstrip("/").split("/", 1)
    bucket = parts[0]
    key = parts[1] if len(parts) == 2 else ""
    if not key:
        if method == "GET":
            return "list", bucket, parse_qs(query).get("prefix", [""])[0]
        return method.lower(), bucket, key
    return method.lower(), bucket, key


def _handler_for(proxy: S3FaultProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as botocore's connection pool expects

        def log_message(self, format: str, *args: object) -> None:
            pass

        def _handle(self) -> None:
            split = urlsplit(self.path)
            op, bucket, key = _operation(self.command, split.path, split.query)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            error = proxy._decide(op, key)
            if error is not None:
                self._send_error(error, bucket, key)
                return
            self._forward(body)

        def _send_error(self, error: S3Error, bucket: str, key: str) -> None:
            request_id = uuid.uuid4().hex[:16].upper()
            xml = (
                '<?xml version="1.0" encoding="UTF-8"?>\n'
                f"<Error><Code>{error.code}</Code><Message>{escape(error.message)}</Message>"
                + (f"<Key>{escape(key)}</Key>" if key else "")
                + f"<BucketName>{escape(bucket)}</BucketName>"
                f"<RequestId>{request_id}</RequestId><HostId>s3-faults</HostId></Error>"
            ).encode()
            self.send_response(error.status)
            self.send_header("Content-Type", "application/xml")
            self.send_header("x-amz-request-id", request_id)
            if self.command == "HEAD":
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_header("Content-Length", str(len(xml)))
            self.end_headers()
            self.wfile.write(xml)

        def _forward(self, body: bytes | None) -> None:
            conn = http.client.HTTPConnection(proxy._upstream_host, proxy._upstream_port)
            try:
                headers = {k: v for k, v in self.headers.items() if k.lower() != "connection"}
                conn.request(self.command, self.path, body=body, headers=headers)
                response = conn.getresponse()
                data = response.read()
            finally:
                conn.close()
            self.send_response(response.status, response.reason)
            # The body was read whole, so it goes out with a length, never chunked; a HEAD
            # keeps moto's length, which describes the object it did not send.
            dropped = {"transfer-encoding", "connection"}
            if self.command != "HEAD":
                dropped.add("content-length")
                self.send_header("Content-Length", str(len(data)))
            for name, value in response.getheaders():
                if name.lower() not in dropped:
                    self.send_header(name, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle

    return Handler
