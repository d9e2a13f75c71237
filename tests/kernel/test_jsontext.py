"""JSON from outside: nesting measured without recursion, bounded before decoding."""

from __future__ import annotations

import pytest

from certseal.bounds import MAX_JSON_DEPTH
from certseal.errors import CertsealError, ErrorKind
from certseal.jsontext import json_depth, loads_bounded


@pytest.mark.parametrize(
    ("text", "depth"),
    [
        ("1", 0),
        ("[]", 1),
        ('{"a": [{"b": []}]}', 4),
        ('"[[[["', 0),  # brackets inside a string
        ('["\\\\", [1]]', 2),  # an escaped backslash ends before the quote
        ('["\\"[[", 1]', 1),  # an escaped quote does not end the string
        ("[" * 100_000 + "]" * 100_000, 100_000),  # no RecursionError measuring it
    ],
)
def test_json_depth(text, depth):
    assert json_depth(text) == depth


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        (b"[" * 100_000 + b"]" * 100_000, "nests 100000 levels"),
        (b"[" * (MAX_JSON_DEPTH + 1) + b"]" * (MAX_JSON_DEPTH + 1), "the limit is"),
        (b'{"code":"\xff\xfe"}', "is not UTF-8 (byte 9)"),
        (b'{"code": 1', "is not JSON"),
        (b"", "is not JSON"),
    ],
)
def test_what_is_refused_names_the_field(raw, says):
    with pytest.raises(CertsealError) as err:
        loads_bounded(raw, "body")
    assert (err.value.kind, err.value.field) == (ErrorKind.INVALID_ARGUMENT, "body")
    assert says in err.value.message


def test_json_within_the_bound_decodes():
    nested = "[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH
    assert loads_bounded(nested, "start") is not None
    assert loads_bounded(b'{"code": "LC1:\\u00e9"}', "body") == {"code": "LC1:é"}
