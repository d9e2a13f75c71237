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
from certseal.logs import REQUEST_ID
from certseal.retries import transient_error
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


_Waiting = tuple[Pending, str, "asyncio.Future[LicenceRecord]"]


class GroupCommit:
    """Writes concurrent single issuances of one caller and suite together."""

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
        self._max_group = max(1, max_group)
        self._queues: dict[tuple[str, str], list[_Waiting]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        #: statements written and licences in them (tests and the bench read them)
        self.statements = 0
        self.licences = 0

    async def issue(
        self, caller: Caller, dept: Department, pending: Pending
    ) -> LicenceRecord:
        """Write ``pending`` (checked already) with whatever waits beside it; the
        licence once committed, or the error of its own write."""
        key = (str(caller), pending[1].suite)
        future: asyncio.Future[LicenceRecord] = (
            asyncio.get_running_loop().create_future()
        )
        queue = self._queues.get(key)
        if queue is None:  # nobody writes for this key: this request starts it
            queue = self._queues[key] = []
            task = asyncio.create_task(self._drain(caller, dept, key))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        queue.append((pending, REQUEST_ID.get(), future))
        # cancelled (the caller gone) before its group is written: left out of it;
        # cancelled later: the write goes on in the drain task, answered to no one
        return await future

    async def _drain(
        self, caller: Caller, dept: Department, key: tuple[str, str]
    ) -> None:
        queue = self._queues[key]
        group: list[_Waiting] = []
        try:
            await asyncio.sleep(0)  # let the requests of this same moment join
            while queue:
                group = [w for w in queue[: self._max_group] if not w[2].done()]
                del queue[: self._max_group]
                if group:
                    await self._write_group(caller, dept, key[1], group)
                group = []
        except BaseException as exc:  # never leave a request waiting for ever
            for _, _, future in [*group, *queue]:
                if future.done():
                    continue
                if isinstance(exc, asyncio.CancelledError):
                    future.cancel()
                else:
                    future.set_exception(exc)
            raise
        finally:
            del self._queues[key]

    async def _write_group(
        self, caller: Caller, dept: Department, suite: str, group: list[_Waiting]
    ) -> None:
        now = self._clock()
        try:
            records = await self._write(
                caller,
                dept,
                [w[0] for w in group],
                now,
                suite,
                [w[1] for w in group],
            )
        except Exception as exc:
            if isinstance(exc, CertsealError) or transient_error(exc) is not None:
                # the same answer each would have had alone (no active key; the
                # database unreachable or the statement aborted: nothing committed,
                # UNAVAILABLE/ABORTED, safe to retry)
                for _, _, future in group:
                    _resolve(future, exc)
                return
            # the statement was refused as a whole (a taken serial, a value one
            # licence brought): nothing of it is committed. Write each alone, so
            # that one licence's failure is its own answer only.
            for waiting in group:
                _resolve(
                    waiting[2], await self._settle_alone(caller, dept, waiting, now)
                )
            return
        self.statements += 1
        self.licences += len(records)
        for (_, _, future), record in zip(group, records, strict=True):
            _resolve(future, record)

    async def _settle_alone(
        self, caller: Caller, dept: Department, waiting: _Waiting, now: dt.datetime
    ) -> LicenceRecord | BaseException:
        try:
            outcome = await self._alone(caller, dept, waiting[0], now, [waiting[1]])
        except Exception as exc:  # e.g. PostgreSQL gone: this request's answer
            return exc
        return outcome


def _resolve(
    future: asyncio.Future[LicenceRecord], outcome: LicenceRecord | BaseException
) -> None:
    if future.done():  # its caller is gone
        return
    if isinstance(outcome, BaseException):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)
