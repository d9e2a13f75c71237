"""The issuer's use cases, split by aggregate, behind one facade.

- :mod:`.directory`: departments and licence types;
- :mod:`.keys`: signing keys (create, rotate, retire, revoke) and the keyring;
- :mod:`.issuance`: issue one licence or a batch;
- :mod:`.lifecycle`: renew, amend, suspend, unsuspend, revoke, cancel, expire,
  transfer;
- :mod:`.codes`: licence codes and presentation codes;
- :mod:`.holder`: the licence file and 授权用证 (authorise, withdraw, redeem);
- :mod:`.holder_files`: the licence file and the annotated copy, rendered and sealed;
- :mod:`.holder_apps`: the operator's grants of licence types to holder apps;
- :mod:`.republish`: the topics rebuilt from PostgreSQL after Kafka was lost;
- :mod:`.usage`: the usage record (用证记录): listing, entries from the topics,
  retention;
- :mod:`.reading` (get, list) and :mod:`.common` (audit, caller checks) serve them all.

Use cases know nothing about gRPC or protobuf, take and return domain values, open no
transaction (the store does) and raise :class:`certseal.errors.CertsealError`.
"""

from __future__ import annotations

import logging

from certseal.crypto import KeyWrapper, Suite
from certseal.indexkeys import IndexSealer
from certseal.protectors import PersonalDataProtector
from certseal.timestamps import Clock, utcnow
from services.issuer.document import DocumentRenderer, DocumentTemplate
from services.issuer.service.codes import Codes
from services.issuer.service.common import Auditor
from services.issuer.service.directory import Directory
from services.issuer.service.holder import HolderSide
from services.issuer.service.holder_apps import HolderApps
from services.issuer.service.issuance import Issuance
from services.issuer.service.keys import Keyring, Keys
from services.issuer.service.licensing import Licensing
from services.issuer.service.lifecycle import Lifecycle
from services.issuer.service.reading import Reader
from services.issuer.service.republish import Republisher
from services.issuer.service.sealing import DocumentSealer
from services.issuer.service.usage import UsageRecord
from services.issuer.storage import IssuerStore
from services.issuer.usage import DEFAULT_RETENTION_DAYS

log = logging.getLogger(__name__)


class IssuerService:
    """Everything the Issuer and IssuerAdmin RPCs and the expiry sweep call.

    Composes the parts over one store and one clock; each use case is the bound method
    of the part that owns it (so its signature and docstring are there).
    """

    def __init__(
        self,
        *,
        store: IssuerStore,
        keyring: Keyring,
        wrapper: KeyWrapper,
        protector: PersonalDataProtector,
        sealer: IndexSealer,
        clock: Clock = utcnow,
        platform_code: str,
        platform_name: str = "certseal platform",
        presentation_suite: Suite = Suite.ES256,
        presentation_ttl_s: int = 60,
        presentation_max_ttl_s: int = 600,
        max_batch: int = 1000,
        usage_retention_days: int = DEFAULT_RETENTION_DAYS,
        document_sealer: DocumentSealer | None = None,
        renderer: DocumentRenderer | None = None,
        templates: dict[str, DocumentTemplate] | None = None,
    ):
        self.keyring = keyring
        auditor = Auditor(store=store, clock=clock)
        #: record a refusal made before a use case runs (a caller of a kind the
        #: RPC service refuses: services.issuer.admin_servicer.audit_refused_call)
        self.audit_refusal = auditor.refused
        #: one audit row per holder-side and redemption call (Auditor.attempt)
        self.attempt = auditor.attempt
        self.directory = Directory(
            store=store,
            auditor=auditor,
            clock=clock,
            platform_code=platform_code,
            platform_name=platform_name,
            fonts=renderer.fonts if renderer else None,
        )
        self.keys = Keys(
            store=store,
            keyring=keyring,
            wrapper=wrapper,
            auditor=auditor,
            clock=clock,
            platform_code=platform_code,
            presentation_suite=presentation_suite,
        )
        self.reader = Reader(
            store=store, directory=self.directory, protector=protector, auditor=auditor
        )
        parts = Licensing(
            store=store,
            directory=self.directory,
            reader=self.reader,
            keyring=keyring,
            protector=protector,
            sealer=sealer,
            auditor=auditor,
            clock=clock,
        )
        self.issuance = Issuance(parts, max_batch=max_batch)
        self.lifecycle = Lifecycle(parts)
        self.codes = Codes(
            parts,
            presentation_ttl_s=presentation_ttl_s,
            presentation_max_ttl_s=presentation_max_ttl_s,
        )
        self.holder_apps = HolderApps(
            store=store, directory=self.directory, auditor=auditor, clock=clock
        )
        self.usage = UsageRecord(
            store=store,
            reader=self.reader,
            auditor=auditor,
            clock=clock,
            retention_days=usage_retention_days,
        )
        self.holder = HolderSide(
            store=store,
            reader=self.reader,
            directory=self.directory,
            codes=self.codes,
            protector=protector,
            auditor=auditor,
            clock=clock,
            sealer=document_sealer,
            renderer=renderer,
            platform_code=platform_code,
            templates=templates,
        )
        self.max_batch = max_batch
        # directory
        self.onboard_department = self.directory.onboard_department
        self.list_departments = self.directory.list_departments
        self.set_department_roles = self.directory.set_department_roles
        self.register_licence_type = self.directory.register_licence_type
        self.set_licence_type_issuers = self.directory.set_licence_type_issuers
        self.list_licence_types = self.directory.list_licence_types
        # holder apps
        self.grant_holder_app = self.holder_apps.grant
        self.revoke_holder_app = self.holder_apps.revoke
        self.list_holder_app_grants = self.holder_apps.list
        # keys
        self.create_key = self.keys.create_key
        self.rotate_key = self.keys.rotate_key
        self.change_key_status = self.keys.change_key_status
        self.list_keys = self.keys.list_keys
        # licences
        self.issue = self.issuance.issue
        self.issue_many = self.issuance.issue_many
        self.file_warnings = self.holder.undrawn_values
        self.get = self.reader.get
        self.list = self.reader.list
        self.load = self.reader.load
        self.new_version = self.lifecycle.new_version
        self.change_status = self.lifecycle.change_status
        self.transfer = self.lifecycle.transfer
        self.expire_due = self.lifecycle.expire_due
        self.licence_code = self.codes.licence_code
        self.presentation_code = self.codes.presentation_code
        # the usage record
        self.list_usage = self.usage.list
        # disaster recovery
        self.republish = Republisher(
            store=store, auditor=auditor, clock=clock, sealer=sealer
        ).republish

    async def ensure_platform(self) -> None:
        """The platform department and its presentation key exist, and every
        department and licence type has been announced to the verifiers (idempotent;
        announces, once, what an upgraded database registered before directory
        events)."""
        await self.directory.ensure_platform_department()
        await self.keys.ensure_presentation_key()
        announced = await self.directory.announce_directory()
        if announced:
            log.info(
                "announced %d departments and licence types registered before "
                "directory events",
                announced,
            )
