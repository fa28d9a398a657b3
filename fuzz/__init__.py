"""Coverage-guided fuzzing of the parts that read untrusted input (atheris; ``python -m fuzz``).

Targets (:mod:`fuzz.targets`): the chunker on any text in any language, the
ignore-file parser, and the query path (query analysis, path globs, paging
cursors, the search arguments). Each target raises only on a real defect: an
exception other than the documented refusals, or a broken invariant. The
corpus of each target lives in ``fuzz/corpus/<target>/`` and is replayed by
the test suite (``tests/test_fuzz_corpus.py``) without atheris.
"""
