"""Idempotency keys in PostgreSQL: the answer is stored in the change's own transaction.

Every service database has the kernel's ``idempotent_requests`` table (migration
``0003_idempotent_requests.sql``): per caller identity and key, the request's
fingerprint, the bytes of the answer first sent and when (since migration ``0005``
the fingerprint keyed and the answer sealed: :class:`certseal.protectors.AnswerProtector`).
The rules are in
:mod:`certseal.idempotency`; this module makes them hold across crashes:

1. Before the handler runs, :meth:`IdempotencyStore.lookup` answers a known key (the
   stored bytes for the same fingerprint, ALREADY_EXISTS for another one).
2. While the handler of a request with a key runs (:meth:`IdempotencyStore.scope`),
   every store transaction is opened with :func:`transaction`. The LAST such
   transaction is not committed when its block ends: it is held open until the
   servicer has built the answer; then the answer row is inserted on the same
   connection and the transaction commits. So the change and its answer commit
   together or not at all: a crash between commit and answer leaves the answer for
   the retry, a crash before the commit leaves nothing. An earlier transaction of the
   same request commits when the next one opens, as it would without a key.
3. Two requests with one key at once: the second insert of the key waits for the
   first transaction, finds the key taken, rolls its own change back and answers as
   a retry would.
4. When the handler refuses the request (a CertsealError other than UNAVAILABLE or
   ABORTED), the held transaction commits as it would have without a key (a
   refusal's audit row is kept) and no answer is stored: a retry runs again. When it
   fails otherwise (a transient failure, answered "safe to retry with the same
   idempotency key", or one nobody expected), the held transaction is rolled back: a
   change made before the failure (an amendment, then a failed read for its answer's
   warnings) was committed without its answer, and every retry with the key made it
   again (tests/issuer/test_interrupted_changes.py).

Keys are purged ``retention`` after their first use by :class:`IdempotencyPurger`.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import datetime as dt
import logging
import os
import signal
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass, field
from typing import Any, cast

import asyncpg

from certseal.audit import HeldRefusals
from certseal.errors import CertsealError, ErrorKind
from certseal.idempotency import Claim
from certseal.protectors import AnswerProtector
from certseal.storage.worker import NotifiedWorker

log = logging.getLogger(__name__)

#: work that runs to its end although the call that started it was cancelled
#: (:func:`kept`), held here until done (the loop keeps only weak references)
_KEPT: set[asyncio.Future[Any]] = set()


def kept(work: Awaitable[Any]) -> asyncio.Future[Any]:
    """``work`` as a task kept running to its end even if the call awaiting it is
    cancelled (await it through ``asyncio.shield``, or not at all)."""
    task = asyncio.ensure_future(work)
    _KEPT.add(task)
    task.add_done_callback(_KEPT.discard)
    return task


async def finish_kept(timeout_s: float | None = None) -> None:
    """Wait until the work :func:`kept` past its call has ended (a cancelled call's
    refusal being settled: :class:`certseal.audit.HeldRefusals`), also work kept
    meanwhile, for at most ``timeout_s`` seconds (None: no limit): a process awaits
    it once its server has stopped and before it closes its pool, which that work
    writes through (the refusal would be lost); a test, to see what the work did.
    The work's own failures are its own (logged there), not raised here. Only the
    running event loop's work is awaited (another loop's, left behind by a closed
    loop, would never end). Raises TimeoutError when ``timeout_s`` runs out."""
    loop = asyncio.get_running_loop()
    async with asyncio.timeout(timeout_s):
        while mine := [task for task in _KEPT if task.get_loop() is loop]:
            await asyncio.wait(mine)


#: test-only: ``after-commit`` makes the process kill itself (SIGKILL) right after an
#: answer's transaction commits and before it is sent, when the configuration allows
#: it (``[idempotency] allow_fault_hooks``; a process refuses to start with the
#: variable set otherwise). docs/operations.md, "Retries and idempotency keys".
FAULT_ENV = "CERTSEAL_TEST_FAULT"


def fault_hook(allowed: bool) -> str:
    """The test-only fault :data:`FAULT_ENV` names ("" for none). Raises
    :class:`CertsealError` (the process does not start) when the variable is set but
    ``[idempotency] allow_fault_hooks`` (``allowed``) is not true, and for an unknown
    fault."""
    fault = os.environ.get(FAULT_ENV, "")
    if not fault:
        return ""
    if not allowed:
        raise CertsealError(
            ErrorKind.FAILED_PRECONDITION,
            f"{FAULT_ENV} is set but [idempotency] allow_fault_hooks is false: "
            "fault hooks are for tests only",
        )
    if fault != "after-commit":
        raise CertsealError(
            ErrorKind.INVALID_ARGUMENT, f"{FAULT_ENV}: unknown fault {fault!r}"
        )
    return fault


def _refusal(exc: BaseException) -> bool:
    """Whether a handler raising ``exc`` refused its request (what it wrote, a
    refusal's audit row, is kept), rather than failed in a way a retry may cure."""
    return isinstance(exc, CertsealError) and exc.kind not in (
        ErrorKind.UNAVAILABLE,
        ErrorKind.ABORTED,
    )


@dataclass
class _Scope:
    claim: Claim
    store: IdempotencyStore
    held: (
        tuple[asyncpg.Pool, asyncpg.Connection, asyncpg.transaction.Transaction] | None
    ) = None
    # one statement at a time on the held connection, also from concurrent reads
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def commit_held(self) -> None:
        """Commit the transaction held so far (a later one will carry the answer)."""
        if self.held is None:
            return
        pool, conn, tx = self.held
        self.held = None
        try:
            await tx.commit()
        finally:
            await _release(pool, conn)

    async def rollback_held(self) -> None:
        """Roll the held transaction back (its connection may be gone already)."""
        if self.held is None:
            return
        pool, conn, tx = self.held
        self.held = None
        with contextlib.suppress(Exception):
            await tx.rollback()
        await _release(pool, conn)


_SCOPE: contextvars.ContextVar[_Scope | None] = contextvars.ContextVar(
    "idempotency_scope", default=None
)


def in_request_scope() -> bool:
    """True inside a request with an idempotency key: its writes join the transaction
    held for its answer, so they must run in the request's own task."""
    return _SCOPE.get() is not None


async def _release(pool: asyncpg.Pool, conn: asyncpg.Connection) -> None:
    with contextlib.suppress(Exception):
        await pool.release(conn)


@contextlib.asynccontextmanager
async def transaction(
    pool: asyncpg.Pool, *, single_statement: bool = False
) -> AsyncIterator[asyncpg.Connection]:
    """A connection from ``pool`` in a transaction: what every store's write uses.

    Outside a request with an idempotency key it is ``pool.acquire()`` plus
    ``conn.transaction()`` (just ``pool.acquire()`` for a block of one statement,
    which is its own transaction: no BEGIN and COMMIT round trips). Inside one, a block
    that ends without an exception leaves its transaction open for the answer (see
    the module's docstring).
    """
    scope = _SCOPE.get()
    if scope is None:
        async with contextlib.AsyncExitStack() as stack:
            conn = await stack.enter_async_context(pool.acquire())
            if not single_statement:
                await stack.enter_async_context(conn.transaction())
            yield conn
        return
    await scope.commit_held()
    conn = await pool.acquire()
    tx = conn.transaction()
    try:
        await tx.start()
    except BaseException:
        await _release(pool, conn)
        raise
    try:
        yield conn
    except BaseException:
        with contextlib.suppress(Exception):
            await tx.rollback()
        await _release(pool, conn)
        raise
    scope.held = (pool, conn, tx)


class ScopedPool:
    """A pool whose one-statement calls (``fetch``, ``fetchrow``, ``fetchval``,
    ``execute``, ``executemany``) run on the transaction held for the current
    request's answer when there is one, else on the pool: a store that reads back what
    it just wrote, in the same request, sees it (and cannot wait on its own row
    locks). Everything else is the pool's."""

    def __init__(self, pool: asyncpg.Pool):
        self._pool = pool

    def __getattr__(self, name: str) -> Any:
        return getattr(self._pool, name)

    async def _run(self, name: str, *args: Any, **kwargs: Any) -> Any:
        scope = _SCOPE.get()
        if scope is None or scope.held is None:
            return await getattr(self._pool, name)(*args, **kwargs)
        async with scope.lock:
            if scope.held is None:  # committed while this call waited
                return await getattr(self._pool, name)(*args, **kwargs)
            return await getattr(scope.held[1], name)(*args, **kwargs)

    async def fetch(self, query: str, *args: Any, **kwargs: Any) -> Any:
        """``Pool.fetch``, in the held transaction if any."""
        return await self._run("fetch", query, *args, **kwargs)

    async def fetchrow(self, query: str, *args: Any, **kwargs: Any) -> Any:
        """``Pool.fetchrow``, in the held transaction if any."""
        return await self._run("fetchrow", query, *args, **kwargs)

    async def fetchval(self, query: str, *args: Any, **kwargs: Any) -> Any:
        """``Pool.fetchval``, in the held transaction if any."""
        return await self._run("fetchval", query, *args, **kwargs)

    async def execute(self, query: str, *args: Any, **kwargs: Any) -> Any:
        """``Pool.execute``, in the held transaction if any."""
        return await self._run("execute", query, *args, **kwargs)

    async def executemany(self, command: str, args: Any, **kwargs: Any) -> Any:
        """``Pool.executemany``, in the held transaction if any."""
        return await self._run("executemany", command, args, **kwargs)


def scoped(pool: asyncpg.Pool) -> asyncpg.Pool:
    """``pool`` as a :class:`ScopedPool` (what every service's stores are given)."""
    return cast(asyncpg.Pool, ScopedPool(pool))


class IdempotencyStore:
    """The ``idempotent_requests`` table of one service database."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        protector: AnswerProtector | None,
        retention: dt.timedelta = dt.timedelta(hours=72),
        fault: str = "",
    ):
        """``protector`` seals what is kept (:class:`certseal.protectors.AnswerProtector`);
        None for a service with no idempotent method, which keeps nothing (an
        answer to keep is then a RuntimeError)."""
        self.pool = pool
        self.retention = retention
        self._fault = fault
        self._protector = protector

    def _kept(self, claim: Claim) -> tuple[AnswerProtector, bytes, bytes]:
        """(the protector, ``claim``'s fingerprint as kept, the context its kept
        answer is bound to)."""
        protector = self._protector
        if protector is None:
            raise RuntimeError("this service keeps no answers: no answers key")
        context = "\0".join((claim.caller, claim.key, claim.method)).encode()
        return protector, protector.fingerprint(claim.fingerprint), context

    async def settle(self, claim: Claim, held: HeldRefusals) -> bytes | None:
        """After a refusal of a call with ``claim``'s key: the answer stored under
        it (a concurrent call with the same key answered it, so ``held``'s refusals
        are no refusals), else None with ``held``'s refusals recorded. A key naming
        another request, or a lookup that fails (logged), counts as no answer: the
        refusal is recorded and answered, never lost or turned into "retry"."""
        try:
            stored = await self.lookup(claim)
        except CertsealError:  # the key is another request's: this refusal stands
            stored = None
        except Exception:
            log.exception("looking up a key's answer after a refusal failed")
            stored = None
        if stored is None:
            await held.record()
        return stored

    async def lookup(self, claim: Claim) -> bytes | None:
        """The answer stored for ``claim``'s key, or None when the key is new (or
        older than the retention). Raises ALREADY_EXISTS for another request."""
        row = await self.pool.fetchrow(
            """select method, fingerprint, response, sealed from idempotent_requests
               where caller = $1 and key = $2 and created_at > now() - $3::interval""",
            claim.caller,
            claim.key,
            self.retention,
        )
        if row is None:
            return None
        if not row["sealed"]:  # kept before answers were sealed (migration 0005)
            if bytes(row["fingerprint"]) != claim.fingerprint:
                raise claim.conflict()
            return bytes(row["response"])
        if row["method"] != claim.method:
            raise claim.conflict()
        protector, fingerprint, context = self._kept(claim)
        # opened first: under another answers key every fingerprint differs, and a
        # retry told "another request" would be run again (atk-day I1)
        answer = protector.open(bytes(row["response"]), context)
        if bytes(row["fingerprint"]) != fingerprint:
            raise claim.conflict()
        return answer

    @contextlib.asynccontextmanager
    async def scope(self, claim: Claim) -> AsyncIterator[_Scope]:
        """Run a handler for ``claim``; :meth:`answer` stores and commits its answer.

        When the handler refuses (raises a CertsealError other than UNAVAILABLE or
        ABORTED), or ends without :meth:`answer`, the held transaction commits as it
        would have without a key (no answer stored); it is rolled back when the
        handler fails otherwise or is cancelled: a retry will run it again.
        """
        scope = _Scope(claim, self)
        token = _SCOPE.set(scope)
        try:
            yield scope
        except BaseException as exc:
            if _refusal(exc):
                try:
                    await scope.commit_held()
                except Exception:  # the connection is gone: nothing was committed
                    await scope.rollback_held()
            else:  # failed, or cancelled (the client gone): a retry runs it again
                await scope.rollback_held()
            raise
        else:  # no answer to store (an error answered, not raised): as without a key
            await scope.commit_held()
        finally:
            _SCOPE.reset(token)

    async def answer(self, scope: _Scope, response: bytes) -> bytes:
        """Store ``response`` for the scope's claim with the held change and commit;
        returns what the client must get: ``response`` itself (the same object) when
        this call's change was stored, else the earlier answer of a concurrent
        request with the same key that committed first. Raises ALREADY_EXISTS if that
        request was another one."""
        claim = scope.claim
        held = scope.held
        scope.held = None
        if held is None:  # the handler wrote nothing in a transaction
            async with self.pool.acquire() as conn, conn.transaction():
                stored = await self._insert(conn, claim, response)
        else:
            pool, conn, tx = held
            try:
                stored = await self._insert(conn, claim, response)
                if stored:
                    await tx.commit()
                else:
                    await tx.rollback()  # the other request's change stands alone
            except BaseException:
                with contextlib.suppress(Exception):
                    await tx.rollback()
                raise
            finally:
                await _release(pool, conn)
        if stored:
            if self._fault == "after-commit":
                log.warning("%s=after-commit: killing this process", FAULT_ENV)
                os.kill(os.getpid(), signal.SIGKILL)
            return response
        earlier = await self.lookup(claim)
        if earlier is None:  # committed and purged in between: never in practice
            raise claim.conflict()
        return earlier

    async def _insert(
        self, conn: asyncpg.Connection, claim: Claim, response: bytes
    ) -> bool:
        """Insert the key (or replace an expired one), its fingerprint keyed and
        its answer sealed (:class:`certseal.protectors.AnswerProtector`); False if it is
        taken."""
        protector, fingerprint, context = self._kept(claim)
        return bool(
            await conn.fetchval(
                """insert into idempotent_requests
                       (caller, key, method, fingerprint, response, created_at, sealed)
                   values ($1, $2, $3, $4, $5, now(), true)
                   on conflict (caller, key) do update
                       set method = excluded.method,
                           fingerprint = excluded.fingerprint,
                           response = excluded.response,
                           created_at = excluded.created_at,
                           sealed = true
                       where idempotent_requests.created_at < now() - $6::interval
                   returning true""",
                claim.caller,
                claim.key,
                claim.method,
                fingerprint,
                protector.seal(response, context),
                self.retention,
            )
        )

    async def purge(self, conn: asyncpg.Connection, *, limit: int = 1000) -> int:
        """Delete up to ``limit`` keys older than the retention; how many."""
        deleted = await conn.fetchval(
            """with gone as (
                   delete from idempotent_requests where ctid = any(array(
                       select ctid from idempotent_requests
                       where created_at < now() - $1::interval limit $2))
                   returning 1)
               select count(*) from gone""",
            self.retention,
            limit,
        )
        return int(deleted or 0)


class IdempotencyPurger(NotifiedWorker):
    """Purges expired idempotency keys (a leader across replicas)."""

    name = "idempotency-purge"
    channel = ""
    lock_id = 0x6365727473656135

    def __init__(self, *, dsn: str, store: IdempotencyStore, interval_s: float):
        super().__init__(dsn=dsn, poll_interval_s=interval_s)
        self._store = store

    async def work_once(self, conn: asyncpg.Connection) -> int:
        """Purge one batch of expired keys."""
        return await self._store.purge(conn)
