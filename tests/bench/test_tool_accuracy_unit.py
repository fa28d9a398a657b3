"""bench.tool_accuracy: its scoring (pure) and one whole measurement of a small tree against jedi."""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path

from bench.tool_accuracy import RELATIONS, Repo, measure, print_table
from bench.tool_scoring import Loc, Span, Tally, TreeTruth, match_counts, same_line, span_matches

from tests.conftest import write


def test_a_cited_range_matches_a_definition_only_when_it_holds_the_line_and_ends_with_its_name() -> None:
    span = Span("a.py", 10, 20, "Cart.total")
    assert span_matches(span, Loc("a.py", 12, "total"))
    assert not span_matches(span, Loc("a.py", 12, "other"))
    assert not span_matches(span, Loc("a.py", 21, "total"))
    assert not span_matches(span, Loc("b.py", 12, "total"))


def test_recall_is_capped_at_what_conexus_may_return() -> None:
    truth = [Loc("a.py", i) for i in range(1, 11)]
    predicted = [Loc("a.py", i) for i in range(1, 4)]
    assert match_counts(predicted, truth, same_line, cap=3) == (3, 3, 3, 3)
    assert match_counts(predicted, truth, same_line) == (3, 3, 3, 10)


def test_macro_figures_average_symbols_and_micro_figures_pool_them() -> None:
    tally = Tally()
    tally.add(1, 1, 1, 1)  # a perfect answer
    tally.add(1, 9, 1, 1)  # nine wrong items beside the right one
    tally.add(0, 0, 0, 0)  # nothing asked, nothing answered: not counted
    s = tally.summary()
    assert s["n"] == 2
    assert s["precision"] == round((1 + 1 / 9) / 2, 3)
    assert s["micro_precision"] == round(2 / 10, 3)
    assert s["recall"] == s["micro_recall"] == 1.0


def test_ground_truth_round_trips_through_json() -> None:
    truth = TreeTruth([], {"a.py": ["b.py"]}, candidates=3)
    assert TreeTruth.from_dict(json.loads(json.dumps(truth.to_dict()))).importers() == {"b.py": ["a.py"]}


def test_a_small_tree_is_measured_against_jedi_for_every_relation(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    write(tree, "shop/__init__.py", "")
    pricing = "def round_money(x):\n    return round(x, 2)\n\n\ndef discount(x, p):\n"
    write(tree, "shop/pricing.py", pricing + "    return round_money(x * (100 - p) / 100)\n")
    write(tree, "shop/cart.py", "from shop.pricing import discount\n\n\ndef total(items):\n"
                                "    return discount(sum(items), 10)\n")  # fmt: skip
    write(tree, "tests/test_cart.py", "from shop.cart import total\n\n\ndef test_total():\n"
                                      "    assert total([10]) == 9\n")  # fmt: skip
    args = argparse.Namespace(work=tmp_path / "work", seed=1, sample=10, embedder="fake")
    result = measure(Repo("local/shop", "shop", "0" * 40, "python"), tree, args, None)
    assert result["symbols"] == 3 and result["targets_resolved"] == 3
    rel = result["relations"]
    assert set(rel) == set(RELATIONS)
    assert rel["references"]["recall"] == rel["callers"]["recall"] == 1.0
    assert rel["callees"]["precision"] == rel["callees"]["recall"] == 1.0  # discount -> round_money
    assert rel["importers"]["recall"] == 1.0 and rel["tests"]["recall"] == 1.0
    assert (tmp_path / "work" / "truth").is_dir()  # a second run asks only Conexus
    assert measure(Repo("local/shop", "shop", "0" * 40, "python"), tree, args, None) == result


def test_the_table_has_a_row_per_repository_and_relation() -> None:
    summary = Tally().summary()
    rows = [{"repo": "a/b", "relations": dict.fromkeys(RELATIONS, summary)}]
    out = io.StringIO()
    print_table(rows, out)
    assert out.getvalue().count("| a/b |") == len(RELATIONS)
