"""A whole rate deck from a CSV file: KAZOO's column names in a header row, every row checked before anything is
stored, and one error naming the line and field of each bad row (the first MAX_REPORTED, then how many more)."""

from __future__ import annotations

import csv
import io
from typing import Any

from cloudpbx.billing.rates import FIELDS, IGNORED_COLUMNS, checked
from cloudpbx.errors import Invalid
from cloudpbx.store import new_id

MAX_REPORTED = 100
MAX_ROWS = 500_000
COLUMNS = frozenset(FIELDS) | {"ratedeck_id"} | IGNORED_COLUMNS


def _refused(rule: str, message: str, **detail: Any) -> Invalid:
    return Invalid.field("file", rule, message, **detail)


def _header(reader) -> list[str]:
    header = [name.strip().lower() for name in next(reader, [])]
    unknown = sorted(set(header) - COLUMNS - {""})
    missing = sorted(name for name, (_, default) in FIELDS.items() if default is None and name not in header)
    if unknown or missing:
        raise _refused(
            "columns",
            "the first line names the columns: prefix and rate_cost, and any of " + ", ".join(sorted(COLUMNS)),
            unknown=unknown,
            missing=missing,
        )
    if len(set(header)) != len(header):
        raise _refused("columns", "a column is named twice in the first line")
    return header


def parse(content: bytes, deck_id: str) -> list[dict[str, Any]]:
    """The rows to store for the deck, each with a new id; Invalid naming every bad line and field."""
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _refused("encoding", f"the file is not UTF-8 text (byte {exc.start})") from None
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    rows: list[dict[str, Any]] = []
    problems: list[dict[str, Any]] = []
    bad = 0
    try:
        header = _header(reader)
        for cells in reader:
            if not any(cell.strip() for cell in cells):
                continue
            if len(rows) + bad >= MAX_ROWS:
                raise _refused("rows", f"a deck holds at most {MAX_ROWS} rates")
            values, errors = _row_errors(dict(zip(header, cells, strict=False)), len(cells), len(header), deck_id)
            if errors:
                bad += 1
                problems += [{"line": reader.line_num, "field": f, "message": m} for f, m in errors]
            else:
                rows.append(values)
    except csv.Error as exc:
        raise _refused("format", f"line {reader.line_num}: {exc}", line=reader.line_num) from None
    if problems:
        raise _refused(
            "rows",
            f"{bad} rows are not valid; nothing was stored",
            rows=problems[:MAX_REPORTED],
            more=len(problems) - min(len(problems), MAX_REPORTED),
        )
    return rows


def _row_errors(cells: dict[str, str], count: int, width: int, deck_id: str) -> tuple[dict[str, Any], list]:
    """The row's stored values, and (field, message) for each error."""
    errors: list[tuple[str, str]] = []
    if count != width:
        errors.append(("*", f"{count} cells where the first line names {width} columns"))
    values, field_errors = checked(cells, blank_is_default=True)
    for name, rules in field_errors.items():
        errors += [(name, detail["message"]) for detail in rules.values()]
    named = cells.get("ratedeck_id", "").strip()
    if named and named != deck_id:
        errors.append(("ratedeck_id", f"names deck {named!r} in an upload of deck {deck_id!r}"))
    values.update(id=new_id(), ratedeck_id=deck_id)
    return values, errors
