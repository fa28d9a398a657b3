"""Conexus: a codebase-context engine for AI coding assistants.

Adapters (the CLI, the MCP server, the HTTP API) call :class:`conexus.engine.Engine`;
everything else is the engine's business.
"""

__version__ = "0.1.0"
