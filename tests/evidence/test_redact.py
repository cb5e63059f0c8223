"""Redaction on plain strings: the planted corpus, pseudonyms, Luhn, switches, odd input."""

from __future__ import annotations

import pytest

from tasks.evidence import Redactor, luhn_valid
from tests.evidence.planted import KINDS, leaks, planted_corpus


@pytest.fixture(scope="module")
def corpus():
    return planted_corpus()


def test_the_corpus_is_what_the_brief_asks_for(corpus) -> None:
    assert len(corpus.planted) >= 1000
    assert len(corpus.kinds()) >= 8
    encodings = {p.encoding for p in corpus.planted}
    assert encodings == {"plain", "json", "url"}
    # The split forms really hide the value from a plain substring search.
    split = [p for p in corpus.planted if p.encoding != "plain"]
    assert all(p.value not in line for p in split for line in [p.written])
    assert not leaks(corpus, []) and leaks(corpus, corpus.lines)


def test_no_planted_secret_survives_redaction(corpus) -> None:
    redactor = Redactor()
    out = [redactor.redact(line) for line in corpus.lines]
    assert leaks(corpus, out) == []
    report = redactor.report()
    # Every kind was found, and at least as many replacements as secrets were planted.
    assert set(KINDS) - {"slack_token"} <= set(report.counts)
    assert report.total >= len(corpus.planted) * 0.95


def test_the_report_holds_counts_never_values(corpus) -> None:
    redactor = Redactor()
    for line in corpus.lines[:100]:
        redactor.redact(line)
    dumped = redactor.report().model_dump_json()
    assert leaks(corpus, [dumped]) == []
    assert redactor.report().counts["email"] > 0


def test_same_value_same_placeholder_in_every_encoding() -> None:
    r = Redactor()
    plain = r.redact("reset sent to ops.lead@example.com")
    escaped = r.redact('{"to": "ops.lead\\u0040example.com"}')
    encoded = r.redact("GET /reset?to=ops.lead%40example.com")
    other = r.redact("reset sent to someone.else@example.com")
    assert plain == "reset sent to <email:1>"
    assert escaped == '{"to": "<email:1>"}'
    assert encoded == "GET /reset?to=<email:1>"
    assert other == "reset sent to <email:2>"
    assert r.report().counts["email"] == 4 and r.report().distinct["email"] == 2


def test_a_value_split_across_escapes_inside_a_token_is_caught() -> None:
    r = Redactor()
    key = "AKIAIOSFODNN7EXAMPLQ"
    split = "AKIA\\u0049OSFODNN7EXAMPL\\u0051"
    assert key not in split
    assert r.redact(f'{{"k": "{split}"}}') == '{"k": "<aws_access_key:1>"}'
    assert r.redact(f"key={key}") == "key=<aws_access_key:1>"


@pytest.mark.parametrize(
    ("number", "valid"),
    [
        ("4111 1111 1111 1111", True),
        ("4111111111111111", True),
        ("5500-0000-0000-0004", True),
        ("378282246310005", True),
        ("4111111111111112", False),
        ("5500-0000-0000-0005", False),
        ("1234", False),
    ],
)
def test_luhn(number: str, valid: bool) -> None:
    assert luhn_valid(number) is valid
    out = Redactor().redact(f"card {number} declined")
    assert ("<card_number:1>" in out) is valid
    assert (number in out) is not valid


def test_digits_that_merely_look_like_cards_are_kept() -> None:
    # Epoch milliseconds and order numbers pass the checksum one time in ten; the IIN
    # prefix check keeps them.
    text = "ts=1764000000000 order=1000000000000009"
    assert Redactor().redact(text) == text
    # HDFS block IDs: Luhn-valid and with a card-like prefix, but part of a word.
    assert luhn_valid("4980916519894289629") and luhn_valid("5165786360127153975")
    blocks = "succeeded for blk_-4980916519894289629 added to blk_5165786360127153975"
    assert Redactor().redact(blocks) == blocks


def test_ip_switch() -> None:
    line = "client 203.0.113.7 via 2001:db8::1 port 443 at 13:04:03"
    on = Redactor(ips=True)
    assert on.redact(line) == "client <ipv4:1> via <ipv6:1> port 443 at 13:04:03"
    off = Redactor(ips=False)
    assert off.redact(line) == line
    assert off.report().ips_redacted is False
    assert not any("ipv" in d for d in off.report().detectors)


def test_email_switch() -> None:
    assert Redactor(emails=False).redact("to a.b@example.com") == "to a.b@example.com"


def test_versions_times_and_ids_are_kept() -> None:
    text = (
        "checkout 1.43.0 at 13:04:03.566 trace 4bf92f3577b34da6a3ce929d0e0e4736 pod ip-10-0-48-165"
    )
    assert Redactor().redact(text) == text


@pytest.mark.parametrize(
    ("line", "kept", "gone"),
    [
        (
            "Authorization: Bearer abc.DEF-123_456~xyz",
            "Authorization: Bearer <bearer_token:1>",
            "abc.DEF",
        ),
        ("dsn=postgres://app:S3cr3tPass@db:5432/x", "<url_password:1>", "S3cr3tPass"),
        ('{"password": "hunter2hunter2"}', '{"password": "<secret_value:1>"}', "hunter2"),
        ("api_key=live_abcdef0123456789", "api_key=<secret_value:1>", "abcdef0123"),
        (
            "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjE\n-----END OPENSSH PRIVATE KEY----- ok",
            "<private_key:1> ok",
            "b3BlbnNzaC1rZXktdjE",
        ),
        (
            "xoxb-123456789012-1234567890123-abcdefghijklmnopqrstuvwx",
            "<slack_token:1>",
            "abcdefghij",
        ),
    ],
)
def test_kinds(line: str, kept: str, gone: str) -> None:
    out = Redactor().redact(line)
    assert kept in out and gone not in out


def test_placeholders_are_not_redacted_again() -> None:
    r = Redactor()
    once = r.redact("password=hunter2hunter2 to a@example.com")
    assert r.redact(once) == once


def test_a_private_key_cut_before_its_end_is_still_removed() -> None:
    out = Redactor().redact("key: -----BEGIN PRIVATE KEY-----\\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC")
    assert "MIIEvQ" not in out


def test_odd_input_does_not_break_redaction() -> None:
    r = Redactor()
    assert r.redact("") == ""
    # Lone surrogates (undecodable bytes read with surrogateescape), NULs and a huge line.
    weird = b"user=\xff\xfe a@example.com \x00".decode("utf-8", "surrogateescape")
    assert "<email:1>" in r.redact(weird)
    huge = "x" * 500_000 + " token=abcdefghijkl " + "y" * 500_000
    out = r.redact(huge)
    assert "abcdefghijkl" not in out and "token=<secret_value:1>" in out
