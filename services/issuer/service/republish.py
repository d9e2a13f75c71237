"""Republishing the issuer's topics from PostgreSQL, the system of record.

After Kafka is lost (or only the database is restored), the licence and trust topics
hold nothing older than the outbox retention. :class:`Republisher` writes the current
state of every signing key (``certseal.trust-events.v1``) and of every lineage
(``certseal.licence-events.v1``) to the outbox again, through the same relay as every
other event, so they reach the new topics in order per key.

Versions: a republished event carries the entity's stored ``key_version`` /
``lineage_version`` unchanged. A consumer that already holds that version (an existing
verifier group, an integrator) drops it as a duplicate; an empty one (a new group)
applies it; a newer change committed meanwhile has a higher version and a later outbox
row, so nothing older overwrites anything newer. The event type is the one the entity's
last change had (``licence.revoked`` for a revoked licence), so entitlements by event
type select it as before; the CloudEvents extension ``republished`` (header
``ce_republished: true``) tells it from the original.

Resumable: a run keeps its cursor in PostgreSQL (``republish_runs``); each call does at
most ``max_events`` and returns where the run stands, and a later call continues it.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping

from certseal.errors import invalid
from certseal.events import OutboxRecord
from certseal.indexkeys import IndexSealer
from certseal.rpc import Caller
from certseal.timestamps import Clock
from services.issuer.domain import LicenceType, Operation, SigningKey, Status
from services.issuer.events import licence_event, trust_event
from services.issuer.limits import DEFAULT_REPUBLISH_EVENTS, MAX_REPUBLISH_EVENTS
from services.issuer.service.common import Auditor, require_operator
from services.issuer.storage import IssuerStore
from services.issuer.storage.republish import RepublishRun

__all__ = ["RepublishRun", "Republisher"]
from services.issuer.storage.rows import StoredLicence

ACTOR = "service:republish"
DEFAULT_MAX_EVENTS = DEFAULT_REPUBLISH_EVENTS
MAX_EVENTS = MAX_REPUBLISH_EVENTS
BATCH = 1_000

_BY_STATUS = {
    Status.SUSPENDED: "licence.suspended",
    Status.REVOKED: "licence.revoked",
    Status.REVOKED_AS_SANCTION: "licence.revoked",
    Status.CANCELLED: "licence.cancelled",
    Status.EXPIRED: "licence.expired",
    Status.TRANSFERRED_OUT: "licence.transferred",
}
_BY_OPERATION = {
    Operation.RENEW: "licence.renewed",
    Operation.AMEND: "licence.amended",
    Operation.UNSUSPEND: "licence.unsuspended",
    Operation.TRANSFER_IN: "licence.transferred",
}


def licence_event_type(status: Status, operation: Operation) -> str:
    """The event type of the change that left a version in ``status`` by
    ``operation`` (the types of services.issuer.events)."""
    if status in _BY_STATUS:
        return _BY_STATUS[status]
    return _BY_OPERATION.get(operation, "licence.issued")


def key_event_type(status: str) -> str:
    """``key.activated``, ``key.retired`` or ``key.revoked`` for a key's status."""
    return {"active": "key.activated", "retired": "key.retired"}.get(
        status, "key.revoked"
    )


def _marked(record: OutboxRecord) -> OutboxRecord:
    return dataclasses.replace(
        record, headers={**record.headers, "ce_republished": "true"}
    )


def republished_licence(
    stored: StoredLicence, types: Mapping[str, LicenceType], sealer: IndexSealer
) -> OutboxRecord:
    """The event of a lineage's current version as it stands, its version unchanged
    (``types``: the registered licence types by code, for the restricted fields, which
    ``sealer`` seals afresh with the current index key).

    Raises KeyError for a licence of a type not in ``types``."""
    licence_type = types[stored.record.type_code]
    # typed: a stored record's fields are empty until its type reads clear_fields
    record = stored.typed(licence_type)
    return _marked(
        licence_event(
            record,
            licence_type,
            licence_event_type(record.status, record.last_operation),
            actor=ACTOR,
            reason=record.status_reason,
            sealer=sealer,
        )
    )


def republished_key(key: SigningKey) -> OutboxRecord:
    """The trust event of a key as it stands, its ``key_version`` unchanged."""
    at = key.revoked_at or key.retired_at or key.created_at
    return _marked(
        trust_event(
            key,
            key_event_type(key.status),
            actor=ACTOR,
            reason=key.revocation_reason,
            at=at,
        )
    )


class Republisher:
    """The operator's ``IssuerAdmin/Republish``."""

    def __init__(
        self,
        *,
        store: IssuerStore,
        auditor: Auditor,
        clock: Clock,
        sealer: IndexSealer,
        batch: int = BATCH,
    ):
        self._store = store
        self._sealer = sealer
        self._auditor = auditor
        self._clock = clock
        self._batch = batch

    async def republish(
        self, caller: Caller, *, restart: bool = False, max_events: int = 0
    ) -> RepublishRun:
        """Continue the unfinished run (or start one; ``restart``: start afresh) for
        at most ``max_events`` events (0: 10,000; at most 100,000); the run after it.

        Raises PERMISSION_DENIED for anyone but an operator (audited as a refused
        ``republish.start``), INVALID_ARGUMENT for a ``max_events`` over 100,000.
        """
        async with self._auditor.refusals(caller, "republish.start", "-"):
            require_operator(caller)
        if max_events < 0 or max_events > MAX_EVENTS:
            raise invalid("max_events", f"must be 0 to {MAX_EVENTS:,}")
        budget = max_events or DEFAULT_MAX_EVENTS
        run = await self._store.open_republish_run(
            str(caller), self._clock(), restart=restart
        )
        if not run.resumed or restart:
            await self._store.audit(
                [self._auditor.entry(caller, "republish.start", str(run.run_id))]
            )
        start = run.published
        types = {t.type_code: t for t, _ in await self._store.list_licence_types()}
        while run.part != "done" and run.published - start < budget:
            limit = min(self._batch, budget - (run.published - start))
            if run.part == "trust":
                run = await self._store.republish_keys(run, limit, republished_key)
            else:
                run = await self._store.republish_lineages(
                    run,
                    limit,
                    functools.partial(
                        republished_licence, types=types, sealer=self._sealer
                    ),
                )
        if run.part == "done":
            await self._store.audit(
                [
                    self._auditor.entry(
                        caller,
                        "republish.done",
                        str(run.run_id),
                        published=run.published,
                    )
                ]
            )
        return run
