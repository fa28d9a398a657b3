"""The history prior: what a repository's own past says about which files an issue is about.

Two signals, both from the commit log (:func:`conexus.gitinfo.commit_log`):

- **Similar commits.** Commits whose messages resemble the issue (BM25 over
  the messages, the issue text as the query) point to the files they touched:
  a bug report about "timeouts on redirects" resembles the earlier commits
  that fixed timeouts and redirects, and those touched the code that handles
  them. Each of the best commits votes for its files, its score shared out by
  the square root of how many it touched.
- **Co-change.** Files that changed together with the files ranked first
  before (a header with its source, a handler with the router that wires it):
  a fix rarely touches one file of a pair without the other.

:class:`HistoryIndex` is built once per commit (a few hundred ms for 5,000
commits) and scores a query in a few ms. :class:`GitHistory` reads the log of a
checkout (``HEAD``) or, for a benchmark, of a snapshot's ``git_dir`` at a named
commit, whose ancestors are all it can see. The ranking that uses these
signals is :func:`conexus.search.localize.apply_history` (pure).
"""

from __future__ import annotations

import math
import threading
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from conexus.gitinfo import HISTORY_COMMITS, LoggedCommit, commit_log, resolve_rev
from conexus.tokens import code_tokens

#: Best-matching commits whose files get a vote.
SIMILAR_COMMITS = 30
#: Commits touching more files than this say nothing about one issue (merges of branches, reformatting).
MAX_COMMIT_FILES = 50
#: Newest commits read for co-change (coupling drifts as code is reorganised).
CO_CHANGE_COMMITS = 2000
#: Commits touching more files than this are left out of co-change.
MAX_CO_CHANGE_FILES = 30
#: Files a :class:`FileHistory` keeps per signal (the rest carry too little to move a ranking).
MAX_HISTORY_FILES = 100
#: BM25 parameters over commit messages (the usual defaults).
BM25_K1 = 1.2
BM25_B = 0.75


@dataclass(frozen=True)
class FileHistory:
    """What the history says about one issue's files.

    ``similar`` maps a file to its vote from commits whose messages resemble
    the issue, the best file's being 1. ``co_change`` maps each of the files
    asked about to the files that changed with it, each weighted by the
    commits they share (a commit of *n* files adds 1/*n*). Files that cannot be
    the answer (tests, files no longer indexed, non-code) are left out by the
    builder.
    """

    similar: Mapping[str, float] = field(default_factory=dict)
    co_change: Mapping[str, Mapping[str, float]] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not self.similar and not any(self.co_change.values())

    def to_dict(self) -> dict[str, Any]:
        """JSON form (benchmark records keep it, so a saved run ranks again exactly)."""
        return {
            "similar": {p: round(v, 6) for p, v in self.similar.items()},
            "co_change": {p: {q: round(v, 6) for q, v in m.items()} for p, m in self.co_change.items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FileHistory:
        return cls(
            {str(p): float(v) for p, v in data.get("similar", {}).items()},
            {str(p): {str(q): float(v) for q, v in m.items()} for p, m in data.get("co_change", {}).items()},
        )


def _top(scores: Mapping[str, float], n: int) -> dict[str, float]:
    ranked = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))[:n]
    return dict(ranked)


class HistoryIndex:
    """Commit messages indexed for BM25, and the files of each commit, newest first."""

    def __init__(self, commits: Sequence[LoggedCommit]) -> None:
        self.commits = tuple(commits)
        self._postings: dict[str, list[tuple[int, int]]] = defaultdict(list)
        self._lengths: list[int] = []
        for i, commit in enumerate(self.commits):
            counts = Counter(code_tokens(commit.message))
            self._lengths.append(sum(counts.values()))
            for term, tf in counts.items():
                self._postings[term].append((i, tf))
        n = len(self.commits)
        self._avg_len = (sum(self._lengths) / n) if n else 0.0
        self._idf = {t: math.log(1 + (n - len(p) + 0.5) / (len(p) + 0.5)) for t, p in self._postings.items()}

    def __len__(self) -> int:
        return len(self.commits)

    def message_scores(self, query: str) -> dict[int, float]:
        """BM25 of every commit message sharing a term with ``query`` (each query term counted once)."""
        scores: dict[int, float] = defaultdict(float)
        avg = self._avg_len or 1.0
        for term in set(code_tokens(query)):
            idf = self._idf.get(term)
            if idf is None:
                continue
            for i, tf in self._postings[term]:
                norm = 1 - BM25_B + BM25_B * self._lengths[i] / avg
                scores[i] += idf * tf * (BM25_K1 + 1) / (tf + BM25_K1 * norm)
        return dict(scores)

    def similar_files(
        self,
        query: str,
        keep: Callable[[str], bool],
        *,
        top_commits: int = SIMILAR_COMMITS,
        max_files: int = MAX_COMMIT_FILES,
    ) -> dict[str, float]:
        """Files voted for by the ``top_commits`` commits whose messages best match ``query``,
        scaled so the best file has 1; only files ``keep`` accepts."""
        scores = self.message_scores(query)
        best = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))[:top_commits]
        votes: dict[str, float] = defaultdict(float)
        for i, score in best:
            touched = self.commits[i].files
            if not touched or len(touched) > max_files:
                continue
            kept = [p for p in touched if keep(p)]
            for path in kept:
                votes[path] += score / math.sqrt(len(kept))
        top = max(votes.values(), default=0.0)
        if top <= 0:
            return {}
        return _top({p: v / top for p, v in votes.items()}, MAX_HISTORY_FILES)

    def co_changed(
        self,
        paths: Sequence[str],
        keep: Callable[[str], bool],
        *,
        recent: int = CO_CHANGE_COMMITS,
        max_files: int = MAX_CO_CHANGE_FILES,
    ) -> dict[str, dict[str, float]]:
        """For each of ``paths``, the files that changed in the same recent commits (1/n per commit
        of n files), only files ``keep`` accepts."""
        wanted = set(paths)
        out: dict[str, dict[str, float]] = {p: defaultdict(float) for p in paths}
        for commit in self.commits[:recent]:
            if len(commit.files) > max_files:
                continue
            touched = set(commit.files)
            for path in wanted & touched:
                for other in touched:
                    if other != path and keep(other):
                        out[path][other] += 1.0 / len(touched)
        return {p: _top(m, MAX_HISTORY_FILES) for p, m in out.items() if m}

    def file_history(self, query: str, paths: Sequence[str], keep: Callable[[str], bool]) -> FileHistory:
        """Both signals for one issue: similar commits' files, and the co-change of ``paths``."""
        return FileHistory(self.similar_files(query, keep), self.co_changed(paths, keep))


class HistorySource(Protocol):
    """Where the history prior reads commits from: the current commit id, and the log up to it."""

    def head(self) -> str | None:
        """The commit the history ends at, or None when there is no history."""
        ...

    def index(self) -> HistoryIndex | None:
        """The :class:`HistoryIndex` of the log up to :meth:`head` (cached per commit)."""
        ...


class GitHistory:
    """The git log of a checkout (``rev`` = ``HEAD``), or of a repository snapshot at a commit.

    ``git_dir`` points at a repository without a work tree (a benchmark's
    snapshot): ``git log REV`` reads only the ancestors of ``rev``, never a
    later commit. The index is built once per resolved commit and kept.
    """

    def __init__(
        self,
        root: Path,
        *,
        rev: str = "HEAD",
        git_dir: Path | None = None,
        max_commits: int = HISTORY_COMMITS,
    ) -> None:
        self.root = root
        self.rev = rev
        self.git_dir = git_dir
        self.max_commits = max_commits
        self._lock = threading.Lock()
        self._cached: tuple[str, HistoryIndex] | None = None

    def head(self) -> str | None:
        return resolve_rev(self.root, self.rev, git_dir=self.git_dir)

    def index(self) -> HistoryIndex | None:
        sha = self.head()
        if sha is None:
            return None
        with self._lock:
            if self._cached is not None and self._cached[0] == sha:
                return self._cached[1]
        built = HistoryIndex(commit_log(self.root, sha, git_dir=self.git_dir, max_commits=self.max_commits))
        with self._lock:
            self._cached = (sha, built)
        return built
