"""Writing a report into a Markdown file between its `<!-- bench:NAME:start -->` and `end` markers."""

from __future__ import annotations

from pathlib import Path

REVEAL = "reveal"  # the block of `make bench`
INSTRUCTIONS = "instructions"  # the block of `make bench-instructions`


def markers(name: str) -> tuple[str, str]:
    """The start and end markers of the results block `name`."""
    return f"<!-- bench:{name}:start -->", f"<!-- bench:{name}:end -->"


def write_block(path: Path, report: str, *, name: str) -> None:
    """Put `report` between the markers of block `name` in `path`, replacing what was there and
    leaving the rest of the file as it is; without the markers, the block is appended at the end
    (a new file starts with "# Benchmarks")."""
    start, end = markers(name)
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    block = f"{start}\n{report}\n{end}"
    if start in text and end in text:
        head, rest = text.split(start, 1)
        tail = rest.split(end, 1)[1]
        text = head + block + tail
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(text)
