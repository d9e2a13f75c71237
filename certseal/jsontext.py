"""JSON from outside, decoded within bounds (RFC 8259).

Python's decoder recurses once per nested array or object: a few thousand ``[`` end in
RecursionError, which no caller means to answer. :func:`loads_bounded` measures the
nesting first, in one pass without recursion, and refuses text nested deeper than
:data:`~certseal.bounds.MAX_JSON_DEPTH`, bytes that are not UTF-8 and text that is not
JSON, all as INVALID_ARGUMENT naming the field. Pure: no I/O.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from certseal.bounds import MAX_JSON_DEPTH
from certseal.errors import invalid

# what changes the nesting or the string state: brackets, quotes, escapes
_STRUCTURE = re.compile(r'[\[\]{}"\\]')


def json_depth(text: str) -> int:
    """The deepest nesting of arrays and objects in ``text`` (0 for a scalar), brackets
    inside strings not counted. Linear in ``len(text)``; no recursion. Text that is
    not JSON gets some number: the decoder refuses it afterwards."""
    depth = deepest = 0
    in_string = False
    skip = -1  # the position of the character a backslash escapes
    for found in _STRUCTURE.finditer(text):
        position, char = found.start(), found.group()
        if position == skip:
            continue
        if in_string:
            if char == "\\":
                skip = position + 1
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def loads_bounded(
    raw: bytes | str, field: str, *, max_depth: int = MAX_JSON_DEPTH
) -> Any:
    """The value of JSON text ``raw`` (UTF-8 bytes or a str), its size bounded by the
    caller first.

    Raises INVALID_ARGUMENT (``field``) for bytes that are not UTF-8, arrays and
    objects nested deeper than ``max_depth``, and text that is not JSON (RFC 8259).
    """
    if isinstance(raw, bytes | bytearray):
        try:
            text = bytes(raw).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise invalid(field, f"is not UTF-8 (byte {exc.start})") from None
    else:
        text = raw
    depth = json_depth(text)
    if depth > max_depth:
        raise invalid(
            field,
            f"nests {depth} levels of arrays or objects; the limit is {max_depth}",
        )
    try:
        value = json.loads(text, parse_constant=_not_rfc8259, parse_float=_finite)
    except (ValueError, RecursionError):  # JSONDecodeError is a ValueError
        raise invalid(field, "is not JSON") from None
    if _SURROGATE.search(json.dumps(value, ensure_ascii=False)):
        raise invalid(field, "holds a lone surrogate (an escaped \\ud800-\\udfff)")
    return value


_SURROGATE = re.compile("[\ud800-\udfff]")


def _not_rfc8259(name: str) -> Any:
    raise ValueError(f"{name} is not JSON (RFC 8259)")


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"{text} is out of range")
    return number


def json_kind(value: object) -> str:
    """What a decoded JSON value is, as a message names it ("a number", "true or
    false", "a list", "an object", "null", "text"): a field of the wrong type is told
    so, not taken for a missing one."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return "text"
