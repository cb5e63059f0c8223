"""Synthetic canonical frames for the baseline-stage tests: small, exact and seeded."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pyarrow as pa

from tasks.contracts import CANONICAL_SCHEMA


class Logs:
    """Canonical rows, one object per service, lines numbered as they are added."""

    def __init__(self, seed: int = 0) -> None:
        self.rows: list[dict] = []
        self.rng = np.random.default_rng(seed)
        self.traces = 0

    def add(
        self, at: datetime, service: str | None, message: str, level: str = "info", **extra
    ) -> None:
        row = {
            "ts": at,
            "service": service,
            "instance": extra.pop("instance", f"{service}-0"),
            "level": level,
            "message": message,
            "line": len(self.rows) + 1,
            "source": "app",
            "object_key": f"logs/{service}.log",
        }
        row.update(extra)
        self.rows.append(row)

    def per_minute(
        self,
        service: str,
        rate: float,
        start: datetime,
        end: datetime,
        message: str = "GET /items/{n} 200",
        **fields,
    ) -> None:
        """Poisson(rate) lines a minute; `{n}` in the message becomes a random number."""
        for minute in range(int((end - start).total_seconds() // 60)):
            for _ in range(self.rng.poisson(rate)):
                at = start + timedelta(minutes=minute, seconds=float(self.rng.uniform(0, 60)))
                self.add(at, service, message.format(n=int(self.rng.integers(10**6))), **fields)

    def requests(
        self, chain: list[tuple[str, str]], rate: float, start: datetime, end: datetime
    ) -> None:
        """Failing requests through a call chain: (service, error message) deepest first.

        The deepest service fails first; each caller logs its error a little later.
        """
        for minute in range(int((end - start).total_seconds() // 60)):
            for _ in range(self.rng.poisson(rate)):
                self.traces += 1
                at = start + timedelta(minutes=minute, seconds=float(self.rng.uniform(0, 55)))
                for hop, (service, message) in enumerate(chain):
                    self.add(
                        at + timedelta(milliseconds=200 * hop),
                        service,
                        message,
                        "error",
                        trace_id=f"trace-{self.traces}",
                        status=503 if hop else 500,
                    )

    def frame(self) -> pd.DataFrame:
        return pa.Table.from_pylist(self.rows, schema=CANONICAL_SCHEMA).to_pandas()
