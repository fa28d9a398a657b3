"""Text chunking: Markdown and reStructuredText by heading section, any other text by line windows."""

from __future__ import annotations

import re
from dataclasses import dataclass

from conexus.indexing.chunking._common import _windows
from conexus.indexing.chunking.code import _Piece

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_ATX = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_RST_ADORNMENT = re.compile(r"^([!-/:-@\[-`{-~])\1+\s*$")


@dataclass(slots=True)
class _Heading:
    row: int  # first row of the heading (the overline or the text)
    level: int
    title: str
    line: str


def _markdown_headings(lines: list[str]) -> list[_Heading]:
    headings: list[_Heading] = []
    fence: str | None = None
    row = 0
    count = len(lines)
    if count and lines[0].strip() == "---":
        # YAML front matter: its closing "---" would read as a setext underline.
        for end in range(1, count):
            if lines[end].strip() in ("---", "..."):
                row = end + 1
                break
    prev_text = False
    while row < count:
        line = lines[row]
        match = _FENCE.match(line)
        if fence is not None:
            if match and match.group(1)[0] == fence[0] and len(match.group(1)) >= len(fence):
                fence = None
            row += 1
            prev_text = False
            continue
        if match:
            fence = match.group(1)
            row += 1
            prev_text = False
            continue
        atx = _ATX.match(line)
        if atx:
            headings.append(_Heading(row, len(atx.group(1)), (atx.group(2) or "").strip(), line.strip()))
            prev_text = False
        elif prev_text and _SETEXT.match(line):
            level = 1 if line.strip()[0] == "=" else 2
            title = lines[row - 1].strip()
            if headings and headings[-1].row == row - 1:
                prev_text = False
            else:
                headings.append(_Heading(row - 1, level, title, title))
                prev_text = False
        else:
            prev_text = bool(line.strip()) and not line.startswith("    ")
        row += 1
    return headings


def _rst_headings(lines: list[str]) -> list[_Heading]:
    headings: list[_Heading] = []
    levels: dict[tuple[str, bool], int] = {}
    count = len(lines)
    row = 0
    while row < count - 1:
        line = lines[row]
        over = _RST_ADORNMENT.match(line)
        if over and row + 2 < count:
            title = lines[row + 1]
            under = lines[row + 2]
            if (
                title.strip()
                and not _RST_ADORNMENT.match(title)
                and under.rstrip() == line.rstrip()
                and len(line.rstrip()) >= len(title.strip())
            ):
                style = (line[0], True)
                level = levels.setdefault(style, len(levels) + 1)
                headings.append(_Heading(row, level, title.strip(), title.strip()))
                row += 3
                continue
        under_match = _RST_ADORNMENT.match(lines[row + 1])
        if (
            under_match
            and line.strip()
            and not line[0].isspace()
            and not _RST_ADORNMENT.match(line)
            and (row == 0 or not lines[row - 1].strip())
            and (len(lines[row + 1].rstrip()) >= len(line.rstrip()) or len(lines[row + 1].rstrip()) >= 4)
        ):
            style = (lines[row + 1][0], False)
            level = levels.setdefault(style, len(levels) + 1)
            headings.append(_Heading(row, level, line.strip(), line.strip()))
            row += 2
            continue
        row += 1
    return headings


def _chunk_sections(
    headings: list[_Heading], lines: list[str], max_lines: int, window_lines: int, overlap: int
) -> list[_Piece]:
    pieces: list[_Piece] = []
    last = len(lines) - 1
    stack: list[_Heading] = []
    bounds: list[tuple[int, int, _Heading | None, str | None]] = []
    first_row = headings[0].row if headings else last + 1
    if first_row > 0:
        bounds.append((0, first_row - 1, None, None))
    for index, heading in enumerate(headings):
        end = headings[index + 1].row - 1 if index + 1 < len(headings) else last
        while stack and stack[-1].level >= heading.level:
            stack.pop()
        parent = " > ".join(h.title for h in stack) or None
        stack.append(heading)
        bounds.append((heading.row, end, heading, parent))
    blank = [not line.strip() for line in lines]
    for start, end, section, parent in bounds:
        start, end = _trim_rows(blank, start, end)
        if start > end:
            continue
        symbol = (section.title or None) if section else None
        signature = section.line if section else None
        if end - start + 1 <= max_lines:
            pieces.append(_Piece(start, end, "section", symbol, parent, signature))
            continue
        for s, e in _windows(start, end, min(window_lines, max_lines), overlap):
            s, e = _trim_rows(blank, s, e)
            if s <= e:
                pieces.append(_Piece(s, e, "section", symbol, parent, signature, header=signature or ""))
    return pieces


def _trim_rows(blank: list[bool], start: int, end: int) -> tuple[int, int]:
    while start <= end and blank[start]:
        start += 1
    while end >= start and blank[end]:
        end -= 1
    return start, end


def _chunk_windows(lines: list[str], window_lines: int, overlap: int, kind: str = "window") -> list[_Piece]:
    blank = [not line.strip() for line in lines]
    pieces: list[_Piece] = []
    seen: set[tuple[int, int]] = set()
    for s, e in _windows(0, len(lines) - 1, window_lines, overlap):
        s, e = _trim_rows(blank, s, e)
        if s <= e and (s, e) not in seen:
            seen.add((s, e))
            pieces.append(_Piece(s, e, kind))
    return pieces
