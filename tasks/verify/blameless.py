"""The blameless check: wording that blames a person, in the AI's text or a reviewer's Markdown.

A postmortem names what the system allowed, not who slipped. The check is deliberately simple
and explainable: it looks, sentence by sentence, for a blaming phrase ("caused", "failed to",
"forgot", "should have", "human error"...) and decides whether its subject is a person (a role
word such as "the engineer" or "on-call", a pronoun such as "he" or "someone", or a name) or a
system ("the deploy", "checkout"). Verbs that only people do ("forgot", "neglected", "didn't
bother", "careless", "human error") are flagged unless the subject is clearly a system; the
others only when the subject is a person. It warns; it never rewrites the text.

Known limits: a capitalised word it does not know at the start of a sentence is read as a name
unless it is one of the incident's services (pass them in `services`), and it does not resolve
pronouns across sentences ("they" is not flagged: it is as often a service as a team).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from pydantic import BaseModel, Field


class BlameFinding(BaseModel):
    """One sentence that reads as blaming a person, with a blameless way to say it."""

    line: int = Field(description="1-based line of the text where the sentence starts.")
    sentence: str = Field(description="The sentence as written (whitespace collapsed).")
    phrase: str = Field(description="The blaming phrase: 'forgot to', 'human error'...")
    subject: str | None = Field(None, description="Who is blamed, when one is named.")
    suggestion: str = Field(description="How to say it about the system instead.")


# People: roles and words that stand for a person or a group of people.
_ROLE_WORDS = {
    "engineer", "engineers", "developer", "developers", "dev", "devs", "operator", "operators",
    "admin", "admins", "administrator", "administrators", "sre", "sres", "on-call", "oncall",
    "on-caller", "on-callers", "intern", "interns", "employee", "employees", "staff", "person",
    "people", "human", "humans", "manager", "managers", "lead", "contractor", "contractors",
    "reviewer", "reviewers", "dba", "dbas", "team", "teams", "colleague", "colleagues",
    "owner", "owners", "architect", "qa", "tester", "testers", "author", "committer",
    "he", "she", "someone", "somebody", "whoever", "nobody", "everyone", "anyone", "him",
    "her", "guy", "guys", "newcomer", "junior", "senior", "responder", "responders",
}  # fmt: skip
# Systems: words that make a subject a thing, not a person, even when capitalised.
_SYSTEM_WORDS = {
    "deploy", "deployment", "rollout", "release", "change", "config", "configuration", "service",
    "services", "database", "db", "cache", "queue", "job", "cron", "script", "pipeline", "build",
    "test", "tests", "check", "alert", "alerts", "alarm", "monitor", "monitoring", "probe",
    "health", "request", "requests", "call", "calls", "connection", "connections", "pool",
    "host", "hosts", "node", "nodes", "pod", "pods", "container", "cluster", "server", "servers",
    "client", "clients", "api", "gateway", "proxy", "balancer", "lb", "alb", "elb", "nlb", "dns",
    "network", "disk", "memory", "cpu", "process", "worker", "workers", "thread", "task", "flow",
    "code", "bug", "fix", "patch", "version", "migration", "schema", "index", "query", "retry",
    "retries", "timeout", "limit", "quota", "policy", "rule", "role", "iam", "permission",
    "certificate", "cert", "token", "key", "secret", "parameter", "flag", "feature", "system",
    "tool", "automation", "runbook", "dashboard", "endpoint", "app", "application",
    "checkout", "payments", "payment", "auth", "inventory", "frontend", "backend", "redis",
    "postgres", "mysql", "kafka", "nginx", "kubernetes", "k8s", "hpa", "ssm", "aws", "s3", "ec2",
    "lambda", "rds", "waf", "cloudtrail", "cloudwatch", "terraform", "helm", "jenkins",
    "provider", "upstream", "downstream", "dependency", "library", "driver", "agent", "daemon",
    "scheduler", "controller", "operator-less", "load", "traffic", "spike", "storm", "outage",
    "incident", "error", "errors", "failure", "failures", "exception", "crash", "restart",
    "grafana", "prometheus", "pagerduty", "opsgenie", "datadog", "sentry", "github", "gitlab",
    "argo", "argocd", "istio", "envoy", "consul", "vault", "elasticsearch", "opensearch",
    "mongodb", "cassandra", "rabbitmq", "memcached", "cloudflare", "fastly", "akamai", "stripe",
    "twilio", "openstack", "nova", "cinder", "neutron", "glance", "keystone", "libvirt", "linux",
    "docker", "ecs", "eks", "dynamodb", "sqs", "sns", "kinesis", "route53", "cloudfront", "vpc",
    "firehose", "fluentbit", "fluentd", "bedrock", "claude", "anthropic", "openai", "java",
    "python", "jvm", "postgresql", "mariadb", "aurora", "elasticache", "haproxy", "traefik",
    "this", "that", "it", "which", "there", "what", "these", "those", "they", "one", "nothing",
    "caused", "cause", "root", "trigger", "the", "a", "an", "our", "its", "new", "old",
}  # fmt: skip

# Phrases only people do: flagged unless the subject is clearly a system.
_HUMAN_ONLY = [
    r"forg[eo]t(?:ten)?(?: to)?",
    r"neglected(?: to)?",
    r"did(?:n't| not) bother(?: to)?",
    r"careless(?:ly|ness)?",
    r"negligen(?:t|ce)",
    r"sloppy",
    r"(?:human|operator|user|pilot) error",
    r"fat[- ]finger(?:ed)?",
    r"(?:mistake|error|fault|blunder|oversight) (?:by|of)",
    r"(?:'s|’s) (?:mistake|fault|error|blunder|oversight)",
    r"(?:to )?blame[sd]? (?:on|for)",
    r"is to blame",
    r"(?:messed|screwed) up",
]
# Phrases that are fine about systems: flagged only with a person subject.
_PERSON_SUBJECT = [
    # The person follows these (listed first: the longest match wins): "caused by the on-call",
    # "the root cause is the payments team".
    r"caused by",
    r"cause (?:is|was)",
    r"due to",
    r"because of",
    r"caused",
    r"causes",
    r"failed to",
    r"fails to",
    r"should(?:n't| not)? have",
    r"did(?:n't| not) (?:check|test|follow|notice|read|verify|review|update|think)",
    r"(?:was|were) responsible for",
    r"broke",
    r"ignored",
    r"overlooked",
    r"missed",
    r"(?:accidentally|mistakenly|wrongly|incorrectly) (?:deleted|deployed|changed|pushed|ran|removed|set|applied|merged)",
    r"made (?:a|the) mistake",
]
# Said of people whoever they are: no subject needed.
_ALWAYS = ("human error", "operator error", "user error", "pilot error")
# Phrases whose subject comes after them.
_SUBJECT_AFTER = (
    "mistake",
    "error",
    "fault",
    "blunder",
    "oversight",
    "blame",
    "to blame",
    "caused by",
    "cause is",
    "cause was",
    "due to",
    "because of",
)
# People, but the writer's own organisation: "we should have alerted earlier" is blameless.
_NEUTRAL = {"we", "i", "you", "us", "our", "they", "them"}

_HUMAN_RE = re.compile(r"\b(?:" + "|".join(_HUMAN_ONLY) + r")\b", re.IGNORECASE)
_PERSON_RE = re.compile(r"\b(?:" + "|".join(_PERSON_SUBJECT) + r")\b", re.IGNORECASE)
# Words between a subject and its verb that do not change who the subject is.
_ADVERBS = {
    "accidentally", "also", "apparently", "just", "simply", "then", "again", "never", "clearly",
    "obviously", "probably", "likely", "had", "has", "have", "was", "were", "is", "who", "already",
    "unfortunately", "completely", "totally", "mistakenly", "wrongly", "incorrectly", "later",
}  # fmt: skip
_WORD_RE = re.compile(r"[A-Za-z][\w'’@-]*")
_NAME_RE = re.compile(r"^(?:[A-Z][a-z]+(?:-[A-Z][a-z]+)?|@[\w.-]+)$")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(*_\[])")
_FENCE = re.compile(r"^\s*(```|~~~)")
_INLINE_CODE = re.compile(r"`[^`]*`")
_MARKUP = re.compile(r"[*_]{1,3}|^\s{0,3}(?:#{1,6}\s+|>\s*|[-*+]\s+|\d+[.)]\s+)")


def find_blame(text: str, services: Iterable[str] = ()) -> list[BlameFinding]:
    """Every sentence in `text` (plain text or Markdown) that blames a person.

    Code blocks and inline code are skipped (log lines such as Java's "Caused by:" are data,
    not wording). `services` adds the incident's service names to the words read as systems.
    """
    # One pass over `services`: it may be a one-shot iterator.
    system = _SYSTEM_WORDS | {
        name.lower() for s in services for name in (s, *re.split(r"[-_.]", s))
    }
    findings: list[BlameFinding] = []
    for line_no, sentence in _sentences(text):
        finding = _check_sentence(sentence, line_no, system)
        if finding:
            findings.append(finding)
    return findings


def _sentences(text: str) -> Iterable[tuple[int, str]]:
    """(line, sentence) pairs from paragraphs, list items and table cells; code left out."""
    in_fence = False
    paragraph: list[str] = []
    start = 0

    def flush() -> Iterable[tuple[int, str]]:
        if paragraph:
            joined = " ".join(paragraph)
            for sentence in _SENTENCE_END.split(joined):
                if sentence.strip():
                    yield start, sentence.strip()
            paragraph.clear()

    for number, raw in enumerate(text.splitlines(), start=1):
        if _FENCE.match(raw):
            yield from flush()
            in_fence = not in_fence
            continue
        if in_fence:
            continue
        line = _INLINE_CODE.sub(" ", raw)
        if not line.strip():
            yield from flush()
            continue
        # A list item or a table row starts a unit of its own; so does a heading.
        cells = line.split("|") if line.lstrip().startswith("|") else [line]
        new_unit = bool(re.match(r"^\s{0,3}(?:[-*+]\s|\d+[.)]\s|#|>|\|)", line))
        if new_unit:
            yield from flush()
        for cell in cells:
            cleaned = _MARKUP.sub("", cell).strip()
            if not cleaned or set(cleaned) <= set("-: "):
                continue
            if not paragraph:
                start = number
            paragraph.append(cleaned)
            if len(cells) > 1:
                yield from flush()
        if new_unit and line.lstrip().startswith("#"):
            yield from flush()
    yield from flush()


def _check_sentence(sentence: str, line_no: int, system: set[str]) -> BlameFinding | None:
    text = " ".join(sentence.split())
    for regex, human_only in ((_HUMAN_RE, True), (_PERSON_RE, False)):
        for match in regex.finditer(text):
            phrase = match.group(0)
            subject, kind = _subject(text, match.start(), match.end(), phrase, system)
            if kind == "system":
                continue
            if kind == "person" or (human_only and kind is None):
                return BlameFinding(
                    line=line_no,
                    sentence=text,
                    phrase=phrase,
                    subject=subject,
                    suggestion=_suggestion(phrase),
                )
    return None


def _subject(
    text: str, start: int, end: int, phrase: str, system: set[str]
) -> tuple[str | None, str | None]:
    """Who the phrase is about, and whether that is a 'person', a 'system' or unknown (None)."""
    lower = " ".join(phrase.lower().split())
    if lower in _ALWAYS:
        return None, "person"
    if lower.startswith(_SUBJECT_AFTER):
        # "a mistake by Alice", "caused by the on-call": the person follows the phrase.
        after = _WORD_RE.findall(text[end:])[:4]
        after = [
            w for w in after if w.lower() not in {"the", "a", "an", "our", "their", "his", "her"}
        ]
        return _classify(after[:2], system, head_first=True)
    if lower.startswith(("'s", "’s")):
        before = _WORD_RE.findall(text[:start])[-1:]
        return _classify(before, system)
    words = _WORD_RE.findall(text[:start])
    while words and words[-1].lower() in _ADVERBS:
        words.pop()
    # The subject is the noun phrase just before the verb; its head is the last word.
    head = words[-2:] if len(words) >= 2 else words
    if lower.startswith(("careless", "negligen", "sloppy")):
        # An adjective: "a careless engineer", "careless change": look after it too.
        after = _WORD_RE.findall(text[end:])[:1]
        if after:
            subject, kind = _classify(after, system)
            if kind:
                return subject, kind
    return _classify(head, system)


def _classify(
    words: list[str], system: set[str], head_first: bool = False
) -> tuple[str | None, str | None]:
    """Person, system or unknown, from a short noun phrase (its head last, or first after
    "caused by": "the payments team" and "Carol Jones" both end in their head)."""
    words = [w[:-2] if w.endswith(("'s", "’s")) else w for w in words]
    if not words:
        return None, None
    if head_first:
        # "caused by the payments team", "caused by Carol Jones", "caused by the deploy".
        for i, w in enumerate(words):
            if w.lower() in _ROLE_WORDS:
                end = i + 1
                while end < len(words) and words[end].lower() in _ROLE_WORDS:
                    end += 1
                return " ".join(words[:end]), "person"
        words = words[:1] if words[0].lower() in system or not _NAME_RE.match(words[-1]) else words
    head = words[-1]
    low = head.lower()
    if low in _NEUTRAL:
        return head, "system"
    if low in _ROLE_WORDS:
        prev = words[-2] if len(words) > 1 else ""
        keep = prev and (
            prev.lower() in _ROLE_WORDS or prev.lower() in system or prev[:1].isupper()
        )
        return (f"{prev} {head}" if keep else head), "person"
    if low in system:
        return " ".join(words), "system"
    if _NAME_RE.match(head):
        # An unknown capitalised word is read as a name; the incident's services are known
        # words, passed in, so "Checkout failed to connect" is not a name.
        prev = words[-2] if len(words) > 1 else ""
        return (
            f"{prev} {head}" if _NAME_RE.match(prev or "x") and prev.lower() not in system else head
        ), "person"
    if any(w.lower() in system for w in words):
        return " ".join(words), "system"
    return None, None


def _suggestion(phrase: str) -> str:
    lower = phrase.lower()
    if lower.startswith("forg") or "bother" in lower or lower.startswith("neglect"):
        return "Say which step the process or tooling did not enforce, not who skipped it."
    if "error" in lower or "mistake" in lower or "fault" in lower or "blame" in lower:
        return "Describe the condition the system allowed, not whose error it was."
    if lower.startswith("should"):
        return "Say what safeguard was missing and add it as an action item."
    return "Make the system the subject: what happened, and what let it happen."
