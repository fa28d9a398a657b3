"""The multi-root service: served roots, their index jobs and watchers, and the connectors.

Shared by every adapter (CLI, MCP, REST) and by anything that runs Conexus as a
long-lived process; it sits above :mod:`conexus.engine` and below the adapters.
"""
