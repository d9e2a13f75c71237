"""Issuer storage: the only writer of the issuer's tables, and the issuer's only
asyncpg importer.

Every mutation writes its rows, its outbox rows and its audit rows in ONE transaction,
which the store opens and commits. When an event or an audit row depends on the row
locked in that transaction, the service passes a callback that builds them from it.
Issuance is a single statement (data-modifying CTEs) so that a licence costs one round
trip; the signing key is re-checked as active, under a share lock, in that statement.

Rooms: ``directory`` (departments, licence types), ``keys`` (signing keys),
``licences`` (licences and lineages), ``holder_apps`` (holder-app grants),
``authorisations`` (授权用证), ``republish`` (republishing runs), ``usage`` (the usage
record) and ``rows`` (rows as domain values).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import asyncpg

from certseal.audit import AuditEntry
from certseal.storage.audit import RefusalAudit, write_audit
from certseal.storage.pool import migrate_service
from services.issuer.storage.authorisations import AuthorisationStore
from services.issuer.storage.directory import DirectoryStore
from services.issuer.storage.holder_apps import HolderAppStore
from services.issuer.storage.keys import KeyStore
from services.issuer.storage.licences import LicenceStore
from services.issuer.storage.republish import RepublishStore
from services.issuer.storage.usage import UsageStore

MIGRATIONS = Path(__file__).parent.parent / "migrations"


async def migrate_all(pool: asyncpg.Pool) -> list[str]:
    """Kernel then issuer migrations; the names of the files applied now."""
    return await migrate_service(pool, "issuer", MIGRATIONS)


class IssuerStore(
    DirectoryStore,
    KeyStore,
    LicenceStore,
    HolderAppStore,
    RepublishStore,
    AuthorisationStore,
    UsageStore,
    RefusalAudit,
):
    """Queries and transactions of the issuer over one pool (and refused
    operations)."""

    def __init__(self, pool: asyncpg.Pool):
        RefusalAudit.__init__(self, pool)

    async def audit(self, entries: Sequence[AuditEntry]) -> None:
        """Write audit rows on their own (refusals: :meth:`audit_refusal`)."""
        await write_audit(self.pool, entries)
