"""The admin's file import: CSV or XLSX of cardholders or cards, read row by row in chunks (never the
whole file in memory), through the provisioning service, all or nothing, with a dry run first.

Columns are declared as django-import-export resources (a column name and a widget that parses its
cells); the rows are then written by `provisioning.services`, the same path as the API.
"""

from __future__ import annotations

import csv
import itertools
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from import_export import fields, resources, widgets

from cardreveal.provisioning.services import (
    Actor,
    Batch,
    CardholderRow,
    CardRow,
    batch_apply,
    provisioning_batch,
)

FORMATS = ("csv", "xlsx")
KINDS = ("cardholders", "cards")
ERRORS_SHOWN = 200
PREVIEW_ROWS = 20
REFERENCE_PREFIX = "reference."


class CardholderResource(resources.Resource):
    """A cardholder file's columns (`external_id` and `email` required)."""

    external_id = fields.Field(column_name="external_id", widget=widgets.CharWidget())
    email = fields.Field(column_name="email", widget=widgets.CharWidget())
    first_name = fields.Field(column_name="first_name", widget=widgets.CharWidget())
    last_name = fields.Field(column_name="last_name", widget=widgets.CharWidget())
    phone = fields.Field(column_name="phone", widget=widgets.CharWidget())
    username = fields.Field(column_name="username", widget=widgets.CharWidget())
    active = fields.Field(column_name="active", widget=widgets.BooleanWidget())

    required = ("external_id", "email")


class CardResource(resources.Resource):
    """A card file's columns; the reference is `reference.<field>` columns (e.g.
    `reference.card_contract_id`) or one `reference` column of JSON."""

    external_id = fields.Field(column_name="external_id", widget=widgets.CharWidget())
    cardholder = fields.Field(column_name="cardholder", widget=widgets.CharWidget())
    binding = fields.Field(column_name="binding", widget=widgets.CharWidget())
    last4 = fields.Field(column_name="last4", widget=widgets.CharWidget())
    expiry_month = fields.Field(column_name="expiry_month", widget=widgets.IntegerWidget())
    expiry_year = fields.Field(column_name="expiry_year", widget=widgets.IntegerWidget())
    label = fields.Field(column_name="label", widget=widgets.CharWidget())
    brand = fields.Field(column_name="brand", widget=widgets.CharWidget())
    active = fields.Field(column_name="active", widget=widgets.BooleanWidget())

    required = (
        "external_id",
        "cardholder",
        "binding",
        "last4",
        "expiry_month",
        "expiry_year",
        "label",
    )


RESOURCES: dict[str, type[resources.Resource]] = {
    "cardholders": CardholderResource,
    "cards": CardResource,
}


@dataclass
class RowError:
    line: int  # the file's line (CSV) or row (XLSX), the header being 1
    field: str
    message: str


@dataclass
class ImportReport:
    """What a file came to: per-kind tallies, refused rows (the first ERRORS_SHOWN), a preview."""

    kind: str
    rows: int = 0
    error_count: int = 0
    errors: list[RowError] = field(default_factory=list)
    preview: list[tuple[int, str, str]] = field(default_factory=list)  # line, id, outcome
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    header_problem: str = ""

    @property
    def ok(self) -> bool:
        return not self.error_count and not self.header_problem and self.rows > 0


class BadFile(Exception):
    """The file cannot be read as the format says, or its header row is wrong."""


# ------------------------------------------------------------------------------ reading


def _csv_rows(path: Path) -> Iterator[list[str]]:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        try:
            yield from csv.reader(handle)
        except (csv.Error, UnicodeDecodeError) as exc:
            raise BadFile(f"This is not a readable CSV file in UTF-8 ({exc}).") from exc


def _xlsx_rows(path: Path) -> Iterator[list[str]]:
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a file that is not a workbook
        raise BadFile("This is not a readable XLSX workbook.") from exc
    try:
        sheet = workbook.worksheets[0]
        for values in sheet.iter_rows(values_only=True):
            yield ["" if value is None else str(value) for value in values]
    finally:
        workbook.close()


def file_rows(
    path: Path, file_format: str
) -> tuple[list[str], Iterator[tuple[int, dict[str, str]]]]:
    """The header's column names, and (line, {column: cell}) for each data row, read as it goes
    (blank rows skipped)."""
    raw = _csv_rows(path) if file_format == "csv" else _xlsx_rows(path)
    header = next(raw, None)
    if header is None:
        raise BadFile("The file is empty: it needs a header row, then one row per record.")
    names = [name.strip() for name in header]

    def records() -> Iterator[tuple[int, dict[str, str]]]:
        for line, cells in enumerate(raw, start=2):
            if any(cell.strip() for cell in cells):
                yield line, dict(zip(names, (cell.strip() for cell in cells), strict=False))

    return names, records()


def header_problem(kind: str, columns: Iterable[str]) -> str:
    """What is wrong with a file's header for `kind`, in words, or ""."""
    resource = RESOURCES[kind]
    known = {f.column_name for f in resource().fields.values()}
    present = set(columns)
    missing = [name for name in resource.required if name not in present]
    unknown = sorted(
        name for name in present - known if not (kind == "cards" and _is_reference(name))
    )
    problems = []
    if kind == "cards" and not any(_is_reference(name) for name in present):
        missing.append("reference.<field> (or reference)")
    if missing:
        problems.append(f"missing column(s): {', '.join(missing)}")
    if unknown:
        problems.append(f"unknown column(s): {', '.join(unknown)}")
    if not problems:
        return ""
    return (
        f"The header row does not fit a {kind} file ({'; '.join(problems)}). The columns are: "
        f"{', '.join(sorted(known))}" + (", reference.<field>" if kind == "cards" else "") + "."
    )


def _is_reference(name: str) -> bool:
    return name == "reference" or name.startswith(REFERENCE_PREFIX)


# ------------------------------------------------------------------------------ parsing


def _parse(kind: str, resource: Any, row: dict[str, str]) -> tuple[Any, dict[str, str]]:
    """The row as a service row, or None and the cells that could not be read."""
    values: dict[str, Any] = {}
    problems: dict[str, str] = {}
    for name, column in resource.fields.items():
        if column.column_name not in row:
            continue
        try:
            values[name] = column.clean(row)
        except ValueError as exc:
            problems[name] = f"Cannot read {row[column.column_name]!r}: {exc}"
    for name in ("active",):
        if values.get(name) is None:
            values.pop(name, None)
    values = {k: ("" if v is None else v) for k, v in values.items()}
    if kind == "cardholders":
        return (None if problems else CardholderRow(**values)), problems
    reference: Any = {}
    if row.get("reference"):
        try:
            reference = json.loads(row["reference"])
        except ValueError:
            problems["reference"] = 'Not JSON; write it like {"card_contract_id": "70001"}.'
    for column, cell in row.items():
        if column.startswith(REFERENCE_PREFIX) and cell:
            reference[column.removeprefix(REFERENCE_PREFIX)] = cell
    values["reference"] = reference
    if problems:
        return None, problems
    return CardRow(**values), problems


# ------------------------------------------------------------------------------ importing


def _record(report: ImportReport, line: int, name: str, message: str) -> None:
    report.error_count += 1
    if len(report.errors) < ERRORS_SHOWN:
        report.errors.append(RowError(line=line, field=name, message=message))


def _apply_chunk(
    batch: Batch,
    kind: str,
    resource: Any,
    chunk: list[tuple[int, dict[str, str]]],
    report: ImportReport,
) -> None:
    parsed: list[tuple[int, Any]] = []
    for line, row in chunk:
        service_row, problems = _parse(kind, resource, row)
        for name, message in problems.items():
            _record(report, line, name, message)
        if service_row is not None:
            parsed.append((line, service_row))
    if len(parsed) < len(chunk):
        batch.failed = True
    rows = [service_row for _, service_row in parsed]
    found = batch_apply(batch, **{kind: rows})
    for index, by_field in sorted(found.get(kind, {}).items()):
        for name, messages in by_field.items():
            for message in messages:
                _record(report, parsed[index][0], name, message)
    outcomes = batch.outcomes.get(kind, [])
    for (line, service_row), outcome in zip(parsed, outcomes, strict=False):
        if len(report.preview) < PREVIEW_ROWS:
            report.preview.append((line, service_row.external_id, str(outcome)))


def import_file(
    *, path: Path, file_format: str, kind: str, actor: Actor, dry_run: bool
) -> ImportReport:
    """Import a cardholder or card file, all or nothing (a dry run writes nothing either way).

    Rows are read and written CARDREVEAL_IMPORT_CHUNK_ROWS at a time, inside one transaction:
    memory stays the same whatever the file's size. Every refused row is counted, the first
    ERRORS_SHOWN are listed with their line.
    """
    report = ImportReport(kind=kind)
    resource = RESOURCES[kind]()
    size = settings.CARDREVEAL_IMPORT_CHUNK_ROWS
    columns, rows = file_rows(path, file_format)
    report.header_problem = header_problem(kind, columns)
    if report.header_problem:
        return report
    with provisioning_batch(actor=actor, dry_run=dry_run) as batch:
        while chunk := list(itertools.islice(rows, size)):
            report.rows += len(chunk)
            _apply_chunk(batch, kind, resource, chunk, report)
    tally = batch.cardholders if kind == "cardholders" else batch.cards
    report.created, report.updated, report.unchanged = tally.created, tally.updated, tally.unchanged
    return report
