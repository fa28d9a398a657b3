"""The filesystem source: the files under one root.

ignore.py   IgnoreMatcher, WalkOptions, the default excludes (which paths are worth indexing)
walk.py     the one walker (``walk``, ``files_under``): ignore rules, symlinks, one path per file
read.py     the one reader and the one binary rule, shared by indexing, freshness and every tool
watcher.py  TreeWatcher: watchfiles on a thread, batches filtered by the same rules
source.py   FilesystemSource, the ``Source`` the indexer and freshness use
"""

from conexus.sources.filesystem.ignore import IgnoreMatcher, WalkOptions
from conexus.sources.filesystem.source import FilesystemSource, walk_options
from conexus.sources.filesystem.walk import files_under

# ``walk`` the function is imported from its module: here the name is the module.
__all__ = ["FilesystemSource", "IgnoreMatcher", "WalkOptions", "files_under", "walk_options"]
