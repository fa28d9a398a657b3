"""Ground truth for TypeScript from the compiler's language service (``bench/ts/oracle.js``).

Used by :mod:`bench.tool_accuracy`. One Node process holds a language service over every
indexed TypeScript/JavaScript file of the tree with the repository's compiler options (its
``tsconfig`` for module resolution: ``baseUrl``, ``paths``); it lists the declarations, and
answers ``findReferences``, ``getDefinitionAtPosition``, the call hierarchy (incoming calls
for call sites, outgoing calls for callees) and module resolution for the import graph.
"""

from __future__ import annotations

import json
import random
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bench.tool_scoring import Loc, SymbolTruth, TreeTruth

ORACLE = Path(__file__).parent / "ts" / "oracle.js"
_TS_FILES = (".ts", ".tsx", ".js", ".jsx", ".mjs", ".cjs", ".mts", ".cts")


class Oracle:
    """The Node process: one JSON request line in, one JSON answer line out."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            ["node", "--max-old-space-size=4096", str(ORACLE)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def ask(self, request: dict[str, Any]) -> Any:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        reply = json.loads(self.proc.stdout.readline())
        if isinstance(reply, dict) and "error" in reply:
            raise RuntimeError(f"oracle {request['cmd']}: {reply['error']}")
        return reply

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.wait(timeout=60)


def _locs(items: Sequence[Sequence[Any]]) -> list[Loc]:
    return sorted({Loc.from_list(x) for x in items})


def tree_truth(
    root: Path,
    files: Sequence[str],
    sample: int,
    seed: int,
    is_test: Callable[[str], bool],
    tsconfig: str | None,
) -> TreeTruth:
    """Sample ``sample`` symbols of the non-test TypeScript files (seeded); answer them with the service."""
    ts_files = sorted(f for f in files if f.endswith(_TS_FILES) and "/node_modules/" not in f)
    oracle = Oracle()
    try:
        oracle.ask({"cmd": "init", "root": str(root.resolve()), "tsconfig": tsconfig, "files": ts_files})
        listed = oracle.ask({"cmd": "symbols"})["symbols"]
        candidates = [
            s
            for s in listed
            if not is_test(s["path"]) and not s["path"].endswith(".d.ts") and s["name"] != "constructor"
        ]
        chosen = random.Random(seed).sample(candidates, min(sample, len(candidates)))
        chosen.sort(key=lambda s: (s["path"], s["line"]))
        out: list[SymbolTruth] = []
        for s in chosen:
            a = oracle.ask({"cmd": "answer", "symbol": s})
            out.append(
                SymbolTruth(
                    path=s["path"],
                    name=s["name"],
                    qualname=s["qualname"],
                    kind=s["kind"],
                    line=s["line"],
                    col=s["col"],
                    end_line=s["end_line"],
                    references=_locs(a["references"]),
                    calls=_locs(a["calls"]),
                    use=Loc.from_list(a["use"]) if a["use"] else None,
                    use_definitions=_locs(a["use_definitions"]),
                    callees=None if a["callees"] is None else _locs(a["callees"]),
                )
            )
        imports = oracle.ask({"cmd": "imports"})["imports"]
    finally:
        oracle.close()
    return TreeTruth(symbols=out, imports=imports, candidates=len(candidates))
