"""Rotating the key-encryption key: every wrapped key re-wrapped, or none."""

import copy
import datetime as dt
import secrets
from pathlib import Path

import pytest

from certseal.crypto import KeyWrapper
from certseal.errors import CertsealError
from certseal.secretfiles import KEK, read_secret_file
from certseal.storage.pool import create_pool, migrate_service
from certseal.text import shown_name
from services.feed.app import FeedApp
from services.issuer.app import IssuerApp
from services.seal.app import SealApp
from tests import conftest
from tests.conftest import run_certseal


@pytest.fixture
async def own_database(config, tmp_path):
    """A database of its own (re-wrapping the session's would break its issuer)."""
    return await conftest.own_database(config, tmp_path, "kek")


async def test_every_wrapped_key_moves_to_the_new_kek(own_database, tmp_path):
    cfg = own_database
    # the issuer's tables and the platform's presentation key, wrapped under the KEK
    issuer = IssuerApp(cfg, serve=False, background=False)
    await issuer.start()
    await issuer.stop()
    pool = await create_pool(cfg.database.dsn(), min_size=1, max_size=2)
    await migrate_service(pool, "seal", SealApp.migrations)
    await migrate_service(pool, "feed", FeedApp.migrations)
    old = KeyWrapper(read_secret_file(Path(cfg.secrets.kek_file), KEK))
    secret = secrets.token_bytes(32)
    async with pool.acquire() as conn:
        await conn.execute(
            "insert into feed_webhooks values ($1, 'app:x', 'https://x', '{}', '{}',"
            " '{}', $2, now(), 'operator:admin')",
            "hook",
            old.wrap("webhook:hook", secret),
        )
        await conn.execute(
            "insert into seal_makers values ('es256', 'ca', $1, '\\x00', $2, '\\x00',"
            " $3)",
            "makerkid",
            old.wrap("makerkid", b"maker private key"),
            dt.datetime.now(dt.UTC),
        )
    # a name with a line feed: said escaped, one line (reatk, as every file name)
    new_kek = tmp_path / "new\nkek"
    new_kek.write_bytes(secrets.token_bytes(32))
    new = KeyWrapper(new_kek.read_bytes())

    code, out = await run_certseal(
        cfg, tmp_path, "kek", "rewrap", "--new-kek", str(new_kek)
    )
    assert code == 0, out
    assert f"every key is now wrapped under {shown_name(new_kek)}: " in out, out
    assert "signing_keys: 1 re-wrapped" in out and "feed_webhooks: 1 re-wrapped" in out
    assert "seal_makers: 1 re-wrapped" in out and "seals: 0 re-wrapped" in out

    async with pool.acquire() as conn:
        webhook = await conn.fetchval("select wrapped_secret from feed_webhooks")
        maker = await conn.fetchval("select wrapped_key from seal_makers")
        kid, key = await conn.fetchrow(
            "select kid, wrapped_private_key from signing_keys"
        )
    assert new.unwrap_secret("webhook:hook", webhook) == secret
    assert new.unwrap_secret("makerkid", maker) == b"maker private key"
    assert len(new.unwrap_secret(kid, key)) > 0
    with pytest.raises(CertsealError, match="does not decrypt"):
        old.unwrap_secret(kid, key)

    # run again with the old KEK still configured: refused, and nothing changes
    code, out = await run_certseal(
        cfg, tmp_path, "kek", "rewrap", "--new-kek", str(new_kek)
    )
    assert code == 1 and "does not decrypt under the KEK" in out, out
    async with pool.acquire() as conn:
        assert (
            await conn.fetchval("select wrapped_secret from feed_webhooks") == webhook
        )
    await pool.close()

    # the issuer starts on the new KEK
    rotated = copy.deepcopy(cfg)
    rotated.secrets.kek_file = str(new_kek)
    issuer = IssuerApp(rotated, serve=False, background=False)
    await issuer.start()
    await issuer.stop()


async def test_a_new_kek_of_the_wrong_size_is_refused(own_database, tmp_path):
    short = tmp_path / "short"
    short.write_bytes(b"too short")
    code, out = await run_certseal(
        own_database, tmp_path, "kek", "rewrap", "--new-kek", str(short)
    )
    assert code == 2, out  # bad input to the command: its option is named
    assert f"error: new-kek: {short} must hold exactly 32 bytes, has 9" in out


async def test_refused_while_a_service_holding_the_kek_runs(own_database, tmp_path):
    """nu17: ``kek rewrap`` beside a running ``make run`` re-wrapped every key while
    the issuer, seal and feed still held the old KEK: the next issuance failed with
    "private key ... does not decrypt under the configured KEK", a key created
    meanwhile was wrapped under the old KEK, and a second re-wrap then found keys under
    both (neither KEK opened them all). Now it refuses while such a service is
    connected, naming it, and changes nothing."""
    cfg = own_database
    issuer = IssuerApp(cfg, serve=False, background=False)
    await issuer.start()
    new_kek = tmp_path / "new-kek"
    new_kek.write_bytes(secrets.token_bytes(32))
    old = KeyWrapper(read_secret_file(Path(cfg.secrets.kek_file), KEK))
    try:
        code, out = await run_certseal(
            cfg, tmp_path, "kek", "rewrap", "--new-kek", str(new_kek)
        )
        assert code == 1, out
        assert out.startswith("error: kek: issuer ("), out
        assert "stop the issuer, seal and feed services first" in out, out
        kid, key = await issuer.pool.fetchrow(
            "select kid, wrapped_private_key from signing_keys"
        )
        assert len(old.unwrap_secret(kid, key)) > 0  # still under the current KEK
    finally:
        await issuer.stop()

    # stopped: its sessions end and the re-wrap goes ahead
    code, out = await run_certseal(
        cfg, tmp_path, "kek", "rewrap", "--new-kek", str(new_kek)
    )
    assert code == 0 and "signing_keys: 1 re-wrapped" in out, out
