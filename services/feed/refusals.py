"""EventFeedAdmin changes refused for the caller's kind, recorded in the audit log as
the issuer and the seal service record theirs (docs/operations.md, "Refusals in the
audit log"): an integrator withdrawing a rival's feed, a department registering a
webhook."""

from __future__ import annotations

from certseal.refused import RefusedChange, audit_refused_to
from certseal.rpc import RefusedCall
from certseal.storage.audit import RefusalAudit
from certseal.timestamps import Clock
from services.feed.identities import WEBHOOK_NAME, integrator_identity

_ADMIN = "certseal.v1.EventFeedAdmin"


def _webhook_name(text: str) -> None:
    if not WEBHOOK_NAME.fullmatch(text):
        raise ValueError(text)


#: each EventFeedAdmin RPC that changes something (reads are not recorded)
CHANGES = {
    f"/{_ADMIN}/{rpc}": change
    for rpc, change in {
        "SetEntitlement": RefusedChange(
            "feed.entitle", lambda r: r.entitlement.integrator, integrator_identity
        ),
        "RemoveEntitlement": RefusedChange(
            "feed.unentitle", lambda r: r.integrator, integrator_identity
        ),
        "RegisterWebhook": RefusedChange(
            "feed.webhook", lambda r: r.name, _webhook_name
        ),
        "RemoveWebhook": RefusedChange("feed.unhook", lambda r: r.name, _webhook_name),
        "ReplayParkedDeliveries": RefusedChange(
            "feed.replay", lambda r: r.webhook, _webhook_name
        ),
    }.items()
}


def audit_refused_call(refusals: RefusalAudit, clock: Clock) -> RefusedCall:
    """What the interceptor calls with a caller refused for its kind: for an RPC of
    :data:`CHANGES`, one ``denied`` row (:func:`certseal.refused.audit_refused_to`);
    nothing for a read."""
    return audit_refused_to(CHANGES, refusals, clock)
