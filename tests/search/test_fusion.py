from conexus.search.fusion import RankedList, aggregate_files, apply_boosts, diversify, rank, rrf


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
