"""Keys are kept for ``[idempotency] retention_hours`` and then purged; a database made
by the previous main (no ``idempotent_requests`` table) upgrades in place (issue 21)."""

from __future__ import annotations

import datetime as dt
import secrets
import shutil

import pytest

from certseal.errors import CertsealError, ErrorKind
from certseal.storage.idempotency import IdempotencyStore
from certseal.storage.pool import KERNEL_MIGRATIONS, connect, create_pool, migrate
from certseal.v1 import issuer_pb2 as pb
from services.issuer.storage import MIGRATIONS
from tests.conftest import issue_request, own_database
from tests.issuer.upgrades import applied_by_an_issuer

KEY = "idempotency-key"


async def test_an_expired_key_is_a_new_request_and_is_purged(issuer, dept):
    key = f"old-{secrets.token_hex(6)}"
    request = issue_request(dept)
    first = await dept.clients.issuer.IssueLicence(request, metadata=((KEY, key),))
    # the key was first used longer ago than the retention (72 h by default)
    await issuer.pool.execute(
        "update idempotent_requests set created_at = now() - interval '73 hours' "
        "where caller = $1 and key = $2",
        f"dept:{dept.code}",
        key,
    )
    again = await dept.clients.issuer.IssueLicence(request, metadata=((KEY, key),))
    assert again.licence.identifier != first.licence.identifier

    other = f"old-{secrets.token_hex(6)}"
    await dept.clients.issuer.IssueLicence(
        issue_request(dept), metadata=((KEY, other),)
    )
    await issuer.pool.execute(
        "update idempotent_requests set created_at = now() - interval '73 hours' "
        "where caller = $1 and key = $2",
        f"dept:{dept.code}",
        other,
    )
    store = IdempotencyStore(
        issuer.pool, protector=None, retention=dt.timedelta(hours=72)
    )
    conn = await connect(issuer.config.database.dsn())
    try:
        assert await store.purge(conn) >= 1
    finally:
        await conn.close()
    keys = {
        r["key"]
        for r in await issuer.pool.fetch(
            "select key from idempotent_requests where caller = $1",
            f"dept:{dept.code}",
        )
    }
    assert other not in keys
    assert key in keys  # reused after expiry: kept from its new first use


async def test_a_database_of_the_previous_main_upgrades_in_place(
    issuer, config, tmp_path
):
    """Kernel migrations up to 0002 and the issuer's of the previous main; then this
    version starts on it: ``idempotent_requests`` appears, the earlier per-item
    ``idempotency_keys`` rows stay and still answer their keys."""
    cfg = await own_database(config, tmp_path, "idem_upgrade")
    kernel = tmp_path / "kernel"
    kernel.mkdir()
    for path in KERNEL_MIGRATIONS.glob("000[12]_*.sql"):
        shutil.copy(path, kernel)
    pool = await create_pool(cfg.database.dsn(), min_size=1, max_size=2)
    try:
        await migrate(pool, [("kernel", kernel), ("issuer", MIGRATIONS)])
        assert await pool.fetchval("select to_regclass('idempotent_requests')") is None
        await pool.execute(
            "insert into idempotency_keys values ('91350100M000100Y43', 'k-1', "
            "'\\x00', '1.2.156.3005.2.x', now())"
        )
        applied = await applied_by_an_issuer(cfg, pool, "kernel")
        assert "0003_idempotent_requests.sql" in applied
        assert await pool.fetchval("select count(*) from idempotent_requests") == 0
        assert await pool.fetchval("select count(*) from idempotency_keys") == 1
    finally:
        await pool.close()


async def test_answers_kept_by_the_previous_main_still_answer_after_the_upgrade(
    issuer, config, tmp_path
):
    """Kernel migrations up to 0004 (answers kept in clear) with a kept answer; then
    this version starts on it (0005_idempotent_sealed.sql): the row is marked not
    sealed and still answers its key with the bytes kept, and a new answer is kept
    sealed beside it."""
    from certseal.idempotency import Claim
    from certseal.process import read_answers_key

    cfg = await own_database(config, tmp_path, "idem_sealed_upgrade")
    kernel = tmp_path / "kernel"
    kernel.mkdir()
    for path in KERNEL_MIGRATIONS.glob("000[1-4]_*.sql"):
        shutil.copy(path, kernel)
    pool = await create_pool(cfg.database.dsn(), min_size=1, max_size=2)
    try:
        await migrate(pool, [("kernel", kernel), ("issuer", MIGRATIONS)])
        old = Claim("dept:X", "k-old", "/m", b"\x01" * 32)
        await pool.execute(
            "insert into idempotent_requests values ($1, $2, $3, $4, $5, now())",
            old.caller,
            old.key,
            old.method,
            old.fingerprint,
            b"the answer as it was sent",
        )
        applied = await applied_by_an_issuer(cfg, pool, "kernel")
        assert "0005_idempotent_sealed.sql" in applied
        store = IdempotencyStore(pool, protector=read_answers_key(cfg))
        assert await store.lookup(old) == b"the answer as it was sent"
        with pytest.raises(CertsealError) as err:
            await store.lookup(Claim("dept:X", "k-old", "/m", b"\x02" * 32))
        assert err.value.kind is ErrorKind.ALREADY_EXISTS
        new = Claim("dept:X", "k-new", "/m", b"\x03" * 32)
        async with store.scope(new) as scope:
            assert await store.answer(scope, b"a new answer") == b"a new answer"
        row = await pool.fetchrow(
            "select * from idempotent_requests where key = 'k-new'"
        )
        assert row["sealed"] and b"a new answer" not in bytes(row["response"])
        assert await store.lookup(new) == b"a new answer"
    finally:
        await pool.close()


async def test_the_batch_item_keys_and_the_rpc_keys_are_one_space(dept):
    """A key an IssueLicences item used answers a later IssueLicence with that key
    (and request) with the same licence: the per-item keys of a batch and the keys of
    the RPCs share the caller's key space."""
    key = f"item-{secrets.token_hex(6)}"
    item = issue_request(dept, idempotency_key=key)
    batch = await dept.clients.issuer.IssueLicences(
        pb.IssueLicencesRequest(items=[item])
    )
    single = await dept.clients.issuer.IssueLicence(item)
    assert single.licence.identifier == batch.results[0].licence.identifier
