"""Tree-sitter symbol chunking: declarations become pieces, oversized ones are split.

``_chunk_code`` parses a file and runs ``_CodeChunker``, which finds the
declarations a language's spec names (``specs``), emits one piece per symbol,
container member, container remainder and module-code run, glues closers,
labels and short comments to their neighbours, and splits any piece longer than
``max_chunk_lines`` between statements (then line windows). ``_Piece`` is a
chunk before it becomes a ``Chunk``; the other chunkers produce it too.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from inspect import cleandoc

from tree_sitter import Node

from conexus.indexing.chunking._common import _node_text, _windows
from conexus.indexing.chunking.specs import _SPECS, _Def, _Spec
from conexus.indexing.languages import parse_source

# A class (or struct, impl, module...) this short stays one chunk, members included:
# splitting it would only produce fragments of a few lines each.
SMALL_CONTAINER_LINES = 15

_SIGNATURE_MAX_CHARS = 500
_DOCSTRING_MAX_CHARS = 2000
_SPLIT_MAX_DEPTH = 8
_END_SCAN_MAX_DEPTH = 32
# Containers / transparent blocks nested deeper than this are treated as plain symbols / statements,
# which keeps recursion bounded on pathological input.
_MAX_NESTING = 40
_COMMENT_RUN_LINES = 6  # a comment-only run shorter than this joins the symbol below it

# Kinds whose functions are methods; other containers (module, namespace) hold functions.
_CLASS_LIKE = frozenset(
    {"class", "interface", "struct", "enum", "trait", "impl", "object", "protocol", "extension", "union"}
)
_CONTAINER_KINDS = _CLASS_LIKE | {"module", "namespace"}
_FUNCTION_KINDS = frozenset({"function", "method"})

_CLOSER_LINE = re.compile(
    r"^\s*(?:[\])};,]+|end|#\s*endif\b.*)\s*[\])};,]*\s*(?://.*|#.*|/\*.*\*/)?\s*$", re.IGNORECASE
)
# Lines that introduce what follows: access labels, preprocessor conditionals.
_LABEL_LINE = re.compile(
    r"^\s*(?:(?:public|private|protected|internal|private\s+protected)\s*:?|#\s*(?:if|ifdef|ifndef|elif|else)\b.*)\s*$"
)


@dataclass(slots=True)
class _Sym:
    kind: str
    name: str | None
    parent: str | None
    start: int  # 0-based rows, inclusive, leading comments included
    end: int
    node: Node  # the declaration itself (inside any wrapper)
    body: Node | None
    signature: str | None
    docstring: str | None
    members: list[_Sym] = field(default_factory=list)
    member_items: list[Node] = field(default_factory=list)
    is_container: bool = False
    context: str = ""  # the enclosing container's signature


@dataclass(slots=True)
class _Piece:
    """A chunk before it becomes a ``Chunk``: rows are 0-based and inclusive."""

    start: int
    end: int
    kind: str
    symbol: str | None = None
    parent: str | None = None
    signature: str | None = None
    docstring: str | None = None
    header: str = ""


class _CodeChunker:
    def __init__(
        self,
        spec: _Spec,
        src: bytes,
        lines: list[str],
        max_lines: int,
        window_lines: int,
        window_overlap: int,
    ) -> None:
        self.spec = spec
        self.src = src
        self.lines = lines
        self.max_lines = max_lines
        self.window_lines = window_lines
        self.window_overlap = window_overlap
        self.last_row = len(lines) - 1
        self.pieces: list[_Piece] = []
        self.blank = [not line.strip() for line in lines]

    # ---- symbols

    def collect(
        self,
        nodes: Iterable[Node],
        parent: str | None,
        parent_kind: str | None,
        context: str,
        lo: int,
        hi: int,
        depth: int = 0,
    ) -> tuple[list[_Sym], list[Node]]:
        """Find the declarations among ``nodes`` (a module or a container body)."""
        syms: list[_Sym] = []
        items: list[Node] = []
        orphans: dict[int, int] = {}  # end row -> start row of comments cut off a previous symbol's end
        for node in self._flatten(nodes, 0):
            found = self._resolve(node)
            if found is None:
                items.append(node)
                continue
            inner, info = found
            kind = info.kind
            sym_parent = parent
            if info.parent is not None:
                sym_parent = info.parent
            if kind in _FUNCTION_KINDS and info.parent is None:
                in_class = parent_kind is not None and parent_kind not in self.spec.function_scopes
                kind = "method" if in_class else "function"
            start, comments = self._leading(node)
            while start - 1 in orphans:
                start = orphans.pop(start - 1)
            end = self._end_row(node, orphans)
            start = max(start, lo)
            end = min(end, hi)
            if end < start:
                items.append(node)
                continue
            body = info.body
            signature = self._signature(inner, body)
            docstring = self._docstring(body, comments)
            sym = _Sym(
                kind=kind,
                name=info.name,
                parent=sym_parent,
                start=start,
                end=end,
                node=inner,
                body=body,
                signature=signature,
                docstring=docstring,
                context=context,
            )
            if (
                kind in _CONTAINER_KINDS
                and info.members is not None
                and end - start + 1 > min(SMALL_CONTAINER_LINES, self.max_lines)
                and depth < _MAX_NESTING
            ):
                sym.is_container = True
                if kind in self.spec.unnamed_scopes:
                    member_parent = parent
                else:
                    member_parent = f"{sym_parent}.{info.name}" if sym_parent and info.name else info.name
                sym.members, sym.member_items = self.collect(
                    info.members.children, member_parent, kind, signature or "", start, end, depth + 1
                )
            syms.append(sym)
        return syms, items

    def _flatten(self, nodes: Iterable[Node], depth: int) -> Iterator[Node]:
        transparent = self.spec.transparent
        for node in nodes:
            if not node.is_named:
                continue
            if node.type in transparent and depth < _MAX_NESTING:
                yield from self._flatten(node.children, depth + 1)
            else:
                yield node

    def _resolve(self, node: Node) -> tuple[Node, _Def] | None:
        spec = self.spec
        inner = node
        for _ in range(4):
            if inner.type in spec.defs:
                break
            if inner.type not in spec.wrappers:
                return None
            nxt = None
            for child in inner.named_children:
                if child.type in spec.defs or child.type in spec.wrappers:
                    nxt = child
                    break
            if nxt is None:
                return None
            inner = nxt
        resolver = spec.defs.get(inner.type)
        if resolver is None:
            return None
        info = resolver(inner, self.src)
        if info is None:
            return None
        return inner, info

    def _leading(self, node: Node) -> tuple[int, list[Node]]:
        """First row of ``node`` including the comments and attributes directly above it."""
        start = node.start_point.row
        comments: list[Node] = []
        glue = self.spec.comments | self.spec.attributes
        prev = node.prev_sibling
        while prev is not None and prev.type in glue:
            if _end_row_of(prev) < start - 1:
                break  # a blank line separates it
            before = prev.prev_sibling
            if before is not None and _end_row_of(before) >= prev.start_point.row:
                break  # a trailing comment of the line above
            start = prev.start_point.row
            if prev.type in self.spec.comments:
                comments.append(prev)
            prev = before
        comments.reverse()
        return start, comments

    def _end_row(self, node: Node, orphans: dict[int, int]) -> int:
        """Last row with content of ``node``.

        Grammars end some nodes on the next line (column 0) or at the next
        line's indentation, and some (Scala, Python at a dedent) swallow a
        comment meant for the next declaration; such a comment, if not indented
        deeper than the declaration, is cut off and remembered in ``orphans``.
        """
        column = node.start_point.column
        current = node
        end_row = _end_row_of(node)
        for _ in range(_END_SCAN_MAX_DEPTH):
            count = current.child_count
            if count == 0:
                break
            index = count - 1
            last: Node | None = current.child(index)
            while last is not None and (
                last.start_byte == last.end_byte
                or (last.type in self.spec.comments and last.start_point.column <= column)
            ):
                if last.start_byte != last.end_byte and last.start_point.row > node.start_point.row:
                    orphans[_end_row_of(last)] = last.start_point.row
                index -= 1
                last = current.child(index) if index >= 0 else None
            if last is None:
                break
            end_row = min(end_row, _end_row_of(last))
            current = last
        return max(end_row, node.start_point.row)

    def _signature(self, node: Node, body: Node | None) -> str | None:
        src = self.src
        if body is not None and body.start_byte > node.start_byte:
            raw = src[node.start_byte : body.start_byte].decode("utf-8", "replace")
        else:
            line_end = src.find(b"\n", node.start_byte, node.end_byte)
            stop = node.end_byte if line_end < 0 else line_end
            raw = src[node.start_byte : stop].decode("utf-8", "replace")
        parts = [part.strip() for part in raw.splitlines()]
        text = "\n".join(part for part in parts if part).rstrip()
        if text.endswith("{"):
            text = text[:-1].rstrip()
        if text.endswith("=") and body is not None:
            text = text[:-1].rstrip()
        if len(text) > _SIGNATURE_MAX_CHARS:
            text = text[:_SIGNATURE_MAX_CHARS]
        return text or None

    def _docstring(self, body: Node | None, comments: list[Node]) -> str | None:
        if self.spec.python_docstrings and body is not None:
            doc = _python_docstring(body, self.src)
            if doc:
                return doc[:_DOCSTRING_MAX_CHARS]
        if not comments:
            return None
        text = "\n".join(_node_text(self.src, c) for c in comments)
        doc = _clean_comment(text)
        return doc[:_DOCSTRING_MAX_CHARS] or None

    # ---- emission

    def emit_scope(
        self,
        lo: int,
        hi: int,
        syms: list[_Sym],
        items: list[Node],
        gap: Callable[[int, int, bool], _Piece],
    ) -> None:
        """Emit ``syms`` and the runs of rows between them inside ``lo..hi``."""
        syms = _coalesce(syms)
        spans: list[tuple[int, int]] = []  # (first, last) piece index per symbol
        runs: list[tuple[int, int, int]] = []  # (start, end, index of the symbol just before or -1)
        cursor = lo
        for index, sym in enumerate(syms):
            if sym.start > cursor:
                runs.append((cursor, sym.start - 1, index - 1))
            cursor = max(cursor, sym.end + 1)
            first = len(self.pieces)
            self.emit_symbol(sym)
            spans.append((first, len(self.pieces) - 1))
        if cursor <= hi:
            runs.append((cursor, hi, len(syms) - 1))
        scope_start = self._trim(lo, hi)[0]
        item_rows = [item.start_point.row for item in items]
        for start, end, before in runs:
            start, end = self._trim(start, end)
            if start > end:
                continue
            after = before + 1 if before + 1 < len(syms) else -1
            if (
                before >= 0
                and self._all_match(start, end, _CLOSER_LINE)
                and self._extend_down(spans[before], end)
            ):
                continue
            if (
                after >= 0
                and self._all_match(start, end, _LABEL_LINE)
                and self._extend_up(spans[after], start)
            ):
                continue
            # A short comment block with a blank line below it introduces what follows
            # (a banner like "# --- helpers ---"), unless it opens the file or class.
            block = self._trailing_comments(start, end, items, item_rows)
            if block >= 0 and end - block < _COMMENT_RUN_LINES:
                if block == start and start != scope_start:
                    if after >= 0 and self._extend_up(spans[after], start):
                        continue
                    if after < 0 and before >= 0 and self._extend_down(spans[before], end):
                        continue
                elif (
                    block > start
                    and self.blank[block - 1]
                    and after >= 0
                    and self._extend_up(spans[after], block)
                ):
                    end = self._trim(start, block - 1)[1]
            at_scope_start = start == scope_start

            def make(s: int, e: int, first: bool, at_start: bool = at_scope_start) -> _Piece:
                return gap(s, e, first and at_start)

            self._emit_split(start, end, items, make)

    def emit_symbol(self, sym: _Sym) -> None:
        if sym.is_container:
            own_parent = sym.parent

            def gap(s: int, e: int, is_header: bool) -> _Piece:
                return _Piece(
                    s,
                    e,
                    sym.kind,
                    sym.name,
                    own_parent,
                    sym.signature,
                    sym.docstring if is_header else None,
                    sym.context if is_header else (sym.signature or ""),
                )

            self.emit_scope(sym.start, sym.end, sym.members, sym.member_items, gap)
            return
        total = sym.end - sym.start + 1
        if total <= self.max_lines:
            self.pieces.append(
                _Piece(
                    sym.start,
                    sym.end,
                    sym.kind,
                    sym.name,
                    sym.parent,
                    sym.signature,
                    sym.docstring,
                    sym.context,
                )
            )
            return
        header = "\n".join(part for part in (sym.context, sym.signature) if part)
        items = sym.body.named_children if sym.body is not None else sym.node.named_children

        def part(s: int, e: int, first: bool) -> _Piece:
            return _Piece(
                s, e, sym.kind, sym.name, sym.parent, sym.signature, sym.docstring if first else None, header
            )

        self._emit_split(sym.start, sym.end, items, part)

    def _emit_split(
        self, start: int, end: int, items: list[Node], make: Callable[[int, int, bool], _Piece]
    ) -> None:
        first = True
        for s, e in self._split(start, end, items, 0):
            s, e = self._trim(s, e)
            if s > e:
                continue
            self.pieces.append(make(s, e, first))
            first = False

    def _split(self, start: int, end: int, items: list[Node], depth: int) -> list[tuple[int, int]]:
        """Cut ``start..end`` into ranges of at most ``max_lines`` rows between ``items``."""
        limit = self.max_lines
        if end - start + 1 <= limit:
            return [(start, end)]
        # Segments: maximal row ranges that no item crosses.
        segments: list[tuple[int, int, list[Node]]] = []
        seg_start = start
        seg_nodes: list[Node] = []
        reach = start - 1
        for item in items:
            row = item.start_point.row
            item_end = _end_row_of(item)
            if item_end < start or row > end:
                continue
            if row > seg_start and row > reach:
                segments.append((seg_start, row - 1, seg_nodes))
                seg_start = row
                seg_nodes = []
            seg_nodes.append(item)
            reach = max(reach, item_end)
        segments.append((seg_start, end, seg_nodes))
        out: list[tuple[int, int]] = []
        cur: tuple[int, int] | None = None
        for s, e, nodes in segments:
            if cur is not None and e - cur[0] + 1 <= limit:
                cur = (cur[0], e)
                continue
            if cur is not None:
                out.append(cur)
                cur = None
            if e - s + 1 <= limit:
                cur = (s, e)
                continue
            children = [c for n in nodes for c in n.named_children]
            if depth < _SPLIT_MAX_DEPTH and children:
                out.extend(self._split(s, e, children, depth + 1))
            else:
                out.extend(_windows(s, e, min(self.window_lines, limit), self.window_overlap))
        if cur is not None:
            out.append(cur)
        return out

    def _trim(self, start: int, end: int) -> tuple[int, int]:
        blank = self.blank
        while start <= end and blank[start]:
            start += 1
        while end >= start and blank[end]:
            end -= 1
        return start, end

    def _all_match(self, start: int, end: int, pattern: re.Pattern[str]) -> bool:
        lines = self.lines
        blank = self.blank
        return all(blank[r] or pattern.match(lines[r]) is not None for r in range(start, end + 1))

    def _trailing_comments(self, start: int, end: int, items: list[Node], item_rows: list[int]) -> int:
        """First row of the comments that end the run ``start..end``, or -1 if it ends with code."""
        first = bisect_left(item_rows, start)
        index = bisect_right(item_rows, end) - 1
        comments = self.spec.comments
        row = -1
        while index >= first and items[index].type in comments:
            row = item_rows[index]
            index -= 1
        if index >= first and _end_row_of(items[index]) >= row:
            return -1  # the "comment" shares a line with code
        return row

    def _extend_down(self, span: tuple[int, int], end: int) -> bool:
        """Stretch the last piece of a symbol down to ``end`` if it stays within the size limit."""
        first, last = span
        if last < first:
            return False
        piece = max(self.pieces[first : last + 1], key=lambda p: p.end)
        if piece.end >= end or end - piece.start + 1 > self.max_lines:
            return False
        piece.end = end
        return True

    def _extend_up(self, span: tuple[int, int], start: int) -> bool:
        """Stretch the first piece of a symbol up to ``start`` if it stays within the size limit."""
        first, last = span
        if last < first:
            return False
        piece = min(self.pieces[first : last + 1], key=lambda p: p.start)
        if piece.start <= start or piece.end - start + 1 > self.max_lines:
            return False
        piece.start = start
        return True


def _coalesce(syms: list[_Sym]) -> list[_Sym]:
    """Sort symbols and fold any that share a line with the previous one into it.

    Declarations on one line (``function a(){} function b(){}``, minified code)
    would otherwise give many chunks with the same text.
    """
    out: list[_Sym] = []
    for sym in sorted(syms, key=lambda s: (s.start, s.end)):
        if out and sym.start <= out[-1].end:
            prev = out[-1]
            if sym.end > prev.end:
                prev.end = sym.end
                prev.is_container = False
                prev.members = []
            continue
        out.append(sym)
    return out


def _end_row_of(node: Node) -> int:
    point = node.end_point
    row = point.row
    if point.column == 0 and row > node.start_point.row:
        return row - 1
    return row


def _python_docstring(body: Node, src: bytes) -> str | None:
    first = body.named_children[0] if body.named_child_count else None
    if first is None or first.type != "expression_statement" or first.named_child_count != 1:
        return None
    string = first.named_children[0]
    if string.type != "string":
        return None
    raw = _node_text(src, string)
    raw = raw.lstrip("rRbBuUfF")
    for quote in ('"""', "'''", '"', "'"):
        if raw.startswith(quote) and raw.endswith(quote) and len(raw) >= 2 * len(quote):
            raw = raw[len(quote) : -len(quote)]
            break
    return cleandoc(raw) or None


_COMMENT_PREFIX = re.compile(r"^\s*(?:/\*+!?|\*+/?|//[/!]?|#+!?|--|<!--)\s?")
_COMMENT_SUFFIX = re.compile(r"\s*(?:\*+/|-->)\s*$")


def _clean_comment(text: str) -> str:
    out = []
    for line in text.splitlines():
        line = _COMMENT_SUFFIX.sub("", line)
        line = _COMMENT_PREFIX.sub("", line, count=1)
        out.append(line.rstrip())
    while out and not out[0]:
        out.pop(0)
    while out and not out[-1]:
        out.pop()
    return "\n".join(out)


def _chunk_code(
    path: str, language: str, text: str, lines: list[str], max_lines: int, window_lines: int, overlap: int
) -> list[_Piece] | None:
    spec = _SPECS.get(language)
    if spec is None:
        return None
    src = text.encode("utf-8", "replace")
    tree = parse_source(language, src)
    if tree is None:  # no grammar, or a parse halted by its time budget: chunked as text
        return None
    chunker = _CodeChunker(spec, src, lines, max_lines, window_lines, overlap)
    last = len(lines) - 1
    syms, items = chunker.collect(tree.root_node.children, None, None, "", 0, last)

    def module(s: int, e: int, first: bool) -> _Piece:
        return _Piece(s, e, "module")

    chunker.emit_scope(0, last, syms, items, module)
    return chunker.pieces
