"""atk34b D1-D2: 610c606 tells a console JSON field of another type as what it is
(``must be text, not a number``) over the scan, the redemption, the name, the
department and the password, but ``POST /api/accounts``'s ``role`` and
``certificate`` are read as before: a missing or null role is answered ``None is
not a role`` (Python's name for JSON's null, and not that it is required), true is
``True``; a certificate given as a number is answered as if its text were too long
or unprintable. These are the messages ``error_response`` sends as they are."""

from __future__ import annotations

from typing import Any

import pytest

from certseal.errors import CertsealError
from services.console.accounts import certificate_name, role_of


def _message(read: Any, value: object) -> str:
    with pytest.raises(CertsealError) as caught:
        read(value)
    return caught.value.message


def test_a_missing_role_is_required_and_another_type_is_named_as_json_names_it() -> (
    None
):
    assert _message(role_of, None).startswith("is required"), "missing"
    assert "None" not in _message(role_of, None)
    assert _message(role_of, True) == "must be text, not true or false"
    assert _message(role_of, 3) == "must be text, not a number"
    assert _message(role_of, ["clerk"]) == "must be text, not a list"


@pytest.mark.parametrize(
    ("value", "kind"),
    [(7, "a number"), (True, "true or false"), ([], "a list"), ({}, "an object")],
)
def test_a_certificate_of_another_type_is_told_as_what_it_is(
    value: object, kind: str
) -> None:
    assert _message(certificate_name, value) == f"must be text, not {kind}"


def test_a_role_and_a_certificate_of_text() -> None:
    """held: the roles, an unknown one named, a long certificate name refused."""
    assert role_of("clerk").value == "clerk"
    assert "'boss' is not a role" in _message(role_of, "boss")
    assert certificate_name(None) == "" and certificate_name("app:x") == "app:x"
    assert "at most 200" in _message(certificate_name, "x" * 201)
