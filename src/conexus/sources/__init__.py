"""Where documents come from: the ``Source`` role (``base.py``) and its implementations.

base.py       Source, Document, DocumentRef, Stamp
filesystem/   the files under a root: walk + ignore rules + read + watch
"""
