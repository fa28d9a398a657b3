from conexus.search.fusion import (
    RankedList,
    aggregate_files,
    apply_boosts,
    diversify,
    file_prior,
    is_test_path,
    rank,
    rrf,
)


def test_rrf_rewards_ids_found_by_several_retrievers() -> None:
    scores, signals = rrf([RankedList("bm25", [1, 2, 3]), RankedList("vector", [3, 4, 1])], k=60)
    ranked = rank(scores)
    assert ranked[:2] == [1, 3]
    assert signals[3] == {"bm25": 3, "vector": 1}


def test_rrf_weights_scale_a_retrievers_votes() -> None:
    scores, _ = rrf([RankedList("a", [1], weight=1.0), RankedList("b", [2], weight=2.0)])
    assert rank(scores) == [2, 1]


def test_rrf_ignores_duplicate_ids_within_one_list_and_zero_weight_lists() -> None:
    scores, _ = rrf([RankedList("a", [1, 1, 2]), RankedList("b", [9], weight=0.0)])
    assert set(scores) == {1, 2}
    assert scores[2] == 1 / 62


def test_diversify_moves_over_quota_hits_of_one_file_after_other_files() -> None:
    files = {1: "a", 2: "a", 3: "a", 4: "b"}
    assert diversify([1, 2, 3, 4], files.__getitem__, 2) == [1, 2, 4, 3]


def test_boosts_multiply_only_listed_ids() -> None:
    assert apply_boosts({1: 1.0, 2: 1.0}, {2: 1.5}) == {1: 1.0, 2: 1.5}


def test_file_aggregation_rewards_several_matching_chunks() -> None:
    scores = {1: 1.0, 2: 0.9, 3: 0.9}
    files = {1: "single.py", 2: "many.py", 3: "many.py"}
    ranked = aggregate_files([1, 2, 3], scores, files.__getitem__)
    assert ranked[0][0] == "many.py"


def test_priors_damp_tests_prose_and_changelogs_unless_asked_for() -> None:
    code = file_prior("pkg/session.py", "python", wants_tests=False, wants_docs=False)
    assert code == 1.0
    assert file_prior("tests/test_session.py", "python", wants_tests=False, wants_docs=False) < code
    assert file_prior("tests/test_session.py", "python", wants_tests=True, wants_docs=False) == code
    assert file_prior("docs/guide.md", "markdown", wants_tests=False, wants_docs=False) < code
    assert file_prior("docs/guide.md", "markdown", wants_tests=False, wants_docs=True) == code
    assert file_prior("CHANGELOG.md", "markdown", wants_tests=False, wants_docs=False) < file_prior(
        "docs/guide.md", "markdown", wants_tests=False, wants_docs=False
    )


def test_long_queries_damp_non_code_harder() -> None:
    for path, lang in [("tests/test_x.py", "python"), ("HISTORY.rst", "rst"), ("pylintrc", "text")]:
        short = file_prior(path, lang, wants_tests=False, wants_docs=False)
        long = file_prior(path, lang, wants_tests=False, wants_docs=False, long_query=True)
        assert long < short
    assert (
        file_prior("examples/plot.py", "python", wants_tests=False, wants_docs=False, long_query=True) < 1.0
    )


def test_test_paths_follow_common_conventions() -> None:
    for p in [
        "tests/a.py", "pkg/test_a.py", "a_test.go", "web/a.test.ts", "spec/a_spec.rb", "conftest.py",
        "projects/SelfTest/UsageTests/Misc.tests.cpp", "src/JsonParserTests.java", "UnitTests/a.cpp",
    ]:  # fmt: skip
        assert is_test_path(p), p
    for p in ["pkg/latest.py", "pkg/contest.py", "src/attestation.py", "pkg/session.py", "requests/api.py"]:
        assert not is_test_path(p), p
