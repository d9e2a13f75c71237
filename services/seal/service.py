"""The seal service: register and revoke seals, seal documents, verify sealed documents.

Registering a seal (boulder's cycle: check, reserve, sign once, persist):
1. check the caller may register for the owner and the request is well-formed;
2. generate the seal's own key and have the seal CA certify it (CN ``seal:<id>``);
3. build SES_SealInfo with that certificate as the only signer certificate and the
   picture (supplied PNG, or generated), and have the platform's seal maker of the
   seal's suite sign it;
4. store the seal, its wrapped key, the ``seal.registered`` event and the audit row in
   one transaction.

Only a department onboarded with the ``seal_owner`` role (or an operator) registers,
lists and revokes its seals (:meth:`SealService.owner_action`; the roles are read from
the issuer's ``departments`` table, see :mod:`services.seal.storage`). Only the seal's
signer identities (mTLS identities) may seal with it; any other caller is refused and
the refusal audited. Documents never leave the request: events carry the
digest only. Sealing and verifying PDFs live in :mod:`services.seal.pdf_service`; the
events are built in :mod:`services.seal.events`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from certseal.audit import AuditEntry
from certseal.bounds import MAX_DOCUMENT_BYTES
from certseal.crypto import KeyWrapper, Signer, Suite, digest
from certseal.errors import (
    CertsealError,
    ErrorKind,
    denied,
    invalid,
    not_found,
    precondition,
)
from certseal.events import OutboxRecord
from certseal.hsm import Pkcs11Token
from certseal.identifiers import validate_uscc
from certseal.logs import REQUEST_ID
from certseal.paging import page
from certseal.rpc import Caller
from certseal.storage.idempotency import in_request_scope
from certseal.timestamps import Clock, utcnow
from services.seal.certificates import SealCa, issue_certificate
from services.seal.domain import Seal
from services.seal.events import document_sealed, seal_changed
from services.seal.groupcommit import SealedGroupCommit
from services.seal.keys import SealKeys
from services.seal.limits import check_document_size
from services.seal.offload import SealOffload
from services.seal.picture import SEAL_MM, round_seal
from services.seal.registration import (
    RegisterSealInput,
    check_seal_id,
    may_sign,
    new_seal_id,
    revocation_reason,
    validate_registration,
)
from services.seal.ses import Picture, make_seal, seal_info, sign_document
from services.seal.statusreads import StatusReads
from services.seal.storage import MakerRow, SealedRecord, SealStore
from services.seal.trust import TrustStore
from services.seal.tsa import Timestamper
from services.seal.verification import KeptVerifications, SealVerifying

SEAL_OWNER = "seal_owner"  # the department role that owns seals
ROW_CACHE = 4096
"""Seal rows SealDocument may reuse (:meth:`SealService.usable`, ``kept``)."""
INLINE_DIGEST_BYTES = 16 * 1024
"""A document of at most this many bytes is digested on the event loop: SM3 of 16 KiB
takes about 50 µs, SHA-256 about 11 µs, while the hop to a worker thread and back
costs about 45 µs of CPU (measured on the 2-core bench machine); larger documents
go to the worker threads within the admission bound."""


@dataclass(frozen=True)
class SealedDocument:
    """A document's SES_Signature and what it signed."""

    signature: bytes
    document_hash: bytes
    signed_at: dt.datetime


class SealService(SealVerifying):
    """Seals over the seal store; the caller's identity decides what it may do."""

    def __init__(
        self,
        *,
        store: SealStore,
        wrapper: KeyWrapper,
        seal_ca: SealCa,
        clock: Clock = utcnow,
        vendor_id: str = "certseal",
        max_document_bytes: int = MAX_DOCUMENT_BYTES,
        trust: TrustStore | None = None,
        sm2_ca: SealCa | None = None,
        token: Pkcs11Token | None = None,
        timestamper: Timestamper | None = None,
        tsa_trust: TrustStore | None = None,
        offload: SealOffload | None = None,
        kept_verifications: int = 4096,
    ):
        self.timestamper, self.tsa_trust = timestamper, tsa_trust or TrustStore()
        self.offload = offload or SealOffload()  # CPU work off the loop, admitted
        # what verifications found in the bytes alone (services.seal.verification)
        self.kept_verifications = KeptVerifications(kept_verifications)
        self._trust = trust or TrustStore()
        self._sm2_ca = sm2_ca
        self._store = store
        self._keys = SealKeys(wrapper, token)  # [pkcs11]: its suites' keys in the token
        self._ca = seal_ca
        self._clock = clock
        self._vendor_id = vendor_id
        self.max_document_bytes = max_document_bytes
        self._makers: dict[Suite, tuple[Signer, bytes]] = {}
        self._records = SealedGroupCommit(store.record_sealed)
        self.status_reads = StatusReads(store.statuses)  # verifications' reads
        self._rows: dict[str, Seal] = {}  # see usable(kept=True)

    def now(self) -> dt.datetime:
        """The service's clock."""
        return self._clock()

    def ca_for(self, suite: Suite) -> SealCa:
        """The seal CA that certifies ``suite``'s seals and makers: the SM2 seal CA
        for sm2 when one is configured, the P-256 seal CA otherwise."""
        if suite is Suite.SM2 and self._sm2_ca is not None:
            return self._sm2_ca
        return self._ca

    @property
    def own_cas(self) -> tuple[bytes, ...]:
        """The DER certificates of the platform's own seal CAs."""
        return (self._ca.cert,) + ((self._sm2_ca.cert,) if self._sm2_ca else ())

    async def _maker(self, suite: Suite) -> tuple[Signer, bytes]:
        """The platform's seal maker in ``suite`` (created and certified on first use).

        Makers belong to the seal CA that certified them: a new CA gets new makers.
        """
        if suite in self._makers:
            return self._makers[suite]
        ca = self.ca_for(suite)
        row = await self._store.maker(suite.value, ca.fingerprint)
        if row is None:
            kid, public_key, stored = await self._keys.new(suite)
            now = self._clock()
            cert = issue_certificate(
                ca_key=ca.key,
                ca_cert=ca.cert,
                common_name=f"service:seal-maker-{suite.value}",
                public_key_der=public_key,
                not_before=now - dt.timedelta(minutes=5),
                not_after=now + dt.timedelta(days=3660 * 2),
            )
            row = await self._store.insert_maker(
                MakerRow(suite.value, ca.fingerprint, kid, public_key, stored, cert),
                now,
            )
        signer = self._keys.signer(suite, row.public_key, row.wrapped_key)
        self._makers[suite] = (signer, row.certificate)
        return self._makers[suite]

    async def _refuse(
        self, caller: Caller, action: str, subject: str, why: str, field: str = "as"
    ) -> None:
        await self._audit_refusal(caller, action, subject, why)
        raise denied(why, field=field)

    async def _audit_refusal(
        self, caller: Caller, action: str, subject: str, why: str
    ) -> None:
        await self._store.audit_refusal(
            at=self._clock(), actor=str(caller), action=action, subject=subject, why=why
        )

    async def owner_action(
        self, caller: Caller, owner_code: str, action: str, subject: str, what: str
    ) -> None:
        """Let an operator, or department ``owner_code`` itself while it has the
        seal_owner role, do ``what`` (``action`` on ``subject``); an audited
        PERMISSION_DENIED for anyone else."""
        if caller.kind == "operator":
            return
        if str(caller) != f"dept:{owner_code}":
            await self._refuse(caller, action, subject, f"{caller} may not {what}")
        roles = await self._store.department_roles(owner_code)
        if roles is None:
            await self._refuse(
                caller,
                action,
                subject,
                f"department {owner_code} is not onboarded (an operator onboards it "
                "with the seal_owner role: 'certseal department add CODE --roles "
                "...,seal_owner')",
            )
        elif SEAL_OWNER not in roles:
            await self._refuse(
                caller,
                action,
                subject,
                f"department {owner_code} does not have the seal_owner role (an "
                "operator gives it: 'certseal department roles CODE --roles "
                "...,seal_owner')",
            )

    async def register(self, caller: Caller, data: RegisterSealInput) -> Seal:
        """Register a seal for ``data.owner_code``: the owner itself, onboarded with
        the seal_owner role, or an operator for such an owner (INVALID_ARGUMENT on
        ``owner_code`` otherwise)."""
        await self.owner_action(
            caller,
            data.owner_code,
            "seal.register",
            data.owner_code,
            f"register seals for {data.owner_code}",
        )
        async with self.offload.admit("RegisterSeal", len(data.picture_png)):
            # the picture is decoded (within its pixel bound) off the event loop
            await self.offload.run("picture_png", validate_registration, data)
        if caller.kind == "operator":  # (a department's own role was checked above)
            roles = await self._store.department_roles(data.owner_code)
            if roles is None or SEAL_OWNER not in roles:
                raise invalid(
                    "owner_code",
                    f"department {data.owner_code} is not onboarded with the "
                    "seal_owner role",
                )
        # the SES structures and certificates carry whole seconds: so does the row
        data = dataclasses.replace(
            data,
            valid_start=data.valid_start.replace(microsecond=0),
            valid_end=data.valid_end.replace(microsecond=0),
        )
        now = self._clock()
        seal_id = new_seal_id(data.owner_code)
        kid, public_key, stored = await self._keys.new(data.suite)
        ca = self.ca_for(data.suite)
        certificate = issue_certificate(
            ca_key=ca.key,
            ca_cert=ca.cert,
            common_name=f"seal:{seal_id}",
            public_key_der=public_key,
            not_before=data.valid_start,
            not_after=data.valid_end,
        )
        if data.picture_png:
            picture = Picture("png", data.picture_png, SEAL_MM, SEAL_MM)
        else:  # drawn with Pillow: off the event loop
            picture = await self.offload.run(
                "name", round_seal, data.name, data.seal_type
            )
        maker, maker_cert = await self._maker(data.suite)
        seal = await make_seal(
            seal_info(
                es_id=seal_id,
                seal_type=data.seal_type,
                name=data.name,
                signer_certs=[certificate],
                created=now,
                valid_start=data.valid_start,
                valid_end=data.valid_end,
                picture=picture,
                vendor_id=self._vendor_id,
            ),
            maker=maker,
            maker_cert=maker_cert,
        )
        row = Seal(
            seal_id=seal_id,
            owner_code=data.owner_code,
            seal_type=data.seal_type,
            name=data.name,
            suite=data.suite.value,
            status="active",
            valid_start=data.valid_start,
            valid_end=data.valid_end,
            signers=data.signers,
            kid=kid,
            wrapped_key=stored,
            certificate=certificate,
            seal=seal,
            created_at=now,
            revoked_at=None,
            revocation_reason="",
            seal_version=1,
        )
        audit = AuditEntry(
            now,
            str(caller),
            "seal.register",
            seal_id,
            details={"type": data.seal_type, "suite": data.suite.value},
        )
        event = seal_changed(
            row, "seal.registered", actor=str(caller), at=self._clock()
        )
        try:
            await self._store.insert(row, [event], [audit])
        except CertsealError as exc:  # the role taken meanwhile: a refusal, audited
            if exc.kind is ErrorKind.FAILED_PRECONDITION:
                await self._audit_refusal(
                    caller, "seal.register", data.owner_code, exc.message
                )
            raise
        return row

    async def get(self, caller: Caller, seal_id: str) -> Seal:
        """A seal: anyone authenticated may see a seal's public state. Raises
        INVALID_ARGUMENT for text that is not a seal id (:func:`check_seal_id`) and
        NOT_FOUND for an id no seal has."""
        row = await self._store.get(check_seal_id(seal_id))
        if row is None:
            raise not_found(f"seal {seal_id}", field="seal_id")
        return row

    async def list_seals(
        self, caller: Caller, owner_code: str, *, page_size: int, page_token: str
    ) -> tuple[list[Seal], str]:
        """A page of ``owner_code``'s seals (the owner itself or an operator; empty:
        the calling department's own). INVALID_ARGUMENT (``owner_code``) when it is
        no USCC, not onboarded (asked by an operator: a department is refused
        below, audited), or empty and the caller no department (nu24)."""
        if not owner_code and caller.kind != "dept":  # an operator owns no seals
            raise invalid("owner_code", "give the department whose seals to list")
        owner_code = owner_code or caller.name
        validate_uscc(owner_code, "owner_code")
        if caller.kind == "operator" and (
            await self._store.department_roles(owner_code) is None
        ):
            raise invalid("owner_code", f"department {owner_code} is not onboarded")
        await self.owner_action(
            caller, owner_code, "seal.list", owner_code, f"list {owner_code}'s seals"
        )
        window = page(page_size, page_token)
        rows = await self._store.list(
            owner_code, after=window.after, limit=window.limit + 1
        )
        return window.split(rows, lambda row: row.seal_id)

    async def revoke(self, caller: Caller, seal_id: str, reason: str) -> Seal:
        """Revoke a seal (its owner or an operator)."""
        row = await self.get(caller, seal_id)
        await self.owner_action(
            caller, row.owner_code, "seal.revoke", seal_id, f"revoke {seal_id}"
        )
        revocation_reason(reason)
        now = self._clock()

        def records(revoked: Seal) -> tuple[list[OutboxRecord], list[AuditEntry]]:
            return (
                [
                    seal_changed(
                        revoked, "seal.revoked", actor=str(caller), at=self._clock()
                    )
                ],
                [
                    AuditEntry(
                        now,
                        str(caller),
                        "seal.revoke",
                        seal_id,
                        details={"reason": reason},
                    )
                ],
            )

        revoked = await self._store.revoke(
            seal_id, at=now, reason=reason, make_records=records
        )
        if revoked is None:
            raise precondition(f"seal {seal_id} is already revoked", field="seal_id")
        return revoked

    async def usable(
        self, caller: Caller, seal_id: str, *, kept: bool = False
    ) -> tuple[Seal, dt.datetime]:
        """The seal and the time now, if ``caller`` is one of its signers and it may be
        used now (active, and now within its validity).

        ``kept``: the row may be the one this process read before (at most
        :data:`ROW_CACHE` kept): a seal's signers, validity, certificate, key and
        SESeal never change, only its status (active → revoked, never back). Only for
        a caller that checks the status again in the statement writing its records
        (SealDocument: :meth:`SealStore.record_sealed`), so a revocation is never
        missed; reading the row was about a tenth of SealDocument's CPU
        (bench/seal_bench.py, BENCH_PROFILE=1).

        Raises ``CertsealError``: NOT_FOUND, PERMISSION_DENIED (the refusal is
        audited) or FAILED_PRECONDITION (revoked, or outside its validity).
        """
        row = self._rows.get(seal_id) if kept else None
        if row is None:
            row = await self.get(caller, seal_id)
            if len(self._rows) >= ROW_CACHE:
                del self._rows[next(iter(self._rows))]  # the oldest
            self._rows[seal_id] = row
        if not may_sign(caller, row.signers):
            await self._refuse(
                caller,
                "seal.use",
                seal_id,
                f"{caller} is not a signer of seal {seal_id}",
            )
        now = self._clock()
        if row.status != "active":
            raise precondition(f"seal {seal_id} is revoked", field="seal_id")
        if not row.valid_start <= now <= row.valid_end:
            raise precondition(f"seal {seal_id} is not valid now", field="seal_id")
        return row, now

    def signer(self, row: Seal) -> Signer:
        """The seal's own signing key (:meth:`SealKeys.seal_signer`: kept, checked)."""
        return self._keys.seal_signer(
            row.seal_id, Suite(row.suite), row.certificate, row.wrapped_key
        )

    async def seal_document(
        self,
        caller: Caller,
        seal_id: str,
        *,
        document: bytes | None,
        document_hash: bytes | None,
        property_info: str,
        before_record: Callable[[bytes], Awaitable[None]] | None = None,
    ) -> SealedDocument:
        """The SES_Signature of a document (or of its digest) under ``seal_id``;
        ``before_record(signature)`` runs before the use is recorded: what it raises
        (a sealed file that may not be given out) records nothing."""
        # the status is checked again where the records are written
        row, now = await self.usable(caller, seal_id, kept=True)
        suite = Suite(row.suite)
        named = "SM3" if suite is Suite.SM2 else "SHA-256"  # the suite's digest
        if document is not None:  # `certseal seal document` always sends the digest
            check_document_size(
                "document",
                len(document),
                self.max_document_bytes,
                hint=f": send its 32-byte {named} digest (document_digest) instead",
            )
            if len(document) <= INLINE_DIGEST_BYTES:
                data_hash = digest(suite, document)
            else:
                async with self.offload.admit("SealDocument", len(document)):
                    data_hash = await self.offload.run(
                        "document", digest, suite, document
                    )
        elif document_hash is not None and len(document_hash) == 32:
            data_hash = document_hash
        else:
            raise invalid(
                "document_hash",
                f"give the document or its 32-byte {named} digest",
            )
        signature = await sign_document(
            row.seal,
            data_hash=data_hash,
            signed_at=now,
            property_info=property_info,
            signer=self.signer(row),
            signer_cert=row.certificate,
            time_stamp=self.timestamper.stamp if self.timestamper else None,
        )
        if before_record is not None:
            await before_record(signature)
        event = document_sealed(
            row,
            actor=str(caller),
            at=self._clock(),
            document_digest=data_hash,
            digest_algorithm="sm3" if suite is Suite.SM2 else "sha256",
            signed_at=now,
        )
        audit = AuditEntry(
            now,
            str(caller),
            "seal.use",
            seal_id,
            details={"digest": data_hash.hex()},
            request_id=REQUEST_ID.get(),
        )
        record = SealedRecord(seal_id, [event], [audit])
        if in_request_scope():  # the request's own held transaction
            written = seal_id in await self._store.record_sealed([record])
        else:  # one statement shared with the seals waiting beside it
            written = await self._records.record(record)
        if not written:
            self._rows.pop(seal_id, None)  # read it again next time: revoked
            raise precondition(f"seal {seal_id} is revoked", field="seal_id")
        return SealedDocument(signature, data_hash, now.replace(microsecond=0))
