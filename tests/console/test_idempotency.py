"""Idempotency keys on the console's account admin API (issue 21): the HTTP header
``Idempotency-Key`` on ``POST /api/accounts`` and ``POST /api/accounts/{name}/{change}``
gives one change (one audited row) and the same answer twice; the same key with
another body is 409 naming the key; an error answer is not stored."""

from __future__ import annotations

import secrets

from tests.conftest import fresh_uscc
from tests.console import test_accounts
from tests.console.test_accounts import PASSWORD, add, audit, fresh_name

# the account tests' fixtures: a console with an injected clock, a database session
console = test_accounts.console
db = test_accounts.db

HEADER = "Idempotency-Key"


def _account(name: str, department: str) -> dict:
    return {
        "name": name,
        "department": department,
        "role": "clerk",
        "password": PASSWORD,
    }


async def test_adding_an_account_twice_with_one_key_adds_it_once(console, db):
    app, _, client = await console()
    operator = await add(app, "operator")
    await client.login(operator.name)
    name, department = fresh_name(), fresh_uscc()
    key = {HEADER: f"add-{secrets.token_hex(6)}"}
    first = await client.call(
        "POST", "/api/accounts", json=_account(name, department), headers=key
    )
    again = await client.call(
        "POST", "/api/accounts", json=_account(name, department), headers=key
    )
    assert first[0] == again[0] == 201
    assert first[1] == again[1]
    assert [a for _, a, _, _ in await audit(db, name)] == ["console.account.add"]

    other = await client.call(
        "POST", "/api/accounts", json=_account(fresh_name(), department), headers=key
    )
    assert other[0] == 409
    assert key[HEADER] in other[1]["error"] and other[1]["field"] == "idempotency_key"


async def test_a_password_change_retried_with_its_key_is_made_once(console, db):
    app, _, client = await console()
    operator = await add(app, "operator")
    clerk = await add(app)
    await client.login(operator.name)
    key = {HEADER: f"pw-{secrets.token_hex(6)}"}
    path = f"/api/accounts/{clerk.name}/password"
    for _ in range(2):
        status, body, _ = await client.call(
            "POST", path, json={"password": "another-password-2"}, headers=key
        )
        assert status == 200 and body["name"] == clerk.name
    changes = [a for _, a, _, _ in await audit(db, clerk.name)]
    assert changes.count("console.account.password") == 1
    status, _, _ = await client.call(
        "POST", path, json={"password": "a-third-password-3"}, headers=key
    )
    assert status == 409

    # the contrast: without a key, the same change is made (and audited) again
    for _ in range(2):
        await client.call("POST", path, json={"password": "another-password-2"})
    changes = [a for _, a, _, _ in await audit(db, clerk.name)]
    assert changes.count("console.account.password") == 3


async def test_an_error_answer_is_not_stored(console, db):
    app, _, client = await console()
    operator = await add(app, "operator")
    await client.login(operator.name)
    key = {HEADER: f"bad-{secrets.token_hex(6)}"}
    path = f"/api/accounts/{fresh_name()}/disable"
    assert (await client.call("POST", path, headers=key))[0] == 404
    assert (
        await db.fetchval(
            "select count(*) from idempotent_requests where key = $1", key[HEADER]
        )
        == 0
    )
    status, _, _ = await client.call(
        "POST",
        "/api/accounts",
        json=_account("", fresh_uscc()),
        headers={HEADER: "with space"},
    )
    assert status == 400
