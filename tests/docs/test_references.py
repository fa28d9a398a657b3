"""The generated reference pages are what the code generates, and nothing the code offers is missing."""

from __future__ import annotations

import dataclasses
import importlib
import json
import tempfile
from pathlib import Path

import click
from starlette.routing import Mount

from conexus.api.operations import OPERATIONS
from conexus.config import Settings
from conexus.docs_reference import PYTHON_API, cli_commands, pages
from conexus.server.mcp.schema import input_schema
from conexus.server.settings import env_name, flag_name, settings_fields

DOCS = Path(__file__).resolve().parents[2] / "docs"
REGENERATE = "regenerate the references: python -m conexus.docs_reference docs"
#: Routes the HTTP app serves for a library's own use: the Swagger UI's OAuth2 callback page.
INTERNAL_ROUTES = {"/docs/oauth2-redirect"}


def _page(name: str) -> str:
    return (DOCS / "reference" / name).read_text(encoding="utf-8")


def test_every_committed_reference_page_is_what_the_generator_writes() -> None:
    for path, text in pages(DOCS).items():
        assert path.exists(), f"{path.relative_to(DOCS)} is missing; {REGENERATE}"
        assert path.read_text(encoding="utf-8") == text, f"{path.relative_to(DOCS)} is stale; {REGENERATE}"


def test_every_cli_command_and_option_has_its_entry_in_the_cli_reference() -> None:
    page = _page("cli.md")
    commands = list(cli_commands())
    assert len(commands) > 15  # the walk reaches the generated and the registered commands
    for ctx, command in commands:
        assert f"`{ctx.command_path}` {{#" in page, f"{ctx.command_path} is undocumented; {REGENERATE}"
        for param in command.params:
            if isinstance(param, click.Option) and not param.hidden:
                for flag in param.opts:
                    assert flag in page, f"{ctx.command_path} {flag} is undocumented; {REGENERATE}"


def test_every_mcp_tool_is_documented_with_its_scope_arguments_and_input_schema() -> None:
    page = _page("mcp-tools.md")
    for op in OPERATIONS:
        section = page.split(f"## `{op.tool}` {{#{op.tool}}}", 1)
        assert len(section) == 2, f"{op.tool} is undocumented; {REGENERATE}"
        body = section[1].split("\n## ", 1)[0]
        assert f"scope `{op.scope}`" in body
        schema = input_schema(op.input)
        for name in schema["properties"]:
            assert f"| `{name}` |" in body, f"{op.tool} argument {name} is undocumented"
        pretty = json.dumps(schema, indent=2, sort_keys=True)
        indented = "\n".join("    " + line for line in pretty.splitlines())
        assert indented in body, f"the input schema of {op.tool} is stale; {REGENERATE}"


def test_every_route_of_the_openapi_document_has_its_section_in_the_rest_reference() -> None:
    page = _page("rest-api.md")
    doc = json.loads((DOCS / "reference" / "openapi.json").read_text(encoding="utf-8"))
    for path, methods in doc["paths"].items():
        for method in methods:
            assert f"## `{method.upper()} {path}`" in page, f"{method.upper()} {path} is undocumented"
    for name in doc["components"]["schemas"]:
        assert f"### `{name}` {{#{name.lower()}}}" in page, f"model {name} is undocumented"


def test_every_route_the_http_app_serves_is_named_somewhere_in_the_site() -> None:
    from conexus.app.service import ConexusService
    from conexus.config import load_settings
    from conexus.server.http.app import create_app
    from conexus.server.mcp.app import ConexusMCP

    site = "\n".join(p.read_text(encoding="utf-8") for p in DOCS.rglob("*.md"))
    with tempfile.TemporaryDirectory() as home:
        service = ConexusService(lambda root: load_settings(root), Path(home), watch=False)
        app = create_app(service, ConexusMCP(service))
        paths = {
            route.path
            for route in app.router.routes
            if not isinstance(route, Mount) and getattr(route, "path", None)
        }
    assert {"/mcp", "/metrics", "/healthz", "/openapi.json"} <= paths
    for path in sorted(paths - INTERNAL_ROUTES):
        assert f"`{path}`" in site or f"{path}`" in site, f"route {path} is named on no page of docs/"


def test_every_setting_has_its_row_in_the_configuration_reference() -> None:
    page = _page("configuration.md")
    for f in settings_fields():
        row = next((line for line in page.splitlines() if line.startswith(f"| `{f.name}` |")), None)
        assert row is not None, f"server setting {f.name} is undocumented; {REGENERATE}"
        assert f"`{flag_name(f)}" in row and env_name(f.name) in row
    for field in dataclasses.fields(Settings):
        assert f"`{env_name(field.name)}`" in page, f"per-root setting {field.name} is undocumented"


def test_the_python_api_page_documents_the_engine_the_roles_and_the_errors_and_each_exists() -> None:
    page = _page("python-api.md")
    identifiers = [identifier for _, identifier, _ in PYTHON_API]
    for required in (
        "conexus.engine.Engine",
        "conexus.store.base.Store",
        "conexus.embedding.base.Embedder",
        "conexus.sources.base.Source",
        "conexus.errors",
    ):
        assert required in identifiers
    for identifier in identifiers:
        assert f"::: {identifier}\n" in page
        try:
            importlib.import_module(identifier)
        except ModuleNotFoundError:
            module, _, name = identifier.rpartition(".")
            assert hasattr(importlib.import_module(module), name), f"{identifier} no longer exists"
