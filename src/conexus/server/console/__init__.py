"""The web console: a single-page app at ``/``, its assets under ``/console/assets/``.

The app (sources in ``console/`` at the repository root: Vite, Preact,
TypeScript) is built into ``static/`` beside this module and committed, so a
pip install serves it with no Node at run time; ``static/SOURCES.sha256`` is
the digest of the sources it was built from, and ``tests/console`` fails when
the sources changed without a rebuild (``docs/console.md``).

The console holds no data of its own: every view calls the REST API
(``/api/v1/<operation>``) and ``/metrics`` from the browser with the user's
API key as ``Authorization: Bearer``. So the page and its assets are served
without a key (:func:`is_console_path`, for the authentication middleware: a
browser cannot attach a bearer header to a page load), and everything they
fetch is behind the same authentication and scopes as any other client.

======================  ==================================================
``GET /``               the console's page
``GET /console/``       the same page (the path its assets are relative to)
``GET /console/assets`` the hashed JavaScript and CSS files
======================  ==================================================
"""

from __future__ import annotations

import os
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import PathLike, StaticFiles
from starlette.types import Scope

STATIC_DIR = Path(__file__).resolve().parent / "static"
CONSOLE_PREFIX = "/console"
ASSETS_PREFIX = CONSOLE_PREFIX + "/assets"
PAGE_PATHS = frozenset({"/", CONSOLE_PREFIX, CONSOLE_PREFIX + "/"})
# Asset names carry a hash of their content: a new build has new names, so they may be cached for good.
IMMUTABLE = "public, max-age=31536000, immutable"


def is_console_path(path: str) -> bool:
    """Whether ``path`` is the console's page or one of its assets (served without a key).

    A path with a ``..`` segment is never one: routing does not normalise paths,
    and an open door should not depend on the static files' own containment.
    """
    if path in PAGE_PATHS:
        return True
    return path.startswith(ASSETS_PREFIX + "/") and ".." not in path.split("/")


class _Assets(StaticFiles):
    """Starlette's static files, marked immutable (their names change with their content)."""

    def file_response(
        self, full_path: PathLike, stat_result: os.stat_result, scope: Scope, status_code: int = 200
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        if response.status_code == 200:
            response.headers["Cache-Control"] = IMMUTABLE
        return response


def console_routes(static_dir: Path = STATIC_DIR) -> list[BaseRoute]:
    """The console's page and asset routes, for :func:`conexus.server.http.app.create_app`.

    A checkout whose bundle was never built answers the page with 404 and how
    to build it, rather than failing at start-up: the API serves either way.
    """
    page = static_dir / "index.html"

    async def index(request: Request) -> Response:
        if not page.is_file():
            return PlainTextResponse(
                "The web console is not built: run `npm ci && npm run build` in console/ (docs/console.md).",
                status_code=404,
            )
        # The page names the current assets: always revalidate it, so a new build is picked up.
        return FileResponse(page, media_type="text/html", headers={"Cache-Control": "no-cache"})

    routes: list[BaseRoute] = [Route(path, index, methods=["GET", "HEAD"]) for path in sorted(PAGE_PATHS)]
    if (static_dir / "assets").is_dir():  # no folder, no mount: an unbuilt checkout answers 404, not 500
        routes.append(Mount(ASSETS_PREFIX, app=_Assets(directory=static_dir / "assets")))
    return routes
