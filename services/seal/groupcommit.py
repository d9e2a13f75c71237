"""Group commit of sealed documents' records: what one SealDocument costs PostgreSQL,
cut by sharing.

Each SealDocument wrote its ``document.sealed`` event and its ``seal.use`` audit row in
a transaction of its own: BEGIN, two inserts, COMMIT (four round trips, a WAL flush,
the outbox's statement triggers) — measured under bench load about a tenth of the seal
process's CPU per seal and 1.5 to 2 ms of PostgreSQL's. :class:`SealedGroupCommit`
writes the records of the seals that wait at the same moment in one statement
(:meth:`services.seal.storage.SealStore.record_sealed`), the way the issuer groups
IssueLicence (``services/issuer/service/groupcommit.py``) and PostgreSQL groups commits:
no timer, no added wait at low load. While one statement is in flight the records that
arrive queue; when it returns, the queue goes in the next statement. The guarantees of
a single SealDocument hold:

- each request is answered only after the statement holding its rows committed;
- its seal is checked active in that same statement (its row share-locked): a seal
  revoked before the statement is answered FAILED_PRECONDITION and nothing of that
  request is written;
- a failure of the statement does not decide anyone's answer on behalf of another:
  one that is the same for all (the database unreachable, the transaction aborted:
  UNAVAILABLE/ABORTED, nothing committed) is each request's answer, as it would have
  been alone; any other refusal of the statement (nothing of it committed) has each
  record written alone, so that each request gets its own outcome;
- a request whose caller is gone before its group is written is left out of it (it
  was answered with no signature);
- each record keeps its own event and its own audit row with its request id.

A request under an idempotency key writes in its own held transaction instead
(:func:`certseal.storage.idempotency.in_request_scope`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

from certseal.groupcommit import GroupQueue, settle, shared_failure
from services.seal.storage import SealedRecord

#: writes records in one statement; the ids of the seals found active
Write = Callable[[Sequence[SealedRecord]], Awaitable[set[str]]]

_Waiting = tuple[SealedRecord, "asyncio.Future[bool]"]


class SealedGroupCommit:
    """Writes the records of concurrent SealDocument calls together
    (:class:`certseal.groupcommit.GroupQueue`, one queue)."""

    def __init__(self, write: Write, *, max_group: int = 256):
        self._write = write
        self._queue: GroupQueue[None, SealedRecord, bool] = GroupQueue(
            self._write_group, max_group=max_group
        )
        #: statements written and records in them (tests read them)
        self.statements = 0
        self.records = 0

    async def record(self, record: SealedRecord) -> bool:
        """Write ``record`` with whatever waits beside it: True once committed, False
        when its seal was no longer active (nothing of it written); the error of
        its own write otherwise."""
        return await self._queue.submit(None, record)

    async def _write_group(self, _key: None, group: list[_Waiting]) -> None:
        try:
            active = await self._write([w[0] for w in group])
        except Exception as exc:
            if shared_failure(exc):
                for _, future in group:  # the same answer each would have had alone
                    settle(future, exc)
                return
            for record, future in group:  # refused as a whole: each one alone
                settle(future, await self._alone(record))
            return
        self.statements += 1
        self.records += len(group)
        for record, future in group:
            settle(future, record.seal_id in active)

    async def _alone(self, record: SealedRecord) -> bool | BaseException:
        try:
            return record.seal_id in await self._write([record])
        except Exception as exc:  # this request's own answer
            return exc
