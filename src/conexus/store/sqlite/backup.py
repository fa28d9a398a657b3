"""Online backups of an index directory, and the checks a copy must pass before it is used.

A backup is taken while the server serves and indexes, from this process or
another one. Two files make an index, and they are captured as one consistent
pair:

* ``index.sqlite3`` through SQLite's online backup API, in one step: the copy
  is the database as of one committed transaction (a WAL read snapshot), and
  writers in any process go on meanwhile. The copy is switched to the
  rollback journal so it is one self-contained file.
* ``vectors.usearch``, the HNSW file, is derived data: every vector is also in
  the ``vectors`` table. A writer commits generation G, then saves the HNSW
  file (write beside, rename), then records ``vector_generation = G``. The
  backup opens the HNSW file *before* the database snapshot and checks *after*
  it that the same file (inode) is still in place; when it is and the
  snapshot says ``vector_generation == generation``, that file is exactly the
  one saved for the snapshot's generation (a newer file can only be installed
  after a newer commit, which the snapshot would show). Otherwise — a first
  build between saves, or a save during the backup — the HNSW file is left out
  and the store rebuilds it from the ``vectors`` table when the copy is
  opened (``vectors: "rebuild"`` in the manifest).

Nothing here writes to the source index. A run that was in progress at the
moment of the snapshot reads as ``interrupted`` in the copy.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import sqlite3
import time
from pathlib import Path
from typing import BinaryIO

from conexus.errors import IndexIncompatibleError, StoreError
from conexus.store.base import INTERRUPTED, StoreBackup
from conexus.store.sqlite.schema import merged_meta

DB_FILE = "index.sqlite3"
VECTORS_FILE = "vectors.usearch"
ROOT_INFO_FILE = "root.json"
_CHUNK = 1 << 20


def sha256_file(path: Path) -> str:
    """``sha256:<hex>`` of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(_CHUNK):
            digest.update(block)
    return "sha256:" + digest.hexdigest()


def _copy_open(src: BinaryIO, dest: Path) -> str:
    """Copy an open binary file to ``dest`` (fsynced); returns its checksum."""
    digest = hashlib.sha256()
    with dest.open("wb") as out:
        while block := src.read(_CHUNK):
            digest.update(block)
            out.write(block)
        out.flush()
        os.fsync(out.fileno())
    return "sha256:" + digest.hexdigest()


def backup_index(directory: Path, dest: Path, attempts: int = 5) -> StoreBackup:
    """Write a consistent copy of the index in ``directory`` into the empty folder ``dest``.

    The database snapshot is retried (up to ``attempts`` times, a few milliseconds
    apart) while a writer is between its commit and its HNSW save; after that the
    HNSW file is left out, to be rebuilt from the stored vectors on restore.

    Raises:
        StoreError: the index cannot be read or the copy cannot be written.
    """
    db_path = directory / DB_FILE
    if not db_path.exists():
        raise StoreError(f"no index database at {db_path}")
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"cannot create the backup folder {dest}: {exc}") from exc
    for attempt in range(attempts):
        meta, checksums = _capture(directory, dest)
        if VECTORS_FILE in checksums or attempt == attempts - 1:
            break
        time.sleep(0.01 * (attempt + 1))  # a writer is saving its HNSW file: milliseconds
    try:
        info = directory / ROOT_INFO_FILE
        if info.exists():
            shutil.copyfile(info, dest / ROOT_INFO_FILE)
            checksums[ROOT_INFO_FILE] = sha256_file(dest / ROOT_INFO_FILE)
        sizes = {name: (dest / name).stat().st_size for name in checksums}
    except OSError as exc:
        raise StoreError(f"cannot write the backup of {directory} to {dest}: {exc}") from exc
    return StoreBackup(
        meta=meta, checksums=checksums, sizes=sizes, vectors_included=VECTORS_FILE in checksums
    )


def _capture(directory: Path, dest: Path) -> tuple[dict[str, str], dict[str, str]]:
    """One database snapshot, plus the HNSW file when it provably belongs to it (module docstring)."""
    db_path = directory / DB_FILE
    vec_path = directory / VECTORS_FILE
    (dest / VECTORS_FILE).unlink(missing_ok=True)
    with contextlib.ExitStack() as stack:
        meta, vec_file = _snapshot_database(db_path, dest / DB_FILE, vec_path, stack)
        checksums = {DB_FILE: sha256_file(dest / DB_FILE)}
        if vec_file is not None:
            try:
                checksums[VECTORS_FILE] = _copy_open(vec_file, dest / VECTORS_FILE)
            except OSError as exc:
                raise StoreError(f"cannot write the backup of {vec_path} to {dest}: {exc}") from exc
    return meta, checksums


def _snapshot_database(
    db_path: Path, target: Path, vec_path: Path, stack: contextlib.ExitStack
) -> tuple[dict[str, str], BinaryIO | None]:
    """SQLite's online backup of ``db_path`` into ``target`` in one step: the copy's meta, and the
    HNSW file (open, on ``stack``) when it is the one of the copy's generation, else None."""
    tmp = target.with_name(target.name + ".partial")
    vec_file: BinaryIO | None = None
    try:
        src = sqlite3.connect(db_path, timeout=30.0, isolation_level=None)
        try:
            src.execute("PRAGMA busy_timeout=30000")
            dst = sqlite3.connect(tmp, isolation_level=None)
            try:
                with contextlib.suppress(FileNotFoundError):
                    vec_file = stack.enter_context(vec_path.open("rb"))
                # pages=-1: the whole database in one step, read inside one transaction of the
                # source, so the copy is one committed state however busy the writers are.
                src.backup(dst, pages=-1)
                # Right after the copy, to keep the window in which a save could slip in short.
                same_file = False
                if vec_file is not None:
                    with contextlib.suppress(OSError):
                        same_file = os.stat(vec_path).st_ino == os.fstat(vec_file.fileno()).st_ino
                dst.execute("PRAGMA journal_mode=DELETE")
                dst.execute("UPDATE runs SET status=? WHERE status='running'", (INTERRUPTED,))
                meta = merged_meta(dst)
            finally:
                dst.close()
        finally:
            src.close()
        with tmp.open("rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except sqlite3.Error as exc:
        tmp.unlink(missing_ok=True)
        raise StoreError(f"backup of {db_path} failed: {exc}") from exc
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise StoreError(f"cannot write the backup of {db_path} to {target}: {exc}") from exc
    if not (same_file and meta.get("vector_generation") == meta.get("generation")):
        vec_file = None
    return meta, vec_file


def verify_database(db_path: Path) -> dict[str, str]:
    """Run ``PRAGMA integrity_check`` on a copied database (read only); returns its meta.

    Raises:
        IndexIncompatibleError: the file is not a sound Conexus index.
    """
    try:
        conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, isolation_level=None)
        try:
            problems = [str(r[0]) for r in conn.execute("PRAGMA integrity_check").fetchall()]
            if problems != ["ok"]:
                raise IndexIncompatibleError(
                    f"{db_path} fails SQLite's integrity check: {'; '.join(problems[:5])}"
                )
            return merged_meta(conn)
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise IndexIncompatibleError(f"{db_path} is corrupt or not a Conexus index: {exc}") from exc


def index_in_use(directory: Path) -> bool:
    """Whether another connection (any process) has the index database open.

    Leaving WAL mode needs the database to itself, so SQLite refuses it while any
    other connection is open; when it succeeds the database is checkpointed into
    one file, which is harmless for an index about to be replaced.
    """
    db_path = directory / DB_FILE
    if not db_path.exists():
        return False
    try:
        conn = sqlite3.connect(db_path, timeout=0.2, isolation_level=None)
    except sqlite3.Error:
        return True
    try:
        mode = conn.execute("PRAGMA journal_mode=DELETE").fetchone()
        return str(mode[0]).lower() != "delete"
    except sqlite3.Error as exc:
        return "locked" in str(exc).lower() or "busy" in str(exc).lower()
    finally:
        conn.close()
