"""Seal changes refused for the caller's kind, recorded in the audit log as the seal
service's use cases record theirs (docs/operations.md, "Refusals in the audit log"):
an integrator or an auditor registering, revoking or sealing with a seal, or
republishing the registry (atk49: the interceptor refused them with no row, where the
same refusal to a department that is not the owner or a signer left one)."""

from __future__ import annotations

from operator import attrgetter

from certseal.identifiers import validate_uscc
from certseal.refused import RefusedChange, audit_refused_to
from certseal.rpc import RefusedCall
from certseal.storage.audit import RefusalAudit
from certseal.timestamps import Clock
from certseal.v1 import seal_pb2
from services.seal.registration import check_seal_id

_SEAL = seal_pb2.DESCRIPTOR.services_by_name["Seal"].full_name


def _no_subject(text: str) -> None:
    raise ValueError("no subject")


def _use(rpc: str) -> tuple[str, RefusedChange]:
    return rpc, RefusedChange("seal.use", attrgetter("seal_id"), check_seal_id)


#: each Seal RPC that changes something, with the action its use case audits a
#: refusal as, and the request field naming its subject (reads are not recorded)
CHANGES = {
    f"/{_SEAL}/{rpc}": change
    for rpc, change in (
        (
            "RegisterSeal",
            RefusedChange("seal.register", attrgetter("owner_code"), validate_uscc),
        ),
        (
            "RevokeSeal",
            RefusedChange("seal.revoke", attrgetter("seal_id"), check_seal_id),
        ),
        _use("SealDocument"),
        _use("SealPdf"),
        _use("SealOfd"),
        (
            "RepublishSeals",
            RefusedChange("seal.republish.start", lambda _: "", _no_subject),
        ),
    )
}


def audit_refused_call(refusals: RefusalAudit, clock: Clock) -> RefusedCall:
    """What the interceptor calls with a caller refused for its kind: for an RPC of
    :data:`CHANGES`, one ``denied`` row (:func:`certseal.refused.audit_refused_to`);
    nothing for a read (GetSeal, the verifications)."""
    return audit_refused_to(CHANGES, refusals, clock)
