"""Redaction of secrets and personal data, before any text leaves the process.

Detection runs twice over each string: on the text as it is, and on a decoded view in which JSON
escapes (`\\u0040`, `\\/`, `\\n`) and URL percent-encoding (`%40`) are undone, with every decoded
character mapped back to the characters it came from. A secret written as
`ops\\u0040example.com` or `p%40ss` is therefore found in the decoded view and replaced in the
original. Overlapping hits are merged, so a secret found partly by two detectors is never left
half visible.

The vendor patterns (AWS access key IDs, GitHub, GitLab, Slack, Stripe live keys, SendGrid,
Twilio, npm, PyPI, Discord, Telegram, Mailchimp, Azure storage, Square, Artifactory, IBM, old
OpenAI keys, JWTs, passwords in URLs) are the compiled denylists of detect-secrets' regex plugins,
so they follow that project's updates. What it lacks for log text is added here: whole
private-key blocks (its plugin only sees the header), bearer and basic credentials, AWS secret
keys outside quotes, passwords in key=value pairs, Google and Anthropic/OpenAI `sk-` keys, Stripe
test keys, GitHub fine-grained tokens, e-mail addresses, Luhn-checked card numbers and IPv4/IPv6.

Each distinct value gets a stable placeholder within one `Redactor` (one incident): the same
value is always `<email:1>`, whichever encoding it came in.
"""

from __future__ import annotations

import ipaddress
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class
from detect_secrets.plugins.base import RegexBasedDetector
from detect_secrets.plugins.high_entropy_strings import Base64HighEntropyString

from tasks.contracts.pack import RedactionReport

PLACEHOLDER = re.compile(r"<[a-z0-9_]+:\d+>")

# Characters a token may continue with: a vendor pattern that stops early (detect-secrets' JWT
# pattern ends lazily, its GitHub pattern has a fixed length) is widened to the whole token, so
# no tail of a secret stays behind.
_TOKEN_TAIL = re.compile(r"[A-Za-z0-9_\-+/=.]*")
# Backwards only over word characters: `key=` or a path before a token is not part of it.
_TOKEN_HEAD_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")

# detect-secrets plugins whose hits are not secrets in log text, or which we replace: public IPs
# are handled (and switched) here; keyword and entropy plugins need file context.
# The IBM, Cloudant and SoftLayer keyword patterns repeat our key=value detector (any
# `…key = value`, `…password: value`) and cost more than all the other patterns together.
_SKIPPED_PLUGINS = {
    "IPPublicDetector",
    "PrivateKeyDetector",
    "CloudantDetector",
    "IbmCloudIamDetector",
    "IbmCosHmacDetector",
    "SoftlayerDetector",
}

# detect-secrets secret types -> our kind names, so the report reads the same whichever detector
# fired first.
_KIND_NAMES = {
    "AWS Access Key": "aws_access_key",
    "Basic Auth Credentials": "url_password",
    "GitHub Token": "github_token",
    "JSON Web Token": "jwt",
    "OpenAI Token": "openai_key",
    "Slack Token": "slack_token",
    "Stripe Access Key": "stripe_key",
}


@dataclass(frozen=True)
class _Detector:
    kind: str
    regex: re.Pattern[str]
    group: int | None = None  # the group holding the secret; None: the whole match
    widen: bool = False  # extend the hit to the surrounding token characters
    check: str | None = None  # extra validation: "luhn", "ip", "entropy", "placeholder"
    # Lower-case strings one of which must occur for a match to be possible: a cheap test that
    # spares the regex engine most lines.
    needles: tuple[str, ...] = ()


def _own_detectors() -> list[_Detector]:
    card_iin = r"(?:4\d|5[1-5]|2[2-7]|3[47]|6(?:011|5\d)|3[568])"
    return [
        _Detector(
            "private_key",
            re.compile(
                r"-----BEGIN[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----.*?"
                r"(?:-----END[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----|\Z)",
                re.S,
            ),
            needles=("private key",),
        ),
        _Detector(
            "jwt",
            re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"),
            needles=("eyj",),
        ),
        _Detector(
            "anthropic_key",
            re.compile(r"sk-ant-[A-Za-z0-9_-]{16,}"),
            widen=True,
            needles=("sk-ant-",),
        ),
        _Detector(
            "openai_key",
            re.compile(r"(?<![A-Za-z0-9])sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}"),
            widen=True,
            needles=("sk-",),
        ),
        _Detector(
            "stripe_key",
            re.compile(r"(?:sk|rk|pk)_(?:live|test)_[0-9A-Za-z]{10,}"),
            needles=("_live_", "_test_"),
        ),
        _Detector(
            "google_api_key", re.compile(r"AIza[0-9A-Za-z_-]{35}"), widen=True, needles=("aiza",)
        ),
        _Detector(
            "github_token", re.compile(r"github_pat_[A-Za-z0-9_]{22,}"), needles=("github_pat_",)
        ),
        _Detector(
            "aws_secret_key",
            re.compile(
                r"(?i)(?:aws_?secret_?(?:access_?)?key|secret_?access_?key)[\"']?\s*[:=]\s*"
                r"[\"']?([A-Za-z0-9/+]{40})(?![A-Za-z0-9/+])"
            ),
            group=1,
            needles=("secret",),
        ),
        # A bare 40-character base64 string with the entropy of a random key: AWS secret keys
        # appear without a label in stack traces and dumped configs.
        _Detector(
            "aws_secret_key",
            re.compile(r"(?<![A-Za-z0-9/+=])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])"),
            check="entropy",
        ),
        _Detector(
            "bearer_token",
            re.compile(r"(?i)\bbearer\s+([A-Za-z0-9\-._~+/]{8,}=*)"),
            group=1,
            widen=True,
            needles=("bearer",),
        ),
        _Detector(
            "basic_auth",
            re.compile(r"(?i)\bbasic\s+([A-Za-z0-9+/]{8,}={0,2})(?![A-Za-z0-9+/=])"),
            group=1,
            needles=("basic",),
        ),
        _Detector(
            "url_password",
            re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s:/?#@\"'<>]+:([^\s@/?#\"'<>]+)@"),
            group=1,
            needles=("://",),
        ),
        _Detector(
            "secret_value",
            re.compile(
                r"(?i)(?:password|passwd|pwd|passphrase|secret|api[_-]?key|apikey|access[_-]?key"
                r"|token|credentials?|private[_-]?key)"
                # "+" is a space in form-encoded query strings.
                r"[\"']?[\s+]*[:=][\s+]*[\"']?(?!(?:bearer|basic)\b)([^\s\"',;&}\]+]+)"
            ),
            group=1,
            check="placeholder",
            needles=("pass", "pwd", "secret", "key", "token", "credential"),
        ),
        # Contiguous digits, or the printed 4-4-4-4 and Amex 4-6-5 groupings; mixed runs would
        # swallow a following number and then fail the checksum. Not after a word character or
        # a dash: HDFS block IDs (blk_-4980916519894289629) pass Luhn one time in ten.
        _Detector(
            "card_number", re.compile(rf"(?<![\w.-]){card_iin}\d{{11,17}}(?!\d)"), check="luhn"
        ),
        _Detector(
            "card_number",
            re.compile(
                r"(?<![\w.-])(?:[2-6]\d{3}([ -])\d{4}\1\d{4}\1\d{4}|3[47]\d{2}([ -])\d{6}\2\d{5})(?!\d)"
            ),
            check="luhn",
        ),
        _Detector(
            "email",
            re.compile(
                r"[A-Za-z0-9][A-Za-z0-9._%+-]*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"
            ),
            needles=("@",),
        ),
        _Detector(
            "ipv4",
            re.compile(r"(?<![\d.])\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}(?!\.?\d)"),
            check="ipv4",
            needles=(".",),
        ),
        _Detector(
            "ipv6",
            re.compile(
                r"(?<![\w:])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:[0-9A-Fa-f]{1,4}|:|\d+\.\d+\.\d+\.\d+)"
                r"(?![\w:])"
            ),
            check="ip",
            needles=(":",),
        ),
    ]


def _vendor_detectors() -> list[_Detector]:
    found: list[_Detector] = []
    for secret_type, cls in sorted(get_mapping_from_secret_type_to_class().items()):
        if not issubclass(cls, RegexBasedDetector) or cls.__name__ in _SKIPPED_PLUGINS:
            continue
        kind = _KIND_NAMES.get(secret_type) or re.sub(r"[^a-z0-9]+", "_", secret_type.lower())
        for regex in cls().denylist:
            # Their patterns capture either the secret or a prefix ("ghp"); a short group is a
            # prefix, so the whole match is taken then (see _hits).
            group = 1 if regex.groups else None
            found.append(_Detector(kind.strip("_"), regex, group=group, widen=True))
    return found


_OWN = _own_detectors()
_VENDOR = _vendor_detectors()
_NETWORK_KINDS = {"ipv4", "ipv6"}
_ENTROPY = Base64HighEntropyString(limit=4.2)


def detector_names() -> list[str]:
    """The detectors that run, for the redaction report."""
    own = sorted({d.kind for d in _OWN})
    vendor = sorted({d.kind for d in _VENDOR})
    return [*(f"own:{k}" for k in own), *(f"detect-secrets:{k}" for k in vendor)]


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def luhn_valid(number: str) -> bool:
    """True for a 13-19 digit card number (spaces and dashes allowed) with a valid checksum."""
    digits = re.sub(r"[ -]", "", number)
    return digits.isdigit() and 13 <= len(digits) <= 19 and _luhn(digits)


def _accept(detector: _Detector, value: str) -> bool:
    if detector.check == "luhn":
        return luhn_valid(value)
    if detector.check == "ipv4":
        return all(int(part) <= 255 for part in value.split("."))
    if detector.check == "ip":
        try:
            ipaddress.IPv6Address(value)
        except ValueError:
            return False
        return True
    if detector.check == "entropy":
        has_classes = (
            re.search(r"[A-Z]", value) and re.search(r"[a-z]", value) and re.search(r"\d", value)
        )
        return bool(has_classes) and _ENTROPY.calculate_shannon_entropy(value) >= 4.2
    if detector.check == "placeholder":
        return not (
            PLACEHOLDER.fullmatch(value)
            or value.lower() in {"null", "none", "true", "false", "''", '""'}
            or set(value) <= {"*", "x", "X", "-"}
        )
    return True


# --------------------------------------------------------------------------------------------
# The decoded view
# --------------------------------------------------------------------------------------------

_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})|\\([/\"\\bfnrt])|%([0-9a-fA-F]{2})")
_SIMPLE_ESCAPES = {
    "/": "/",
    '"': '"',
    "\\": "\\",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
}


_FORM_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})|\\([/\"\\bfnrt])|%([0-9a-fA-F]{2})|(\+)")


def _decode(text: str, *, form: bool = False) -> tuple[str, list[int], list[int]] | None:
    """Undo JSON escapes and %XX once (and `+` as a space, for form-encoded text); each decoded
    character keeps the [start, end) it came from. None when nothing was decoded. Surrogates and
    non-ASCII %XX bytes stay as written."""
    pieces: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    pos = 0
    changed = False
    for m in (_FORM_ESCAPE if form else _ESCAPE).finditer(text):
        if form and m.group(4):
            char: str | None = " "
        elif m.group(1):
            code = int(m.group(1), 16)
            char = None if 0xD800 <= code <= 0xDFFF else chr(code)
        elif m.group(2):
            char = _SIMPLE_ESCAPES[m.group(2)]
        else:
            code = int(m.group(3), 16)
            char = chr(code) if code < 0x80 else None
        if char is None:
            continue
        changed = True
        pieces.append(text[pos : m.start()])
        starts.extend(range(pos, m.start()))
        ends.extend(range(pos + 1, m.start() + 1))
        pieces.append(char)
        starts.append(m.start())
        ends.append(m.end())
        pos = m.end()
    if not changed:
        return None
    pieces.append(text[pos:])
    starts.extend(range(pos, len(text)))
    ends.extend(range(pos + 1, len(text) + 1))
    return "".join(pieces), starts, ends


def _views(text: str) -> Iterable[tuple[str, list[int] | None, list[int] | None]]:
    """The text itself, then up to two levels of decoding (JSON inside JSON, or an escaped URL),
    and for query strings the form decoding, where `+` is a space: a base64 `+` in JSON must stay
    itself, so the two cannot share one view."""
    yield text, None, None
    if "\\" not in text and "%" not in text:
        return
    if "%" in text and "+" in text:
        form = _decode(text, form=True)
        if form is not None:
            yield form
    current, starts, ends = text, None, None
    for _ in range(2):
        decoded = _decode(current)
        if decoded is None:
            return
        current, s2, e2 = decoded
        if starts is None or ends is None:
            starts, ends = s2, e2
        else:
            starts, ends = [starts[i] for i in s2], [ends[j - 1] for j in e2]
        yield current, starts, ends


# --------------------------------------------------------------------------------------------
# Redactor
# --------------------------------------------------------------------------------------------


@dataclass
class _Hit:
    start: int
    end: int
    priority: int
    kind: str
    value: str  # as decoded, so one value keeps one placeholder in every encoding


class Redactor:
    """Replaces secrets with stable placeholders; keep one per incident."""

    def __init__(self, *, ips: bool = True, emails: bool = True) -> None:
        self.ips = ips
        self.emails = emails
        self._detectors = [
            d
            for d in (*_OWN, *_VENDOR)
            if (ips or d.kind not in _NETWORK_KINDS) and (emails or d.kind != "email")
        ]
        self._names: dict[tuple[str, str], str] = {}
        self._per_kind: Counter[str] = Counter()
        self._counts: Counter[str] = Counter()
        self.last_counts: Counter[str] = Counter()  # what the latest call replaced

    def add_counts(self, counts: Counter[str]) -> None:
        """Count an uncounted pass after all (the pass whose text was finally used)."""
        self._counts.update(counts)

    def _hits(self, text: str) -> list[_Hit]:
        hits: list[_Hit] = []
        for view, starts, ends in _views(text):
            lowered = view.lower()
            for priority, det in enumerate(self._detectors):
                if det.needles and not any(n in lowered for n in det.needles):
                    continue
                for m in det.regex.finditer(view):
                    s, e = m.span()
                    if det.group is not None and m.group(det.group):
                        gs, ge = m.span(det.group)
                        # A short group is a vendor pattern's prefix ("ghp"), not the secret.
                        if ge - gs >= 8 or det.kind in {"secret_value", "url_password"}:
                            s, e = gs, ge
                    else:
                        # Some vendor patterns include their boundary characters.
                        while s < e and view[s] in " \t=:\"'":
                            s += 1
                        while e > s and view[e - 1] in " \t\"'":
                            e -= 1
                    if det.widen:
                        e = _TOKEN_TAIL.match(view, e).end()
                        while s > 0 and view[s - 1] in _TOKEN_HEAD_CHARS:
                            s -= 1
                    if e <= s:
                        continue
                    value = view[s:e]
                    if not _accept(det, value):
                        continue
                    if starts is not None and ends is not None:
                        s, e = starts[s], ends[e - 1]
                    hits.append(_Hit(s, e, priority, det.kind, value))
        return hits

    def _placeholder(self, kind: str, value: str) -> str:
        key = (kind, value)
        if key not in self._names:
            self._per_kind[kind] += 1
            self._names[key] = f"<{kind}:{self._per_kind[kind]}>"
        return self._names[key]

    def redact(self, text: str, *, count: bool = True) -> str:
        """The text with every detected value replaced by its placeholder; `count=False` for a
        pass whose hits must not enter the report twice."""
        self.last_counts = Counter()
        if not text:
            return text
        hits = self._hits(text)
        if not hits:
            return text
        hits.sort(key=lambda h: (h.start, -(h.end - h.start), h.priority))
        merged: list[_Hit] = []
        for h in hits:
            last = merged[-1] if merged else None
            if last is not None and h.start < last.end:
                # Overlap: one span covering both, named by the more specific detector, so no
                # part of either value survives.
                if h.end > last.end:
                    last.end = h.end
                    last.value = text[last.start : last.end]
                if h.priority < last.priority and h.start == last.start:
                    last.kind, last.priority = h.kind, h.priority
                continue
            merged.append(_Hit(h.start, h.end, h.priority, h.kind, h.value))
        out: list[str] = []
        pos = 0
        self.last_counts = Counter(h.kind for h in merged)
        for h in merged:
            out.append(text[pos : h.start])
            out.append(self._placeholder(h.kind, h.value))
            pos = h.end
        if count:
            self._counts.update(self.last_counts)
        out.append(text[pos:])
        return "".join(out)

    def report(self) -> RedactionReport:
        """Counts by kind and distinct values by kind; never the values."""
        return RedactionReport(
            counts=dict(sorted(self._counts.items())),
            distinct=dict(sorted(self._per_kind.items())),
            ips_redacted=self.ips,
            detectors=[
                n
                for n in detector_names()
                if (self.ips or n.split(":", 1)[1] not in _NETWORK_KINDS)
                and (self.emails or n.split(":", 1)[1] != "email")
            ],
        )
