"""Log patterns: messages -> templates with variables masked, with IDs stable across windows.

STUB: the real miner replaces this body; the signature of `mine_patterns` is the contract.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

_NUM = re.compile(r"\d+")


@dataclass(frozen=True)
class PatternResult:
    ids: np.ndarray  # one pattern ID (str) per input message, same order
    templates: dict[str, str]  # pattern ID -> template, variables shown as <*>


def pattern_id(template: str) -> str:
    return "p" + hashlib.blake2b(template.encode(), digest_size=5).hexdigest()


def mine_patterns(messages: Sequence[str]) -> PatternResult:
    templates: dict[str, str] = {}
    ids = []
    for msg in messages:
        tpl = _NUM.sub("<*>", msg or "")
        pid = pattern_id(tpl)
        templates[pid] = tpl
        ids.append(pid)
    return PatternResult(ids=np.array(ids, dtype=object), templates=templates)
