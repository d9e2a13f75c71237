"""Leader-elected background loops woken by PostgreSQL LISTEN/NOTIFY.

Owns :class:`NotifiedWorker`, the loop the outbox relay and the audit sealer run on.

Several service replicas may run the same loop; a session advisory lock on a dedicated
connection makes exactly one of them work at a time (the others stand by), which is what
keeps the outbox relay's per-key order and the audit chain's single writer.

Leadership must move when the leader's connection dies silently (a cut network, a
failover without a reset), not after the kernel gives up on it: every statement of the
worker's session is answered within :attr:`NotifiedWorker.answer_within_s` or the session
is dropped (and ``leading(False)`` said), and the server ends a session whose client went
silent (:data:`certseal.storage.pool.WATCH_THE_CLIENT`), which frees the lock for another
process.
"""

from __future__ import annotations

import abc
import asyncio
import logging
import random

import asyncpg

from certseal.storage.pool import connect

log = logging.getLogger(__name__)


class NotifiedWorker(abc.ABC):
    """Runs :meth:`work_once` until it finds nothing, then waits for a NOTIFY or a poll."""

    name: str = "worker"
    channel: str = ""
    lock_id: int = 0
    answer_within_s: float = 30.0
    """Seconds PostgreSQL has to answer the session's start and each statement; a
    worker's statements are a bounded round's (a read, a flush, a purge of at most
    10,000 rows), so a wait this long means a server gone or blocked: the session is
    dropped and made again, with backoff."""

    def __init__(self, *, dsn: str, poll_interval_s: float = 1.0):
        self._dsn = dsn
        self._poll_interval_s = poll_interval_s
        self._wake = asyncio.Event()
        self._standing_down = False

    def stand_down(self) -> None:
        """The process is stopping: a worker that does not lead no longer asks for
        the lock (trial53: an issuer told to stop took the lead from a process that
        had stopped first); a leader works on until ``stop``."""
        self._standing_down = True

    @abc.abstractmethod
    async def work_once(self, conn: asyncpg.Connection) -> int:
        """Do one unit of work; return how many items it handled (0 = idle)."""

    def more_to_do(self, handled: int) -> bool:
        """Whether to run :meth:`work_once` again at once after it handled
        ``handled`` items (default: whenever it handled any); otherwise the worker
        idles until a NOTIFY or the poll."""
        return handled > 0

    async def on_leader(self, conn: asyncpg.Connection) -> None:
        """Called once the session leads, before the first :meth:`work_once`
        (session settings)."""

    async def on_follower(self, conn: asyncpg.Connection) -> None:
        """Called at each poll while another session leads (what a follower may
        still report)."""

    def leading(self, now: bool) -> None:
        """Called with True once this session holds the lock, with False once it
        no longer does (the session ended: a stop, a lost connection)."""

    async def on_idle(self, conn: asyncpg.Connection) -> None:
        """Called when there was nothing to do (housekeeping)."""

    async def on_error(self) -> None:
        """Called after ``work_once`` failed, before the backoff."""

    async def on_stop(self, conn: asyncpg.Connection) -> None:
        """Called once on ``stop``, while the session is still open."""

    async def run(self, stop: asyncio.Event) -> None:
        """Work while leader; reconnect with backoff on any failure, until ``stop``."""
        backoff = 0.05
        while not (stop.is_set() or self._standing_down):  # a stopping one: no lead
            try:
                await self._run_connected(stop)
                backoff = 0.05
            except Exception as exc:  # a lost connection, a restarted server, ...
                if type(exc) is TimeoutError and not str(exc):  # asyncpg's bound
                    what = f"no answer within {self.answer_within_s:g} s"
                else:
                    what = repr(exc)
                log.warning("%s: %s; reconnecting", self.name, what)
                await _sleep_or_stop(stop, backoff)
                backoff = min(backoff * 2, 5.0)

    async def _run_connected(self, stop: asyncio.Event) -> None:
        conn = await connect(self._dsn, answer_within_s=self.answer_within_s)
        try:
            while True:
                if self._standing_down:
                    return
                if await conn.fetchval("select pg_try_advisory_lock($1)", self.lock_id):
                    break
                await self.on_follower(conn)
                if await _sleep_or_stop(stop, self._poll_interval_s):
                    return
            log.info("%s: leader", self.name)
            self.leading(True)
            await self.on_leader(conn)
            if self.channel:
                await conn.add_listener(self.channel, lambda *_: self._wake.set())
            failures = 0
            while not stop.is_set():
                self._wake.clear()
                try:
                    handled = await self.work_once(conn)
                    failures = 0
                except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                    raise
                except Exception as exc:
                    failures += 1
                    delay = min(0.05 * 2**failures, 5.0) * (0.5 + random.random())
                    log.warning("%s: %s; retrying in %.2fs", self.name, exc, delay)
                    await self.on_error()
                    await _sleep_or_stop(stop, delay)
                    continue
                if self.more_to_do(handled):
                    continue
                await self.on_idle(conn)
                waiter = asyncio.ensure_future(self._wake.wait())
                stopper = asyncio.ensure_future(stop.wait())
                await asyncio.wait(
                    {waiter, stopper},
                    timeout=self._poll_interval_s,
                    return_when=asyncio.FIRST_COMPLETED,
                )
                waiter.cancel()
                stopper.cancel()
            await self.on_stop(conn)
        finally:
            self.leading(False)
            await conn.close(timeout=2)


async def _sleep_or_stop(stop: asyncio.Event, seconds: float) -> bool:
    """Sleep ``seconds`` unless ``stop`` is set first; return whether it was."""
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except TimeoutError:
        return False
    return True
