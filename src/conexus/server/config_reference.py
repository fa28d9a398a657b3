"""The generated configuration reference of ``docs/operations.md``.

``python -m conexus.server.config_reference docs/operations.md`` rewrites the part
of the page between the two ``GENERATED`` markers from the settings models: every
per-root setting of :class:`conexus.config.Settings` (its ``conexus.toml`` key,
``CONEXUS_*`` variable and default) and every server setting of
:class:`conexus.server.settings.ServerSettings` (its ``[serve]`` key, CLI flag,
variable, default and help). A test fails when the committed page differs from
what this module generates, so the reference cannot drift from the code.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

from conexus.config import NOT_IN_TOML, Settings
from conexus.server.settings import env_name, flag_name, settings_fields

BEGIN = "<!-- BEGIN GENERATED: configuration reference (python -m conexus.server.config_reference) -->"
END = "<!-- END GENERATED: configuration reference -->"

#: What each per-root setting does (Settings keeps its notes as comments; these are for operators).
ROOT_SETTING_HELP: dict[str, str] = {
    "home": "Data home: indexes, the embedding cache, the optimised model graph, API keys.",
    "max_file_bytes": "Files larger than this are skipped (counted as skipped with the reason).",
    "include": "Gitignore-style globs: when set, only matching files are indexed.",
    "exclude": "Gitignore-style globs excluded on top of .gitignore and the built-in excludes.",
    "follow_symlinks": "Follow symbolic links (only ever to targets inside the root).",
    "index_secrets": "Index files that hold credentials (private keys, .env, tokens); off: skipped.",
    "secrets_allow": "Gitignore-style globs of files to index even though they look like secrets.",
    "max_chunk_lines": "Longest chunk, in lines; longer symbols are split.",
    "window_lines": "Lines per window for text that has no symbols (prose, unknown languages).",
    "window_overlap": "Lines shared by consecutive windows.",
    "embedder": "Embedding model: bundled, bundled:float, fake, onnx:DIR, st:NAME, openai:MODEL.",
    "embed_threads": "Threads ONNX Runtime may use for embedding (0: every core).",
    "embed_batch_size": "Chunks embedded per model call.",
    "embed_max_tokens": "Tokens of a chunk the model reads (the rest is left to BM25).",
    "openai_base_url": "Base URL of the OpenAI-compatible embeddings endpoint (openai:MODEL).",
    "openai_api_key": "Key of that endpoint (never read from conexus.toml). Secret: shown masked.",
    "bm25_weight": "Weight of the keyword (BM25) ranking in the fusion.",
    "vector_weight": "Weight of the embedding ranking in the fusion.",
    "exact_weight": "Votes of chunks holding a rare identifier or code fragment the query names.",
    "rrf_k": "The k of reciprocal-rank fusion (higher: flatter).",
    "candidates": "Candidates each retriever returns before fusion.",
    "max_hits_per_file": "Most hits one file may contribute to a result page.",
    "query_cache": "Recent search results kept per index (0: none); freshness is checked again.",
    "learned_ranker": "localize re-orders its first files with the shipped learned ranker.",
    "history_prior": "localize reads the git log (similar past commits, co-change) when there is one.",
    "store_url": "Where indexes live: empty for the embedded SQLite index under the data home, or a "
    "postgresql:// URL of a PostgreSQL database with pgvector, shared by every root and replica "
    "naming it (needs `pip install 'conexus[postgres]'`; see docs/scale-out.md). Not read from "
    "conexus.toml. The password in it is shown masked.",
}
#: Per-root settings with a command-line option of their own.
ROOT_SETTING_FLAGS = {
    "home": "conexus --home",
    "embedder": "conexus --embedder",
    "max_file_bytes": "conexus index --max-file-bytes",
    "include": "conexus index --include",
    "exclude": "conexus index --exclude",
}
#: Per-root settings that conexus.toml may not set (they belong to the machine, or are secret):
#: conexus.config.NOT_IN_TOML.
SECRET_ROOT_SETTINGS = {"openai_api_key"}


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "`true`" if value else "`false`"
    if isinstance(value, tuple):
        return "`[]`" if not value else f"`{json.dumps(list(value))}`"
    if isinstance(value, str):
        return '`""`' if not value else f'`"{value}"`'
    return f"`{value}`"


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def root_settings_table() -> list[str]:
    """Markdown rows of every per-root setting."""
    # The index identity: the indexing options' hash, and the embedder (its id and dimensions).
    hashed = {*Settings(home=Path("/")).index_options(), "embedder"}
    lines = [
        "| `conexus.toml` key | environment | default | re-index | description |",
        "|---|---|---|---|---|",
    ]
    for f in dataclasses.fields(Settings):
        if f.default is dataclasses.MISSING:  # home: computed (default_home)
            default = "`$CONEXUS_HOME`, else the user data folder"
        else:
            default = _value(f.default)
        key = "—" if f.name in NOT_IN_TOML else f"`{f.name}`"
        env = f"`{env_name(f.name)}`"
        if f.name in ROOT_SETTING_FLAGS:
            env += f", `{ROOT_SETTING_FLAGS[f.name]}`"
        if f.name in SECRET_ROOT_SETTINGS:
            env += ", `OPENAI_API_KEY`"
        reindex = "yes" if f.name in hashed else ""
        lines.append(
            f"| {key} | {env} | {default} | {reindex} | {_cell(ROOT_SETTING_HELP.get(f.name, ''))} |"
        )
    return lines


def server_settings_table() -> list[str]:
    """Markdown rows of every server setting."""
    lines = ["| `[serve]` key | `conexus serve` flag | environment | default | description |"]
    lines.append("|---|---|---|---|---|")
    for f in settings_fields():
        flag = flag_name(f)
        if isinstance(f.default, bool):
            flag += f" / --no-{f.name.replace('_', '-')}"
        elif isinstance(f.default, tuple):
            flag += " (repeatable)"
        help_text = f.metadata["help"] + (" Secret: shown masked." if f.metadata.get("secret") else "")
        env = env_name(f.name) + (" (comma-separated)" if isinstance(f.default, tuple) else "")
        lines.append(f"| `{f.name}` | `{flag}` | `{env}` | {_value(f.default)} | {_cell(help_text)} |")
    return lines


def reference() -> str:
    """The generated block, markers included."""
    lines = [
        BEGIN,
        "",
        "### Server settings (`conexus serve`)",
        "",
        "Fixed at start-up. Resolved as: the `conexus serve` flag, else the environment variable, "
        "else the `[serve]` table of the file given by `--config` (or `CONEXUS_CONFIG`), else the "
        "default. Lists are repeatable flags, or comma-separated in the environment.",
        "",
        *server_settings_table(),
        "",
        "### Per-root settings (indexing and search)",
        "",
        "Read for each root. Resolved as: the command-line option (where there is one), else the "
        "environment variable, else `conexus.toml` in the root (a `[conexus]` table or top-level "
        'keys), else the default. "re-index: yes" marks the settings hashed into the index '
        "identity: changing one rebuilds the index on the next run, and `conexus restore` refuses "
        "a backup built with other values unless `--force`.",
        "",
        *root_settings_table(),
        "",
        END,
    ]
    return "\n".join(lines)


def render(page: str) -> str:
    """``page`` with its generated block replaced by the current one.

    Raises:
        ValueError: the page lacks the markers.
    """
    start = page.find(BEGIN)
    end = page.find(END)
    if start < 0 or end < start:
        raise ValueError(f"the page has no {BEGIN!r} ... {END!r} block")
    return page[:start] + reference() + page[end + len(END) :]


def write(path: Path) -> None:
    """Rewrite the generated block of the page at ``path``."""
    path.write_text(render(path.read_text(encoding="utf-8")), encoding="utf-8")


if __name__ == "__main__":
    write(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/operations.md"))
