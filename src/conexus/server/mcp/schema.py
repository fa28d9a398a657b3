"""Tool schemas as MCP clients want them: ``$ref``-free, title-free, without ``X | None`` unions."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


def _inline(schema: dict[str, Any], *, for_input: bool) -> dict[str, Any]:
    """Inline ``$ref``s and drop pydantic's titles; for inputs, advertise ``X | None`` as plain ``X``.

    Tool schemas are read by many clients, some of which handle neither
    ``$ref`` nor ``anyOf`` with null (the MCP Inspector's ``--strict`` flags both).
    """
    defs = schema.pop("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, list):
            return [walk(v) for v in node]
        if not isinstance(node, dict):
            return node
        if "$ref" in node:
            target = walk(dict(defs[node["$ref"].rsplit("/", 1)[-1]]))
            rest = walk({k: v for k, v in node.items() if k != "$ref"})
            return {**target, **rest}
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key == "title" and isinstance(value, str):
                continue
            out[key] = value if key in ("default", "enum", "const") else walk(value)
        if for_input and isinstance(out.get("anyOf"), list):
            options = [o for o in out["anyOf"] if o.get("type") != "null"]
            if len(options) == 1 and len(options) < len(out["anyOf"]):
                merged = {**options[0], **{k: v for k, v in out.items() if k != "anyOf"}}
                if merged.get("default", 0) is None:
                    del merged["default"]
                out = merged
        return out

    result: dict[str, Any] = walk(schema)
    return result


def input_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The inlined JSON schema of an input model."""
    return _inline(model.model_json_schema(), for_input=True)


def output_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The inlined JSON schema of an output model (serialization mode)."""
    return _inline(model.model_json_schema(mode="serialization"), for_input=False)
