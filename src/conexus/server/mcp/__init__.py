"""The MCP transport: tools from the operation table, file resources, stdio serving."""

from conexus.server.mcp.app import ConexusMCP
from conexus.server.mcp.stdio import serve_stdio

__all__ = ["ConexusMCP", "serve_stdio"]
