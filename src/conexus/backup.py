"""Backups of the indexes of a data home: ``conexus backup DEST`` and ``conexus restore SRC``.

A backup is a folder::

    DEST/
      manifest.json              what the backup holds (below)
      <index dir name>/          one per root, named as under $CONEXUS_HOME/indexes/
        index.sqlite3            the database as of one committed generation
        vectors.usearch          the HNSW file of that generation (left out when it
                                 could not be captured consistently: rebuilt on restore)
        root.json

``manifest.json`` records, per index, the root, the identity the index was
built with (embedder id and dimensions, chunker, tokenizer, options hash), its
format, generation, file and chunk counts and a SHA-256 per file; and for the
whole backup the Conexus version and the time it was taken. The folder is
written as ``DEST.partial-<pid>`` and renamed to ``DEST`` once complete, so a
folder named ``DEST`` is always a finished backup. A backup killed before the rename
leaves its partial folder; the next backup to the same ``DEST`` removes the partial
folders of processes that are no longer running (a running one may still be writing).

Restoring checks everything before it replaces anything: checksums, SQLite's
integrity check, the copy against its manifest, and the copy's identity
against the configuration (another embedder or chunker is refused unless
forced). Every index is staged and checked first; then each is swapped in by
renaming folders, and only while no other process has it open (see
:meth:`conexus.engine.Engine.swap_in`). The shared embedding cache is not
backed up: it is a cache, refilled by the next index run.

Consistency while the server serves and indexes comes from the store (see
:mod:`conexus.store.sqlite.backup`).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from conexus import __version__
from conexus.engine import Engine
from conexus.errors import IndexIncompatibleError, IndexInUseError, PathError, StoreError

logger = logging.getLogger(__name__)

MANIFEST = "manifest.json"
BACKUP_FORMAT = "conexus-backup/1"
#: The meta keys a restored copy must agree on with its manifest entry.
IDENTITY_KEYS = ("embedder_id", "dim", "chunker_version", "tokenizer_version", "options_hash")


def create_backup(engines: Sequence[Engine], dest: Path) -> dict[str, Any]:
    """Back up the index of each engine's root into the new folder ``dest``; returns the manifest.

    Raises:
        PathError: ``dest`` exists and is not an empty folder.
        IndexNotFoundError: a root has no index.
        StoreError: an index cannot be read or the backup written.
    """
    dest = dest.expanduser().absolute()
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise PathError(f"{dest} exists and is not an empty folder; give a new folder for the backup")
    partial = dest.with_name(f"{dest.name}.partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    remove_abandoned_partials(dest)
    try:
        indexes = []
        for engine in engines:
            snap = engine.backup(partial / engine.index_dir.name)
            meta = snap.meta
            indexes.append(
                {
                    "root": str(engine.root),
                    "dir": engine.index_dir.name,
                    "identity": {k: meta.get(k) for k in IDENTITY_KEYS},
                    "format_version": meta.get("format_version"),
                    "schema_version": meta.get("schema_version"),
                    "generation": int(meta.get("generation", "0")),
                    "complete": meta.get("complete") == "1",
                    "vectors": "included" if snap.vectors_included else "rebuild",
                    "checksums": snap.checksums,
                    "sizes": snap.sizes,
                }
            )
        manifest: dict[str, Any] = {
            "format": BACKUP_FORMAT,
            "conexus_version": __version__,
            "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "indexes": indexes,
        }
        partial.mkdir(parents=True, exist_ok=True)
        with (partial / MANIFEST).open("w", encoding="utf-8") as fh:
            json.dump(manifest, fh, indent=2)
            fh.flush()
            os.fsync(fh.fileno())
        if dest.exists():
            dest.rmdir()
        os.replace(partial, dest)
    except OSError as exc:
        shutil.rmtree(partial, ignore_errors=True)
        raise StoreError(f"cannot write the backup {dest}: {exc}") from exc
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return manifest


def remove_abandoned_partials(dest: Path) -> list[Path]:
    """Delete the ``DEST.partial-<pid>`` folders of backups whose process is gone (killed
    before its rename); returns them. A partial folder of a running process is left alone."""
    removed: list[Path] = []
    prefix = f"{dest.name}.partial-"
    try:
        siblings = list(dest.parent.iterdir())
    except OSError:  # the parent does not exist yet: nothing abandoned in it
        return removed
    for folder in siblings:
        pid = folder.name.removeprefix(prefix)
        if not folder.name.startswith(prefix) or not pid.isdigit() or _running(int(pid)):
            continue
        shutil.rmtree(folder, ignore_errors=True)
        logger.info("removed %s, left by a backup that did not finish", folder)
        removed.append(folder)
    return removed


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    return True


def read_manifest(src: Path) -> dict[str, Any]:
    """The manifest of the backup folder ``src``.

    Raises:
        PathError: ``src`` is not a folder.
        IndexIncompatibleError: no readable manifest, or one of an unknown format.
    """
    if not src.is_dir():
        raise PathError(f"backup {src} is not a folder")
    try:
        manifest = json.loads((src / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise IndexIncompatibleError(f"backup {src} has no readable {MANIFEST}: {exc}") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != BACKUP_FORMAT:
        raise IndexIncompatibleError(f"backup {src} is not a Conexus backup of format {BACKUP_FORMAT}")
    if not isinstance(manifest.get("indexes"), list):
        raise IndexIncompatibleError(f"backup {src}: {MANIFEST} lists no indexes")
    return manifest


def select_entries(manifest: dict[str, Any], root: Path | None) -> list[tuple[dict[str, Any], Path]]:
    """The manifest entries to restore and the root each goes to.

    Without ``root``: every index, each to the root it was taken from. With
    ``root``: the index of that root; or, when the backup holds exactly one
    index, that index restored for ``root`` (a checkout that moved).

    Raises:
        PathError: ``root`` is not in a backup of several indexes.
    """
    entries: list[dict[str, Any]] = manifest["indexes"]
    if root is None:
        return [(e, Path(e["root"])) for e in entries]
    for entry in entries:
        if Path(entry["root"]) == root:
            return [(entry, root)]
    if len(entries) == 1:
        return [(entries[0], root)]
    roots = ", ".join(e["root"] for e in entries)
    raise PathError(f"the backup holds no index of {root} (it holds {roots})")


def restore_backup(
    src: Path, targets: Sequence[tuple[dict[str, Any], Engine]], *, force: bool = False
) -> list[dict[str, Any]]:
    """Check every index of ``targets`` (manifest entry, engine of the root), then swap each in.

    Nothing is replaced unless every index passes its checks. Returns the
    restored entries.

    Raises:
        IndexIncompatibleError: a damaged backup, or one built another way (without ``force``).
        IndexInUseError: another process has an index open.
        StoreError: the files cannot be copied or renamed.
    """
    staged: list[tuple[Engine, Path]] = []
    try:
        for entry, engine in targets:
            if engine.index_in_use():  # checked again just before the swap
                raise IndexInUseError(
                    f"the index of {engine.root} is open in another process (a server or an index "
                    "run); stop it before restoring"
                )
            expected = {k: str(v) for k, v in entry["identity"].items() if v is not None}
            expected["generation"] = str(entry["generation"])
            folder = engine.stage_restore(src / entry["dir"], entry["checksums"], expected, force=force)
            staged.append((engine, folder))
        for engine, folder in staged:
            engine.swap_in(folder)
    finally:
        for _, folder in staged:
            shutil.rmtree(folder, ignore_errors=True)
    return [entry for entry, _ in targets]
