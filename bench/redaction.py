"""Redaction benchmark: our Redactor against detect-secrets' own scanner, side by side.

    python bench/redaction.py

Two inputs: the planted-secret corpus of the tests (1,200 secrets of 17 kinds, a third split by
JSON escapes, a sixth URL-encoded) and loghub-2k's real lines (tests/data). It prints lines/s
and MB/s for each, how many planted secrets each tool finds, per kind, and how many strings each
flags in real logs (where every flagged string is redacted, useful or not).
"""

from __future__ import annotations

import glob
import os
import time
from collections import Counter
from pathlib import Path

from detect_secrets.core.scan import scan_line
from detect_secrets.settings import default_settings

from tasks.evidence import Redactor
from tests.evidence.planted import planted_corpus

ROOT = Path(__file__).resolve().parents[1]


def _detect_secrets(lines: list[str]) -> list[list[str]]:
    with default_settings():
        return [[s.secret_value or "" for s in scan_line(line)] for line in lines]


def main() -> None:
    corpus = planted_corpus()
    real: list[str] = []
    for path in sorted(glob.glob(str(ROOT / "tests/data/loghub-2k/*/*.log"))):
        real += Path(path).read_text(errors="replace").splitlines()
    print(f"load average {os.getloadavg()[0]:.1f} (other work on the machine skews the figures)")
    for name, lines in (("planted corpus", corpus.lines), ("loghub-2k", real)):
        mb = sum(len(line.encode()) for line in lines) / 1e6
        t = time.perf_counter()
        flagged = _detect_secrets(lines)
        t_ds = time.perf_counter() - t
        redactor = Redactor()
        t = time.perf_counter()
        for line in lines:
            redactor.redact(line)
        t_us = time.perf_counter() - t
        print(f"\n{name}: {len(lines):,} lines, {mb:.2f} MB")
        print(
            f"  detect-secrets scan_line: {len(lines) / t_ds:8,.0f} lines/s {mb / t_ds:6.2f} MB/s"
        )
        print(
            f"  ours (Redactor.redact):   {len(lines) / t_us:8,.0f} lines/s {mb / t_us:6.2f} MB/s"
        )
        if name == "planted corpus":
            per_line = len(corpus.planted) // len(corpus.lines)
            hit, total = Counter(), Counter()
            for i, p in enumerate(corpus.planted):
                total[p.kind] += 1
                values = flagged[i // per_line]
                if any(
                    p.written in v or p.value in v or (len(v) >= 8 and v in p.written)
                    for v in values
                ):
                    hit[p.kind] += 1
            ours = redactor.report()
            print(f"  detect-secrets found {sum(hit.values())}/{len(corpus.planted)} planted:")
            print("   ", ", ".join(f"{k} {hit[k]}/{total[k]}" for k in total))
            print(f"  ours replaced {ours.total} values; kinds: {len(ours.counts)}")
        else:
            print(f"  detect-secrets flagged {sum(map(len, flagged)):,} strings")
            print(f"  ours replaced {dict(redactor.report().counts)}")


if __name__ == "__main__":
    main()
