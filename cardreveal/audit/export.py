"""CSV export of audit records, safe to open in a spreadsheet (no formula injection)."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime

from django.db import models

# A spreadsheet reads a cell starting with one of these as a formula (OWASP CSV injection).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(value: object) -> str:
    """`value` as a CSV cell: times in UTC ISO form, None empty, and text that a spreadsheet would
    run as a formula prefixed with a single quote."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    text = str(value)
    if text.startswith(_FORMULA_STARTS):
        return "'" + text
    return text


class _Echo:
    """A write-only file for csv.writer that hands back each line instead of keeping it."""

    def write(self, value: str) -> str:
        return value


def audit_csv_lines(records: Iterable[models.Model], *, columns: Sequence[str]) -> Iterator[str]:
    """The header and one CSV line per record, for a streaming response; `columns` are attnames."""
    writer = csv.writer(_Echo())
    yield writer.writerow(columns)
    for record in records:
        yield writer.writerow([csv_safe(getattr(record, column)) for column in columns])
