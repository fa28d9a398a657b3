"""Oracles shared by the fuzz targets and the tests: what must hold for any input."""

from __future__ import annotations

from conexus.models import Chunk


def file_lines(text: str) -> list[str]:
    """The chunker's definition of a file's lines (see the chunker module docstring)."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def assert_well_formed(text: str, chunks: list[Chunk]) -> None:
    """Every non-blank line is covered, texts are exact, ranges valid, order by start line."""
    lines = file_lines(text)
    covered = [False] * len(lines)
    for chunk in chunks:
        assert 1 <= chunk.start_line <= chunk.end_line <= len(lines), chunk.citation
        assert chunk.text == "\n".join(lines[chunk.start_line - 1 : chunk.end_line]), chunk.citation
        assert chunk.text.strip(), f"blank chunk {chunk.citation}"
        first, last = lines[chunk.start_line - 1], lines[chunk.end_line - 1]
        assert first.strip(), f"starts on a blank line {chunk.citation}: {first!r} in {text[:300]!r}"
        assert last.strip(), f"ends on a blank line {chunk.citation}: {last!r} in {text[:300]!r}"
        for row in range(chunk.start_line - 1, chunk.end_line):
            covered[row] = True
    missing = [i + 1 for i, line in enumerate(lines) if line.strip() and not covered[i]]
    assert not missing, f"uncovered non-blank lines: {missing[:20]}"
    starts = [c.start_line for c in chunks]
    assert starts == sorted(starts)
