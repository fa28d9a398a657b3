"""The chunk-meta memo: asks the database only for chunks it has not seen in this generation."""

from __future__ import annotations

from conexus.store.base import ChunkMeta
from conexus.store.memo import ChunkMetaMemo

TABLE = {i: ChunkMeta(f"f{i % 3}.py", "python", "function") for i in range(10)}


class Fetch:
    """A stand-in for the database read: records which ids it was asked for."""

    def __init__(self, table: dict[int, ChunkMeta]) -> None:
        self.table = table
        self.asked: list[list[int]] = []

    def __call__(self, ids: list[int]) -> dict[int, ChunkMeta]:
        self.asked.append(ids)
        return {i: self.table[i] for i in ids if i in self.table}


def test_only_chunks_not_seen_in_the_generation_are_read() -> None:
    memo, fetch = ChunkMetaMemo(), Fetch(TABLE)
    assert memo.lookup(1, [1, 2, 3], fetch) == {i: TABLE[i] for i in (1, 2, 3)}
    assert memo.lookup(1, [2, 3, 4], fetch) == {i: TABLE[i] for i in (2, 3, 4)}
    assert fetch.asked == [[1, 2, 3], [4]]
    assert memo.lookup(1, [3, 2], fetch) == {3: TABLE[3], 2: TABLE[2]}
    assert len(fetch.asked) == 2


def test_a_new_generation_forgets_everything() -> None:
    memo, fetch = ChunkMetaMemo(), Fetch(TABLE)
    memo.lookup(1, [1, 2], fetch)
    fetch.table = {1: ChunkMeta("moved.py", "python", "class")}  # 2 was deleted by the write
    assert memo.lookup(2, [1, 2], fetch) == {1: ChunkMeta("moved.py", "python", "class")}
    assert fetch.asked == [[1, 2], [1, 2]]


def test_chunks_the_database_leaves_out_stay_out_and_are_asked_again() -> None:
    memo, fetch = ChunkMetaMemo(), Fetch(TABLE)
    assert memo.lookup(1, [5, 99], fetch) == {5: TABLE[5]}
    assert memo.lookup(1, [5, 99], fetch) == {5: TABLE[5]}
    assert fetch.asked == [[5, 99], [99]]


def test_past_its_limit_it_answers_what_it_has_and_takes_in_no_more() -> None:
    memo, fetch = ChunkMetaMemo(limit=4), Fetch(TABLE)
    memo.lookup(1, [0, 1, 2], fetch)
    memo.lookup(1, [3, 4], fetch)  # 5 would be past the limit: not kept
    assert len(memo) == 3
    assert memo.lookup(1, [0, 3], fetch) == {0: TABLE[0], 3: TABLE[3]}
    assert fetch.asked[-1] == [3]
