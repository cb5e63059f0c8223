"""jsonl: one JSON object per line, keys mapped to the canonical columns by name."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pyarrow as pa

from tasks.contracts import RejectTally
from tasks.gather.formats._arrow import fill
from tasks.gather.formats._context import ParseContext
from tasks.gather.formats._json import NESTED_PATHS, FieldSet, render_attrs, resolve_roles
from tasks.gather.formats._jsonlines import json_parser
from tasks.gather.formats._rows import finish_rows


def _jsonl_rows(
    fields: FieldSet, lines: np.ndarray, raw: Callable, ctx: ParseContext, tally: RejectTally
) -> pa.Table:
    r = resolve_roles(fields)
    cols = dict(r.columns)
    if ctx.default_service:
        cols["service"] = fill(cols["service"], ctx.default_service, r.n)
    cols["attrs"] = render_attrs(r.attrs, r.n)
    return finish_rows(r.n, cols, r.ts_present, lines, raw, tally)


_parse = json_parser(_jsonl_rows, NESTED_PATHS)


def parse(data: bytes, first_line: int, ctx: ParseContext) -> tuple[pa.Table, RejectTally]:
    """A block of jsonl lines -> rows in PARSED_SCHEMA, and the lines refused."""
    return _parse(data, first_line, ctx)
