"""The MCP server: Conexus' tools over stdio and streamable HTTP, kept fresh by a file watcher.

::

    serve_cli    the ``conexus serve`` command: logging, roots, transport
    mcp_app      tools, resources, error mapping, rendering (the MCP SDK's low-level Server)
    service      served roots: one Engine, one watcher and one index worker per root
    watcher      watchfiles, debounced and filtered with the walker's ignore rules
    connectors   extra filesystem roots and git history, persisted under the data home

Everything here is an adapter over :class:`conexus.engine.Engine`; nothing
touches the store except through it.
"""
