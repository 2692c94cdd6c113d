"""`--write`: a report between its markers in a Markdown file (bench/results_block.py)."""

from __future__ import annotations

from bench.results_block import INSTRUCTIONS, REVEAL, markers, write_block


def test_a_new_report_replaces_only_its_own_block(tmp_path):
    doc = tmp_path / "benchmarks.md"
    start, end = markers(REVEAL)
    other_start, other_end = markers(INSTRUCTIONS)
    doc.write_text(
        f"# Benchmarks\n\nIntro.\n\n{start}\nold run\n{end}\n\nBetween.\n\n"
        f"{other_start}\nold counts\n{other_end}\nAfter.\n"
    )
    write_block(doc, "new run\n| a | b |", name=REVEAL)
    assert doc.read_text() == (
        f"# Benchmarks\n\nIntro.\n\n{start}\nnew run\n| a | b |\n{end}\n\nBetween.\n\n"
        f"{other_start}\nold counts\n{other_end}\nAfter.\n"
    )


def test_a_file_without_the_block_gets_it_at_the_end(tmp_path):
    doc = tmp_path / "benchmarks.md"
    doc.write_text("# Benchmarks\n\nNo results yet.\n\n")
    write_block(doc, "counts", name=INSTRUCTIONS)
    start, end = markers(INSTRUCTIONS)
    assert doc.read_text() == f"# Benchmarks\n\nNo results yet.\n\n{start}\ncounts\n{end}\n"


def test_a_missing_file_is_created_with_a_title(tmp_path):
    doc = tmp_path / "new.md"
    write_block(doc, "run", name=REVEAL)
    assert doc.read_text().startswith("# Benchmarks\n\n<!-- bench:reveal:start -->\nrun\n")
