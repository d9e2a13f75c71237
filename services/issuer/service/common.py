"""What the issuer's use cases share: audit entries, audited refusals, caller checks."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from certseal.audit import AuditEntry
from certseal.errors import CertsealError, ErrorKind, denied
from certseal.logs import REQUEST_ID
from certseal.refused import refusal_why
from certseal.rpc import Caller
from certseal.timestamps import Clock
from services.issuer.storage import IssuerStore

#: the refusals of a privileged change that are audited: of authority, of state, and
#: a change that conflicts with what exists. Malformed input (INVALID_ARGUMENT) and
#: what does not exist (NOT_FOUND) are not: they say nothing about who may do what.
AUDITED_REFUSALS = frozenset(
    {
        ErrorKind.PERMISSION_DENIED,
        ErrorKind.FAILED_PRECONDITION,
        ErrorKind.ALREADY_EXISTS,
    }
)


class Auditor:
    """Builds audit entries (time from the injected clock, the request id of the RPC)
    and records refusals (:meth:`refused`, the issuer's one way to do so), which have
    no transaction of their own."""

    def __init__(self, *, store: IssuerStore, clock: Clock):
        self._store = store
        self._clock = clock

    def entry(
        self,
        caller: Caller | str,
        action: str,
        subject: str,
        outcome: str = "ok",
        **details: Any,
    ) -> AuditEntry:
        """One audit entry; ``outcome`` is ok, denied or failed."""
        return AuditEntry(
            self._clock(),
            str(caller),
            action,
            subject,
            outcome,
            details,
            REQUEST_ID.get(),
        )

    async def refused(
        self,
        caller: Caller,
        action: str,
        subject: str,
        why: str,
        **asked: str | list[str],
    ) -> None:
        """Record that ``caller`` was refused ``action`` on ``subject`` because
        ``why``: one ``denied`` audit row, details ``{"why": why}`` and what was
        ``asked`` (as the change's ok row names it: a role change's ``roles``; no
        personal data, :func:`certseal.audit.recordable`), that stays although the
        change does not happen
        (:meth:`certseal.storage.audit.RefusalAudit.audit_refusal`)."""
        await self._store.audit_refusal(
            at=self._clock(),
            actor=str(caller),
            action=action,
            subject=subject,
            why=why,
            asked=asked,
        )

    async def deny(
        self,
        caller: Caller,
        action: str,
        subject: str,
        message: str,
        *,
        field: str = "as",
    ) -> CertsealError:
        """Audit a refusal (:meth:`refused`, ``why`` = ``message``) and return the
        PERMISSION_DENIED error to raise; ``field`` is what it is about (default
        ``as``: the caller's identity)."""
        await self.refused(caller, action, subject, message)
        error = denied(message, field=field)
        error.audited = True
        return error

    @contextlib.asynccontextmanager
    async def refusals(
        self, caller: Caller, action: str, subject: str, **asked: str | list[str]
    ) -> AsyncIterator[None]:
        """Audit the refusal of the privileged change made inside: a
        :class:`CertsealError` of :data:`AUDITED_REFUSALS` raised in the block is
        recorded (:meth:`refused`, ``why`` = its message, with what was ``asked``)
        and raised on, unchanged. Also one the store raised under its lock, its
        transaction rolled back."""
        try:
            yield
        except CertsealError as exc:
            if exc.kind in AUDITED_REFUSALS and not exc.audited:
                await self.refused(caller, action, subject, exc.message, **asked)
                exc.audited = True
            raise

    @contextlib.asynccontextmanager
    async def attempt(
        self, caller: Caller, action: str, subject: str
    ) -> AsyncIterator[None]:
        """One audit row per attempt of a holder-side or redemption call: the block's
        success writes its own ``ok`` row (with its change, in its transaction); a
        :class:`CertsealError` of ANY kind raised in the block that has no row yet
        (``audited``) is recorded here as ``denied`` (:meth:`refused`, ``why`` = the
        field and message, :func:`refusal_why`) and raised on, unchanged. A holder's
        mistyped id number is as much an attempt as a refusal of authority: the
        citizen's record and the trail of who tried what must say it was tried."""
        try:
            yield
        except CertsealError as exc:
            if not exc.audited:
                await self.refused(caller, action, subject, refusal_why(exc))
                exc.audited = True
            raise


def require_operator(caller: Caller) -> None:
    """PERMISSION_DENIED unless ``caller`` is a platform operator (audited where the
    operation is: inside :meth:`Auditor.refusals`)."""
    if caller.kind != "operator":
        raise denied(f"{caller} is not a platform operator", field="as")


def licence_actor(caller: Caller | str) -> str:
    """Who acted on a licence, as its events name it: a department code, or a
    service identity such as ``service:expiry-sweep``."""
    return caller.name if isinstance(caller, Caller) else caller
