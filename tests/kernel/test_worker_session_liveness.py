"""A leader-elected worker whose PostgreSQL goes silent lets go of leadership.

A connection cut without a reset (a failover that moves the address, a cable pulled,
a host powered off) leaves the worker's statement waiting for the kernel to give up on
its retransmissions, about 15 minutes, and the server's session (with the advisory lock
that makes the worker lead) alive until its keepalive gives up, two hours by default
(atk54's note). Here a TCP front to the session's server stops relaying without closing
either side, which is what the worker sees of such a cut: it must say it no longer leads
within its answer bound, and another worker must lead once the server has ended the
silent session.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg
import pytest

from certseal.storage.pool import WATCH_THE_CLIENT, connect, create_pool
from certseal.storage.worker import NotifiedWorker
from tests.conftest import log_lines


class SilentFront:
    """A TCP front (127.0.0.1) to the server of ``dsn``: relays both ways until
    :meth:`go_silent`, then holds both sides open and relays nothing (a half-open
    connection, from the client's side); :meth:`cut` then closes the server's side,
    as the server does once its keepalive finds the client gone."""

    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self._silent = asyncio.Event()
        self._never = asyncio.Event()
        self._upstream: list[asyncio.StreamWriter] = []
        self._clients: list[asyncio.StreamWriter] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None

    async def start(self) -> str:
        """Listen; the DSN of the same database through the front."""
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        parts = urlsplit(self._dsn)
        query = [(k, v) for k, v in parse_qsl(parts.query) if k not in ("host", "port")]
        query.append(("sslmode", "disable"))
        userinfo = parts.netloc.rpartition("@")[0]
        netloc = f"{userinfo}@127.0.0.1:{port}" if userinfo else f"127.0.0.1:{port}"
        return urlunsplit((parts.scheme, netloc, parts.path, urlencode(query), ""))

    async def _open_upstream(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        parts = urlsplit(self._dsn)
        query = dict(parse_qsl(parts.query))
        host = query.get("host") or parts.hostname or "localhost"
        port = int(query.get("port") or parts.port or 5432)
        if host.startswith("/"):  # pgserver: a Unix socket folder
            return await asyncio.open_unix_connection(f"{host}/.s.PGSQL.{port}")
        return await asyncio.open_connection(host, port)

    async def _serve(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self._clients.append(writer)
        up_reader, up_writer = await self._open_upstream()
        self._upstream.append(up_writer)
        for source, sink in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.create_task(self._pump(source, sink))
            self._tasks.add(task)

    async def _pump(
        self, source: asyncio.StreamReader, sink: asyncio.StreamWriter
    ) -> None:
        with contextlib.suppress(ConnectionError):
            while data := await source.read(65536):
                if self._silent.is_set():
                    await self._never.wait()  # hold it: no answer, no close
                sink.write(data)
                await sink.drain()
        sink.close()

    def go_silent(self) -> None:
        self._silent.set()

    def cut(self) -> None:
        for up in self._upstream:
            up.close()

    async def close(self) -> None:
        self.cut()
        for client in self._clients:
            client.close()
        for task in self._tasks:
            task.cancel()
        if self._server is not None:
            self._server.close()


class Leader(NotifiedWorker):
    """A worker that does nothing but lead, and says when it leads."""

    name = "liveness-test"

    def __init__(self, *, dsn: str, lock_id: int, answer_within_s: float) -> None:
        super().__init__(dsn=dsn, poll_interval_s=0.05)
        self.lock_id = lock_id
        self.answer_within_s = answer_within_s
        self.changes: asyncio.Queue[bool] = asyncio.Queue()

        self.polls: asyncio.Queue[None] = asyncio.Queue()

    async def work_once(self, conn: asyncpg.Connection) -> int:
        await conn.fetchval("select 1")
        return 0

    async def on_follower(self, conn: asyncpg.Connection) -> None:
        self.polls.put_nowait(None)

    def leading(self, now: bool) -> None:
        self.changes.put_nowait(now)


@pytest.fixture
def said():
    with log_lines("certseal.storage.worker") as lines:
        yield lines


async def test_a_leader_whose_server_goes_silent_lets_go_and_another_leads(
    config, said
):
    dsn = config.database.dsn()
    front = SilentFront(dsn)
    fronted = await front.start()
    lock_id = secrets.randbits(62)
    first = Leader(dsn=fronted, lock_id=lock_id, answer_within_s=0.5)
    second = Leader(dsn=dsn, lock_id=lock_id, answer_within_s=30)
    stop = asyncio.Event()
    tasks = [asyncio.create_task(first.run(stop))]
    try:
        assert await asyncio.wait_for(first.changes.get(), 30) is True
        tasks.append(asyncio.create_task(second.run(stop)))
        front.go_silent()
        assert await asyncio.wait_for(first.changes.get(), 10) is False
        line = await asyncio.wait_for(said.line_with("liveness-test"), 10)
        assert line == "liveness-test: no answer within 0.5 s; reconnecting"
        # The server still holds the silent session, and with it the lock.
        assert second.changes.empty()
        probe = await connect(dsn)
        try:
            assert not await probe.fetchval("select pg_try_advisory_lock($1)", lock_id)
            front.cut()  # the server's keepalive ends the session: the lock is free
            assert await asyncio.wait_for(second.changes.get(), 30) is True
        finally:
            await probe.close()
    finally:
        stop.set()
        await front.close()
        await asyncio.wait_for(asyncio.gather(*tasks), 30)


async def test_a_worker_that_cannot_reach_its_server_gives_up_on_the_start(config):
    """The session's start is bounded too: a front that never answers (a server
    gone before the connection) ends the attempt within the bound."""
    front = SilentFront(config.database.dsn())
    fronted = await front.start()
    front.go_silent()
    try:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(connect(fronted, answer_within_s=0.3), 10)
    finally:
        await front.close()


@pytest.mark.parametrize("how", ["one connection", "a pool"])
async def test_every_session_asks_the_server_to_watch_its_client(config, how):
    """The server ends a session whose client vanished (PostgreSQL's TCP keepalive and
    user timeout), so a dead leader's lock does not outlive it by hours. Over the test
    server's Unix socket the values read as 0, so the client's request is what is
    checked: the settings came from the client, with these values."""
    dsn = config.database.dsn()
    if how == "one connection":
        conn = await connect(dsn)
        close = conn.close
    else:
        pool = await create_pool(dsn, min_size=1, max_size=1, application_name="x")
        conn = await pool.acquire()

        async def close() -> None:
            await pool.release(conn)
            await pool.close()

    try:
        rows = await conn.fetch(
            "select name, source from pg_settings where name = any($1)",
            list(WATCH_THE_CLIENT),
        )
    finally:
        await close()
    assert {r["name"]: r["source"] for r in rows} == dict.fromkeys(
        WATCH_THE_CLIENT, "client"
    )


async def test_a_process_that_stops_takes_no_lead_and_its_leader_works_on(config):
    """trial53: an issuer told to stop took the relay's and the sealer's lead from a
    process that had stopped first, and logged it. A worker told to stand down (its
    process stopping) no longer asks for the lock: it ends without leading once the
    lock is free; one that leads works on until its stop."""
    dsn = config.database.dsn()
    lock_id = secrets.randbits(62)
    holder = await connect(dsn)
    assert await holder.fetchval("select pg_try_advisory_lock($1)", lock_id)
    follower = Leader(dsn=dsn, lock_id=lock_id, answer_within_s=30)
    stop = asyncio.Event()
    following = asyncio.create_task(follower.run(stop))
    try:
        await asyncio.wait_for(follower.polls.get(), 30)  # it stands by
        follower.stand_down()
        await holder.close()  # the lock is free
        await asyncio.wait_for(following, 30)  # ended, stop not set
        said = [follower.changes.get_nowait() for _ in range(follower.changes.qsize())]
        assert True not in said and not stop.is_set()  # never led
        # a leader told to stand down leads on until its stop
        leader = Leader(dsn=dsn, lock_id=lock_id, answer_within_s=30)
        leading = asyncio.create_task(leader.run(stop))
        assert await asyncio.wait_for(leader.changes.get(), 30) is True
        leader.stand_down()
        probe = await connect(dsn)
        try:
            assert not await probe.fetchval("select pg_try_advisory_lock($1)", lock_id)
        finally:
            await probe.close()
        assert not leading.done() and leader.changes.empty()
        stop.set()
        await asyncio.wait_for(leading, 30)
        assert await leader.changes.get() is False
    finally:
        stop.set()
        following.cancel()
