"""The evidence pack: the redacted, token-budgeted digest of the findings that the analyst reads."""

from tasks.evidence._facts import change_fact_id
from tasks.evidence._stage import build_evidence_pack, estimate_tokens, sdk_token_counter
from tasks.evidence.redact import Redactor, luhn_valid

__all__ = [
    "Redactor",
    "build_evidence_pack",
    "change_fact_id",
    "estimate_tokens",
    "luhn_valid",
    "sdk_token_counter",
]
