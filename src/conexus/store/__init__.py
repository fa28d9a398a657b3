"""Storage backends: the embedded SQLite store and its HNSW vector index."""
