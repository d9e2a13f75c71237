"""``licence issue --idempotency-key KEY`` issues once for the department's KEY, as
before f93fbbef: the key goes in IssueLicenceRequest's own ``idempotency_key`` field,
which the issuer keeps with the licence in the department's key space (the
``idempotency_keys`` table, shared with IssueLicences' per-item keys) for as long as
the licence, not only ``[idempotency] retention_hours`` (atk48 F2: sent as metadata
alone, the same key issued a second licence once its 72 hours had passed)."""

from __future__ import annotations

import asyncio
import re

from tests.conftest import run_certseal, start_certseal
from tests.issuer.test_interrupted_changes import (
    IDENTIFIER,
    _again,
    _issue_argv,
    _versions,
)


async def test_the_same_issue_key_after_its_retention_issues_nothing_new(
    config, issuer, dept, tmp_path
):
    argv, key = _issue_argv(dept), f"atk48-{dept.code}"
    first = await _again(config, tmp_path, issuer, argv, key)
    # the retention passes: the generic store's answer is gone (the purger's work)
    await issuer.pool.execute(
        "delete from idempotent_requests where caller = $1 and key = $2",
        f"dept:{dept.code}",
        key,
    )
    assert await _again(config, tmp_path, issuer, argv, key) == first
    assert await _versions(issuer, "type_code", dept.type_code) == 1


async def test_a_generated_issue_key_is_kept_with_the_licence(
    config, issuer, dept, tmp_path
):
    """Without --idempotency-key, the command's own key (cli-…) is the licence's,
    as before: a repeat with it is the same issuance even after the retention."""
    code, out = await run_certseal(
        config, tmp_path, *_issue_argv(dept), issuer_target=f"localhost:{issuer.port}"
    )
    assert code == 0, out
    identifier = IDENTIFIER.findall(out)[0]
    kept = await issuer.pool.fetchval(
        "select key from idempotency_keys where identifier = $1", identifier
    )
    assert kept is not None and re.fullmatch(r"cli-[0-9a-f]{32}", kept), kept


KEPT = (
    "IssueLicence was already done by an earlier call with this idempotency key: this "
    "is that call's answer, and nothing was changed again"
)


async def _issued(config, tmp_path, issuer, argv) -> tuple[str, str]:
    """``argv`` run: exit 0; (the identifier on stdout, stderr)."""
    process = await start_certseal(
        config, tmp_path, *argv, apart=True, issuer_target=f"localhost:{issuer.port}"
    )
    async with asyncio.timeout(120):
        out, err = await process.communicate()
    assert process.returncode == 0, (out + err).decode()
    return IDENTIFIER.findall(out.decode())[0], err.decode()


async def test_a_repeat_with_the_key_says_it_changed_nothing(
    config, issuer, dept, tmp_path
):
    """trial50: a repeat with ``--idempotency-key`` printed what the change printed,
    and read as a second issuance. The repeat's answer is the first call's, and it
    says so; the first call says nothing of the kind. So it does once the generic
    store's answer is gone and the issuer's own licence key answers (after
    ``[idempotency] retention_hours``)."""
    argv = [*_issue_argv(dept), "--idempotency-key", f"trial50-{dept.code}"]
    first, said_first = await _issued(config, tmp_path, issuer, argv)
    assert "already done" not in said_first, said_first
    again, said_again = await _issued(config, tmp_path, issuer, argv)
    assert (again, said_again.strip()) == (first, KEPT)
    await issuer.pool.execute(
        "delete from idempotent_requests where caller = $1 and key = $2",
        f"dept:{dept.code}",
        f"trial50-{dept.code}",
    )
    later, said_later = await _issued(config, tmp_path, issuer, argv)
    assert (later, said_later.strip()) == (first, KEPT)
    assert await _versions(issuer, "type_code", dept.type_code) == 1
    # another key is another issuance, said as a first one
    other = [*_issue_argv(dept), "--idempotency-key", f"trial50b-{dept.code}"]
    second, said_second = await _issued(config, tmp_path, issuer, other)
    assert second != first and "already done" not in said_second, said_second


async def test_a_change_answered_on_the_command_s_own_retry_is_not_said_unchanged(
    config, issuer, dept, monkeypatch, tmp_path
):
    """atk55: the issuance committed with its answer, then the answer's commit
    reply was lost (the database's connection dropped as it said COMMIT): the issuer
    answered UNAVAILABLE, "safe to retry with the same idempotency key", and the CLI's
    own retry was answered with the kept answer. That answer is this command's own
    change, made now: it must not be said "already done by an earlier call ... nothing
    was changed again" (a clerk would read the new licence as an old one)."""
    import asyncpg

    original = issuer.idempotency.answer
    lost = []

    async def answer(scope, response):
        stored = await original(scope, response)
        if not lost:  # committed; the reply of COMMIT never arrives
            lost.append(True)
            raise asyncpg.exceptions.ConnectionDoesNotExistError(
                "connection was closed in the middle of operation"
            )
        return stored

    monkeypatch.setattr(issuer.idempotency, "answer", answer)
    identifier, said = await _issued(config, tmp_path, issuer, _issue_argv(dept))
    assert lost, "the issuer was not asked"
    assert await _versions(issuer, "type_code", dept.type_code) == 1
    assert "already done" not in said, said
    assert identifier
