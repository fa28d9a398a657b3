"""Load tests of ``conexus serve --http`` with Locust (``python -m load``; see docs/reliability.md)."""
