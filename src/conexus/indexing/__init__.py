"""Indexing: walking a repository, chunking files, keeping the index fresh."""
