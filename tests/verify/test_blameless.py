"""The blameless check: people blamed are flagged, systems described are not."""

from __future__ import annotations

import pytest

from tasks.verify import find_blame

SERVICES = ["checkout", "payments", "auth", "inventory", "frontend"]


@pytest.mark.parametrize(
    ("text", "phrase", "subject"),
    [
        ("Alice forgot to renew the certificate.", "forgot to", "Alice"),
        ("The on-call engineer failed to notice the alert.", "failed to", "on-call engineer"),
        ("Bob should have run the migration in staging first.", "should have", "Bob"),
        ("This outage was caused by human error.", "human error", None),
        ("It was a mistake by Carol Jones.", "mistake by", "Carol Jones"),
        ("The SRE neglected to check the dashboard.", "neglected to", "The SRE"),
        ("He didn't bother to read the runbook.", "didn't bother to", "He"),
        ("A careless engineer pushed the config.", "careless", "engineer"),
        ("Dave caused the outage when he resized the pool.", "caused", "Dave"),
        ("The deploy went wrong because someone forgot to bump it.", "forgot to", "someone"),
        ("The payments team caused the outage.", "caused", "payments team"),
        ("The root cause is the payments team, no evidence needed.", "cause is", "payments team"),
        ("It was Frank's fault.", "'s fault", "Frank"),
        ("The outage was caused by the on-call engineer.", "caused by", "on-call engineer"),
    ],
)
def test_blame_on_a_person_is_flagged(text: str, phrase: str, subject: str | None) -> None:
    found = find_blame(text, services=SERVICES)
    assert len(found) == 1, found
    assert found[0].phrase == phrase
    assert found[0].subject == subject
    assert found[0].suggestion


@pytest.mark.parametrize(
    "text",
    [
        "The deploy caused checkout to return 503s.",
        "Checkout failed to connect to the database.",
        "Payments failed to reach the provider within 30 s.",
        "Redis became slow, which caused timeouts in auth.",
        "The config change should have been validated by the pipeline.",
        "We should have alerted earlier on the error rate.",
        "The health check failed to detect the bad version.",
        "Inventory's pool was exhausted, which caused 504s at the frontend.",
        "The rollout of v2.3.1 caused the new exception.",
        "The outage was caused by the deploy of checkout v2.3.1.",
        "The root cause is the checkout deploy at {F:checkout.onset}.",
        "Auth shed load due to a retry storm from the mobile app.",
        "Timeouts were due to Redis latency.",
        "Log lines like `Caused by: someone forgot` are data.",
    ],
)
def test_systems_as_subjects_are_not_flagged(text: str) -> None:
    assert find_blame(text, services=SERVICES) == []


def test_a_service_name_is_only_known_as_a_system_when_passed_in() -> None:
    # Without the incident's services, an unknown capitalised subject reads as a name.
    assert find_blame("Ledgerd failed to flush its queue.")
    assert not find_blame("Ledgerd failed to flush its queue.", services=["ledgerd"])


def test_a_reviewers_markdown_is_checked_with_line_numbers_and_code_left_out() -> None:
    edited = """# INC-42: Checkout 5xx

## Root cause

The checkout deploy introduced a NullPointerException. Grace should have
caught it in review.

```
java.lang.IllegalStateException
Caused by: the engineer forgot
```

| time | event |
|---|---|
| 13:04 | **Heidi** forgot to page the payments team |
| 13:05 | checkout failed to serve carts |

- Checkout failed to connect to the database.
- The on-call SRE neglected the alert.
"""
    found = find_blame(edited, services=SERVICES)
    assert [(f.line, f.subject, f.phrase) for f in found] == [
        (5, "Grace", "should have"),
        (15, "Heidi", "forgot to"),
        (19, "on-call SRE", "neglected"),
    ]
    assert found[0].sentence == "Grace should have caught it in review."


@pytest.mark.parametrize(
    "text",
    [
        "Grafana failed to alert on the error rate.",
        "PagerDuty failed to page anyone for 9 minutes.",
        "Nova failed to schedule the instance.",
    ],
)
def test_well_known_tools_are_systems_even_at_the_start_of_a_sentence(text: str) -> None:
    assert find_blame(text) == []
