"""The drill's figures: gaps in service, counters across restarted hosts, the table, the block in the docs."""

from __future__ import annotations

import collections

import pytest

from drill.report import (
    END_MARKER,
    START_MARKER,
    Answer,
    Check,
    Phase,
    checks_table,
    counter_increase,
    longest_gap,
    phase_table,
    summarise,
    write_block,
)


def test_the_longest_gap_counts_from_the_window_edges():
    assert longest_gap([12.0, 13.0], start=10.0, end=20.0) == pytest.approx(7.0)
    assert longest_gap([11.0, 19.0], start=10.0, end=20.0) == pytest.approx(8.0)


def test_a_window_with_no_success_is_one_gap_as_long_as_the_window():
    assert longest_gap([], start=10.0, end=25.0) == pytest.approx(15.0)
    assert longest_gap([5.0, 30.0], start=10.0, end=25.0) == pytest.approx(15.0)


def test_a_phase_counts_only_the_answers_that_arrived_inside_it():
    answers = [
        Answer(9.0, 9.5, True, "ok", "h1"),  # before
        Answer(10.0, 10.2, True, "ok", "h1"),
        Answer(10.5, 11.0, False, "503 provider_busy", "h2"),
        Answer(11.0, 14.0, False, "503 provider_busy", "h1"),
        Answer(12.0, 12.1, False, "connection refused", ""),
        Answer(19.0, 21.0, True, "ok", "h2"),  # after
    ]
    summary = summarise(answers, Phase("fault", 10.0, 20.0))
    assert summary.requests == 4
    assert summary.revealed == 1
    assert summary.errors == collections.Counter({"503 provider_busy": 2, "connection refused": 1})
    assert summary.longest_gap == pytest.approx(20.0 - 10.2)


def test_a_counter_that_fell_was_restarted_and_counts_its_new_value():
    before = {"h1": 100.0, "h2": 50.0}
    after = {"h1": 130.0, "h2": 7.0}  # h2 was killed and started again
    assert counter_increase(before, after) == pytest.approx(30 + 7)


def test_a_host_that_did_not_answer_a_scrape_adds_nothing():
    assert counter_increase({"h1": 5.0, "h2": 5.0}, {"h1": 6.0}) == pytest.approx(1.0)
    assert counter_increase({"h1": 5.0}, {"h1": 6.0, "h3": 2.0}) == pytest.approx(3.0)


def test_the_table_shows_each_fault_with_its_errors_most_frequent_first():
    summary = summarise(
        [
            Answer(1.0, 1.1, False, "504 provider_timeout", "h1"),
            Answer(1.0, 1.2, False, "503 provider_circuit_open", "h1"),
            Answer(1.0, 1.3, False, "503 provider_circuit_open", "h2"),
            Answer(1.0, 1.4, True, "ok", "h2"),
        ],
        Phase("provider hangs", 0.0, 2.0, "thredd silent"),
    )
    summary.metrics_revealed, summary.metrics_failed = 3.0, 2.0
    summary.notes.append("2 of 2 hosts answered")
    table = phase_table([summary])
    row = table.splitlines()[2]
    assert row == (
        "| provider hangs (thredd silent) | 2 s | 4 | 1 | "
        "2 x 503 provider_circuit_open, 1 x 504 provider_timeout | 1.4 s | 3 / 2 | "
        "2 of 2 hosts answered |"
    )


def test_a_failed_check_stands_out_and_a_note_is_neither():
    table = checks_table(
        [Check("a", True, "fine"), Check("b", False, "lost one"), Check("c", True, "3", note=True)]
    )
    assert "| a | passed | fine |" in table
    assert "| b | **FAILED** | lost one |" in table
    assert "| c | note | 3 |" in table


def test_a_check_whose_evidence_spans_lines_stays_one_row():
    table = checks_table([Check("a", False, "Error:\n\nERRORS: a | b")])
    assert table.splitlines()[-1] == "| a | **FAILED** | Error: ERRORS: a / b |"


def test_the_report_replaces_only_its_block(tmp_path):
    doc = tmp_path / "reliability.md"
    doc.write_text(f"# Reliability\n\nbefore\n\n{START_MARKER}\nold\n{END_MARKER}\n\nafter\n")
    write_block(doc, "new table")
    text = doc.read_text()
    assert f"{START_MARKER}\nnew table\n{END_MARKER}" in text
    assert "old" not in text
    assert text.startswith("# Reliability\n\nbefore")
    assert text.endswith("after\n")


def test_a_file_without_the_markers_gets_the_block_appended(tmp_path):
    doc = tmp_path / "reliability.md"
    doc.write_text("# Reliability\n")
    write_block(doc, "table")
    assert doc.read_text() == f"# Reliability\n\n{START_MARKER}\ntable\n{END_MARKER}\n"
