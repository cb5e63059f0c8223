"""A deterministic corpus of log lines with planted secrets, for the redaction tests.

Each planted secret is recorded with every form in which it was written (plain, split by JSON
`\\uXXXX` escapes, or by URL percent-encoding), so a test can look for any of them in what left
the process. Values are random, so a hit can only be a leak.
"""

from __future__ import annotations

import base64
import json
import random
import string
from dataclasses import dataclass, field

ALNUM = string.ascii_letters + string.digits


@dataclass
class Planted:
    kind: str
    value: str  # the secret as a human would read it
    written: str  # how it appears in the line (possibly escaped or percent-encoded)
    encoding: str  # plain | json | url

    def fragments(self) -> list[str]:
        """What must not appear anywhere: the value, the written form, and 12-character windows
        of the value, so a partly redacted secret counts as a leak too."""
        out = {self.value, self.written}
        if len(self.value) >= 16:
            out.update(self.value[i : i + 12] for i in range(0, len(self.value) - 11, 6))
        return sorted(out)


@dataclass
class Corpus:
    lines: list[str] = field(default_factory=list)
    planted: list[Planted] = field(default_factory=list)

    def kinds(self) -> set[str]:
        return {p.kind for p in self.planted}


def _rand(rng: random.Random, n: int, alphabet: str = ALNUM) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def _luhn_complete(rng: random.Random, prefix: str, length: int) -> str:
    body = prefix + _rand(rng, length - len(prefix) - 1, string.digits)
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return body + str((10 - total % 10) % 10)


def _b64url(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _secret(rng: random.Random, kind: str) -> tuple[str, str]:
    """(value, context template with {v}) for one kind."""
    if kind == "aws_access_key":
        return "AKIA" + _rand(rng, 16, string.ascii_uppercase + string.digits), "aws key {v} used"
    if kind == "aws_secret_key":
        v = _rand(rng, 37, ALNUM) + "/" + _rand(rng, 1) + "+"
        v = "".join(rng.sample(v, len(v)))
        return v, rng.choice(["aws_secret_access_key={v}", "creds dumped: {v} (rotate)"])
    if kind == "github_token":
        return "ghp_" + _rand(rng, 36), "git clone with token {v}"
    if kind == "slack_token":
        return (
            f"xoxb-{_rand(rng, 12, string.digits)}-{_rand(rng, 13, string.digits)}-"
            + _rand(rng, 24, string.ascii_lowercase + string.digits),
            "slack notify failed token {v}",
        )
    if kind == "stripe_key":
        return "sk_live_" + _rand(rng, 24), "stripe client init {v}"
    if kind == "google_api_key":
        return "AIza" + _rand(rng, 35, ALNUM + "_-"), "maps call key={v}"
    if kind == "anthropic_key":
        return "sk-ant-api03-" + _rand(rng, 80, ALNUM + "_-") + "AA", "llm client {v}"
    if kind == "openai_key":
        return "sk-proj-" + _rand(rng, 48, ALNUM), "openai client {v} ready"
    if kind == "jwt":
        v = ".".join(
            [
                _b64url({"alg": "HS256", "typ": "JWT"}),
                _b64url({"sub": _rand(rng, 10), "exp": rng.randint(10**9, 2 * 10**9)}),
                _rand(rng, 43, ALNUM + "_-"),
            ]
        )
        return v, "session cookie={v} expired"
    if kind == "bearer_token":
        return _rand(rng, 40, ALNUM + "-._~"), "Authorization: Bearer {v}"
    if kind == "url_password":
        return _rand(rng, 14), "connect postgres://app:{v}@db.internal:5432/orders failed"
    if kind == "secret_value":
        return _rand(rng, 16, ALNUM + "!#$^*"), rng.choice(
            ["login password={v} user=svc", 'db_password: "{v}"', "client_secret={v}&grant=x"]
        )
    if kind == "private_key":
        body = "\n".join(_rand(rng, 64, ALNUM + "+/") for _ in range(3))
        v = f"-----BEGIN RSA PRIVATE KEY-----\n{body}\n-----END RSA PRIVATE KEY-----"
        return v, "loaded key {v} from env"
    if kind == "email":
        v = f"{_rand(rng, 8, string.ascii_lowercase)}.{_rand(rng, 5, string.ascii_lowercase)}@{_rand(rng, 7, string.ascii_lowercase)}.example.com"
        return v, "password reset sent to {v}"
    if kind == "card_number":
        prefix, length = rng.choice([("4", 16), ("51", 16), ("55", 16), ("37", 15), ("6011", 16)])
        v = _luhn_complete(rng, prefix, length)
        if length == 16 and rng.random() < 0.5:
            v = " ".join(v[i : i + 4] for i in range(0, 16, 4))
        return v, "charge declined card {v} amount 12.00"
    if kind == "ipv4":
        v = ".".join(str(rng.randint(11, 254)) for _ in range(4))
        return v, "client {v} connected"
    if kind == "ipv6":
        v = ":".join(f"{rng.randint(0x1000, 0xFFFF):x}" for _ in range(8))
        return v, "peer {v} reset"
    raise ValueError(kind)


KINDS = [
    "aws_access_key",
    "aws_secret_key",
    "github_token",
    "slack_token",
    "stripe_key",
    "google_api_key",
    "anthropic_key",
    "openai_key",
    "jwt",
    "bearer_token",
    "url_password",
    "secret_value",
    "private_key",
    "email",
    "card_number",
    "ipv4",
    "ipv6",
]


def _json_split(rng: random.Random, value: str) -> str:
    """The value inside a JSON string: special characters escaped as JSON does, and a few
    ordinary characters written as \\u00XX, so no plain substring of it is the secret."""
    out = []
    positions = set(rng.sample(range(len(value)), k=min(3, len(value))))
    for i, ch in enumerate(value):
        if ch == "\n":
            out.append("\\n")
        elif ch == "/":
            out.append("\\/")
        elif ch == "@" or i in positions:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return "".join(out)


def _url_split(rng: random.Random, value: str) -> str:
    positions = set(rng.sample(range(len(value)), k=min(3, len(value))))
    return "".join(
        f"%{ord(ch):02X}" if ch in "@:/+=&?# \n" or i in positions else ch
        for i, ch in enumerate(value)
    )


def planted_corpus(n_secrets: int = 1200, seed: int = 8, per_line: int = 3) -> Corpus:
    """About `n_secrets` secrets over all KINDS, a third JSON-escaped and a sixth URL-encoded."""
    rng = random.Random(seed)
    corpus = Corpus()
    pending: list[str] = []
    for i in range(n_secrets):
        kind = KINDS[i % len(KINDS)]
        value, context = _secret(rng, kind)
        roll = rng.random()
        # Private keys and bearer headers are not URL-encoded in practice, and a card or an IP
        # split by %XX is still caught but reads oddly; every kind gets the JSON form.
        if roll < 0.33:
            written, encoding = _json_split(rng, value), "json"
            fragment = '{"msg": "' + context.replace('"', '\\"').format(v=written) + '"}'
        elif roll < 0.5 and kind not in {"private_key", "bearer_token"}:
            written, encoding = _url_split(rng, value), "url"
            fragment = f"GET /callback?note={context.format(v=written).replace(' ', '+')}"
        else:
            written, encoding = value, "plain"
            fragment = context.format(v=written).replace("\n", "\\n")
        corpus.planted.append(Planted(kind, value, written, encoding))
        pending.append(fragment)
        if len(pending) == per_line:
            corpus.lines.append(" | ".join(pending))
            pending = []
    if pending:
        corpus.lines.append(" | ".join(pending))
    return corpus


def leaks(corpus: Corpus, texts: list[str]) -> list[tuple[str, str]]:
    """(kind, fragment) for every planted fragment found in any of the texts."""
    found = []
    for p in corpus.planted:
        for frag in p.fragments():
            if any(frag in t for t in texts):
                found.append((p.kind, frag))
                break
    return found
