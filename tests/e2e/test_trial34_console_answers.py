"""Found trying the README's walk-through as a new user (trial 34): what the counter
console answers, checked without a stack (the handlers' checks come before any call).

- docs/console-api.md, "Times are RFC 3339 in UTC (`2026-12-02T09:30:00Z`)": every
  answer's time is written so (`verified_at`, `redeemed_at`, `expires_at` of a
  redemption) except the sign-in's `expires_at`, `2026-12-05T10:22:17.564800+00:00`.
- A `code` that is no text (`{"code": 123, ...}` to /api/verify) is answered "nothing
  was scanned", and an authorisation code over its 64 characters "give the
  authorisation code (AU-…)": neither says what is wrong with what was sent.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from certseal.errors import CertsealError
from services.console.access import Access
from services.console.accounts import (
    Account,
    Role,
    account_name,
    department_of,
    new_password,
)
from services.console.handlers import ConsoleHandlers
from services.console.requests import BadRequest
from services.console.service import SignedIn


class _Request:
    """What the handlers read of a JSON request before they call any service."""

    content_type = "application/json"

    def __init__(self, body: dict[str, Any]):
        self._bytes = json.dumps(body).encode()

    async def read(self) -> bytes:
        return self._bytes


def _handlers() -> ConsoleHandlers:
    return ConsoleHandlers(
        verifier=None,  # type: ignore[arg-type]
        seal=None,  # type: ignore[arg-type]
        redemption=None,  # type: ignore[arg-type]
        collector=None,  # type: ignore[arg-type]
        verifier_target="127.0.0.1:1",
        purposes=["窗口办事"],
        operator_page=False,
        clock=lambda: dt.datetime(2026, 12, 5, 10, tzinfo=dt.UTC),
    )


def _account() -> Account:
    return Account("li.si", "91350200M00020000L", Role.CLERK, has_password=True)


def test_sign_in_expires_at_is_written_like_every_other_console_time() -> None:
    access = Access(accounts=None, session_absolute_s=36000)  # type: ignore[arg-type]
    account = _account()
    until = dt.datetime(2026, 12, 5, 20, 0, 0, tzinfo=dt.UTC)
    answer = access._signed_in(SignedIn("token", account, until))
    assert isinstance(answer.body, bytes)
    assert json.loads(answer.body)["expires_at"] == "2026-12-05T20:00:00Z"


async def test_a_verify_code_that_is_no_text_is_named_as_such() -> None:
    with pytest.raises(BadRequest) as refused:
        await _handlers().verify_code(
            _Request({"code": 123, "purpose": "窗口办事"})  # type: ignore[arg-type]
        )
    assert refused.value.field == "code"
    assert "nothing was scanned" not in refused.value.message
    assert "text" in refused.value.message or "string" in refused.value.message


async def test_a_redeem_code_too_long_says_it_is_too_long() -> None:
    with pytest.raises(BadRequest) as refused:
        await _handlers().redeem(
            _Request({"code": "AU-" + "A" * 70})  # type: ignore[arg-type]
        )
    assert refused.value.field == "code"
    assert "64" in refused.value.message


@pytest.mark.parametrize(
    "value,kind",
    [(123, "a number"), (True, "true or false"), ([], "a list"), ({}, "an object")],
)
async def test_every_console_text_field_sent_as_another_json_value_says_so(
    value: object, kind: str
) -> None:
    """The kind: a JSON field of another type is told as what it is, never as a
    field left out: the scan's code and purpose, the redemption's code, an account's
    name, department and password."""
    handlers = _handlers()
    for call, body, field in [
        (handlers.verify_code, {"code": value, "purpose": "窗口办事"}, "code"),
        (handlers.verify_code, {"code": "LC1:X", "purpose": value}, "purpose"),
        (handlers.redeem, {"code": value}, "code"),
    ]:
        with pytest.raises(BadRequest) as refused:
            await call(_Request(body))  # type: ignore[arg-type]
        assert (refused.value.field, refused.value.message) == (
            field,
            f"must be text, not {kind}",
        )
    for check, field in [
        (account_name, "name"),
        (department_of, "department"),
        (new_password, "password"),
    ]:
        with pytest.raises(CertsealError) as invalid:
            check(value)
        assert (invalid.value.field, invalid.value.message) == (
            field,
            f"must be text, not {kind}",
        )
    with pytest.raises(CertsealError) as missing:
        account_name(None)
    assert missing.value.message == "is required: the account name"
