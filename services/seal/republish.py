"""Republishing the seal registry from PostgreSQL after Kafka was lost.

``Seal/RepublishSeals`` (operators only) writes, for every seal in id order, one event
with the seal's current state to the outbox, under the seal's row lock, so the relay
publishes it to ``certseal.seal-events.v1`` in order with any change made meanwhile.
The event keeps the stored ``seal_version`` (a reader that has it drops it; nothing
older replaces anything newer), has the type of the seal's last change
(``seal.registered`` or ``seal.revoked``) and carries the CloudEvents extension
``republished`` (header ``ce_republished: true``). A run keeps its cursor in
``seal_republish_runs``; each call does at most ``max_events`` and a later call resumes.
docs/operations.md, "Kafka lost".
"""

from __future__ import annotations

import dataclasses

from certseal.audit import AuditEntry
from certseal.errors import denied, invalid
from certseal.events import OutboxRecord
from certseal.logs import REQUEST_ID
from certseal.rpc import Caller
from certseal.timestamps import Clock
from services.seal.domain import Seal
from services.seal.events import seal_changed
from services.seal.storage import SealRepublishRun, SealStore

ACTOR = "service:republish"
DEFAULT_MAX_EVENTS = 10_000
MAX_EVENTS = 100_000
BATCH = 1_000

__all__ = ["SealRepublishRun", "SealRepublisher", "republished_seal"]


def republished_seal(seal: Seal) -> OutboxRecord:
    """The event of a seal as it stands, its ``seal_version`` unchanged."""
    revoked = seal.status == "revoked"
    record = seal_changed(
        seal,
        "seal.revoked" if revoked else "seal.registered",
        actor=ACTOR,
        at=(seal.revoked_at if revoked and seal.revoked_at else seal.created_at),
    )
    return dataclasses.replace(
        record, headers={**record.headers, "ce_republished": "true"}
    )


class SealRepublisher:
    """The operator's ``Seal/RepublishSeals``."""

    def __init__(self, *, store: SealStore, clock: Clock, batch: int = BATCH):
        self._store = store
        self._clock = clock
        self._batch = batch

    def _audit(self, caller: Caller, action: str, run: SealRepublishRun) -> AuditEntry:
        return AuditEntry(
            self._clock(),
            str(caller),
            action,
            str(run.run_id),
            "ok",
            {"published": run.published},
            REQUEST_ID.get(),
        )

    async def republish(
        self, caller: Caller, *, restart: bool = False, max_events: int = 0
    ) -> SealRepublishRun:
        """Continue the unfinished run (or start one; ``restart``: afresh) for at most
        ``max_events`` seals (0: 10,000; at most 100,000); the run after it.

        Raises PERMISSION_DENIED for anyone but an operator (audited as
        ``seal.republish.start``, as the issuer's ``Republish`` audits its refusal: a
        privileged change refused leaves its row), INVALID_ARGUMENT for a
        ``max_events`` over 100,000.
        """
        if caller.kind != "operator":
            why = f"{caller} is not a platform operator"
            await self._store.audit_refusal(
                at=self._clock(),
                actor=str(caller),
                action="seal.republish.start",
                subject="-",
                why=why,
            )
            error = denied(why, field="as")
            error.audited = True
            raise error
        if max_events < 0 or max_events > MAX_EVENTS:
            raise invalid("max_events", f"must be 0 to {MAX_EVENTS:,}")
        budget = max_events or DEFAULT_MAX_EVENTS
        run = await self._store.open_republish_run(
            str(caller), self._clock(), restart=restart
        )
        if not run.resumed:
            await self._store.audit([self._audit(caller, "seal.republish.start", run)])
        start = run.published
        while run.finished_at is None and run.published - start < budget:
            limit = min(self._batch, budget - (run.published - start))
            run = await self._store.republish_seals(run, limit, republished_seal)
        if run.finished_at is not None:
            await self._store.audit([self._audit(caller, "seal.republish.done", run)])
        return run
