"""How many files the secret rules skip on real code, and what the content scan costs per MB.

``python -m bench.secrets_scan [TREE ...] [options]`` walks each TREE with the
indexer's own walker and reader (the default: the site-packages of this Python)
and prints, for the files the indexer would read:

* files and MB scanned, the CPU time of the content scan and its cost in ms per MB
  (the read is not counted: the indexer reads every file anyway);
* the files skipped by name and by content, by finding type, with a few paths each,
  so false positives can be judged by eye;

then one JSON line with the same figures.

    python -m bench.secrets_scan                                  # site-packages, shipped plugins
    python -m bench.secrets_scan /usr/lib/python3/dist-packages --list 50
    python -m bench.secrets_scan --plugins all                    # every regex plugin of detect-secrets
    python -m bench.secrets_scan --plugins KeywordDetector        # one more plugin on top of the set
"""

from __future__ import annotations

import argparse
import json
import os
import sysconfig
import time
from collections import Counter, defaultdict
from pathlib import Path

from conexus.models import SkippedFile
from conexus.sources.base import Document, DocumentRef
from conexus.sources.filesystem import FilesystemSource, WalkOptions
from conexus.sources.filesystem.secrets import CONTENT_PLUGINS, scan_text, secret_name


def _plugin_set(spec: str) -> tuple[str, ...]:
    if not spec:
        return CONTENT_PLUGINS
    if spec == "all":
        from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class
        from detect_secrets.plugins.base import RegexBasedDetector

        classes = get_mapping_from_secret_type_to_class().values()
        return tuple(sorted(c.__name__ for c in classes if issubclass(c, RegexBasedDetector)))
    return CONTENT_PLUGINS + tuple(p for p in spec.split(",") if p and p not in CONTENT_PLUGINS)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("trees", nargs="*", type=Path, help="folders to walk (default: site-packages)")
    parser.add_argument("--plugins", default="", help="'all', or extra plugin names (comma-separated)")
    parser.add_argument("--list", type=int, default=8, help="paths shown per finding type")
    args = parser.parse_args()
    trees = args.trees or [Path(sysconfig.get_paths()["purelib"])]
    plugins = _plugin_set(args.plugins)
    # Ignore files are the tree's own; the default excludes and the 1 MiB limit are the indexer's.
    options = WalkOptions(index_secrets=True)

    files = 0
    scanned_bytes = 0
    scan_s = 0.0
    by_name: dict[str, list[str]] = defaultdict(list)
    by_content: dict[str, list[str]] = defaultdict(list)
    other_skips: Counter[str] = Counter()
    for tree in trees:
        source = FilesystemSource(tree, options)
        for entry in source.scan():
            if isinstance(entry, SkippedFile):
                other_skips[entry.reason.value] += 1
                continue
            assert isinstance(entry, DocumentRef)
            files += 1
            what = secret_name(entry.path)
            if what is not None:
                by_name[what].append(f"{tree.name}/{entry.path}")
                continue
            doc = source.load(entry)
            if not isinstance(doc, Document):
                other_skips[doc.reason.value] += 1
                continue
            t = time.process_time()  # CPU time: the machine is often shared, wall time is noise
            findings = scan_text(doc.text, entry.path, plugins)
            scan_s += time.process_time() - t
            scanned_bytes += len(doc.text.encode("utf-8", "surrogatepass"))
            for kind in sorted({k for k, _ in findings}):
                by_content[kind].append(f"{tree.name}/{entry.path}")

    mb = scanned_bytes / 1e6
    n_name = sum(len(v) for v in by_name.values())
    n_content = len({p for v in by_content.values() for p in v})
    print(f"trees: {', '.join(str(t) for t in trees)}")
    print(f"load average at start: {os.getloadavg()[0]:.2f}")
    print(f"files listed: {files}; text files scanned: {mb:.1f} MB")
    print(f"content scan: {scan_s:.2f} s CPU = {1000 * scan_s / max(mb, 1e-9):.1f} ms per MB")
    print(f"skipped by name: {n_name} ({100 * n_name / max(files, 1):.2f}% of files)")
    for what, paths in sorted(by_name.items(), key=lambda kv: -len(kv[1])):
        print(f"  {len(paths):5d}  {what}: {', '.join(paths[: args.list])}")
    print(f"skipped by content: {n_content} ({100 * n_content / max(files, 1):.2f}% of files)")
    for kind, paths in sorted(by_content.items(), key=lambda kv: -len(kv[1])):
        print(f"  {len(paths):5d}  {kind}: {', '.join(paths[: args.list])}")
    print(
        json.dumps(
            {
                "files": files,
                "mb_scanned": round(mb, 2),
                "scan_s": round(scan_s, 3),
                "ms_per_mb": round(1000 * scan_s / max(mb, 1e-9), 2),
                "skipped_by_name": n_name,
                "skipped_by_content": n_content,
                "by_content_type": {k: len(v) for k, v in sorted(by_content.items())},
                "plugins": list(plugins),
            }
        )
    )


if __name__ == "__main__":
    main()
