"""Git history through the ``git`` command line: recent commits and co-changed files.

Every call runs ``git`` without a shell, with stdin closed, a timeout, a cap
on the bytes read, no pager, no prompts and no optional locks, so a huge or
hostile repository cannot hang or flood the server. A root that is not a git
work tree, a missing ``git`` binary, or a failing command all give empty
results: history is a bonus signal, never a reason to fail a request.

Paths are root-relative; ``--relative`` keeps the output relative to the
root even when the root is a subdirectory of the repository.
"""

from __future__ import annotations

import logging
import os
import subprocess
import threading
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

GIT_TIMEOUT_S = 5.0
MAX_OUTPUT_BYTES = 8 * 1024 * 1024
HUGE_COMMIT_FILES = 50  # a commit touching more files says nothing about coupling (renames, formatting)

_RS = "\x1e"  # record separator between commits
_US = "\x1f"  # unit separator between fields


@dataclass(frozen=True, slots=True)
class Commit:
    """One commit that touched a path."""

    sha: str
    date: str  # author date, strict ISO 8601
    author: str
    subject: str

    def to_dict(self) -> dict[str, object]:
        return {"sha": self.sha, "date": self.date, "author": self.author, "subject": self.subject}


@dataclass(frozen=True, slots=True)
class CoChange:
    """A file that changed in the same commits as the target, and how often."""

    path: str
    count: int

    def to_dict(self) -> dict[str, object]:
        return {"path": self.path, "count": self.count}


@dataclass(frozen=True, slots=True)
class _GitOutput:
    text: str
    complete: bool  # False when the output was cut by the byte cap or the timeout
    returncode: int


def _git_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_OPTIONAL_LOCKS": "0",
            "GIT_PAGER": "cat",
            "PAGER": "cat",
            "LC_ALL": "C",
        }
    )
    return env


def run_git(
    root: Path,
    args: list[str],
    *,
    timeout_s: float = GIT_TIMEOUT_S,
    max_bytes: int = MAX_OUTPUT_BYTES,
    git_dir: Path | None = None,
) -> _GitOutput | None:
    """Run ``git -C root <args>`` (with ``--git-dir`` when given); None when git is missing or
    could not start.

    Output beyond ``max_bytes`` is not read and the process is killed; so is a
    process still running after ``timeout_s``. Either way ``complete`` is False.
    """
    cmd = [
        "git",
        "--literal-pathspecs",
        *(["--git-dir", str(git_dir)] if git_dir is not None else []),
        "-C",
        str(root),
        "-c",
        "core.quotepath=off",
        "-c",
        "log.showSignature=false",
        *args,
    ]
    try:
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=_git_env(),
        )
    except OSError as exc:
        logger.debug("cannot run git: %s", exc)
        return None
    assert proc.stdout is not None
    stdout = proc.stdout
    fd = stdout.fileno()
    chunks: list[bytes] = []
    state = {"total": 0, "capped": False}

    def _read() -> None:
        while True:
            block = os.read(fd, 65536)
            if not block:
                return
            chunks.append(block)
            state["total"] += len(block)
            if state["total"] >= max_bytes:
                state["capped"] = True
                return

    reader = threading.Thread(target=_read, name="conexus-git-reader", daemon=True)
    reader.start()
    reader.join(timeout_s)
    timed_out = reader.is_alive()
    if timed_out or state["capped"]:
        proc.kill()
    try:
        returncode = proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        returncode = proc.wait()
    reader.join()
    stdout.close()
    complete = not timed_out and not state["capped"]
    if not complete:
        logger.debug("git %s cut short (timeout=%s, capped=%s)", args[:2], timed_out, state["capped"])
    data = b"".join(chunks)[:max_bytes]
    return _GitOutput(data.decode("utf-8", errors="replace"), complete, returncode)


def is_git_repo(root: Path) -> bool:
    """True when ``root`` is inside a git work tree and git can read it."""
    out = run_git(root, ["rev-parse", "--is-inside-work-tree"])
    return out is not None and out.complete and out.returncode == 0 and out.text.strip() == "true"


def _records(out: _GitOutput | None) -> list[str]:
    """The complete records of a ``%x1e``-separated log (a record cut by the cap is dropped)."""
    if out is None or (out.complete and out.returncode != 0):
        return []
    parts = out.text.split(_RS)
    if not out.complete and parts:
        parts.pop()
    return [p for p in parts if p.strip()]


def recent_commits(root: Path, path: str | None = None, limit: int = 10) -> list[Commit]:
    """The last ``limit`` commits touching ``path`` (or the whole root), newest first.

    Returns an empty list when the root is not a git repository.
    """
    if limit <= 0:
        return []
    args = [
        "log",
        "--no-color",
        f"--max-count={int(limit)}",
        f"--format=%H{_US}%aI{_US}%an{_US}%s{_RS}",
    ]
    args += ["--", path] if path else ["--", "."]
    commits: list[Commit] = []
    for record in _records(run_git(root, args)):
        fields = record.strip("\n").split(_US)
        if len(fields) != 4:
            continue
        commits.append(Commit(sha=fields[0], date=fields[1], author=fields[2], subject=fields[3]))
    return commits


def co_changed(
    root: Path,
    path: str,
    limit: int = 10,
    max_commits: int = 500,
    max_files_per_commit: int = HUGE_COMMIT_FILES,
) -> list[CoChange]:
    """Files that changed in the same commits as ``path``, most often first.

    Looks at the last ``max_commits`` commits touching ``path``; commits with
    more than ``max_files_per_commit`` files are ignored, and so are files
    that no longer exist under the root. Ties are broken by path.
    """
    if limit <= 0 or max_commits <= 0:
        return []
    args = [
        "log",
        "--no-color",
        "--relative",
        "--full-diff",
        "--name-only",
        f"--max-count={int(max_commits)}",
        f"--format={_RS}%H",
        "--",
        path,
    ]
    counts: Counter[str] = Counter()
    for record in _records(run_git(root, args)):
        lines = [ln for ln in record.split("\n")[1:] if ln.strip()]
        if len(lines) > max_files_per_commit:
            continue
        names = {ln for ln in lines if not ln.startswith('"')}  # quoted = control characters in the name
        names.discard(path)
        counts.update(names)
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    out: list[CoChange] = []
    for name, count in ranked:
        if not (root / name).is_file():
            continue
        out.append(CoChange(name, count))
        if len(out) >= limit:
            break
    return out


@dataclass(frozen=True, slots=True)
class LoggedCommit:
    """One commit of a history log: its id, whole message and the paths it touched."""

    sha: str
    message: str
    files: tuple[str, ...]


#: Commits a history log reads at most (the newest first); older history says little about today's code.
HISTORY_COMMITS = 5000
HISTORY_TIMEOUT_S = 20.0
HISTORY_MAX_BYTES = 32 * 1024 * 1024


def resolve_rev(root: Path, rev: str = "HEAD", *, git_dir: Path | None = None) -> str | None:
    """The commit id ``rev`` names, or None when there is no such commit (or no repository)."""
    out = run_git(root, ["rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"], git_dir=git_dir)
    if out is None or not out.complete or out.returncode != 0:
        return None
    sha = out.text.strip()
    return sha or None


def commit_log(
    root: Path,
    rev: str = "HEAD",
    *,
    git_dir: Path | None = None,
    max_commits: int = HISTORY_COMMITS,
) -> list[LoggedCommit]:
    """The newest ``max_commits`` non-merge commits reachable from ``rev``, newest first.

    Only ancestors of ``rev`` are read (``git log REV``), so a benchmark that
    names an issue's base commit never sees the fix. Paths are relative to
    ``root`` (to the repository's top with ``git_dir``, which has no work
    tree); quoted names (control characters) are dropped. Empty when there
    is no repository or git fails; a log cut by the byte cap or the timeout
    keeps its complete records.
    """
    if max_commits <= 0:
        return []
    args = [
        "log",
        "--no-color",
        "--no-merges",
        "--no-renames",
        "--name-only",
        *(["--relative"] if git_dir is None else []),  # a root below the top of its repository
        f"--max-count={int(max_commits)}",
        f"--format={_RS}%H{_US}%B{_US}",
        rev,
        "--",
    ]
    out = run_git(root, args, git_dir=git_dir, timeout_s=HISTORY_TIMEOUT_S, max_bytes=HISTORY_MAX_BYTES)
    commits: list[LoggedCommit] = []
    for record in _records(out):
        fields = record.split(_US)
        if len(fields) != 3:
            continue
        names = tuple(ln for ln in fields[2].split("\n") if ln.strip() and not ln.startswith('"'))
        commits.append(LoggedCommit(fields[0].strip(), fields[1].strip(), names))
    return commits
