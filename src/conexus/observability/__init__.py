"""Metrics, traces and logs: what Conexus tells the people who run it.

A low layer: the engine, the search stages, the indexer and the adapters
record into it; it imports nothing of theirs.
"""
