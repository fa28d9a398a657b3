"""``FakeEmbedder`` and ``create_embedder``'s handling of every spec."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from conexus.config import Settings
from conexus.embedding import Embedder, FakeEmbedder, create_embedder
from conexus.embedding.fake import word_pieces
from conexus.errors import ConfigError, EmbeddingError


def test_identifiers_are_split_into_lower_cased_pieces_and_kept_whole() -> None:
    assert word_pieces("parseHTTPHeader") == ["parse", "http", "header", "parsehttpheader"]
    assert word_pieces("read_file_lines(x)") == ["read", "file", "lines", "read_file_lines", "x"]


def test_the_fake_embedder_is_deterministic_and_unit_length() -> None:
    texts = ["def parse_http_header(line): ...", "{}", ""]
    a = FakeEmbedder().embed_documents(texts)
    b = FakeEmbedder().embed_documents(texts)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-6)
    assert a.shape == (3, 256) and a.dtype == np.float32
    np.testing.assert_array_equal(FakeEmbedder().embed_query(texts[0]), a[0])


def test_texts_sharing_words_are_closer_than_unrelated_texts() -> None:
    fake = FakeEmbedder()
    query = fake.embed_query("parse http header")
    docs = fake.embed_documents(
        ["def parseHttpHeader(line): return line.split(':')", "def draw_circle(r): pass"]
    )
    scores = docs @ query
    assert scores[0] > scores[1] + 0.3


def test_the_fake_embedder_satisfies_the_embedder_protocol_and_names_its_size() -> None:
    fake = create_embedder(Settings(home=Path("/nonexistent"), embedder="fake:64"))
    assert isinstance(fake, Embedder)
    assert fake.id == "fake-bow:64" and fake.dim == 64
    assert fake.embed_documents([]).shape == (0, 64)


@pytest.mark.parametrize(
    "spec", ["nonsense", "bundled:fp8", "onnx:", "st:", "openai:", "fake:abc", "fake:2", ""]
)
def test_an_unknown_embedder_spec_is_a_config_error(spec: str) -> None:
    with pytest.raises(ConfigError, match="embedder"):
        create_embedder(Settings(home=Path("/nonexistent"), embedder=spec))


def test_a_sentence_transformers_model_without_the_package_is_a_clear_embedding_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)  # as if not installed
    with pytest.raises(EmbeddingError, match=r"pip install 'conexus\[sentence-transformers\]'"):
        create_embedder(Settings(home=Path("/nonexistent"), embedder="st:all-MiniLM-L6-v2"))


@pytest.mark.skipif(
    importlib.util.find_spec("sentence_transformers") is None, reason="sentence-transformers is not installed"
)
def test_a_sentence_transformers_model_that_cannot_be_loaded_is_an_embedding_error(tmp_path: Path) -> None:
    with pytest.raises(EmbeddingError, match="cannot load sentence-transformers model"):
        create_embedder(Settings(home=tmp_path, embedder=f"st:{tmp_path / 'no-such-model'}"))
