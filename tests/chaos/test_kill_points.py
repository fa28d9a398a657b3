"""``kill -9`` at the moments the other tests do not reach: in the middle of a vector save, and of a backup.

(A first build and an update killed mid-way are in ``tests/store/test_interrupted_runs.py``
and ``tests/test_cli.py``; a server killed under query and index load in
``tests/chaos/test_kill_under_load.py``.)

Each kill is deterministic: a child process runs the real operation with one library
call replaced by a version that does part of its work and then sends SIGKILL to its
own process — the usearch save writes half of its file, the backup copies the
database and dies before the vector file. Nothing in the production code knows.
Afterwards: nothing is lost, the index equals the tree, the service answers, and
the leftovers of the killed process are cleaned up by the next run.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import conexus
from conexus.backup import create_backup, read_manifest, restore_backup
from conexus.config import load_settings
from conexus.engine import Engine
from tests.conftest import write

pytestmark = pytest.mark.timeout(120)

PACKAGE_PARENT = str(Path(conexus.__file__).resolve().parent.parent)

_CHILD = """
import os, signal, sys
from pathlib import Path
from conexus.config import load_settings
from conexus.engine import Engine

point, root, home = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
engine = Engine(root, load_settings(root, overrides={"home": home, "embedder": "fake"}))

def die():
    sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL)

if point == "vector-save":
    import onnxruntime  # before usearch, as conexus.store.vectors does (the other order segfaults)
    import usearch.index
    real_save = usearch.index.Index.save

    def save_half_then_die(self, path_or_buffer=None, *args, **kwargs):
        real_save(self, path_or_buffer, *args, **kwargs)
        if len(self) == 0:  # the save of the empty index at open: not the one of the run
            return
        target = Path(str(path_or_buffer))
        data = target.read_bytes()
        target.write_bytes(data[: len(data) // 2])  # killed half-way through writing it
        die()

    usearch.index.Index.save = save_half_then_die
    engine.index()
elif point == "backup":
    import conexus.store.sqlite.backup as sqlite_backup
    from conexus.backup import create_backup

    def die_before_the_vectors(src, dest):
        die()

    sqlite_backup._copy_open = die_before_the_vectors  # the database is copied; the vectors next
    create_backup([engine], Path(sys.argv[4]))
raise SystemExit("the operation finished before the kill point")
"""


def killed(point: str, root: Path, home: Path, *extra: str) -> int:
    """Run ``point`` in a child that SIGKILLs itself there; returns the child's pid."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([PACKAGE_PARENT, os.environ.get("PYTHONPATH", "")])}
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, point, str(root), str(home), *extra], env=env, stderr=subprocess.PIPE
    )
    _, err = child.communicate(timeout=100)
    assert child.returncode == -signal.SIGKILL, err.decode(errors="replace")
    return child.pid


def tree(root: Path, n: int, version: int = 0) -> None:
    for i in range(n):
        write(root, f"pkg/mod_{i:03d}.py", f"def handler_{i:03d}_v{version}(request):\n    return {i}\n")


def assert_equals_tree(engine: Engine, n: int, version: int) -> None:
    status = engine.status()
    assert status["files"] == n and not status["partial"], status
    assert status["vectors"] == status["chunks"], status
    assert status["stale"]["modified"] == 0 and status["stale"]["deleted"] == 0, status
    hits = engine.search(f"handler_{n - 1:03d}_v{version}").hits
    assert hits[0].path == f"pkg/mod_{n - 1:03d}.py" and "vector" in hits[0].signals


@pytest.mark.parametrize("run", ["first build", "update"])
def test_a_process_killed_while_saving_the_vector_file_loses_nothing_and_its_temporary_file_goes(
    tmp_path: Path, home: Path, run: str
) -> None:
    root = tmp_path / "repo"
    tree(root, 120)
    settings = load_settings(root, overrides={"home": home, "embedder": "fake"})
    if run == "update":
        with Engine(root, settings) as engine:
            engine.index()
        tree(root, 120, version=1)
    pid = killed("vector-save", root, home)
    with Engine(root, settings) as engine:
        leftover = engine.index_dir / f"vectors.usearch.tmp{pid}"
        assert leftover.exists()  # the half-written file of the killed save
        # The database committed before the save: the index is whole, its vectors are rebuilt
        # from SQLite on open, and the dead process's temporary file is removed by that save.
        assert_equals_tree(engine, 120, version=1 if run == "update" else 0)
        assert not leftover.exists()
        assert engine.index().files_changed == 0


def test_a_backup_killed_half_way_leaves_no_backup_and_the_next_one_cleans_up_and_restores(
    tmp_path: Path, home: Path
) -> None:
    root = tmp_path / "repo"
    tree(root, 40)
    settings = load_settings(root, overrides={"home": home, "embedder": "fake"})
    with Engine(root, settings) as engine:
        engine.index()
    dest = tmp_path / "backups" / "nightly"
    dest.parent.mkdir()
    pid = killed("backup", root, home, str(dest))
    partial = dest.with_name(f"nightly.partial-{pid}")
    assert partial.is_dir() and not dest.exists()  # no folder named DEST unless it is complete

    with Engine(root, settings) as engine:
        assert_equals_tree(engine, 40, 0)  # the live index never noticed
        manifest = create_backup([engine], dest)
        assert not partial.exists()  # the killed backup's folder is gone
        assert read_manifest(dest) == manifest
        tree(root, 40, version=1)
        engine.index()
    with Engine(root, settings) as target:
        restore_backup(dest, [(manifest["indexes"][0], target)])
    with Engine(root, settings) as engine:
        assert engine.status(check_stale=False)["files"] == 40
        assert engine.search("handler_039_v0").hits[0].path == "pkg/mod_039.py"  # the backup's generation
