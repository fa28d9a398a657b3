"""A watcher flood on a served root: every file rewritten at once, a branch switch, a folder renamed.

The real ``ConexusService`` (watcher and index worker) serves a generated git repository;
each flood must be coalesced into few index jobs, and afterwards the served index must equal
a fresh build of the final tree: every file's hash and every chunk's lines and text
(``bench/watcher_flood.py``, whose ``--files 10000`` run measures time and peak RSS).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from bench.watcher_flood import Served

pytestmark = pytest.mark.timeout(300)

FILES = 300  # three folders of 100; the bench command runs 10,000
MAX_JOBS = 3  # a flood arrives in a few debounced batches: each may start a job, never one per file


def test_a_flood_a_branch_switch_and_a_renamed_folder_each_become_few_jobs_and_the_index_equals_a_fresh_build(
    tmp_path: Path, home: Path
) -> None:
    served = Served(tmp_path, FILES)
    try:
        rewrite = served.flood("rewrite", served.rewrite, 120)
        served.prepare_branch()
        branch = served.flood("branch", served.branch_switch, 120)
        rename = served.flood("rename", served.rename, 120)
    finally:
        served.close()
    # flood() returns only once the served index equals a fresh build of the final tree.
    for flood in (rewrite, branch, rename):
        assert 1 <= flood.jobs <= MAX_JOBS, flood
    assert rewrite.files_changed == FILES and branch.files_changed == FILES and rename.files_changed == 100
