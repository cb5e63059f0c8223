"""render_attrs against a reference built row by row with orjson: the text of every attrs
object, whichever way each entry is joined (on its own, or as pieces of the row's join)."""

from __future__ import annotations

import orjson
import pyarrow as pa

from tasks.gather.formats._json import ATTR_VALUE_MAX_CHARS, Unquoted, json_strings, render_attrs


def _reference(columns: dict[str, list]) -> list[str | None]:
    out = []
    for row in zip(*columns.values(), strict=True):
        obj = {}
        for key, value in sorted(zip(columns, row, strict=True)):
            if value is None:
                continue
            text = orjson.dumps(value).decode()
            obj[key] = (
                f"<omitted: {len(text)} chars>" if len(text) > ATTR_VALUE_MAX_CHARS else value
            )
        out.append(orjson.dumps(obj).decode() if obj else None)
    return out


def test_attrs_objects_are_the_rows_values_in_key_order():
    long = "y" * ATTR_VALUE_MAX_CHARS
    columns = {
        "span_id": ["a1", "b2", "c3"],  # every row, no escaping: joined as pieces
        "path": ["/v1/a", None, "/v1/c"],  # a gap: joined on its own
        "n": [1, 2, 3],  # JSON numbers on every row
        "quote": ['say "hi"', "x", "tab\there"],  # needs escaping
        "big": ["s", long, "t"],  # one value over the limit once quoted
        "empty": [None, None, None],
    }
    entries = [
        ("span_id", Unquoted(pa.array(columns["span_id"]))),
        ("path", Unquoted(pa.array(columns["path"]))),
        ("n", pa.array(["1", "2", "3"])),
        ("quote", json_strings(pa.array(columns["quote"]))),
        ("big", Unquoted(pa.array(columns["big"]))),
        ("empty", Unquoted(pa.array(columns["empty"], pa.string()))),
    ]
    got = render_attrs(entries, 3).to_pylist()
    assert got == _reference(columns)
    assert got[1].startswith('{"big":"<omitted: ')


def test_rows_without_any_value_have_no_attrs():
    entries = [("a", Unquoted(pa.array([None, "x"], pa.string())))]
    assert render_attrs(entries, 2).to_pylist() == [None, '{"a":"x"}']
    only_full = [("a", Unquoted(pa.array(["x", "y"])))]
    assert render_attrs(only_full, 2).to_pylist() == ['{"a":"x"}', '{"a":"y"}']
