"""Text renderings of operation results: what an MCP client shows the model and the CLI prints.

Each renderer takes the JSON form of an output model (``model_dump()``), so a
result renders the same whichever transport produced it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any


def _short(text: str, limit: int = 80) -> str:
    one = " ".join(text.split())
    return one if len(one) <= limit else one[: limit - 1] + "…"


def _indent(text: str, prefix: str = "    ") -> str:
    return "\n".join(prefix + line for line in text.split("\n"))


_SIGNAL_NAMES = {
    "bm25": "keywords",
    "vector": "meaning",
    "symbol": "symbol name",
    "exact": "exact identifier",
    "phrase": "exact fragment",
    "path": "file name",
}


def confidence_note(confidence: Mapping[str, Any] | None) -> str:
    """The sentence a result carries when nothing matched well ('' otherwise, or without a confidence)."""
    if not confidence or not confidence.get("no_good_match"):
        return ""
    return f"{confidence['reason']} (confidence {confidence['score']:.2f}, {confidence['label']})"


def _confidence_label(confidence: Mapping[str, Any] | None) -> str:
    return f"; confidence: {confidence['label']}" if confidence else ""


def state_note(state: str) -> str:
    """The sentence a result carries when its index is not simply ready ('' when it is)."""
    if state == "indexing":
        return "The index is being updated: results may be incomplete or stale."
    if state == "partial":
        return (
            "The index is partial (its first build was interrupted): results cover part of the tree. "
            "Finish it with context_index_control action=start."
        )
    return ""


def explain_signals(signals: Mapping[str, float]) -> str:
    """``found by keywords #3, meaning #1``: which retrievers found a hit, at which rank."""
    parts = [f"{_SIGNAL_NAMES.get(k, k)} #{int(v)}" for k, v in sorted(signals.items(), key=lambda kv: kv[1])]
    return "found by " + ", ".join(parts) if parts else ""


def render_search(data: Mapping[str, Any]) -> str:
    hits = data["hits"]
    state = data["index_state"]
    confidence = data.get("confidence")
    head = (
        f'{len(hits)} hit(s) for "{_short(data["query"])}" in {data["root"]} '
        f"(of {data['total_candidates']} candidates; index: {state}{_confidence_label(confidence)}; "
        f"{data['took_ms']:.0f} ms)"
    )
    if state_note(state):
        head += "\n" + state_note(state)
    if data.get("notice"):
        head += "\n" + str(data["notice"])
    if confidence_note(confidence):
        head += "\n" + confidence_note(confidence)
    lines = [head]
    for i, h in enumerate(hits, start=int(data["offset"]) + 1):
        name = h.get("symbol")
        if name and h.get("parent"):
            name = f"{h['parent']}.{name}"
        fresh = h["freshness"]["state"]
        note = "" if fresh == "fresh" else f"  [{fresh} since indexing: re-read with context_read]"
        lines.append(f"\n{i}. {h['citation']}  {h['kind']}{' ' + name if name else ''}{note}")
        if h.get("snippet"):
            lines.append(_indent(h["snippet"]))
    if data.get("next_cursor"):
        lines.append(f"\nMore results: call again with cursor={data['next_cursor']!r}.")
    return "\n".join(lines)


def render_localize(data: Mapping[str, Any]) -> str:
    files, locations = data["files"], data["locations"]
    state = data["index_state"]
    confidence = data.get("confidence")
    head = (
        f"Where the issue ({data['issue_chars']} characters) most likely needs changes in {data['root']} "
        f"({data['files_considered']} matching files; index: {state}{_confidence_label(confidence)}; "
        f"{data['took_ms']:.0f} ms)"
    )
    if state_note(state):
        head += "\n" + state_note(state)
    if data.get("notice"):
        head += "\n" + str(data["notice"])
    if confidence_note(confidence):
        head += "\n" + confidence_note(confidence)
    if not files:
        return head + "\nNo indexed file matches the issue text."
    lines = [head, "\nfiles:"]
    for f in files:
        note = "" if f["freshness"] == "fresh" else f"  [{f['freshness']} since indexing]"
        lines.append(f"  {f['rank']}. {f['path']}  ({f['score']:.4f}){note}")
    if locations:
        lines.append("\nfunctions and methods:")
    for loc in locations:
        name = loc["symbol"] or "(module-level code)"
        fresh = loc["freshness"]
        note = "" if fresh == "fresh" else f"  [{fresh} since indexing: re-read with context_read]"
        lines.append(f"  {loc['rank']}. {loc['citation']}  {name}  ({loc['score']:.3f}){note}")
    lines.append("\nRead the cited lines with context_read before editing.")
    return "\n".join(lines)


def _items(title: str, items: Sequence[Mapping[str, Any]]) -> list[str]:
    if not items:
        return []
    out = [f"\n{title}:"]
    for it in items:
        label = it.get("name") or it.get("kind") or ""
        detail = it.get("detail") or it.get("text") or ""
        extra = f" -> {it['resolved']}" if it.get("resolved") else ""
        status = f" [{it['status']}]" if it.get("status") and it.get("status") != "verified" else ""
        line = f"  {it['citation']}  {label}{extra}{status}"
        if detail:
            line += f"  {_short(str(detail), 120)}"
        out.append(line)
    return out


def render_related(data: Mapping[str, Any]) -> str:
    lines = [
        f"Related to {data['target']} ({data['target_kind']}) in {data['root']}: {', '.join(data['files'])}"
    ]
    for key in ("definitions", "imports", "importers", "references", "tests", "co_changes"):
        lines += _items(key.replace("_", " "), data.get(key, []))
    commits = data.get("recent_commits") or []
    if commits:
        lines.append("\nrecent commits:")
        lines += [
            f"  {c.get('sha', '')[:10]} {c.get('date', '')} {_short(str(c.get('subject', '')))}"
            for c in commits
        ]
    lines += [f"\nnote: {n}" for n in data.get("notes", [])]
    return "\n".join(lines)


def render_explain(data: Mapping[str, Any]) -> str:
    lines = [f"Evidence for {data['target']} ({data['target_kind']}) in {data['root']}"]
    for s in data.get("subjects", []):
        lines.append(f"\n## {s.get('kind', '')} {s.get('name', '')}  {s['definition']['citation']}")
        if s.get("signature"):
            lines.append(f"  signature: {s['signature']}")
        if s.get("docstring"):
            lines.append(f"  docstring: {_short(str(s['docstring']), 300)}")
        for key in ("callers", "callees", "tests", "examples"):
            lines += _items(key, s.get(key, []))
    lines += _items("outline", data.get("outline", []))
    lines += _items("search hits", data.get("hits", []))
    lines += [f"\nnote: {n}" for n in data.get("notes", [])]
    return "\n".join(lines)


def render_grep(data: Mapping[str, Any]) -> str:
    matches = data["matches"]
    head = (
        f"{len(matches)} matching line(s) for {data['pattern']!r} in {data['root']} "
        f"({data['files_matched']} of {data['files_searched']} files)"
    )
    if data.get("truncated"):
        head += "; stopped at max_results"
    if data.get("timed_out"):
        head += "; stopped at the deadline (results are partial)"
    lines = [head]
    for m in matches:  # ripgrep's convention: path:line: for matches, path-line- for context
        for offset, text in enumerate(m.get("before", [])):
            lines.append(f"{m['path']}-{m['line'] - len(m['before']) + offset}-  {text}")
        lines.append(f"{m['path']}:{m['line']}:  {m['text']}")
        for offset, text in enumerate(m.get("after", [])):
            lines.append(f"{m['path']}-{m['line'] + offset + 1}-  {text}")
    return "\n".join(lines)


def render_read(data: Mapping[str, Any]) -> str:
    head = f"{data['citation']} of {data['total_lines']} lines ({data['freshness']})"
    if data.get("freshness") == "deleted":
        head += "; the file is deleted: lines come from the index"
    lines = [head]
    width = len(str(data["end_line"])) if data["lines"] else 1
    lines += [f"{item['line']:>{width}}  {item['text']}" for item in data["lines"]]
    if data.get("truncated"):
        lines.append(f"… more: call again with start_line={data['next_start']}")
    return "\n".join(lines)


def render_status(st: Mapping[str, Any]) -> str:
    lines = [f"root {st['name']}: {st['path']} (index {st['index_state']})"]
    if not st.get("exists"):
        lines.append("no index yet")
    else:
        lines.append(
            f"files {st.get('files', 0)}, chunks {st.get('chunks', 0)}, embedder {st.get('embedder_id')}"
        )
        run = st.get("last_run") or {}
        if run.get("status") == "interrupted":
            lines.append("last index run was interrupted (its process died)")
        if st.get("partial"):
            lines.append("the index is partial: its first build never finished (use action=start)")
        skipped = st.get("skipped") or {}
        if skipped:
            lines.append("skipped: " + ", ".join(f"{k} {v}" for k, v in sorted(skipped.items())))
        secrets = st.get("secrets") or []
        if secrets:
            shown = ", ".join(f"{s['path']} ({s['detail']})" for s in secrets[:10])
            more = f" and {len(secrets) - 10} more" if len(secrets) > 10 else ""
            lines.append(f"not indexed because they hold secrets: {shown}{more}")
        stale = st.get("stale") or {}
        if stale.get("modified") or stale.get("deleted"):
            lines.append(f"stale: {stale['modified']} modified, {stale['deleted']} deleted since indexing")
        if st.get("embedder_unavailable"):
            lines.append(
                f"embedder unavailable ({st['embedder_unavailable']}): searches run on keywords, "
                "names and paths only, and indexing fails until it answers"
            )
        if st.get("compatible") is False:
            lines.append(
                "incompatible index (" + ", ".join(st.get("mismatches", [])) + "): use action=rebuild"
            )
    jobs = st.get("jobs") or {}
    current = jobs.get("current")
    if current:
        prog = current.get("progress") or {}
        lines.append(
            f"running: {current['kind']} job {current['id']} ({prog.get('phase', 'starting')}, "
            f"{prog.get('files_done', 0)}/{prog.get('files_total', 0)} files)"
        )
    watcher = st.get("watcher") or {}
    if watcher.get("error"):
        lines.append(f"watcher failed: {watcher['error']}")
    if not st.get("auto_index", True):
        lines.append("automatic indexing is paused (after clear): use action=start")
    return "\n".join(lines)


def render_connectors(data: Mapping[str, Any]) -> str:
    lines = [str(data["message"])]
    for c in data["connectors"]:
        state = "on" if c["enabled"] else "off"
        opts = f" {json.dumps(c['options'])}" if c["options"] else ""
        lines.append(f"  {c['id']}: {c['kind']} {c['target']} ({state}){opts}")
    lines.append("served roots:")
    lines += [f"  {r['name']}: {r['path']} ({r['source']})" for r in data["roots"]]
    return "\n".join(lines)
