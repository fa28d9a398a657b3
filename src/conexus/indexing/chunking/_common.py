"""Helpers the chunking modules share: a syntax node's source text and line windows."""

from __future__ import annotations

from tree_sitter import Node


def _node_text(src: bytes, node: Node) -> str:
    return src[node.start_byte : node.end_byte].decode("utf-8", "replace")


def _windows(start: int, end: int, size: int, overlap: int) -> list[tuple[int, int]]:
    size = max(1, size)
    step = max(1, size - max(0, overlap))
    out = []
    s = start
    while True:
        e = min(s + size - 1, end)
        out.append((s, e))
        if e >= end:
            return out
        s += step
