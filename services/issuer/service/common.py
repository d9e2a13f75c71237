"""What the issuer's use cases share: audit entries, audited refusals, caller checks."""

from __future__ import annotations

from typing import Any

from certseal.audit import AuditEntry
from certseal.errors import CertsealError, denied
from certseal.logs import REQUEST_ID
from certseal.rpc import Caller
from certseal.timestamps import Clock
from services.issuer.storage import IssuerStore


class Auditor:
    """Builds audit entries (time from the injected clock, the request id of the RPC)
    and writes refusals, which have no transaction of their own."""

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

    async def deny(
        self,
        caller: Caller,
        action: str,
        subject: str,
        message: str,
        *,
        field: str = "as",
    ) -> CertsealError:
        """Audit a refusal and return the PERMISSION_DENIED error to raise; ``field``
        is what it is about (default ``as``: the caller's identity)."""
        await self._store.audit(
            [self.entry(caller, action, subject, "denied", message=message)]
        )
        return denied(message, field=field)


def require_operator(caller: Caller) -> None:
    """PERMISSION_DENIED unless ``caller`` is a platform operator."""
    if caller.kind != "operator":
        raise denied(f"{caller} is not a platform operator", field="as")


def licence_actor(caller: Caller | str) -> str:
    """Who acted on a licence, as its events name it: a department code, or a
    service identity such as ``service:expiry-sweep``."""
    return caller.name if isinstance(caller, Caller) else caller
