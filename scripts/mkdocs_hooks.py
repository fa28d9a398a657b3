"""MkDocs hooks of the documentation site (``hooks:`` in mkdocs.yml).

The pages under docs/ are read two ways: on the repository host, where a link such as
``[`deploy/`](../deploy/)`` opens that folder, and as the built site, which holds only docs/.
This hook turns each link to a repository file outside docs/ into the repository path it names,
in code (``deploy/``), so the site has no broken link and the Markdown stays as it is written.
Links to pages and files inside docs/ are left alone: MkDocs checks those (``--strict``).
"""

from __future__ import annotations

import posixpath
import re
from typing import Any

# [text](relative/target) with a target that is neither a URL, an anchor nor an absolute path.
_LINK = re.compile(r"\[(?P<text>[^\]\n]+)\]\((?P<target>(?![a-z][a-z0-9+.-]*:|#|/)[^)\s]+)\)")


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    """Replace links that leave docs/ by the repository path they point at."""
    page_dir = posixpath.dirname(page.file.src_uri)

    def replace(match: re.Match[str]) -> str:
        target = match.group("target").split("#", 1)[0]
        resolved = posixpath.normpath(posixpath.join(page_dir, target))
        if not resolved.startswith("../"):
            return match.group(0)
        path = resolved[len("../") :] + ("/" if target.endswith("/") else "")
        text = match.group("text")
        return text if path.rstrip("/") in text else f"{text} (`{path}`)"

    return _LINK.sub(replace, markdown)
