"""atk74b: RemoveWebhook racing a replay of the same webhook's parked deliveries.

A replay records each delivery it made (``feed_webhook_replays``, whose rows reference
the webhook). RemoveWebhook deleted the replay records and then the webhook without
locking the webhook first: a replay record written in between made the removal fail
with a foreign-key violation (INTERNAL); and a replay that went on after the removal
failed the same way when it recorded a delivery or its end (INTERNAL, its audit lost).
"""

from __future__ import annotations

import asyncio
import datetime as dt

from certseal.audit import AuditEntry
from certseal.v1 import feed_pb2 as pb
from tests.feed.test_service import channel_as, feed_app, receiver
from tests.feed.test_webhook_admin import _admin, _entitled_hook

__all__ = ["channel_as", "feed_app", "receiver"]  # fixtures


async def test_a_removal_racing_a_replay_record_removes_the_webhook(
    channel_as, feed_app, receiver
):
    _, _, name = await _entitled_hook(channel_as, receiver)
    async with feed_app.pool.acquire() as conn:
        replaying = conn.transaction()
        await replaying.start()  # a replay recording a delivery, not committed yet
        await conn.execute(
            "insert into feed_webhook_replays values ($1, 7, now())", name
        )
        removing = asyncio.create_task(
            _admin(channel_as, "RemoveWebhook", pb.RemoveWebhookRequest(name=name))
        )
        await asyncio.sleep(1.0)  # the removal reaches the webhook row meanwhile
        await replaying.commit()
    removed = await asyncio.wait_for(removing, 30)
    assert removed.name == name
    left = await feed_app.pool.fetchval(
        "select count(*) from feed_webhooks where name = $1", name
    )
    assert left == 0


async def test_a_replay_that_ends_after_the_removal_is_no_internal_error(
    channel_as, feed_app, receiver
):
    _, _, name = await _entitled_hook(channel_as, receiver)
    await _admin(channel_as, "RemoveWebhook", pb.RemoveWebhookRequest(name=name))
    now = dt.datetime.now(dt.UTC)
    await feed_app.store.mark_replayed(name, 3, now)  # a delivery made meanwhile
    audit = AuditEntry(now, "operator:admin", "feed.replay", name, details={})
    await feed_app.store.end_replay(name, [4], at=now, audit=[audit])
    written = await feed_app.pool.fetchval(
        "select count(*) from audit_log where action = 'feed.replay' and subject = $1",
        name,
    )
    assert written == 1  # the replay's audit is kept
    assert not await feed_app.pool.fetchval(
        "select count(*) from feed_webhook_replays where webhook = $1", name
    )
