"""The outbox relay against the real PostgreSQL and broker: a commit's NOTIFY wakes it
(no wait for the poll interval), every row reaches the topic once, and the rows the
broker acknowledged are marked published (by the next round's read, or on stop).

Each test uses a database and a topic of its own (the session issuer's relay holds the
advisory lock of the session database)."""

from __future__ import annotations

import asyncio
import secrets

from aiokafka.admin import NewTopic

from certseal.events import OutboxRecord
from certseal.metrics import Metrics
from certseal.storage.outbox import OutboxRelay, unpublished_rows, write_outbox
from certseal.storage.pool import connect
from tests.conftest import EventWatcher, migrated_database
from tests.verifier.test_replay import until


async def fresh_database(config) -> str:
    """A new, migrated database on the session's server; its DSN."""
    return await migrated_database(config, "relay")


async def fresh_topic(stack) -> str:
    name = f"relay-test-{secrets.token_hex(4)}"
    admin = stack.config.kafka.settings("certseal-tests").admin()
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, 3, 1)])
    finally:
        await admin.close()
    return name


async def commit_rows(dsn: str, topic: str, keys: list[bytes]) -> None:
    """Insert outbox rows in one committed transaction (the NOTIFY goes at commit)."""
    conn = await connect(dsn)
    try:
        async with conn.transaction():
            await write_outbox(
                conn,
                [
                    OutboxRecord(topic, k, b"value-" + k, {"ce_id": k.decode()})
                    for k in keys
                ],
            )
    finally:
        await conn.close()


async def unpublished(dsn: str) -> int:
    conn = await connect(dsn)
    try:
        return await unpublished_rows(conn)
    finally:
        await conn.close()


def relay(stack, dsn: str) -> OutboxRelay:
    kafka = stack.config.kafka.settings("certseal-tests-relay")
    return OutboxRelay(
        dsn=dsn,
        producer_factory=kafka.producer,
        metrics=Metrics(families=frozenset({"outbox"})),
        poll_interval_s=3600.0,  # only a NOTIFY can wake it within the test
        linger_s=0.0,
    )


def keys_on(records, prefix: bytes) -> list[bytes]:
    return [r.key for r in records if r.key.startswith(prefix)]


async def test_a_commit_wakes_the_idle_relay_and_every_row_is_published_once(
    stack, config
):
    dsn = await fresh_database(config)
    topic = await fresh_topic(stack)
    worker = relay(stack, dsn)
    idle = asyncio.Event()
    housekeeping = worker.on_idle

    async def on_idle(conn) -> None:  # called just before the relay waits
        await housekeeping(conn)
        rows = await conn.fetchval("select count(*) from outbox")
        if rows and not await unpublished_rows(conn):  # idle, every row stored
            idle.set()

    worker.on_idle = on_idle  # type: ignore[method-assign]
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:
        async with EventWatcher(stack, topic) as watcher:
            await commit_rows(dsn, topic, [b"a-1"])
            await watcher.wait_for(lambda rs: keys_on(rs, b"a-") == [b"a-1"])
            # the round after a-1's marks it and finds nothing; the relay then waits
            # on a one-hour poll: only the NOTIFY of the next commit can bring it
            # back (an event set by that idle, whenever it comes: never cleared, so
            # an idle before this line is not missed)
            await asyncio.wait_for(idle.wait(), 30)
            assert await unpublished(dsn) == 0
            await commit_rows(dsn, topic, [b"b-1", b"b-2", b"b-3"])
            records = await watcher.wait_for(
                lambda rs: len(keys_on(rs, b"b-")) == 3, within=30
            )
            assert sorted(keys_on(records, b"b-")) == [b"b-1", b"b-2", b"b-3"]
            # counted once the relay has the broker's acknowledgement, which a
            # consumer can see the records before (CI, a busy machine: 1 of 4)
            published = worker._metrics.events_published._value
            await until(lambda: published.get() >= 4)
            assert published.get() == 4
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
        await worker.close()
    # acknowledged rows are marked: by the next read, or on stop
    assert await unpublished(dsn) == 0


async def test_rows_acknowledged_just_before_stop_are_marked(stack, config):
    dsn = await fresh_database(config)
    topic = await fresh_topic(stack)
    worker = relay(stack, dsn)
    conn = await connect(dsn)
    try:
        await commit_rows(dsn, topic, [b"c-1", b"c-2"])
        assert await worker.work_once(conn) == 2
        assert await unpublished(dsn) == 2  # acknowledged, mark deferred
        await worker.on_stop(conn)
        assert await unpublished(dsn) == 0
    finally:
        await conn.close()
        await worker.close()


async def test_the_leading_relay_commits_its_marks_asynchronously_and_writers_do_not(
    stack, config
):
    """The relay's session marks rows with synchronous_commit off (a lost mark is a
    resend, which consumers drop); a writer's session keeps the server's setting."""
    dsn = await fresh_database(config)
    worker = relay(stack, dsn)
    settings: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    housekeeping = worker.on_idle

    async def on_idle(conn) -> None:
        await housekeeping(conn)
        if not settings.done():
            settings.set_result(await conn.fetchval("show synchronous_commit"))

    worker.on_idle = on_idle  # type: ignore[method-assign]
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:
        assert await asyncio.wait_for(settings, 30) == "off"
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
        await worker.close()
    writer = await connect(dsn)
    try:
        assert await writer.fetchval("show synchronous_commit") == "on"
    finally:
        await writer.close()


async def test_a_following_relay_reports_the_backlog_the_leader_leaves(stack, config):
    """While another session leads (here: a session holding the relay's lock and
    relaying nothing), a follower's backlog gauges say what waits in the outbox, not
    0: the process scraped may be one whose relay does not lead (atk8)."""
    dsn = await fresh_database(config)
    await commit_rows(dsn, "no-such-topic", [b"a", b"b", b"c"])
    leader = await connect(dsn)
    stop = asyncio.Event()
    follower = relay(stack, dsn)
    follower._poll_interval_s = 0.05  # a follower polls for the lock
    assert await leader.fetchval("select pg_try_advisory_lock($1)", follower.lock_id)
    task = asyncio.create_task(follower.run(stop))
    try:
        gauge = follower._metrics.outbox_backlog
        async with asyncio.timeout(30):
            while gauge._value.get() != 3:  # noqa: ASYNC110 - a gauge, no event
                await asyncio.sleep(0.05)
        assert follower._metrics.relay_lag.collect()[0].samples[0].value > 0.0
        assert await unpublished(dsn) == 3  # it reported them, it did not relay them
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
        await leader.close()
        await follower.close()


async def test_the_leading_gauge_says_which_relay_publishes(stack, config):
    """One relay leads for every service's rows, and only its published count moves
    (trial51: the console's per-service counts): ``certseal_outbox_relay_leading``
    is 0 while a relay stands by, 1 once it holds the lock, and 0 after its stop."""
    dsn = await fresh_database(config)
    leader = await connect(dsn)
    stop = asyncio.Event()
    follower = relay(stack, dsn)
    follower._poll_interval_s = 0.05
    gauge = follower._metrics.relay_leading
    took_lock: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    polled = asyncio.Queue[None]()
    on_leader, on_follower = follower.on_leader, follower.on_follower

    async def leads(conn) -> None:
        took_lock.set_result(None)
        await on_leader(conn)

    async def follows(conn) -> None:
        polled.put_nowait(None)
        await on_follower(conn)

    follower.on_leader = leads  # type: ignore[method-assign]
    follower.on_follower = follows  # type: ignore[method-assign]
    assert await leader.fetchval("select pg_try_advisory_lock($1)", follower.lock_id)
    task = asyncio.create_task(follower.run(stop))
    try:
        for _ in range(3):  # it asked for the lock three times and stood by
            await asyncio.wait_for(polled.get(), 30)
        assert gauge._value.get() == 0 and not took_lock.done()
        await leader.close()  # the lock goes with the leader's session
        await asyncio.wait_for(took_lock, 30)
        assert gauge._value.get() == 1
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
        await follower.close()
    assert gauge._value.get() == 0
