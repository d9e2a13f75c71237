"""atk-pii: a console password sent with an ``Idempotency-Key`` is kept beside its
argon2 hash as one unsalted SHA-256 of the request body (an outside review; strict
xfail asserting the correct behaviour)."""

from __future__ import annotations

import json
import secrets

from certseal.idempotency import fingerprint_bytes
from tests.console import test_accounts
from tests.console.test_accounts import add

# the account tests' fixtures: a console with an injected clock, a database session
console = test_accounts.console
db = test_accounts.db


async def test_a_keyed_password_change_leaves_no_fast_hash_of_the_password(console, db):
    """docs/operations.md, "Console accounts" and services/console/accounts.py: a
    password is kept only as its argon2 hash (slow, salted); "Retries and
    idempotency keys": the console's ``POST /api/accounts/{name}/password`` honours
    ``Idempotency-Key`` and stores "the request's fingerprint (SHA-256 over the
    method and the request)" for 72 hours (certseal.idempotency.fingerprint_bytes).
    Over an HTTP body that fingerprint is an unsalted, unkeyed SHA-256 of the new
    password's JSON, so anyone who reads the table or a backup (the secrets rule of
    README.md "Security") checks a candidate password at SHA-256 speed. Reproduce:
    change a password with the header, then compare
    ``sha256(b"POST /api/accounts/NAME/password\\0" + body)`` with the row."""
    app, _, client = await console()
    operator = await add(app, "operator")
    clerk = await add(app)
    await client.login(operator.name)
    key = f"pw-{secrets.token_hex(6)}"
    path = f"/api/accounts/{clerk.name}/password"
    password = f"guessable-{secrets.randbelow(10_000):04d}"
    body = json.dumps({"password": password}).encode()
    status, _, _ = await client.call(
        "POST",
        path,
        data=body,
        headers={"Idempotency-Key": key, "Content-Type": "application/json"},
    )
    assert status == 200
    stored = await db.fetchval(
        "select fingerprint from idempotent_requests where key = $1", key
    )
    assert stored is not None
    # the attacker's loop: one SHA-256 per guess finds it
    guesses = {
        fingerprint_bytes(
            f"POST {path}",
            json.dumps({"password": f"guessable-{n:04d}"}).encode(),
        ): n
        for n in range(10_000)
    }
    assert bytes(stored) not in guesses
