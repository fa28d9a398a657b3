"""Real trees for the short-query benchmarks: repositories at a base commit, installed packages.

``repository_tree`` writes a repository as it was at a commit (with the ``materialize.py``
beside the instances file, from the git snapshots under a mirrors folder: no ``.git``, so
nothing of the later history reaches an index); ``package_tree`` copies a package installed
in this environment (found with ``importlib.util.find_spec``), which is what CI can index
without any mirror. Both return None, rather than fail, when the source is absent.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path
from types import ModuleType


def load_materializer(instances: Path) -> ModuleType | None:
    """The ``materialize.py`` that ships beside the instances file, or None."""
    path = instances.resolve().parent / "materialize.py"
    if not path.is_file():
        return None
    spec = importlib.util.spec_from_file_location("materialize", path)
    if spec is None or spec.loader is None:
        return None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def repository_tree(instances: Path, mirrors: Path, repo: str, commit: str, dest: Path) -> Path | None:
    """``repo`` at ``commit`` written into ``dest`` (kept when already there); None without a snapshot."""
    marker = dest.with_name(dest.name + ".complete")  # beside the tree: inside it, it would be indexed
    if marker.is_file() and marker.read_text().strip() == commit:
        return dest
    mat = load_materializer(instances)
    if mat is None:
        return None
    git_dir = mat.find_git_dir(mirrors, repo)
    if git_dir is None:
        return None
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    mat.materialize(git_dir, commit, dest)
    marker.write_text(commit + "\n")
    return dest


def package_tree(name: str, dest: Path) -> Path | None:
    """A copy of the installed package ``name`` under ``dest/name`` (without bytecode), or None."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    source = Path(next(iter(spec.submodule_search_locations)))
    target = dest / name
    if not target.is_dir():
        shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.so"))
    return target


def log(message: str) -> None:
    """Progress on stderr (stdout carries the benchmark's figures)."""
    print(message, file=sys.stderr, flush=True)
