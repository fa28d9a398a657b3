"""The history prior: commit logs read up to a commit, similar commits' files, co-change, and the ranking."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from conexus.engine import Engine
from conexus.gitinfo import LoggedCommit, commit_log, resolve_rev
from conexus.search.history import FileHistory, GitHistory, HistoryIndex
from conexus.search.localize import HISTORY_SIMILAR_WEIGHT, apply_history
from tests.conftest import git


def _commit(root: Path, message: str, files: dict[str, str]) -> str:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", message)
    return git(root, "rev-parse", "HEAD")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    return root


def test_a_log_read_at_a_commit_holds_its_ancestors_only(repo: Path) -> None:
    first = _commit(repo, "Add the retry policy", {"retry.py": "a\n"})
    message = "Fix backoff jitter\n\nThe jitter was applied twice."
    base = _commit(repo, message, {"backoff.py": "b\n", "retry.py": "c\n"})
    _commit(repo, "Fix the issue that is being evaluated", {"fix.py": "d\n"})
    log = commit_log(repo, base)
    assert [c.sha for c in log] == [base, first]
    assert log[0].message == message
    assert set(log[0].files) == {"backoff.py", "retry.py"}
    # A snapshot without a work tree, read through --git-dir, gives the same answer.
    assert commit_log(repo, base, git_dir=repo / ".git") == log
    assert resolve_rev(repo, "HEAD~1") == base


def test_outside_a_repository_there_is_no_history(tmp_path: Path) -> None:
    assert commit_log(tmp_path) == []
    assert GitHistory(tmp_path).index() is None


def test_similar_commits_vote_for_the_files_they_touched() -> None:
    index = HistoryIndex(
        [
            LoggedCommit("3", "Handle proxy authentication headers", ("proxy.py", "auth.py")),
            LoggedCommit("2", "Timeouts on redirects were ignored", ("redirects.py",)),
            LoggedCommit("1", "Redirect timeout test", ("redirects.py", "tests/test_redirects.py")),
        ]
    )
    votes = index.similar_files("Redirects ignore the timeout", lambda p: not p.startswith("tests/"))
    assert max(votes, key=votes.__getitem__) == "redirects.py"
    assert votes["redirects.py"] == 1.0
    assert "tests/test_redirects.py" not in votes
    assert "proxy.py" not in votes  # no shared word


def test_co_change_weighs_each_shared_commit_by_its_size() -> None:
    index = HistoryIndex(
        [
            LoggedCommit("3", "a", ("zstd.c", "zstd.h")),
            LoggedCommit("2", "b", ("zstd.c", "zstd.h", "huf.c")),
            LoggedCommit("1", "c", ("other.c",)),
        ]
    )
    co = index.co_changed(["zstd.c"], lambda p: True)
    assert co == {"zstd.c": {"zstd.h": pytest.approx(0.5 + 1 / 3), "huf.c": pytest.approx(1 / 3)}}


def test_history_lifts_the_files_it_names_and_lets_missed_ones_in() -> None:
    files = [("server.go", 1.0), ("router.go", 0.95), ("docs.go", 0.9)]
    history = FileHistory(similar={"router.go": 1.0}, co_change={"server.go": {"engine.go": 1.0}})
    ranked = apply_history(files, history, similar_weight=0.3, co_change_weight=0.1)
    assert [p for p, _ in ranked] == ["router.go", "server.go", "docs.go", "engine.go"]
    assert dict(ranked)["engine.go"] == pytest.approx(0.1)
    assert apply_history(files, None) == files
    assert apply_history(files, FileHistory()) == files


def test_a_file_history_round_trips_through_json() -> None:
    history = FileHistory(similar={"a.py": 1.0}, co_change={"a.py": {"b.py": 0.5}})
    assert FileHistory.from_dict(history.to_dict()) == history


def test_localize_reads_the_repository_history_unless_told_not_to(
    repo: Path, make_engine: Callable[..., Engine]
) -> None:
    _commit(
        repo,
        "Initial layout",
        {
            "shop/cart.py": "def add_item(cart, item):\n    cart.append(item)\n    return cart\n",
            "shop/pricing.py": "def total(items):\n    return sum(i.price for i in items)\n",
            "shop/coupons.py": "def apply(code, amount):\n    return amount\n",
            "tests/test_cart.py": "def test_add():\n    assert True\n",
        },
    )
    # The history says discount bugs were fixed in pricing.py, although its text never says "discount".
    _commit(repo, "Fix discount rounding for totals", {"shop/pricing.py": "def total(xs):\n    return 0\n"})
    _commit(repo, "Discount rounding again", {"shop/pricing.py": "def total(items):\n    return 1\n"})
    engine = make_engine(repo, learned_ranker=False)  # the hand-tuned formula, checked exactly below
    engine.index()
    issue = "Discount rounding is wrong when a coupon code is applied to the cart"
    history = engine.file_history(issue, ["shop/coupons.py"])
    assert history is not None and history.similar == {"shop/pricing.py": 1.0}
    with_history = dict(engine.localize(issue).files)
    without = dict(engine.localize(issue, history=False).files)
    # Scores are normalised to the best file, then the similar-commit vote is added.
    best = max(without.values())
    expected = without["shop/pricing.py"] / best + HISTORY_SIMILAR_WEIGHT
    assert with_history["shop/pricing.py"] == pytest.approx(expected)
    assert with_history["shop/cart.py"] == pytest.approx(without["shop/cart.py"] / best)
    assert "tests/test_cart.py" not in history.similar
    off = make_engine(repo, history_prior=False)
    assert off.file_history(issue, ["shop/coupons.py"]) is None
