"""What every field of every request must be, whatever its RPC: checked once, by the
server interceptor (``certseal.rpc``), before a handler sees the request.

Driven by the message's descriptor, so a new RPC or field is covered without a change
here. A request is refused with INVALID_ARGUMENT naming the first offending field
(``items[3].holder.name``, ``fields["class"]``) when:

- a text field (a string, a repeated string, a map key or value) holds a character no
  certseal text may hold (:func:`certseal.text.unfit_character`: control characters but
  tab and line breaks, lone surrogates, bidirectional overrides), except the fields
  of :data:`SCANNED_TEXT_FIELDS`, which carry what a scanner typed and are read by
  the codes' own normalisation (:func:`certseal.codes.normalise_code_text`);
- a ``google.protobuf.Timestamp`` lies outside what the type defines: seconds before
  0001-01-01 or after 9999-12-31, nanos outside 0 to 999,999,999;
- a ``double`` or ``float`` is NaN or infinite.

Field-specific rules (lengths, formats, ranges) stay with each service's conversions.
Pure: no I/O.
"""

from __future__ import annotations

import math
from typing import Any

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from certseal.errors import invalid
from certseal.text import unfit_character_problem
from certseal.timestamps import MAX_SECONDS, MIN_SECONDS

_STRING = FieldDescriptor.TYPE_STRING
_MESSAGE = FieldDescriptor.TYPE_MESSAGE
_FLOATS = {FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT}
_TIMESTAMP = "google.protobuf.Timestamp"
# Deeper than any certseal message: a bound on the walk, not a rule.
_MAX_DEPTH = 16

SCANNED_TEXT_FIELDS = frozenset(
    {
        "certseal.v1.VerifyCodeRequest.code",
        "certseal.v1.VerifyCodesRequest.codes",
        "certseal.v1.RedeemAuthorisationRequest.code",
    }
)
"""Fields holding a scanner's text as it was typed: a scanner gun frames its data in
control characters (STX ... ETX, a trailing EOT, GS or RS), which the codes'
normalisation removes around the code and refuses inside it (MALFORMED, or no
authorisation code), naming them; the universal rule would refuse the scan before it."""


def check_request(message: Message) -> None:
    """Raise INVALID_ARGUMENT for the first field that breaks a universal rule (see
    the module's docstring)."""
    _check(message, "", 0)


def _check(message: Message, prefix: str, depth: int) -> None:
    if message.DESCRIPTOR.full_name == _TIMESTAMP:
        _check_timestamp(message, prefix.rstrip("."))
        return
    if depth > _MAX_DEPTH:
        raise invalid(prefix.rstrip(".") or "request", "is nested too deeply")
    for field, value in message.ListFields():  # set fields only
        path = f"{prefix}{field.name}"
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            _check_map(field, value, path, depth)
        elif field.is_repeated:
            for i, item in enumerate(value):
                _check_value(field, item, f"{path}[{i}]", depth)
        else:
            _check_value(field, value, path, depth)


def _check_map(field: FieldDescriptor, entries: Any, path: str, depth: int) -> None:
    value_field = field.message_type.fields_by_name["value"]
    for key in entries:
        shown = repr(key[:40] + "…" if isinstance(key, str) and len(key) > 40 else key)
        if isinstance(key, str):
            _check_text(key, f"{path} key {shown}")
        _check_value(value_field, entries[key], f"{path}[{shown}]", depth)


def _check_value(field: FieldDescriptor, value: Any, path: str, depth: int) -> None:
    if field.type == _STRING:
        if field.full_name not in SCANNED_TEXT_FIELDS:
            _check_text(value, path)
    elif field.type == _MESSAGE:
        _check(value, f"{path}.", depth + 1)
    elif field.type in _FLOATS and not math.isfinite(value):
        raise invalid(path, f"{value} is not a finite number")


def _check_text(value: str, path: str) -> None:
    problem = unfit_character_problem(value, multiline=True)
    if problem is not None:
        raise invalid(path, problem)


def _check_timestamp(value: Any, path: str) -> None:
    seconds: int = value.seconds
    nanos: int = value.nanos
    if not 0 <= nanos <= 999_999_999:
        raise invalid(path, f"nanos {nanos} is outside 0 to 999,999,999")
    if not MIN_SECONDS <= seconds <= MAX_SECONDS:
        raise invalid(
            path, f"{seconds} seconds is outside 0001-01-01 to 9999-12-31 (UTC)"
        )
