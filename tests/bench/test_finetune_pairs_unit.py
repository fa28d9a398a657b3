"""bench.finetune.pairs: the fine-tuning pairs come from the changed functions of training patches and
from permissive packages that are not evaluation repositories."""

from __future__ import annotations

from pathlib import Path

import pytest
from bench.finetune.pairs import (
    EVALUATION_PACKAGES,
    changed_chunks,
    changed_lines,
    issue_pairs,
    permissive_packages,
    strip_docstring,
)

from conexus.indexing.chunking import chunk_text

SOURCE = '''def first(x):
    """Add one."""
    return x + 1


class Box:
    def __init__(self):
        self.items = []

    def put(self, item):
        self.items.append(item)
        return self
'''

PATCH = """diff --git a/pkg/box.py b/pkg/box.py
--- a/pkg/box.py
+++ b/pkg/box.py
@@ -10,3 +10,4 @@ class Box:
     def put(self, item):
-        self.items.append(item)
+        if item is not None:
+            self.items.append(item)
         return self
"""


def test_the_changed_lines_of_a_patch_are_its_old_side_lines() -> None:
    assert changed_lines(PATCH) == {"pkg/box.py": {11}}
    inserted = PATCH.replace("-        self.items.append(item)\n", "         self.items.append(item)\n")
    assert changed_lines(inserted) == {"pkg/box.py": {11}}  # an insertion counts the old line above it


def test_the_innermost_chunk_holding_a_changed_line_is_the_positive() -> None:
    chunks = chunk_text("pkg/box.py", SOURCE)
    found = changed_chunks(chunks, {11})
    # Box is a small container: one chunk, members included, so the class chunk is the innermost.
    assert [(c.kind, c.qualified_name) for c in found] == [("class", "Box")]
    assert changed_chunks(chunks, {3}) == [c for c in chunks if c.qualified_name == "first"]


def test_a_docstring_is_removed_from_its_body() -> None:
    assert strip_docstring('def f():\n    """Doc."""\n    return 1\n') == "def f():\n    return 1\n"


def test_issue_pairs_come_from_the_training_set_only(tmp_path: Path) -> None:
    dev = tmp_path / "swebench-verified-dev.jsonl"
    dev.write_text("")
    with pytest.raises(SystemExit, match="training set only"):
        list(issue_pairs(dev, {}))


def test_no_evaluation_repository_and_no_copyleft_package_is_a_source() -> None:
    packages = permissive_packages()
    assert packages, "the test environment has permissive packages (click, httpx, ...)"
    assert not {p.name for p in packages} & EVALUATION_PACKAGES
    assert not any(p.root.name in EVALUATION_PACKAGES for p in packages)
    assert not any("GPL" in p.licence for p in packages)
