"""Group commit of single issuances: what one IssueLicence costs, cut by sharing.

Each IssueLicence paid for a whole statement of its own: a pool session, one round
trip with 34 array arguments, a commit (a WAL flush) and PostgreSQL's per-statement
work, about half of the issuer's and most of PostgreSQL's CPU per licence. The batch
path (IssueLicences) writes 500 in one statement for a fifth of the CPU each.

:class:`GroupCommit` writes the single issuances that wait at the same moment, of one
caller and one suite, in one such statement, the way PostgreSQL itself groups commits
(``commit_delay``): no timer, no added wait at low load. While a statement for a
(caller, suite) is in flight, the requests that arrive queue; when it returns, the
queue goes in the next statement. The guarantees of a single issuance hold:

- every request is answered only after the statement holding its licence committed
  (a future resolved after :meth:`IssuerStore.insert_licences` returned);
- a failure of a group's statement does not decide anyone's answer on behalf of
  another: when the statement is refused (a taken serial, a value one licence
  brought) nothing of it is committed and each licence is written alone (fresh
  serials, the same retries as a single issuance), so each request gets its own
  outcome; a failure that is the same for all (no active key; the database
  unreachable or the transaction aborted: UNAVAILABLE/ABORTED, nothing committed that
  anyone is told of) is each request's answer, as it would have been alone;
- a request whose caller is gone before its group is written is left out of it;
- each licence keeps its own audit entry with the request id of its own request.

Requests with an idempotency key never come here (see ``Issuance.issue``).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Protocol

from certseal.errors import CertsealError
from certseal.groupcommit import GroupQueue, settle, shared_failure
from certseal.logs import REQUEST_ID
from certseal.rpc import Caller
from services.issuer.domain import Department, LicenceRecord, LicenceType

if TYPE_CHECKING:
    from services.issuer.service.issuance import IssueInput

#: (index in the batch, item, its type): one licence to sign and write
Pending = tuple[int, "IssueInput", LicenceType]


class Write(Protocol):
    """Sign and write licences in one statement (``Issuance._sign_and_insert``)."""

    def __call__(
        self,
        caller: Caller,
        dept: Department,
        pending: Sequence[Pending],
        now: dt.datetime,
        suite: str = "",
        request_ids: Sequence[str] | None = None,
    ) -> Awaitable[list[LicenceRecord]]: ...


class Alone(Protocol):
    """Write one licence on its own, its outcome as a value (``_issue_alone``)."""

    def __call__(
        self,
        caller: Caller,
        dept: Department,
        item: Pending,
        now: dt.datetime,
        request_ids: Sequence[str] | None = None,
    ) -> Awaitable[LicenceRecord | CertsealError]: ...


#: one queued issuance: the caller and department it writes for, the licence, and the
#: request id of its own request (its audit entry's)
_Item = tuple[Caller, Department, Pending, str]
_Waiting = tuple[_Item, "asyncio.Future[LicenceRecord]"]


class GroupCommit:
    """Writes concurrent single issuances of one caller and suite together
    (:class:`certseal.groupcommit.GroupQueue`, one queue per caller and suite)."""

    def __init__(
        self,
        *,
        write: Write,
        alone: Alone,
        clock: Callable[[], dt.datetime],
        max_group: int,
    ):
        self._write = write
        self._alone = alone
        self._clock = clock
        self._queues: GroupQueue[tuple[str, str], _Item, LicenceRecord] = GroupQueue(
            self._write_group, max_group=max_group
        )
        #: statements written and licences in them (tests and the bench read them)
        self.statements = 0
        self.licences = 0

    async def issue(
        self, caller: Caller, dept: Department, pending: Pending
    ) -> LicenceRecord:
        """Write ``pending`` (checked already) with whatever waits beside it; the
        licence once committed, or the error of its own write."""
        key = (str(caller), pending[1].suite)
        return await self._queues.submit(key, (caller, dept, pending, REQUEST_ID.get()))

    async def _write_group(self, key: tuple[str, str], group: list[_Waiting]) -> None:
        caller, dept = group[0][0][0], group[0][0][1]  # one caller: one department
        now = self._clock()
        try:
            records = await self._write(
                caller,
                dept,
                [item[2] for item, _ in group],
                now,
                key[1],
                [item[3] for item, _ in group],
            )
        except Exception as exc:
            if shared_failure(exc):
                # the same answer each would have had alone (no active key; the
                # database unreachable or the statement aborted: nothing committed,
                # UNAVAILABLE/ABORTED, safe to retry)
                for _, future in group:
                    settle(future, exc)
                return
            # the statement was refused as a whole (a taken serial, a value one
            # licence brought): nothing of it is committed. Write each alone, so
            # that one licence's failure is its own answer only.
            for item, future in group:
                settle(future, await self._settle_alone(item, now))
            return
        self.statements += 1
        self.licences += len(records)
        for (_, future), record in zip(group, records, strict=True):
            settle(future, record)

    async def _settle_alone(
        self, item: _Item, now: dt.datetime
    ) -> LicenceRecord | BaseException:
        caller, dept, pending, request_id = item
        try:
            outcome = await self._alone(caller, dept, pending, now, [request_id])
        except Exception as exc:  # e.g. PostgreSQL gone: this request's answer
            return exc
        return outcome
