"""The fuzzers' corpora replayed through their targets: every input they kept still passes.

``python -m fuzz TARGET`` grows ``fuzz/corpus/TARGET/`` with inputs that reach new
code, and a fixed input that once failed is added there too (for example
``ignore/star-run-backtracking``, a ``.gitignore`` line of stars that hung the
matcher). Replaying them is deterministic and needs no fuzzing engine at run time.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from fuzz.targets import TARGETS

CORPUS = Path(__file__).resolve().parent.parent / "fuzz" / "corpus"


def test_every_target_has_a_corpus() -> None:
    assert sorted(p.name for p in CORPUS.iterdir() if p.is_dir()) == sorted(TARGETS)
    assert all(any((CORPUS / name).iterdir()) for name in TARGETS)


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_every_kept_input_passes_its_target(target: str) -> None:
    inputs = sorted(p for p in (CORPUS / target).iterdir() if p.is_file())
    for path in inputs:
        try:
            TARGETS[target](path.read_bytes())
        except Exception as exc:  # report which input, then fail
            raise AssertionError(f"fuzz/corpus/{target}/{path.name}: {exc!r}") from exc
