"""Another replica for the tests: a real process on the same index that stops where it is told.

``python -m tests.app.replica_worker MODE ROOT HOME STORE_URL`` (STORE_URL ``-`` for SQLite),
fake embedder:

- ``hold``: take the index's job lock, print ``held``, keep it until stdin closes;
- ``index-then-block``: run an index job and, once every change is written but not yet
  committed (the ``saving`` phase), print ``saving`` and block on stdin: the test kills it
  there (``kill -9``), mid-job, with the job lock held;
- ``index``: run an index job and print ``done <files changed>``.

Lines go to stdout, flushed, so the test can wait for them without sleeping.
"""

from __future__ import annotations

import sys
from pathlib import Path

from conexus.config import load_settings
from conexus.engine import Engine
from conexus.indexing.indexer import IndexProgress


def main(mode: str, root: str, home: str, store_url: str) -> None:
    url = "" if store_url == "-" else store_url
    settings = load_settings(Path(root), overrides={"home": Path(home), "embedder": "fake", "store_url": url})
    engine = Engine(root, settings)
    if mode == "hold":
        with engine.location.job_lock(30.0):
            print("held", flush=True)
            sys.stdin.read()
        return

    def block_at_saving(p: IndexProgress) -> None:
        if p.phase == "saving":
            print("saving", flush=True)
            sys.stdin.read()  # killed here

    report = engine.index(on_progress=block_at_saving if mode == "index-then-block" else None)
    print(f"done {report.files_changed}", flush=True)
    engine.close()


if __name__ == "__main__":
    main(*sys.argv[1:5])
