"""What every parser is given besides its bytes, and the one signature they share."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import pyarrow as pa

from tasks.contracts import RejectTally


@dataclass(frozen=True)
class ParseContext:
    source: str  # source name from the incident spec
    key: str  # object key (or relative path for local files)
    default_service: str | None  # fallback service name when the record names none
    reference_time: datetime  # aware UTC; gives the year to syslog lines that have none


Parser = Callable[[bytes, int, ParseContext], tuple[pa.Table, RejectTally]]

#: Reject reason for an object that ends part-way through a record (a whole-object format cut
#: short). The records before it are kept; the gather stage marks the object partial.
TRUNCATED = "truncated"
