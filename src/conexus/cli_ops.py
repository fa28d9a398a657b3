"""CLI commands from the operation table, and the one way every CLI command runs an operation.

:func:`run_operation` asks a running ``conexus serve --http`` for the root over
its REST API when one is announced in the data home (no model load, no index
open: milliseconds), and otherwise runs the operation in this process over a
one-root service with no watcher. Either way the result is the operation's
output model as JSON, so ``--json`` prints the same document the REST API and
the MCP tool return.

:func:`command_for` builds a click command from an operation's input model:
the first required text field is the argument, every other field an option.
"""

from __future__ import annotations

import json
import os
import sys
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from conexus.errors import QueryError

if TYPE_CHECKING:  # pydantic is imported only to build commands: a query sent to a server skips it
    from pydantic import BaseModel
    from pydantic.fields import FieldInfo

# CLI spellings of a few fields (the rest become --field-name).
OPTION_NAMES = {"paths": "--path", "languages": "--lang", "kinds": "--kind"}


def run_operation(
    name: str,
    arguments: dict[str, Any],
    root: Path,
    overrides: dict[str, Any],
    *,
    local: bool = False,
    takes_root: bool = True,
) -> dict[str, Any]:
    """Run operation ``name`` for ``root`` and return its output as JSON.

    ``takes_root`` says whether the operation's input names a root (connectors do not): a
    server may serve several roots, so the request names the one the CLI resolved.

    Raises:
        ConexusError: what the operation raised (or the server answered).
    """
    from conexus.config import Settings, load_settings

    home = load_settings(None, overrides=overrides).home
    if not local:
        from conexus.app.discovery import server_for
        from conexus.app.remote import ServerUnavailableError, call_remote
        from conexus.errors import AuthenticationError

        server = server_for(home, root)
        if server is not None:
            token = os.environ.get("CONEXUS_API_KEY") or None
            try:
                remote_args = {**arguments, "root": str(root)} if takes_root else arguments
                return call_remote(server.url, name, remote_args, token=token)
            except ServerUnavailableError:
                pass  # it stopped since it announced itself: answer locally
            except AuthenticationError:
                # The server needs a key and none was given: this user reads the data home
                # anyway, so answer locally. A key that was given and refused is an error.
                if token:
                    raise
    from conexus.api.operations import BY_NAME, Call
    from conexus.app.service import ConexusService

    def settings_for(path: Path) -> Settings:
        return load_settings(path, overrides=overrides)

    service = ConexusService(settings_for, home, watch=False, auto_index=False)
    service.add_root(root)
    service.start()
    try:
        result = BY_NAME[name].execute(Call(service, transport="cli"), arguments)
    finally:
        service.close(timeout=30.0)
    data: dict[str, Any] = result.model_dump(mode="json")
    return data


def _plain(annotation: Any) -> tuple[Any, bool]:
    """The annotation without ``| None``, and whether None was allowed."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
    return annotation, False


def _is_text(annotation: Any) -> bool:
    plain, _ = _plain(annotation)
    return plain is str or typing.get_origin(plain) is typing.Literal


def positional_field(model: type[BaseModel]) -> str | None:
    """The field a command takes as its argument: the first required text field."""
    for name, info in model.model_fields.items():
        if info.is_required() and _is_text(info.annotation):
            return name
    return None


def _click_type(annotation: Any) -> Any:
    plain, _ = _plain(annotation)
    if typing.get_origin(plain) is typing.Literal:
        return click.Choice([str(v) for v in typing.get_args(plain)])
    if plain in (int, float, str):
        return plain
    return str  # nested objects and mappings are given as JSON


def _is_json(annotation: Any) -> bool:
    from pydantic import BaseModel

    plain, _ = _plain(annotation)
    return (isinstance(plain, type) and (issubclass(plain, BaseModel) or plain is dict)) or (
        typing.get_origin(plain) is dict
    )


def _option(name: str, info: FieldInfo) -> click.Option:
    help_text = info.description or ""
    flag = OPTION_NAMES.get(name, "--" + name.replace("_", "-"))
    plain, _ = _plain(info.annotation)
    if plain is bool:
        return click.Option([f"{flag}/--no-{flag[2:]}", name], default=None, help=help_text)
    if typing.get_origin(plain) is list:
        return click.Option([flag, name], multiple=True, help=help_text + " (repeatable)")
    if _is_json(info.annotation):
        return click.Option([flag, name], default=None, help=help_text + " (a JSON object)")
    return click.Option([flag, name], type=_click_type(info.annotation), default=None, help=help_text)


def arguments_from(model: type[BaseModel], values: dict[str, Any]) -> dict[str, Any]:
    """The operation arguments for the options a user gave (unset ones are left to the defaults).

    Raises:
        QueryError: a JSON option that is not a JSON object.
    """
    out: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        value = values.get(name)
        if value is None or value == ():
            continue
        if isinstance(value, tuple):
            value = list(value)
        elif _is_json(info.annotation) and isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError as exc:
                raise QueryError(f"--{name.replace('_', '-')} must be a JSON object: {exc}") from exc
        elif value == "-" and name == positional_field(model) and _plain(info.annotation)[0] is str:
            value = sys.stdin.read()
        out[name] = value
    return out


def command_for(
    op_name: str,
    cli_name: str,
    model: type[BaseModel],
    help_text: str,
    invoke: Callable[[click.Context, str, dict[str, Any], str | None, bool, bool], None],
) -> click.Command:
    """A click command for an operation: argument and options from ``model``, plus --root/--json/--local."""
    params: list[click.Parameter] = []
    positional = positional_field(model)
    for name, info in model.model_fields.items():
        if name == "root":
            continue
        if name == positional:
            params.append(click.Argument([name], type=_click_type(info.annotation)))
        else:
            params.append(_option(name, info))
    params += [
        click.Option(
            ["--root", "root_opt"],
            type=click.Path(),
            help="Indexed root (default: nearest indexed ancestor).",
        ),
        click.Option(["--json", "as_json"], is_flag=True, help="Print the result as JSON."),
        click.Option(
            ["--local"], is_flag=True, help="Run in this process even when a server serves the root."
        ),
    ]

    @click.pass_context
    def callback(
        ctx: click.Context, /, root_opt: str | None, as_json: bool, local: bool, **values: Any
    ) -> None:
        invoke(ctx, op_name, arguments_from(model, values), root_opt, as_json, local)

    doc = help_text.split(". ")[0].rstrip(".") + "."
    if positional is not None and _plain(model.model_fields[positional].annotation)[0] is str:
        doc += f" {positional.upper()} may be - to read it from standard input."
    return click.Command(cli_name, callback=callback, params=params, help=doc, short_help=doc.split(".")[0])
