"""How both backends keep a file's content: zlib-compressed text, imports as JSON.

A content row is keyed by the file's content hash and language
(:class:`~conexus.store.base.FileContent`), so the files and trees holding the
same content share it. The text is stored compressed (zlib level 6: about a
quarter of the UTF-8 size on source code; ``python -m bench.stored_contents``
measures it on an index), and imports as a JSON array of ``[line, end_line,
specifier, names, level]``: a replica reads both, never the checkout.
"""

from __future__ import annotations

import json
import zlib

from conexus.models import ImportRef

#: zlib's default level: level 9 saves about 1% more here at twice the compression time.
COMPRESSION_LEVEL = 6


def pack_text(text: str) -> bytes:
    """The stored form of a file's text."""
    return zlib.compress(text.encode("utf-8", "surrogatepass"), COMPRESSION_LEVEL)


def unpack_text(data: bytes) -> str:
    """A file's text from its stored form."""
    return zlib.decompress(bytes(data)).decode("utf-8", "surrogatepass")


def pack_imports(imports: tuple[ImportRef, ...]) -> str:
    """The stored form of a content's imports."""
    return json.dumps([[r.line, r.end_line, r.specifier, list(r.names), r.level] for r in imports])


def unpack_imports(data: str) -> tuple[ImportRef, ...]:
    """A content's imports from their stored form."""
    return tuple(
        ImportRef(int(line), int(end), str(spec), tuple(str(n) for n in names), int(level))
        for line, end, spec, names, level in json.loads(data)
    )
