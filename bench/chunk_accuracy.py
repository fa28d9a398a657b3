"""``python -m bench.chunk_accuracy``: Conexus's symbol chunks against each language's own tooling.

For each language (Python, Java, Rust, JavaScript, TypeScript, C, C++, Go):

1. ``--files`` files of that language are drawn with ``--seed`` from the tree of one repository of
   the development sets at a fixed commit (``REPOS``), read from its bare snapshot under
   ``--mirrors`` and written under ``--work`` (sampled files only, no ``.git``);
2. each file is chunked by ``conexus.indexing.chunking.chunk_text`` with the default settings,
   exactly as the indexer calls it, and its reference declarations come from the language's
   tooling (``bench.chunk_reference``: ``ast``, the TypeScript compiler, javac, Universal Ctags);
3. ``bench.chunk_scoring`` pairs them by name and prints, per language: recall (reference
   functions, methods, classes, structs, interfaces, enums, traits, impls outside function bodies
   that have a Conexus symbol of the same name), precision (Conexus symbols whose name the
   reference declares in that file), declaration start exact, end within one line, and the share
   of reference declarations whose every non-blank line lies in chunks of that symbol; then the
   most frequent misses with examples.

A language whose snapshot or tool is missing is skipped with a message. ``--details FILE`` writes
every miss as a JSON line. Figures go to stdout, progress to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TextIO

from bench.chunk_reference import RefSymbol, available, declarations
from bench.chunk_scoring import FileScore, score_file, top_causes
from conexus.config import Settings
from conexus.indexing.chunking import CHUNKER_VERSION, chunk_text
from conexus.indexing.languages import detect_language, refine_language

LANGUAGES = ("python", "java", "rust", "javascript", "typescript", "c", "cpp", "go")
MAX_FILE_BYTES = 300_000  # larger files are generated or vendored, not what a chunker is judged on


@dataclass(frozen=True)
class Repo:
    """A repository sampled for a language: its snapshot folder under the mirrors and the commit."""

    name: str
    snapshot: str
    commit: str


# One repository per language, at the base commit of its first instance in the development sets.
REPOS: dict[str, tuple[Repo, ...]] = {
    "python": (Repo("psf/requests", "psf+requests", "1f6589ec3a1ee910f9a65cc3ceac60b26677bc0e"),),
    "java": (
        Repo("FasterXML/jackson-core", "FasterXML+jackson-core", "315ac5ad2ad5228129a3df50623570d9bc2d7045"),
    ),
    "rust": (Repo("tokio-rs/tracing", "tokio-rs+tracing", "0dc8ef2da97f605689fff17f6c38b69e105a5281"),),
    "javascript": (Repo("iamkun/dayjs", "iamkun+dayjs", "cdc49a1911c74b7ea96ed222f42796d53715cfed"),),
    "typescript": (
        Repo("darkreader/darkreader", "darkreader+darkreader", "a787eb511f45159c8869d30e5a6ba1f91cb67709"),
    ),
    "c": (Repo("facebook/zstd", "facebook+zstd", "823a28a1f4cb89be7ec22ee5d34754b54e9f2b6e"),),
    "cpp": (Repo("catchorg/Catch2", "catchorg+Catch2", "1faccd601d904a951142d8fba82914a8325b764e"),),
    "go": (Repo("zeromicro/go-zero", "zeromicro+go-zero", "272a3f347d97c48a97dcc68e689c48e5aa955b77"),),
}
# Languages whose files the sample may also take under a sibling language (``.tsx`` is TypeScript).
_SAMPLED_AS = {"tsx": "typescript"}


def _git_dir(mirrors: Path, repo: Repo) -> Path | None:
    for cand in (mirrors / repo.snapshot / "repo", mirrors / repo.snapshot):
        if (cand / "HEAD").is_file():
            return cand
    return None


def _git(git_dir: Path, *args: str) -> bytes:
    return subprocess.run(["git", "--git-dir", str(git_dir), *args], check=True, capture_output=True).stdout


def sample_files(git_dir: Path, commit: str, language: str, count: int, seed: int) -> list[str]:
    """``count`` paths of ``language`` at ``commit``, drawn with ``seed`` from the sorted list."""
    listing = _git(git_dir, "ls-tree", "-r", "-l", commit).decode("utf-8", "replace")
    paths: list[str] = []
    for row in listing.splitlines():
        meta, _, path = row.partition("\t")
        parts = meta.split()
        if len(parts) < 4 or parts[1] != "blob" or not parts[3].isdigit() or int(parts[3]) > MAX_FILE_BYTES:
            continue
        if ".min." in path or "/vendor/" in f"/{path}" or "/node_modules/" in f"/{path}":
            continue
        found = detect_language(path)
        if found == language or _SAMPLED_AS.get(found or "") == language:
            paths.append(path)
    paths.sort()
    return sorted(random.Random(f"{seed}:{language}").sample(paths, min(count, len(paths))))


def write_files(git_dir: Path, commit: str, paths: Sequence[str], dest: Path) -> None:
    """Write ``paths`` as they are at ``commit`` under ``dest`` (kept when already written)."""
    todo = [p for p in paths if not (dest / p).is_file()]
    if not todo:
        return
    batch = "".join(f"{commit}:{p}\n" for p in todo).encode()
    out = subprocess.run(
        ["git", "--git-dir", str(git_dir), "cat-file", "--batch"],
        input=batch,
        check=True,
        capture_output=True,
    ).stdout
    pos = 0
    for path in todo:
        header_end = out.index(b"\n", pos)
        size = int(out[pos:header_end].split()[2])
        body = out[header_end + 1 : header_end + 1 + size]
        pos = header_end + 1 + size + 1
        target = dest / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(body)


def measure_language(
    language: str, root: Path, paths: Sequence[str], work: Path, settings: Settings
) -> FileScore:
    """Chunk ``paths`` under ``root`` as the indexer does and score them against the reference.

    A file is scored in the language the indexer gives it (``refine_language``: a C++ header named
    ``.h`` sampled as C is chunked, and checked against the reference, as C++)."""
    texts = {path: (root / path).read_text(encoding="utf-8", errors="replace") for path in paths}
    langs = {path: refine_language(detect_language(path) or language, path, texts[path]) for path in paths}
    refs: dict[str, list[RefSymbol]] = {}
    for lang in sorted(set(langs.values())):
        refs.update(declarations(lang, root, [p for p in paths if langs[p] == lang], work))
    total = FileScore()
    for path in paths:
        text = texts[path]
        lang = langs[path]
        chunks = chunk_text(
            path,
            text,
            language=lang,
            max_chunk_lines=settings.max_chunk_lines,
            window_lines=settings.window_lines,
            window_overlap=settings.window_overlap,
        )
        lines = text.split("\n")
        total.add(score_file(path, lang, lines, refs.get(path, []), chunks))
    return total


def _fmt(value: float | None) -> str:
    return "  n/a" if value is None else f"{value:5.3f}"


def print_report(results: dict[str, tuple[str, int, FileScore]], out: TextIO, examples: int) -> None:
    """The table of figures per language, then the most frequent misses of each."""
    print(f"{'language':<11} {'repository':<24} {'files':>5} {'decls':>6} {'recall':>6} {'prec':>6} "
          f"{'+cont':>6} {'start':>6} {'end±1':>6} {'cover':>6}", file=out)  # fmt: skip
    for language, (repo, files, score) in results.items():
        f = score.figures()
        print(
            f"{language:<11} {repo:<24} {files:>5} {score.counted:>6} {_fmt(f['recall']):>6} "
            f"{_fmt(f['precision']):>6} {_fmt(f['recall_in_container']):>6} "
            f"{_fmt(f['start_exact']):>6} {_fmt(f['end_pm1']):>6} {_fmt(f['covered']):>6}",
            file=out,
        )
    for language, (_, _, score) in results.items():
        print(f"\n## {language}: misses", file=out)
        for key, n, samples in top_causes(score.misses, examples)[:8]:
            shown = "; ".join(
                f"{m.path}:{m.ref.start} {m.ref.name}" + (f" ({m.detail})" if m.detail else "")
                for m in samples
            )
            print(f"  {n:>4}  {key}  e.g. {shown}", file=out)
        kinds: dict[str, list[str]] = {}
        for path, sym in score.unknown:
            kinds.setdefault(sym.kind, []).append(f"{path}:{sym.start} {sym.qualname}")
        for kind, names in sorted(kinds.items(), key=lambda kv: -len(kv[1]))[:4]:
            print(
                f"  {len(names):>4}  conexus {kind} unknown to the reference  e.g. {'; '.join(names[:3])}",
                file=out,
            )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the measurement; 0 when at least one language was measured."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.chunk_accuracy", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--mirrors", type=Path, default=Path("/work/.mirror"), help="bare git snapshots")
    parser.add_argument("--work", type=Path, required=True, help="where sampled files are written")
    parser.add_argument("--langs", nargs="+", choices=LANGUAGES, default=list(LANGUAGES))
    parser.add_argument("--files", type=int, default=60, help="files sampled per language")
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--examples", type=int, default=3, help="examples printed per miss cause")
    parser.add_argument("--details", type=Path, help="write every miss as a JSON line here")
    args = parser.parse_args(argv)
    settings = Settings()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"chunk_accuracy: chunker {CHUNKER_VERSION}, max_chunk_lines {settings.max_chunk_lines}, "
        f"--files {args.files} --seed {args.seed}; {platform.python_version()}, {os.cpu_count()} cores, "
        f"load {load:.2f} at start",
        file=sys.stdout,
    )
    results: dict[str, tuple[str, int, FileScore]] = {}
    for language in args.langs:
        why = available(language)
        if why is not None:
            print(f"{language}: skipped: {why}", file=sys.stderr)
            continue
        for repo in REPOS[language]:
            git_dir = _git_dir(args.mirrors, repo)
            if git_dir is None:
                print(
                    f"{language}: skipped: no snapshot of {repo.name} under {args.mirrors}", file=sys.stderr
                )
                continue
            t0 = time.perf_counter()
            root = args.work / "files" / f"{repo.snapshot}-{repo.commit[:10]}"
            paths = sample_files(git_dir, repo.commit, language, args.files, args.seed)
            write_files(git_dir, repo.commit, paths, root)
            score = measure_language(language, root, paths, args.work, settings)
            results[language if len(REPOS[language]) == 1 else f"{language}:{repo.name}"] = (
                repo.name,
                len(paths),
                score,
            )
            print(
                f"{language}: {len(paths)} files of {repo.name}, {time.perf_counter() - t0:.1f} s",
                file=sys.stderr,
            )
    if not results:
        print("nothing measured", file=sys.stderr)
        return 1
    print_report(results, sys.stdout, args.examples)
    print(f"\nload {os.getloadavg()[0]:.2f} at end", file=sys.stdout)
    if args.details:
        with args.details.open("w") as fh:
            for language, (_, _, score) in results.items():
                for m in score.misses:
                    fh.write(json.dumps({"language": language, "cause": m.cause, "path": m.path,
                                         "ref": asdict(m.ref), "detail": m.detail}) + "\n")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
