"""atk34b B1: 9c9ae81 makes every CertsealError *message* printable at its making,
but not its *field*, which ``str(exc)`` and so the gRPC status's details lead
with. A field path may hold a caller's map key (IssueLicence's ``fields.<name>``),
so a key with a newline, an escape sequence or a right-to-left override reaches the
reply as it is."""

from __future__ import annotations

import pytest

from certseal.errors import CertsealError, ErrorKind, status_details
from certseal.v1 import licence_pb2
from services.issuer.convert import field_values

HOSTILE = "a\u202eb\n\x1b[2Jc"


def test_a_field_naming_a_caller_s_map_key_is_printable_in_the_details() -> None:
    with pytest.raises(CertsealError) as caught:
        field_values({HOSTILE: licence_pb2.FieldValue()})
    details = status_details(caught.value)
    assert details.isprintable(), repr(details)
    assert details.endswith(": has no value")


def test_the_details_are_printable_and_printable_twice_is_the_same() -> None:
    """held: the details quoting the same key are escaped once, not twice, when a
    service passes a refusal on."""
    first = status_details(CertsealError(ErrorKind.INVALID_ARGUMENT, f"x {HOSTILE}"))
    again = status_details(CertsealError(ErrorKind.INVALID_ARGUMENT, first))
    assert first.isprintable() and again == first


def test_a_refusal_s_why_records_a_character_of_the_caller_s_once() -> None:
    import datetime as dt

    from certseal import audit

    typed = f"no seal named {HOSTILE}"
    exc = CertsealError(ErrorKind.NOT_FOUND, typed, field="seal")
    row = audit.refusal(dt.datetime(2026, 12, 5, tzinfo=dt.UTC), "dept:x", "a", "s",
                        exc.message)  # fmt: skip
    # what the audit log writes of the same text when it is given to it raw
    assert row.details["why"] == audit.printable(typed)


def test_a_caller_s_typed_backslash_stays_told_apart_in_the_audit_log() -> None:
    """held: audit.printable doubles a typed backslash, escapes a control once."""
    from certseal import audit

    assert audit.printable("a\\u202eb") == "a\\\\u202eb"
    assert audit.printable("a\u202eb") == "a\\u202eb"
