"""Property tests of what every adapter parses first: the operations' arguments and paging cursors."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conexus.api.errors import InvalidArgumentsError, describe
from conexus.api.operations import OPERATIONS, Operation
from conexus.api.paging import decode_cursor, encode_cursor
from conexus.errors import TooLargeError

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=50),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner, max_size=5),
    max_leaves=20,
)


def field_names(op: Operation[Any, Any]) -> list[str]:
    return sorted(op.input.model_fields)


@pytest.mark.parametrize("op", OPERATIONS, ids=lambda op: op.name)
@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_any_json_arguments_are_parsed_or_refused_with_a_client_error(
    op: Operation[Any, Any], data: st.DataObject
) -> None:
    # Mostly the operation's own field names, so values reach the validators behind them.
    keys = st.sampled_from(field_names(op)) | st.text(max_size=10)
    arguments = data.draw(st.dictionaries(keys, json_values, max_size=6))
    try:
        parsed = op.parse(arguments)
    except (InvalidArgumentsError, TooLargeError) as exc:
        failure = describe(exc, op.tool)
        assert 400 <= failure.status < 500
        assert failure.message and "Traceback" not in failure.message
    else:
        assert isinstance(parsed, op.input)
        assert op.parse(parsed.model_dump(mode="json")) == parsed  # a parsed request parses again the same


@settings(max_examples=300, deadline=None)
@given(data=st.dictionaries(st.text(max_size=10), json_values, max_size=6))
def test_a_cursor_round_trips_any_object(data: dict[str, Any]) -> None:
    assert decode_cursor(encode_cursor(data)) == data


@settings(max_examples=300, deadline=None)
@given(token=st.text(max_size=120))
def test_any_text_as_a_cursor_decodes_to_an_object_or_is_refused_with_value_error(token: str) -> None:
    try:
        decoded = decode_cursor(token)
    except ValueError:
        return
    assert isinstance(decoded, dict)
