"""The registry's status of the seals that concurrent verifications ask for, read in
one statement (VerifySealedDocument asks it at every call, kept facts or not).

As the group commit of sealed documents (:mod:`services.seal.groupcommit`), with
:class:`certseal.groupcommit.GroupQueue` and no timer: the first request reads at
once; the ones that arrive while its statement is in flight wait for it to return and
go together in the next one. So every request's status is read by a statement that
started after the request asked: never older than a read of its own would have been
(a seal revoked before the call is seen revoked). A failed read is the answer of every
request of its group (a read changes nothing; each would have failed alone too).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable, Sequence

from certseal.groupcommit import GroupQueue, settle

Status = tuple[str, dt.datetime | None]
#: reads the statuses of these seal ids in one statement; absent ids are not registered
ReadMany = Callable[[Sequence[str]], Awaitable[dict[str, Status]]]


class StatusReads:
    """Seal statuses for concurrent callers, read together."""

    def __init__(self, read_many: ReadMany, *, max_group: int = 256):
        self._read_many = read_many
        self._queue: GroupQueue[None, str, Status | None] = GroupQueue(
            self._read_group, max_group=max_group
        )
        #: statements run and statuses asked in them (tests read them)
        self.statements = 0
        self.asked = 0

    async def status(self, seal_id: str) -> Status | None:
        """The seal's (status, revoked_at) now; None when it is not registered."""
        return await self._queue.submit(None, seal_id)

    async def _read_group(
        self, _key: None, group: list[tuple[str, asyncio.Future[Status | None]]]
    ) -> None:
        try:
            found = await self._read_many(sorted({seal_id for seal_id, _ in group}))
        except Exception as exc:  # the answer each would have had alone
            for _, future in group:
                settle(future, exc)
            return
        self.statements += 1
        self.asked += len(group)
        for seal_id, future in group:
            settle(future, found.get(seal_id))
