"""EventFeedAdmin changes refused for the caller's kind, recorded in the audit log as
the issuer and the seal service record theirs (docs/operations.md, "Refusals in the
audit log"): an integrator withdrawing a rival's feed, a department registering a
webhook."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from google.protobuf.message import Message

from certseal.audit import recordable
from certseal.rpc import Caller, RefusedCall
from certseal.storage.audit import RefusalAudit
from certseal.timestamps import Clock
from services.feed.identities import WEBHOOK_NAME, integrator_identity

_ADMIN = "certseal.v1.EventFeedAdmin"


def _webhook_name(text: str) -> None:
    if not WEBHOOK_NAME.fullmatch(text):
        raise ValueError(text)


class Change(NamedTuple):
    """An EventFeedAdmin RPC that changes something, as a refusal of it is audited."""

    action: str  #: as its success is audited
    subject: Callable[[Any], str]  #: the request's subject
    check: Callable[[str], object]  #: what a subject must be to be recorded as it is


#: each EventFeedAdmin RPC that changes something (reads are not recorded)
CHANGES = {
    f"/{_ADMIN}/{rpc}": change
    for rpc, change in {
        "SetEntitlement": Change(
            "feed.entitle", lambda r: r.entitlement.integrator, integrator_identity
        ),
        "RemoveEntitlement": Change(
            "feed.unentitle", lambda r: r.integrator, integrator_identity
        ),
        "RegisterWebhook": Change("feed.webhook", lambda r: r.name, _webhook_name),
        "ReplayParkedDeliveries": Change(
            "feed.replay", lambda r: r.webhook, _webhook_name
        ),
    }.items()
}


def audit_refused_call(refusals: RefusalAudit, clock: Clock) -> RefusedCall:
    """What the interceptor calls with a caller refused for its kind
    (:class:`certseal.rpc.ServiceInterceptor`): for an RPC of :data:`CHANGES`, one
    ``denied`` row naming the caller, the action, the subject the request names
    (``-`` when it names none, could not be decoded or is not of its shape:
    :func:`certseal.audit.recordable`) and why; nothing for a read."""

    async def audit(caller: Caller, method: str, request: Any, why: str) -> None:
        change = CHANGES.get(method)
        if change is None:
            return
        subject = (
            recordable(change.subject(request), change.check)
            if isinstance(request, Message)
            else "-"
        )
        await refusals.audit_refusal(
            at=clock(),
            actor=str(caller),
            action=change.action,
            subject=subject,
            why=why,
        )

    return audit
