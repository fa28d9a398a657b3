"""explain: checked evidence bundles for symbols, files and free-text questions."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from conexus.engine import Engine
from conexus.errors import QueryError
from conexus.search.explain import Claim, Explanation, explain
from conexus.search.hybrid import HybridSearcher
from conexus.store.base import Store
from tests.conftest import FIXTURES, write

MakeEngine = Callable[..., Engine]


class Indexed:
    def __init__(self, root: Path, engine: Engine) -> None:
        self.root = root
        self.engine = engine
        self.store: Store = engine._open_store(create=False)
        self.searcher = HybridSearcher(str(root), self.store, engine.embedder, engine.settings)

    def explain(self, target: str, **options: int) -> Explanation:
        return explain(self.root, self.store, self.searcher, target, **options)


@pytest.fixture
def shop(tmp_path: Path, make_engine: MakeEngine) -> Indexed:
    root = tmp_path / "related_repo"
    shutil.copytree(FIXTURES / "related_repo", root)
    engine = make_engine(root)
    engine.index()
    return Indexed(root, engine)


def _lines(root: Path, claim: Claim) -> str:
    return "\n".join((root / claim.path).read_text().split("\n")[claim.start_line - 1 : claim.end_line])


def _all_claims(result: Explanation) -> list[Claim]:
    claims = [*result.outline, *result.hits]
    for s in result.subjects:
        claims += [s.definition, *s.callers, *s.callees, *s.tests, *s.examples]
    return claims


def test_symbol_definition_carries_signature_docstring_and_a_verified_citation(shop: Indexed) -> None:
    result = shop.explain("apply_discount")
    assert result.target_kind == "symbol"
    (subject,) = result.subjects
    assert subject.name == "apply_discount"
    assert subject.definition.citation == "src/shop/pricing.py:11-15"
    assert subject.definition.status == "verified"
    assert subject.signature == "def apply_discount(amount: float, percent: float) -> float:"
    assert subject.docstring is not None and "percent" in subject.docstring


def test_callers_are_the_call_sites_with_their_enclosing_symbols(shop: Indexed) -> None:
    (subject,) = shop.explain("apply_discount").subjects
    callers = {(c.path, c.start_line, c.name) for c in subject.callers}
    assert {
        ("src/shop/cart.py", 30, "Cart.total"),
        ("src/shop/checkout.py", 9, "checkout"),
        ("tests/test_pricing.py", 7, "test_apply_discount_rejects_negative_percent"),
    } <= callers
    assert all(c.kind == "caller" and "apply_discount(" in c.text for c in subject.callers)


def test_callees_resolve_to_indexed_definitions_preferring_same_class_and_imports(shop: Indexed) -> None:
    (subject,) = shop.explain("Cart.total").subjects
    callees = {c.name: c.citation for c in subject.callees}
    assert callees == {
        "Cart.subtotal": "src/shop/cart.py:24-25",
        "apply_discount": "src/shop/pricing.py:11-15",
    }


def test_related_tests_and_usage_examples_are_included(shop: Indexed) -> None:
    (subject,) = shop.explain("apply_discount").subjects
    assert [t.path for t in subject.tests] == ["tests/test_pricing.py"]
    assert subject.examples
    first = subject.examples[0]
    assert "apply_discount(" in first.text
    assert first.text == _lines(shop.root, first)
    assert not first.path.startswith("tests/")  # non-test call sites come first


def test_every_verified_claim_matches_the_disk_text(shop: Indexed) -> None:
    result = shop.explain("Cart.total")
    for claim in _all_claims(result):
        assert claim.status == "verified"
        assert claim.end_line <= len((shop.root / claim.path).read_text().split("\n"))
    for s in result.subjects:
        for c in s.callers:
            assert c.text == _lines(shop.root, c).strip()


def test_claims_in_an_edited_file_are_marked_stale(shop: Indexed) -> None:
    path = shop.root / "src/shop/checkout.py"
    path.write_text("# moved down\n" + path.read_text())
    (subject,) = shop.explain("apply_discount").subjects
    by_path = {c.path: c for c in subject.callers}
    assert by_path["src/shop/checkout.py"].status == "stale"
    assert by_path["src/shop/cart.py"].status == "verified"


def test_claims_above_an_edit_stay_verified_by_their_chunk_hash(shop: Indexed) -> None:
    path = shop.root / "src/shop/checkout.py"
    path.write_text(path.read_text() + "\n\nEXTRA = 1\n")
    (subject,) = shop.explain("apply_discount").subjects
    assert {c.path: c.status for c in subject.callers}["src/shop/checkout.py"] == "verified"


def test_claims_whose_file_was_deleted_are_dropped_and_counted(shop: Indexed) -> None:
    (shop.root / "src/shop/checkout.py").unlink()
    result = shop.explain("apply_discount")
    (subject,) = result.subjects
    assert "src/shop/checkout.py" not in {c.path for c in subject.callers}
    assert result.dropped >= 1
    assert any("dropped" in n for n in result.notes)


def test_a_deleted_definition_drops_the_subject(shop: Indexed) -> None:
    (shop.root / "src/shop/pricing.py").unlink()
    result = shop.explain("apply_discount")
    assert result.subjects == ()
    assert result.dropped >= 1


def test_file_target_explains_its_main_symbols_and_outlines_the_rest(shop: Indexed) -> None:
    result = shop.explain("src/shop/cart.py", max_subjects=1)
    assert result.target_kind == "file"
    assert [s.name for s in result.subjects] == ["Cart"]
    outline = [c.name for c in result.outline]
    assert "Cart.total" in outline and "Cart.add_item" in outline


def test_free_text_question_runs_search_and_explains_top_symbols(shop: Indexed) -> None:
    result = shop.explain("how is the discount percent applied to an amount?")
    assert result.target_kind == "query"
    assert result.hits
    assert "apply_discount" in {s.name for s in result.subjects}
    assert all(h.kind == "hit" and h.status == "verified" for h in result.hits)


def test_limits_are_validated(shop: Indexed) -> None:
    with pytest.raises(QueryError):
        shop.explain("apply_discount", limit=0)
    with pytest.raises(QueryError):
        shop.explain("   ")


def test_explanation_is_json_ready(shop: Indexed) -> None:
    data = json.loads(json.dumps(shop.explain("Cart.total").to_dict()))
    subject = data["subjects"][0]
    assert subject["definition"]["citation"] == "src/shop/cart.py:27-30"
    assert {"callers", "callees", "tests", "examples"} <= set(subject)


def test_go_symbol_callers_and_tests_are_found(shop: Indexed) -> None:
    (subject,) = shop.explain("Open").subjects
    assert subject.definition.path == "internal/store/store.go"
    assert {c.path for c in subject.callers} == {"cmd/server/main.go", "internal/store/store_test.go"}
    assert [t.path for t in subject.tests] == ["internal/store/store_test.go"]


def test_a_new_unindexed_caller_is_not_claimed(shop: Indexed) -> None:
    write(shop.root, "src/shop/late.py", "from shop.pricing import apply_discount\napply_discount(1, 2)\n")
    (subject,) = shop.explain("apply_discount").subjects
    assert "src/shop/late.py" not in {c.path for c in subject.callers}
