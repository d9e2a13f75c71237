"""Holes in the offsets of the session's real broker (certseal/holes.py):
producers appending to one partition at once while a replay guard's feed tails it.
The embedded broker can hand a reader a record before an earlier one is readable
(measured: 2 holes in 12,000 records from four producers); the feed must still
store every claim, and a claims reader must never decide past a hole (CI lost a
race of two groups on one code to it: the later claim won)."""

from __future__ import annotations

import asyncio
import datetime as dt

from aiokafka.admin import NewTopic

from tests.verifier.test_replay import feed_on, record, until, use

PRODUCERS = 6
EACH = 800


async def test_every_claim_appended_at_once_by_many_producers_is_stored(
    stack, tmp_path
):
    topic = f"usage-holes-{dt.datetime.now().strftime('%H%M%S%f')}"
    settings = stack.config.kafka.settings("certseal-tests")
    admin = settings.admin()
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, 1, 1)])
    finally:
        await admin.close()
    feed = feed_on(stack, topic, tmp_path / "guard", {})
    feed.start()
    producers = [settings.producer() for _ in range(PRODUCERS)]
    await asyncio.gather(*(p.start() for p in producers))
    expires = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=600)
    nonces: list[str] = []
    last = -1

    async def append(i: int, producer) -> None:
        nonlocal last
        for j in range(EACH):
            nonce = f"{i:04x}{j:060x}"
            nonces.append(nonce)
            rec = record(use(i * EACH + j, nonce=nonce, expires=expires))
            sent = await (await producer.send(topic, rec.value, key=b"one"))
            last = max(last, sent.offset)

    try:
        await until(feed.caught_up.is_set)
        await asyncio.gather(*(append(i, p) for i, p in enumerate(producers)))
        await until(lambda: feed.applied.get(0, -1) >= last, within=60)
        missing = [n for n in nonces if not feed.store.seen(n)]
        assert len(nonces) == PRODUCERS * EACH
        assert missing == [], f"{len(missing)} claims never stored"
        assert feed.holes.gone_past == 0  # every hole filled: none gone past
    finally:
        await asyncio.gather(*(p.stop() for p in producers))
        await asyncio.to_thread(feed.stop)
