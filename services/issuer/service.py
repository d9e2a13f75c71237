"""The issuer's application layer: authorisation, the issuance cycle, transitions, keys
and codes. Knows nothing about gRPC; raises :class:`CertsealError`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import hashlib
import json
import os
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

import asyncpg

from certseal import codes
from certseal.audit import AuditEntry, write_audit
from certseal.crypto import (
    KeyWrapper,
    PersonalDataProtector,
    SoftwareSigner,
    Suite,
    generate_key,
)
from certseal.errors import (
    CertsealError,
    ErrorKind,
    denied,
    invalid,
    not_found,
    precondition,
)
from certseal.events import (
    LICENCE_EVENTS,
    TRUST_EVENTS,
    OutboxRecord,
    cloudevent,
    new_event_id,
    write_outbox,
)
from certseal.identifiers import (
    LICENCE_OID_PREFIX,
    LicenceId,
    mint_serial,
    parse_licence_id,
    validate_uscc,
)
from certseal.logs import REQUEST_ID
from certseal.rpc import Caller
from certseal.timestamps import Clock, ts, utcnow
from certseal.v1 import events_pb2, licence_pb2
from services.issuer import domain
from services.issuer.domain import (
    Action,
    FieldValue,
    Holder,
    LicenceRecord,
    LicenceType,
    Operation,
    Status,
)
from services.issuer.storage import (
    DepartmentRow,
    IssuerStore,
    KeyRow,
    LineageTx,
    NewLicence,
    decode_fields,
    dumps,
    encode_fields,
    insert_key,
    lock_lineage,
    record_from_row,
    update_key,
)

ROLES = ("issuer", "counter", "seal_owner", "integrator")
_LINEAGE_RE = re.compile(
    re.escape(LICENCE_OID_PREFIX) + r"[0-9A-Z]{21}\.[0-9A-Z]+\.[0-9A-Z]+"
)


def proto_status(status: Status) -> licence_pb2.LicenceStatus:
    """The protobuf enum of a status (its numbers are the national codes)."""
    return cast(licence_pb2.LicenceStatus, int(status.value))


def proto_operation(operation: Operation) -> licence_pb2.LicenceOperation:
    """The protobuf enum of an operation (its numbers are the national codes)."""
    return cast(licence_pb2.LicenceOperation, int(operation.value))


@dataclass(frozen=True, slots=True)
class IssueInput:
    """One licence to issue, validated shape-wise by the servicer."""

    type_code: str
    holder: Holder
    fields: dict[str, FieldValue]
    valid_from: dt.datetime | None = None
    valid_until: dt.datetime | None = None
    idempotency_key: str = ""

    def request_hash(self) -> bytes:
        """What a retry with the same idempotency key must repeat exactly."""
        body = {
            "t": self.type_code,
            "h": [self.holder.name, self.holder.id_type, self.holder.id_number],
            "f": encode_fields(self.fields),
            "from": self.valid_from.isoformat() if self.valid_from else None,
            "until": self.valid_until.isoformat() if self.valid_until else None,
        }
        return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).digest()


class Keyring:
    """Signers for keys kept in the database, decrypted once and cached by kid."""

    def __init__(self, *, store: IssuerStore, wrapper: KeyWrapper, ttl_s: float = 5.0):
        self._store = store
        self._wrapper = wrapper
        self._ttl_s = ttl_s
        self._signers: dict[str, SoftwareSigner] = {}
        self._active: dict[str, tuple[float, str | None]] = {}

    def signer_for(self, key: KeyRow) -> SoftwareSigner:
        """The signer of a stored key."""
        signer = self._signers.get(key.kid)
        if signer is None:
            signer = self._wrapper.unwrap_signer(
                Suite(key.suite), key.public_key, key.wrapped_private_key
            )
            self._signers[key.kid] = signer
        return signer

    async def active_signer(
        self, department: str, now: dt.datetime
    ) -> SoftwareSigner | None:
        """The department's newest active key (cached for a few seconds)."""
        cached = self._active.get(department)
        if cached is None or cached[0] < time.monotonic():
            keys = await self._store.department_keys(department)
            active = next(
                (
                    k
                    for k in keys
                    if k.status == "active"
                    and k.not_before <= now < k.not_after
                    and not k.presentation
                ),
                None,
            )
            if active is not None:
                self.signer_for(active)
            cached = (time.monotonic() + self._ttl_s, active.kid if active else None)
            self._active[department] = cached
        return self._signers.get(cached[1]) if cached[1] else None

    def forget(self, department: str) -> None:
        """Drop the cached active key of a department (after a key change)."""
        self._active.pop(department, None)


class IssuerService:
    """Everything the Issuer and IssuerAdmin RPCs do."""

    def __init__(
        self,
        *,
        store: IssuerStore,
        keyring: Keyring,
        wrapper: KeyWrapper,
        protector: PersonalDataProtector,
        clock: Clock = utcnow,
        platform_code: str,
        platform_name: str = "certseal platform",
        presentation_suite: Suite = Suite.ES256,
        presentation_ttl_s: int = 60,
        presentation_max_ttl_s: int = 600,
        max_batch: int = 1000,
    ):
        self.store = store
        self.keyring = keyring
        self._wrapper = wrapper
        self._protector = protector
        self._clock = clock
        self._platform_code = platform_code
        self._platform_name = platform_name
        self._presentation_suite = presentation_suite
        self._presentation_ttl_s = presentation_ttl_s
        self._presentation_max_ttl_s = presentation_max_ttl_s
        self.max_batch = max_batch
        self._types: dict[str, LicenceType] = {}
        self._departments: dict[str, tuple[float, DepartmentRow | None]] = {}

    # -- helpers ----------------------------------------------------------------

    def _audit(
        self,
        caller: Caller | str,
        action: str,
        subject: str,
        outcome: str = "ok",
        **details: Any,
    ) -> AuditEntry:
        return AuditEntry(
            self._clock(),
            str(caller),
            action,
            subject,
            outcome,
            details,
            REQUEST_ID.get(),
        )

    async def _deny(
        self, caller: Caller, action: str, subject: str, message: str
    ) -> CertsealError:
        await write_audit(
            self.store.pool,
            [self._audit(caller, action, subject, "denied", message=message)],
        )
        return denied(message)

    async def licence_type(
        self, type_code: str, field: str = "type_code"
    ) -> LicenceType:
        """A registered licence type (types are immutable, so cached for good)."""
        found = self._types.get(type_code)
        if found is None:
            row = await self.store.get_licence_type(type_code)
            if row is None:
                raise invalid(field, f"unknown licence type {type_code!r}")
            found = self._types[type_code] = row[0]
        return found

    async def department(self, code: str) -> DepartmentRow | None:
        """A department (cached for a few seconds)."""
        cached = self._departments.get(code)
        if cached is None or cached[0] < time.monotonic():
            cached = (time.monotonic() + 5.0, await self.store.get_department(code))
            self._departments[code] = cached
        return cached[1]

    async def _issuing_department(self, caller: Caller, action: str) -> DepartmentRow:
        if caller.kind != "dept":
            raise await self._deny(caller, action, "-", f"{caller} is not a department")
        dept = await self.department(caller.name)
        if dept is None or "issuer" not in dept.roles:
            raise await self._deny(
                caller,
                action,
                caller.name,
                f"department {caller.name} does not have the issuer role",
            )
        return dept

    def _require_operator(self, caller: Caller) -> None:
        if caller.kind != "operator":
            raise denied(f"{caller} is not a platform operator")

    # -- administration ---------------------------------------------------------

    async def ensure_platform(self) -> None:
        """The platform department and its presentation key exist (idempotent)."""
        now = self._clock()
        if await self.store.get_department(self._platform_code) is None:
            try:
                await self.store.insert_department(
                    self._platform_code,
                    self._platform_name,
                    [],
                    now,
                    self._audit(
                        "service:issuer", "department.onboard", self._platform_code
                    ),
                )
            except CertsealError as exc:
                if exc.kind is not ErrorKind.ALREADY_EXISTS:
                    raise
        if await self.store.active_presentation_key() is None:
            with contextlib.suppress(asyncpg.UniqueViolationError):
                # another replica may create it at the same moment
                await self._create_key(
                    Caller("service", "issuer"),
                    self._platform_code,
                    self._presentation_suite,
                    730,
                    presentation=True,
                )

    async def onboard_department(
        self, caller: Caller, code: str, name: str, roles: Sequence[str]
    ) -> DepartmentRow:
        """Onboard a department with its roles."""
        self._require_operator(caller)
        validate_uscc(code, "code")
        domain.validate_text("name", name, required=True, limit=200)
        if not roles:
            raise invalid("roles", f"give at least one role of {', '.join(ROLES)}")
        for role in roles:
            if role not in ROLES:
                raise invalid(
                    "roles", f"unknown role {role!r}; expected one of {ROLES}"
                )
        row = await self.store.insert_department(
            code,
            name.strip(),
            sorted(set(roles)),
            self._clock(),
            self._audit(caller, "department.onboard", code, roles=sorted(set(roles))),
        )
        self._departments.pop(code, None)
        return row

    async def register_licence_type(
        self, caller: Caller, t: LicenceType
    ) -> LicenceType:
        """Register a catalogue entry (validated by :func:`domain.validate_licence_type`)."""
        self._require_operator(caller)
        for code in sorted(t.issuer_codes):
            dept = await self.store.get_department(code)
            if dept is None:
                raise invalid("issuer_codes", f"department {code} is not onboarded")
            if "issuer" not in dept.roles:
                raise invalid(
                    "issuer_codes", f"department {code} lacks the issuer role"
                )
        await self.store.insert_licence_type(
            t, self._clock(), self._audit(caller, "licence_type.register", t.type_code)
        )
        return t

    async def _create_key(
        self,
        caller: Caller,
        department_code: str,
        suite: Suite,
        validity_days: int,
        *,
        presentation: bool = False,
        retire: Sequence[KeyRow] = (),
    ) -> tuple[KeyRow, list[KeyRow]]:
        now = self._clock()
        generated = generate_key(suite)
        key = KeyRow(
            kid=generated.kid,
            department_code=department_code,
            suite=suite.value,
            status="active",
            public_key=generated.public_key_der,
            wrapped_private_key=self._wrapper.wrap(
                generated.kid, generated.private_bytes
            ),
            not_before=now,
            not_after=now + dt.timedelta(days=validity_days),
            created_at=now,
            retired_at=None,
            revoked_at=None,
            revocation_reason="",
            key_version=1,
            presentation=presentation,
        )
        retired: list[KeyRow] = []
        async with self.store.pool.acquire() as conn, conn.transaction():
            await insert_key(conn, key)
            events = [self._trust_event(key, "key.activated", caller, "")]
            audits = [
                self._audit(
                    caller,
                    "key.create",
                    key.kid,
                    suite=suite.value,
                    department=department_code,
                )
            ]
            for old in retire:
                row = await update_key(conn, old.kid, status="retired", at=now)
                retired.append(row)
                events.append(self._trust_event(row, "key.retired", caller, "rotated"))
                audits.append(
                    self._audit(caller, "key.retire", row.kid, reason="rotated")
                )
            await write_outbox(conn, events)
            await write_audit(conn, audits)
        self.keyring.forget(department_code)
        return key, retired

    async def create_key(
        self, caller: Caller, department_code: str, suite: str, validity_days: int
    ) -> KeyRow:
        """Create an active signing key for a department."""
        self._require_operator(caller)
        parsed = Suite.parse(suite)
        await self._key_department(department_code, validity_days)
        key, _ = await self._create_key(
            caller, department_code, parsed, validity_days or 730
        )
        return key

    async def rotate_key(
        self, caller: Caller, department_code: str, suite: str, validity_days: int
    ) -> tuple[KeyRow, list[KeyRow]]:
        """A new active key; the department's other active keys of the suite retire."""
        self._require_operator(caller)
        parsed = Suite.parse(suite)
        await self._key_department(department_code, validity_days)
        current = [
            k
            for k in await self.store.department_keys(department_code)
            if k.status == "active" and k.suite == parsed.value and not k.presentation
        ]
        return await self._create_key(
            caller, department_code, parsed, validity_days or 730, retire=current
        )

    async def _key_department(self, code: str, validity_days: int) -> None:
        validate_uscc(code, "department_code")
        if await self.store.get_department(code) is None:
            raise invalid("department_code", f"department {code} is not onboarded")
        if validity_days and not 1 <= validity_days <= 3650:
            raise invalid("validity_days", "must be between 1 and 3650")

    async def change_key_status(
        self,
        caller: Caller,
        kid: str,
        status: str,
        reason: str = "",
        revoked_at: dt.datetime | None = None,
    ) -> KeyRow:
        """Retire or revoke a key (revocation may be back-dated to the compromise)."""
        self._require_operator(caller)
        if not re.fullmatch(r"[0-9a-f]{16}", kid):
            raise invalid("kid", "must be 16 lowercase hexadecimal characters")
        now = self._clock()
        at = now
        if status == "revoked":
            domain.validate_text("reason", reason, required=True, limit=500)
            if revoked_at is not None:
                if revoked_at > now:
                    raise invalid("revoked_at", "must not be in the future")
                at = revoked_at
        async with self.store.pool.acquire() as conn, conn.transaction():
            key = await self.store.get_key(kid, conn, lock=True)
            if key is None:
                raise not_found(f"signing key {kid}")
            allowed = {"retired": {"active"}, "revoked": {"active", "retired"}}[status]
            if key.status not in allowed:
                raise precondition(
                    f"key {kid} is {key.status}; cannot make it {status}"
                )
            if status == "revoked" and at < key.not_before:
                raise invalid("revoked_at", "is before the key became valid")
            row = await update_key(conn, kid, status=status, at=at, reason=reason)
            event = "key.retired" if status == "retired" else "key.revoked"
            await write_outbox(conn, [self._trust_event(row, event, caller, reason)])
            await write_audit(
                conn,
                [
                    self._audit(
                        caller, event.replace("key.", "key."), kid, reason=reason
                    )
                ],
            )
        self.keyring.forget(key.department_code)
        return row

    def _trust_event(
        self, key: KeyRow, event_type: str, caller: Caller | str, reason: str
    ) -> OutboxRecord:
        event_id = new_event_id()
        now = self._clock()
        message = events_pb2.TrustEvent(
            event_id=event_id,
            type=event_type,
            kid=key.kid,
            department_code=key.department_code,
            suite=key.suite,
            status=licence_pb2.KeyStatus.Value(f"KEY_STATUS_{key.status.upper()}"),
            public_key=key.public_key,
            not_before=ts(key.not_before),
            not_after=ts(key.not_after),
            revoked_at=ts(key.revoked_at),
            reason=reason,
            actor=str(caller),
            occurred_at=ts(now),
            key_version=key.key_version,
            presentation_key=key.presentation,
        )
        return cloudevent(
            topic=TRUST_EVENTS,
            key=key.kid,
            message=message,
            event_id=event_id,
            event_type=event_type,
            source=key.department_code,
            time=now,
        )

    # -- issuance ---------------------------------------------------------------

    async def issue(self, caller: Caller, item: IssueInput) -> LicenceRecord:
        """Issue one licence. See :meth:`issue_many` for the cycle."""
        result = (await self.issue_many(caller, [item]))[0]
        if isinstance(result, CertsealError):
            raise result
        return result

    async def issue_many(
        self, caller: Caller, items: Sequence[IssueInput]
    ) -> list[LicenceRecord | CertsealError]:
        """Issue licences; one result per item, in order.

        The cycle, per item: check the caller may issue the type; validate holder,
        fields and validity; answer a repeated idempotency key with the licence it
        produced; mint the identifier (a random 16-character serial, the version 001 and
        the MOD 37,36 check character); build the claims holding only public data; sign
        them ONCE with the department's active key. Then all valid items are written in
        one statement that re-checks the key is still active under a share lock and
        inserts lineages, licences, outbox and audit rows and idempotency keys together;
        the unique identifier is the reservation (a collision aborts the statement
        before anything is visible, and the batch is retried with fresh serials).
        A signature that was not committed is never returned or published.
        """
        if len(items) > self.max_batch:
            raise invalid("items", f"{len(items)} items; the limit is {self.max_batch}")
        dept = await self._issuing_department(caller, "licence.issue")
        now = self._clock()
        results: list[LicenceRecord | CertsealError | None] = [None] * len(items)
        pending: list[tuple[int, IssueInput, LicenceType]] = []
        seen_keys: set[str] = set()
        for index, item in enumerate(items):
            try:
                licence_type = await self.licence_type(item.type_code)
                if dept.code not in licence_type.issuer_codes:
                    raise await self._deny(
                        caller,
                        "licence.issue",
                        item.type_code,
                        f"department {dept.code} may not issue licence type "
                        f"{item.type_code}",
                    )
                domain.validate_fields(licence_type, item.fields)
                domain.resolve_validity(
                    licence_type, item.valid_from, item.valid_until, now
                )
                if item.idempotency_key:
                    if item.idempotency_key in seen_keys:
                        raise invalid(
                            "idempotency_key",
                            f"{item.idempotency_key!r} appears twice in the batch",
                        )
                    seen_keys.add(item.idempotency_key)
                    previous = await self._idempotent(dept.code, item)
                    if previous is not None:
                        results[index] = previous
                        continue
                pending.append((index, item, licence_type))
            except CertsealError as exc:
                results[index] = exc
        if pending:
            issued: list[LicenceRecord | CertsealError]
            try:
                issued = list(await self._sign_and_insert(caller, dept, pending, now))
            except asyncpg.UniqueViolationError:
                # A concurrent request with the same idempotency key committed first
                # (or, never yet seen, a serial collided): settle each item alone.
                issued = [
                    await self._issue_alone(caller, dept, p, now) for p in pending
                ]
            for (index, _, _), outcome in zip(pending, issued, strict=True):
                results[index] = outcome
        return [r for r in results if r is not None]

    async def _issue_alone(
        self,
        caller: Caller,
        dept: DepartmentRow,
        item: tuple[int, IssueInput, LicenceType],
        now: dt.datetime,
    ) -> LicenceRecord | CertsealError:
        for _ in range(3):
            try:
                return (await self._sign_and_insert(caller, dept, [item], now))[0]
            except asyncpg.UniqueViolationError:
                previous = await self._idempotent(dept.code, item[1])
                if previous is not None:
                    return previous
            except CertsealError as exc:
                return exc
        return CertsealError(
            ErrorKind.UNAVAILABLE, "could not mint a unique identifier"
        )

    async def _idempotent(
        self, department: str, item: IssueInput
    ) -> LicenceRecord | None:
        found = await self.store.idempotent_result(department, item.idempotency_key)
        if found is None:
            return None
        request_hash, identifier = found
        if request_hash != item.request_hash():
            raise CertsealError(
                ErrorKind.ALREADY_EXISTS,
                f"idempotency key {item.idempotency_key!r} was used for a different "
                f"request (licence {identifier})",
                field="idempotency_key",
            )
        return await self.load(identifier, with_holder=True)

    async def _sign_and_insert(
        self,
        caller: Caller,
        dept: DepartmentRow,
        pending: Sequence[tuple[int, IssueInput, LicenceType]],
        now: dt.datetime,
    ) -> list[LicenceRecord]:
        for _ in range(2):
            signer = await self.keyring.active_signer(dept.code, now)
            if signer is None:
                raise precondition(f"department {dept.code} has no active signing key")
            news, events, audits, idem = [], [], [], []
            for _, item, licence_type in pending:
                lid = LicenceId(licence_type.type_code, dept.code, mint_serial(), 1)
                validity = domain.resolve_validity(
                    licence_type, item.valid_from, item.valid_until, now
                )
                record = LicenceRecord(
                    identifier=str(lid),
                    lineage=lid.lineage,
                    version=1,
                    type_code=licence_type.type_code,
                    issuer_code=dept.code,
                    holder_ref=self._protector.pseudonym(
                        item.holder.id_type, item.holder.id_number
                    ),
                    holder_display_name=domain.mask_name(item.holder.name),
                    fields=dict(item.fields),
                    valid_from=validity.valid_from,
                    valid_until=validity.valid_until,
                    status=Status.VALID,
                    status_reason="",
                    last_operation=Operation.ISSUE,
                    issued_at=now,
                    updated_at=now,
                    replaces=None,
                    superseded_by=None,
                    kid=signer.kid,
                    lineage_version=1,
                    holder=item.holder,
                )
                news.append(await self._new_version(record, licence_type, signer))
                events.append(self._licence_event(record, "licence.issued", caller, ""))
                audits.append(
                    self._audit(
                        caller,
                        "licence.issue",
                        record.identifier,
                        holder_ref=record.holder_ref,
                    )
                )
                if item.idempotency_key:
                    idem.append(
                        (
                            dept.code,
                            item.idempotency_key,
                            item.request_hash(),
                            record.identifier,
                        )
                    )
            if await self.store.insert_licences(
                signer.kid, now, news, events, audits, idem
            ):
                return [n.record for n in news]
            self.keyring.forget(dept.code)  # the key changed under us: sign again
        raise precondition(f"department {dept.code} has no active signing key")

    async def _new_version(
        self, record: LicenceRecord, licence_type: LicenceType, signer: SoftwareSigner
    ) -> NewLicence:
        assert record.holder is not None
        clear, personal = domain.split_fields(licence_type, record.fields)
        claims = domain.licence_claims(
            identifier=record.identifier,
            type_code=record.type_code,
            issuer_code=record.issuer_code,
            display_name=record.holder_display_name,
            public_fields=domain.public_fields(licence_type, record.fields),
            validity=domain.Validity(record.valid_from, record.valid_until),
            issued_at=record.issued_at,
        )
        private = dumps(
            {
                "holder": [
                    record.holder.name,
                    record.holder.id_type,
                    record.holder.id_number,
                ],
                "fields": encode_fields(personal),
            }
        )
        return NewLicence(
            record=record,
            private_data=self._protector.encrypt(private, record.lineage.encode()),
            clear_fields=encode_fields(clear),
            code=await codes.encode_code(codes.LICENCE_CODE_PREFIX, claims, signer),
        )

    def _licence_event(
        self, record: LicenceRecord, event_type: str, caller: Caller | str, reason: str
    ) -> OutboxRecord:
        event_id = new_event_id()
        message = events_pb2.LicenceEvent(
            event_id=event_id,
            type=event_type,
            lineage=record.lineage,
            identifier=record.identifier,
            version=record.version,
            lineage_version=record.lineage_version,
            status=proto_status(record.status),
            operation=proto_operation(record.last_operation),
            reason=reason,
            actor_department=caller.name if isinstance(caller, Caller) else caller,
            occurred_at=ts(record.updated_at),
            type_code=record.type_code,
            issuer_code=record.issuer_code,
            valid_from=ts(record.valid_from),
            valid_until=ts(record.valid_until),
            replaces=record.replaces or "",
            holder_ref=record.holder_ref,
            kid=record.kid,
            transferred_to=record.transferred_to or "",
        )
        return cloudevent(
            topic=LICENCE_EVENTS,
            key=record.lineage,
            message=message,
            event_id=event_id,
            event_type=event_type,
            source=record.issuer_code,
            time=record.updated_at,
        )

    # -- reading ----------------------------------------------------------------

    async def load(
        self,
        identifier: str,
        *,
        with_holder: bool,
        conn: asyncpg.Connection | None = None,
    ) -> LicenceRecord:
        """One stored licence version (``with_holder``: decrypt holder and personal data)."""
        row = await self.store.get_licence_row(identifier, conn)
        if row is None:
            raise not_found(f"licence {identifier}")
        return await self._record(row, with_holder=with_holder)

    async def _record(self, row: asyncpg.Record, *, with_holder: bool) -> LicenceRecord:
        licence_type = await self.licence_type(row["type_code"])
        record = record_from_row(row, licence_type)
        if with_holder:
            private = json.loads(
                self._protector.decrypt(
                    bytes(row["private_data"]), record.lineage.encode()
                )
            )
            record.holder = Holder(*private["holder"])
            record.fields.update(decode_fields(licence_type, private["fields"]))
        return record

    async def resolve(self, text: str, field: str = "identifier") -> str:
        """An identifier, or the current identifier of a lineage."""
        text = text.strip()
        if _LINEAGE_RE.fullmatch(text):
            current = await self.store.current_identifier(text)
            if current is None:
                raise not_found(f"licence lineage {text}")
            return current
        parse_licence_id(text, field)
        return text

    async def _readable(
        self, caller: Caller, identifier: str, action: str
    ) -> LicenceRecord:
        record = await self.load(identifier, with_holder=True)
        if caller.kind == "app":
            return record
        if caller.kind != "dept":
            raise await self._deny(
                caller, action, identifier, f"{caller} may not read licences"
            )
        if record.issuer_code != caller.name:
            raise await self._deny(
                caller,
                action,
                identifier,
                f"department {caller.name} may not read {identifier}: "
                f"it was issued by {record.issuer_code}",
            )
        return record

    async def get(self, caller: Caller, text: str) -> LicenceRecord:
        """One licence version (with its holder) for its issuer or the holder's app."""
        return await self._readable(caller, await self.resolve(text), "licence.get")

    async def list(
        self,
        caller: Caller,
        *,
        holder: tuple[str, str] | None,
        type_code: str,
        status: Status | None,
        include_superseded: bool,
        page_size: int,
        page_token: str,
    ) -> tuple[list[LicenceRecord], str]:
        """A page of licences; departments see their own, the app one holder's."""
        if caller.kind == "app":
            if holder is None:
                raise invalid("holder", "the holder's app must list by holder")
        elif caller.kind != "dept":
            raise denied(f"{caller} may not list licences")
        if holder is None and not type_code and status is None:
            raise invalid(
                "holder", "give at least one filter: holder, type_code or status"
            )
        if type_code:
            await self.licence_type(type_code)
        if page_size > 500:
            raise invalid("page_size", "at most 500")
        after = ""
        if page_token:
            try:
                after = bytes.fromhex(page_token).decode()
            except ValueError:
                raise invalid(
                    "page_token", "is not a token this service returned"
                ) from None
        rows = await self.store.list_licence_rows(
            issuer_code=caller.name if caller.kind == "dept" else None,
            holder_ref=self._protector.pseudonym(*holder) if holder else None,
            type_code=type_code or None,
            status=status.value if status else None,
            include_superseded=include_superseded,
            after=after,
            limit=(page_size or 50) + 1,
        )
        limit = page_size or 50
        records = [await self._record(row, with_holder=True) for row in rows[:limit]]
        token = (
            rows[limit - 1]["identifier"].encode().hex() if len(rows) > limit else ""
        )
        return records, token

    # -- transitions ------------------------------------------------------------

    async def _change(
        self,
        caller: Caller | str,
        text: str,
        action: Action,
        body: Callable[[LineageTx, LicenceRecord, domain.Transition], Any],
    ) -> Any:
        """Lock the lineage, check the caller and the transition, run ``body``."""
        identifier = await self.resolve(text)
        lineage = parse_licence_id(identifier).lineage
        async with self.store.pool.acquire() as conn:
            tx_ctx = conn.transaction()
            await tx_ctx.start()
            try:
                locked = await lock_lineage(conn, lineage)
                if locked is None:
                    raise not_found(f"licence {identifier}")
                record = await self.load(identifier, with_holder=True, conn=conn)
                if isinstance(caller, Caller) and (
                    caller.kind != "dept" or record.issuer_code != caller.name
                ):
                    raise _Denied(
                        f"{caller} may not {action.value} {identifier}: it "
                        f"was issued by {record.issuer_code}"
                    )
                transition = domain.check_transition(
                    action, record.status, superseded_by=record.superseded_by
                )
                result = await body(LineageTx(conn, locked[1]), record, transition)
            except _Denied as exc:
                await tx_ctx.rollback()
                assert isinstance(caller, Caller)  # only callers are refused
                raise await self._deny(
                    caller, f"licence.{action.name.lower()}", identifier, str(exc)
                ) from None
            except BaseException:
                await tx_ctx.rollback()
                raise
            await tx_ctx.commit()
        return result

    async def _locked_signer(
        self, tx: LineageTx, department: str, now: dt.datetime
    ) -> SoftwareSigner:
        """The department's active signer, re-checked under a share lock in ``tx``."""
        signer = await self.keyring.active_signer(department, now)
        if signer is None or not await tx.key_is_active(signer.kid, now):
            self.keyring.forget(department)
            raise precondition(f"department {department} has no active signing key")
        return signer

    async def change_status(
        self, caller: Caller | str, text: str, action: Action, reason: str
    ) -> LicenceRecord:
        """Suspend, unsuspend, revoke, revoke as sanction, cancel or expire."""
        domain.validate_text(
            "reason",
            reason,
            required=action in {Action.REVOKE, Action.REVOKE_AS_SANCTION},
            limit=500,
        )

        async def body(
            tx: LineageTx, record: LicenceRecord, transition: domain.Transition
        ) -> LicenceRecord:
            now = self._clock()
            if action is Action.EXPIRE and record.valid_until > now:
                raise precondition(
                    f"{record.identifier} is valid until "
                    f"{record.valid_until.isoformat()}"
                )
            await tx.update_status(
                record.identifier, transition.to, reason, transition.operation, now
            )
            record.status, record.status_reason = transition.to, reason
            record.last_operation, record.updated_at = transition.operation, now
            record.lineage_version = tx.lineage_version
            await tx.finish(
                [self._licence_event(record, transition.event, caller, reason)],
                [
                    self._audit(
                        caller,
                        f"licence.{action.name.lower()}",
                        record.identifier,
                        reason=reason,
                    )
                ],
            )
            return record

        result: LicenceRecord = await self._change(caller, text, action, body)
        return result

    async def new_version(
        self,
        caller: Caller,
        text: str,
        action: Action,
        *,
        valid_from: dt.datetime | None = None,
        valid_until: dt.datetime | None = None,
        changes: dict[str, FieldValue] | None = None,
        removals: Sequence[str] = (),
        holder_name: str = "",
        reason: str = "",
    ) -> LicenceRecord:
        """Renew or amend: a new signed version that supersedes the current one."""
        domain.validate_text("reason", reason, required=False, limit=500)

        async def body(
            tx: LineageTx, old: LicenceRecord, transition: domain.Transition
        ) -> LicenceRecord:
            now = self._clock()
            licence_type = await self.licence_type(old.type_code)
            fields, holder = dict(old.fields), old.holder
            assert holder is not None
            if action is Action.RENEW:
                start = valid_from or max(old.valid_until, now)
                validity = domain.resolve_validity(
                    licence_type, start, valid_until, now
                )
            else:
                for name in removals:
                    if name not in fields:
                        raise invalid(
                            "remove_fields", f"{name!r} is not set on the licence"
                        )
                    fields.pop(name)
                domain.validate_fields(licence_type, changes or {}, partial=True)
                fields.update(changes or {})
                domain.validate_fields(licence_type, fields)
                if holder_name:
                    holder = domain.validate_holder(
                        holder_name, holder.id_type, holder.id_number
                    )
                if not changes and not removals and not holder_name:
                    raise invalid("fields", "an amendment must change something")
                validity = domain.Validity(old.valid_from, old.valid_until)
            signer = await self._locked_signer(tx, old.issuer_code, now)
            lid = parse_licence_id(old.identifier).next_version()
            record = dataclasses.replace(
                old,
                identifier=str(lid),
                version=lid.version,
                holder=holder,
                holder_display_name=domain.mask_name(holder.name),
                fields=fields,
                valid_from=validity.valid_from,
                valid_until=validity.valid_until,
                status=Status.VALID,
                status_reason=reason,
                last_operation=transition.operation,
                issued_at=now,
                updated_at=now,
                replaces=old.identifier,
                superseded_by=None,
                kid=signer.kid,
                lineage_version=tx.lineage_version,
            )
            new = await self._new_version(record, licence_type, signer)
            await tx.supersede(new, now)
            await tx.finish(
                [self._licence_event(record, transition.event, caller, reason)],
                [
                    self._audit(
                        caller,
                        f"licence.{action.name.lower()}",
                        record.identifier,
                        replaces=old.identifier,
                        reason=reason,
                    )
                ],
            )
            return record

        result: LicenceRecord = await self._change(caller, text, action, body)
        return result

    async def transfer(
        self, caller: Caller, text: str, to_department: str, reason: str
    ) -> tuple[LicenceRecord, LicenceRecord]:
        """Transfer out to another department, which gets a new licence (transfer in)."""
        validate_uscc(to_department, "to_department_code")
        domain.validate_text("reason", reason, required=False, limit=500)
        target = await self.department(to_department)
        if target is None or "issuer" not in target.roles:
            raise invalid(
                "to_department_code",
                f"department {to_department} is not an onboarded issuer",
            )

        async def body(
            tx: LineageTx, old: LicenceRecord, transition: domain.Transition
        ) -> tuple[LicenceRecord, LicenceRecord]:
            now = self._clock()
            licence_type = await self.licence_type(old.type_code)
            if to_department == old.issuer_code:
                raise invalid("to_department_code", "is the department that issued it")
            if to_department not in licence_type.issuer_codes:
                raise precondition(
                    f"department {to_department} may not issue licence "
                    f"type {old.type_code}"
                )
            signer = await self._locked_signer(tx, to_department, now)
            await tx.update_status(
                old.identifier,
                transition.to,
                reason,
                transition.operation,
                now,
                transferred_to=to_department,
            )
            old.status, old.status_reason, old.updated_at = transition.to, reason, now
            old.last_operation, old.lineage_version = (
                transition.operation,
                tx.lineage_version,
            )
            old.transferred_to = to_department
            lid = LicenceId(old.type_code, to_department, mint_serial(), 1)
            new = dataclasses.replace(
                old,
                identifier=str(lid),
                lineage=lid.lineage,
                version=1,
                issuer_code=to_department,
                fields=dict(old.fields),
                status=Status.VALID,
                status_reason=reason,
                last_operation=Operation.TRANSFER_IN,
                issued_at=now,
                updated_at=now,
                replaces=old.identifier,
                superseded_by=None,
                transferred_to=None,
                kid=signer.kid,
                lineage_version=1,
            )
            await tx.insert_lineage(await self._new_version(new, licence_type, signer))
            await tx.finish(
                [
                    self._licence_event(old, "licence.transferred", caller, reason),
                    self._licence_event(new, "licence.transferred", caller, reason),
                ],
                [
                    self._audit(
                        caller,
                        "licence.transfer",
                        old.identifier,
                        to=new.identifier,
                        reason=reason,
                    )
                ],
            )
            return old, new

        result: tuple[LicenceRecord, LicenceRecord] = await self._change(
            caller, text, Action.TRANSFER, body
        )
        return result

    async def expire_due(self, limit: int = 500) -> int:
        """Expire live licences past their validity; returns how many."""
        expired = 0
        for lineage in await self.store.lineages_to_expire(self._clock(), limit):
            try:
                await self.change_status(
                    "service:expiry-sweep", lineage, Action.EXPIRE, ""
                )
                expired += 1
            except CertsealError as exc:
                if exc.kind not in (ErrorKind.FAILED_PRECONDITION, ErrorKind.NOT_FOUND):
                    raise
        return expired

    # -- codes ------------------------------------------------------------------

    async def licence_code(self, caller: Caller, text: str) -> str:
        """The static licence code of a version."""
        record = await self._readable(caller, await self.resolve(text), "licence.code")
        row = await self.store.get_licence_row(record.identifier)
        assert row is not None
        code: str = row["code"]
        return code

    async def presentation_code(
        self, caller: Caller, text: str, ttl_s: int
    ) -> tuple[str, dt.datetime]:
        """A short-lived presentation code for a current, valid licence."""
        ttl = ttl_s or self._presentation_ttl_s
        if not 5 <= ttl <= self._presentation_max_ttl_s:
            raise invalid(
                "ttl_seconds", f"must be between 5 and {self._presentation_max_ttl_s}"
            )
        record = await self._readable(
            caller, await self.resolve(text), "licence.present"
        )
        now = self._clock()
        if record.superseded_by:
            raise precondition(
                f"{record.identifier} was superseded by {record.superseded_by}"
            )
        if (
            record.status is not Status.VALID
            or not record.valid_from <= now < record.valid_until
        ):
            state = (
                record.status.label
                if record.status is not Status.VALID
                else "outside its validity"
            )
            raise precondition(f"{record.identifier} is {state}")
        key = await self.store.active_presentation_key()
        if key is None:
            raise CertsealError(ErrorKind.UNAVAILABLE, "no active presentation key")
        claims = domain.presentation_claims(
            identifier=record.identifier,
            version=record.version,
            nonce=os.urandom(16),
            issued_at=now,
            ttl_s=ttl,
        )
        text_code = await codes.encode_code(
            codes.PRESENTATION_CODE_PREFIX, claims, self.keyring.signer_for(key)
        )
        return text_code, now + dt.timedelta(seconds=ttl)


class _Denied(Exception):
    """Raised inside a lineage transaction; audited after the rollback."""
