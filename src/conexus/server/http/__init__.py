"""The HTTP transport: the app factory (MCP + REST + health + OpenAPI) and its server."""

from conexus.server.http.app import create_app
from conexus.server.http.serve import serve_http

__all__ = ["create_app", "serve_http"]
