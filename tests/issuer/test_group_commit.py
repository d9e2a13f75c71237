"""Group commit of concurrent single issuances (issue 17): one statement for the
IssueLicence calls waiting at the same moment, with every guarantee of one call alone.

Each request is answered only once its licence is committed, with its own audit entry
and request id; a refused group statement is written again licence by licence, so
that one licence's failure is its own answer only; a failure the same for all (the
database gone) is every request's answer and commits nothing.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Sequence
from typing import Any

import asyncpg
import grpc
import pytest

from services.issuer.app import IssuerApp
from services.issuer.service.groupcommit import GroupCommit
from services.issuer.storage.rows import NewLicence
from tests.conftest import issue_request

N = 24


def _group(issuer: IssuerApp) -> GroupCommit:
    group: GroupCommit = issuer.service.issuance._group
    return group


async def _issue_all(dept, names: Sequence[str]) -> tuple[list[str], list[Any]]:
    """IssueLicence for each holder name at once; (request ids, replies or errors)."""
    ids = [f"gc-{secrets.token_hex(6)}" for _ in names]
    calls = [
        dept.clients.issuer.IssueLicence(
            issue_request(dept, name=name), metadata=(("x-request-id", rid),)
        )
        for name, rid in zip(names, ids, strict=True)
    ]
    return ids, list(await asyncio.gather(*calls, return_exceptions=True))


def _hold_first_statement(issuer: IssuerApp, monkeypatch, fail=None) -> list[int]:
    """Patch the store: the first statement waits until the others queued behind it,
    and ``fail(items)`` may raise instead of writing; returns the statements' sizes."""
    store = issuer.service.issuance._store
    real = store.insert_licences
    sizes: list[int] = []

    async def insert_licences(kid, now, items: Sequence[NewLicence], *rest):
        sizes.append(len(items))
        if len(sizes) == 1:
            await asyncio.sleep(0.3)
        if fail is not None:
            fail(items)
        return await real(kid, now, items, *rest)

    monkeypatch.setattr(store, "insert_licences", insert_licences)
    return sizes


async def _stored(issuer: IssuerApp, identifiers: Sequence[str]) -> dict[str, Any]:
    rows = await issuer.pool.fetch(
        """select l.identifier,
                  (select count(*) from outbox o where o.key = convert_to(l.lineage,
                   'UTF8')) as events,
                  (select array_agg(a.request_id) from audit_log a
                   where a.subject = l.identifier and a.action = 'licence.issue')
                   as request_ids
           from licences l where l.identifier = any($1::text[])""",
        list(identifiers),
    )
    return {r["identifier"]: r for r in rows}


async def test_concurrent_issuances_share_statements_each_committed_and_audited(
    issuer, dept, monkeypatch
):
    sizes = _hold_first_statement(issuer, monkeypatch)
    ids, replies = await _issue_all(dept, ["张三丰"] * N)
    assert not [r for r in replies if isinstance(r, BaseException)]
    identifiers = [r.licence.identifier for r in replies]
    assert len(set(identifiers)) == N
    assert sum(sizes) == N and len(sizes) < N and max(sizes) > 1  # grouped
    stored = await _stored(issuer, identifiers)
    assert set(stored) == set(identifiers)  # committed before answered
    for rid, identifier in zip(ids, identifiers, strict=True):
        assert stored[identifier]["events"] == 1  # its licence.issued in the outbox
        assert stored[identifier]["request_ids"] == [rid]  # its own audit entry


async def test_a_refused_group_is_written_licence_by_licence(issuer, dept, monkeypatch):
    """A value one licence brings refuses the group's statement: the others are
    issued, and only that request fails, its licence nowhere."""

    def fail(items: Sequence[NewLicence]) -> None:
        if any(i.record.holder_display_name.startswith("坏") for i in items):
            raise ValueError("a value PostgreSQL refuses")

    sizes = _hold_first_statement(issuer, monkeypatch, fail)
    names = ["张三丰"] * (N - 1) + ["坏人甲"]
    _, replies = await _issue_all(dept, names)
    bad = replies[-1]
    assert isinstance(bad, grpc.aio.AioRpcError)
    good = replies[:-1]
    assert not [r for r in good if isinstance(r, BaseException)]
    assert max(sizes) > 1 and sizes.count(1) >= 1  # a group refused, then alone
    identifiers = [r.licence.identifier for r in good]
    stored = await _stored(issuer, identifiers)
    assert set(stored) == set(identifiers)
    count = await issuer.pool.fetchval(
        "select count(*) from licences where issuer_code = $1 "
        "and holder_display_name like '坏%'",
        dept.code,
    )
    assert count == 0


async def test_the_database_gone_is_every_requests_answer(issuer, dept, monkeypatch):
    """A failure the same for all (the session lost): each request of the group is
    UNAVAILABLE, safe to retry, and none of their licences was written."""
    before = await issuer.pool.fetchval(
        "select count(*) from licences where issuer_code = $1", dept.code
    )

    def fail(items: Sequence[NewLicence]) -> None:
        raise asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed")

    sizes = _hold_first_statement(issuer, monkeypatch, fail)
    _, replies = await _issue_all(dept, ["张三丰"] * 8)
    assert max(sizes) > 1
    for reply in replies:
        assert isinstance(reply, grpc.aio.AioRpcError)
        assert reply.code() is grpc.StatusCode.UNAVAILABLE
    after = await issuer.pool.fetchval(
        "select count(*) from licences where issuer_code = $1", dept.code
    )
    assert after == before


@pytest.mark.parametrize("field", ["idempotency_key"])
async def test_a_request_with_a_key_keeps_its_own_transaction(
    issuer, dept, monkeypatch, field
):
    sizes = _hold_first_statement(issuer, monkeypatch)
    requests = [issue_request(dept) for _ in range(4)]
    for request in requests:
        setattr(request, field, secrets.token_hex(8))
    replies = await asyncio.gather(
        *(dept.clients.issuer.IssueLicence(r) for r in requests)
    )
    assert len({r.licence.identifier for r in replies}) == 4
    assert sizes == [1, 1, 1, 1]  # never grouped: the key is stored with its change
