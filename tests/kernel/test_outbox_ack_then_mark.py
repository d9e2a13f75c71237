"""atk6: the relay marks a round's acknowledged rows in the next round's read. With
a fake database and broker: a connection lost between the broker's ack and the mark,
and a partition whose send fails, lose nothing and mark nothing unacknowledged."""

import asyncio
import datetime as dt

import pytest

from certseal.metrics import Metrics
from certseal.storage.outbox import OutboxRelay


class Db:
    def __init__(self, n):
        now = dt.datetime.now(dt.UTC)
        self.rows = {
            i: {
                "id": i,
                "topic": "t",
                "key": b"k%d" % i,
                "value": b"v",
                "headers": {},
                "created_at": now,
                "published": False,
            }
            for i in range(1, n + 1)
        }


class Conn:
    def __init__(self, db, *, lose_on_fetch=False):
        self.db, self.lose = db, lose_on_fetch

    async def fetch(self, query, limit, acked=None):
        if self.lose:
            raise ConnectionResetError("connection lost")
        if acked is not None:
            for i in acked:
                self.db.rows[i]["published"] = True
        skip = set(acked or ())
        return [
            dict(r)
            for i, r in sorted(self.db.rows.items())
            if not r["published"] and i not in skip
        ][:limit]

    async def execute(self, query, ids):
        for i in ids:
            self.db.rows[i]["published"] = True


class Batch:
    def __init__(self):
        self.n = 0

    def append(self, **kw):
        self.n += 1
        return object()


class Producer:
    def __init__(self, fail_partitions=()):
        self.fail = set(fail_partitions)
        self.sent = []

    async def start(self): ...
    async def stop(self): ...
    async def partitions_for(self, topic):
        return {0, 1}

    def create_batch(self):
        return Batch()

    async def send_batch(self, batch, topic, partition):
        fut = asyncio.get_running_loop().create_future()
        if partition in self.fail:
            fut.set_exception(RuntimeError("broker down"))
        else:
            self.sent.append((partition, batch.n))
            fut.set_result(None)
        return fut


def relay(producer):
    r = OutboxRelay(dsn="x", producer_factory=lambda: producer, metrics=Metrics())

    async def nothing(conn):
        return None

    r._refresh_gauges = nothing
    return r


async def test_connection_lost_between_ack_and_mark_loses_nothing():
    db, producer = Db(6), Producer()
    r = relay(producer)
    assert await r.work_once(Conn(db)) == 6
    assert not any(row["published"] for row in db.rows.values())  # marked next round
    with pytest.raises(ConnectionResetError):
        await r.work_once(Conn(db, lose_on_fetch=True))
    assert await r.work_once(Conn(db)) == 0  # the new session marks them
    assert all(row["published"] for row in db.rows.values())


async def test_a_failed_partition_is_never_marked():
    db, producer = Db(20), Producer(fail_partitions={1})
    r = relay(producer)
    with pytest.raises(RuntimeError):
        await r.work_once(Conn(db))
    producer.fail.clear()
    await r.work_once(Conn(db))
    part = r._partitioner
    failed = [i for i, row in db.rows.items() if part(row["key"], [0, 1], [0, 1]) == 1]
    assert failed and not any(db.rows[i]["published"] for i in failed)
    await r.work_once(Conn(db))
    assert all(row["published"] for row in db.rows.values())
