"""``python -m bench.integrity INDEX_DIR [...]``: what checking an index at open costs.

Prints, for each index folder (``$CONEXUS_HOME/indexes/<name>``), its size and
the wall and CPU time of the two checks a store runs when its files changed
since their last clean check (``conexus.store.sqlite.integrity``): SQLite's
``PRAGMA quick_check`` and FTS5's ``integrity-check``. The index is left alone:
the checks run on a copy in a temporary folder (FTS5 writes its check result
through the connection); making the copy leaves the file in the page cache.
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import tempfile
import time
from pathlib import Path


def timed(conn: sqlite3.Connection, statement: str) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    try:
        conn.execute(statement).fetchall()
    except sqlite3.DatabaseError as exc:
        print(f"  {statement}: {exc}")
    return time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.integrity", description=__doc__.splitlines()[0])
    parser.add_argument("index_dirs", nargs="+", type=Path)
    args = parser.parse_args()
    print(f"{'index':<48} {'MB':>7} {'quick_check s':>14} {'fts check s':>12} {'cpu s':>6}")
    for folder in args.index_dirs:
        db = folder / "index.sqlite3"
        with tempfile.TemporaryDirectory() as tmp:
            copy = Path(tmp) / "index.sqlite3"
            shutil.copyfile(db, copy)
            conn = sqlite3.connect(copy)
            quick, quick_cpu = timed(conn, "PRAGMA quick_check")
            fts, fts_cpu = timed(conn, "INSERT INTO chunks_fts(chunks_fts) VALUES ('integrity-check')")
            conn.close()
        size = db.stat().st_size / 1e6
        print(f"{folder.name:<48} {size:>7.1f} {quick:>14.2f} {fts:>12.2f} {quick_cpu + fts_cpu:>6.2f}")


if __name__ == "__main__":
    main()
