"""The pure parts of `make bench-import` (bench/import_bench.py): the generated data, the files, the
memory verdict and the table."""

from __future__ import annotations

import csv

from bench.import_bench import (
    API_CARDHOLDERS_PER_REQUEST,
    CARDS_PER_CARDHOLDER,
    Measurement,
    api_batches,
    card_rows,
    cardholder_row,
    memory_verdict,
    peak_rss_mb,
    report_table,
    write_import_files,
)
from cardreveal.cards.models import reference_errors
from cardreveal.provisioning.services import EXTERNAL_ID, PHONE


def test_generated_rows_pass_the_provisioning_rules_and_never_share_a_reference():
    references = set()
    for number in (0, 1, 99_999, 123_456):
        holder = cardholder_row(number)
        assert EXTERNAL_ID.fullmatch(holder["external_id"])
        assert PHONE.fullmatch(holder["phone"])
        for card in card_rows(number):
            assert EXTERNAL_ID.fullmatch(str(card["external_id"]))
            assert reference_errors("mastercard", card["reference"]) == []
            references.add(card["reference"]["card_contract_id"])
    assert len(references) == 4 * CARDS_PER_CARDHOLDER


def test_the_api_batches_cover_every_cardholder_once_within_the_limits():
    batches = list(api_batches(1234))
    ids = [h["external_id"] for b in batches for h in b["cardholders"]]
    assert len(ids) == len(set(ids)) == 1234
    assert all(len(b["cardholders"]) <= API_CARDHOLDERS_PER_REQUEST for b in batches)
    assert all(len(b["cards"]) <= 1000 for b in batches)
    assert sum(len(b["cards"]) for b in batches) == 1234 * CARDS_PER_CARDHOLDER


def test_the_import_files_have_the_admin_imports_columns_and_every_row(tmp_path):
    from cardreveal.provisioning.importing import header_problem

    holders, cards = write_import_files(10, tmp_path)
    with holders.open() as h, cards.open() as c:
        holder_rows, card_lines = list(csv.DictReader(h)), list(csv.DictReader(c))
    assert header_problem("cardholders", holder_rows[0].keys()) == ""
    assert header_problem("cards", card_lines[0].keys()) == ""
    assert len(holder_rows) == 10
    assert len(card_lines) == 10 * CARDS_PER_CARDHOLDER


def measured(peak: float, count: int, after: float = 90.0) -> Measurement:
    return Measurement("admin import", count, 2 * count, 10.0, peak, 80.0, after)


def test_memory_that_stays_within_the_tolerance_is_called_flat():
    verdict = memory_verdict(measured(100, 25_000), measured(108, 100_000))
    assert "GROWS" not in verdict
    assert "peak +8 MB: flat" in verdict


def test_memory_that_grows_with_the_size_is_called_out():
    verdict = memory_verdict(measured(100, 25_000), measured(180, 100_000, after=170))
    assert "peak +80 MB: GROWS" in verdict
    assert "held after the last row +80 MB: GROWS" in verdict


def test_the_table_gives_time_rate_and_memory_per_run():
    table = report_table([measured(100, 1000)])
    assert "| admin import | 1,000 | 2,000 | 10.0 s | 300 | 100 MB | 80 MB | 90 MB |" in table


def test_the_peak_is_read_from_proc_status():
    assert peak_rss_mb("Name:\tpython\nVmHWM:\t  204800 kB\nVmRSS:\t1 kB\n") == 200.0
