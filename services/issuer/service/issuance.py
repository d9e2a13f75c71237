"""Issuance: issue one licence or a batch, and sign a new licence version.

The cycle (boulder's: reserve, check, sign once, persist) is on
:meth:`Issuance.issue_many`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass

from certseal import codes
from certseal.audit import AuditEntry
from certseal.crypto import Signer
from certseal.errors import CertsealError, ErrorKind, invalid, precondition
from certseal.idempotency import earlier_answer
from certseal.identifiers import LicenceId, mint_serial
from certseal.logs import REQUEST_ID
from certseal.protectors import PersonalDataProtector
from certseal.rpc import Caller
from certseal.storage.idempotency import in_request_scope
from services.issuer import domain
from services.issuer.claims import licence_claims
from services.issuer.domain import (
    Department,
    FieldValue,
    Holder,
    LicenceRecord,
    LicenceType,
    Operation,
    Status,
)
from services.issuer.events import licence_event
from services.issuer.service.common import licence_actor
from services.issuer.service.groupcommit import GroupCommit
from services.issuer.service.groupcommit import Pending as _Pending
from services.issuer.service.licensing import LicenceCases, Licensing
from services.issuer.storage.rows import (
    AlreadyStored,
    NewLicence,
    NotListed,
    dumps,
    encode_fields,
)


@dataclass(frozen=True, slots=True)
class IssueInput:
    """One licence to issue, validated shape-wise by the servicer."""

    type_code: str
    holder: Holder
    fields: dict[str, FieldValue]
    valid_from: dt.datetime | None = None
    valid_until: dt.datetime | None = None
    idempotency_key: str = ""  # at most 128 characters; "" for none
    #: sign with the department's active key of this suite; "" for its newest one
    suite: str = ""

    def request_hash(self) -> bytes:
        """What a retry with the same idempotency key must repeat exactly (SHA-256)."""
        body = {
            "t": self.type_code,
            "h": [self.holder.name, self.holder.id_type, self.holder.id_number],
            "f": encode_fields(self.fields),
            "from": self.valid_from.isoformat() if self.valid_from else None,
            "until": self.valid_until.isoformat() if self.valid_until else None,
        }
        if self.suite:  # absent otherwise: hashes stored before --suite still match
            body["s"] = self.suite
        return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).digest()


async def sign_version(
    record: LicenceRecord,
    licence_type: LicenceType,
    signer: Signer,
    protector: PersonalDataProtector,
) -> NewLicence:
    """What a new version writes: its static code, signed once by ``signer`` over the
    public claims only, and its holder and personal fields encrypted (bound to the
    lineage). ``record.holder`` must be set."""
    assert record.holder is not None
    clear, personal = domain.split_fields(licence_type, record.fields)
    claims = licence_claims(
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
        private_data=protector.encrypt(private, record.lineage.encode()),
        clear_fields=encode_fields(clear),
        code=await codes.encode_code(codes.LICENCE_CODE_PREFIX, claims, signer),
    )


class Issuance(LicenceCases):
    """Issuing new licences (new lineages) for a department."""

    def __init__(self, parts: Licensing, *, max_batch: int):
        super().__init__(parts)
        self.max_batch = max_batch
        self._group = GroupCommit(
            write=self._sign_and_insert,
            alone=self._issue_alone,
            clock=self._clock,
            max_group=max_batch,
        )

    async def issue(self, caller: Caller, item: IssueInput) -> LicenceRecord:
        """Issue one licence. See :meth:`issue_many` for the cycle and the errors.

        Checked on its own (type, fields, validity, with its own audited refusals),
        then written by :class:`~services.issuer.service.groupcommit.GroupCommit`
        together with the other single issuances of the same department and suite
        waiting at that moment: one statement, committed before any of them is
        answered. A request with an idempotency key (in the request or the call's
        metadata) keeps the path of :meth:`issue_many`, whose transaction also
        stores its key or answer.
        """
        if item.idempotency_key or in_request_scope():
            result = (await self.issue_many(caller, [item]))[0]
            if isinstance(result, CertsealError):
                raise result
            return result
        dept = await self._directory.issuing_department(caller, "licence.issue")
        licence_type = await self._checked_type(caller, dept, item, self._clock())
        return await self._group.issue(caller, dept, (0, item, licence_type))

    async def _checked_type(
        self, caller: Caller, dept: Department, item: IssueInput, now: dt.datetime
    ) -> LicenceType:
        """The item's licence type once the department may issue it and the item's
        fields and validity are valid; CertsealError otherwise (a refusal audited)."""
        licence_type = await self._directory.licence_type(item.type_code)
        if dept.code not in licence_type.issuer_codes:
            raise await self._not_listed(caller, dept, item.type_code)
        domain.validate_fields(licence_type, item.fields)
        domain.resolve_validity(licence_type, item.valid_from, item.valid_until, now)
        return licence_type

    async def _not_listed(
        self, caller: Caller, dept: Department, type_code: str
    ) -> CertsealError:
        """The audited PERMISSION_DENIED (field ``type_code``) of an issuance of a
        type that does not list the department (NOT_FOUND for a type that does not
        exist). It does not name the type's issuers: only operators read them
        (IssuerAdmin/ListLicenceTypes), and no event publishes them (atk-authz 3)."""
        await self._directory.licence_type(type_code)
        return await self._auditor.deny(
            caller,
            "licence.issue",
            type_code,
            f"department {dept.code} may not issue licence type {type_code}: it is "
            "not one of the type's issuers (an operator changes them: 'certseal "
            "type issuers')",
            field="type_code",
        )

    async def issue_many(
        self, caller: Caller, items: Sequence[IssueInput]
    ) -> list[LicenceRecord | CertsealError]:
        """Issue licences; one result per item, in order.

        The cycle, per item: check the caller may issue the type; validate holder,
        fields and validity; answer a repeated idempotency key with the licence it
        produced; mint the identifier (a random 16-character serial, the version 001 and
        the MOD 37,36 check character); build the claims holding only public data; sign
        them ONCE with the department's active key. Then all valid items are written in
        one statement that re-checks the key is still active under a share lock, and
        that each type still lists the department under a key share lock (one that
        stopped meanwhile: that item is refused, PERMISSION_DENIED), and
        inserts lineages, licences, outbox and audit rows and idempotency keys together;
        the unique identifier is the reservation (a collision aborts the statement
        before anything is visible, and the batch is retried with fresh serials).
        A signature that was not committed is never returned or published.

        Raises INVALID_ARGUMENT for more than ``max_batch`` items and PERMISSION_DENIED
        (audited) for a caller that is not an issuing department; an item's own error
        (INVALID_ARGUMENT, PERMISSION_DENIED, ALREADY_EXISTS for an idempotency key
        reused with another request, FAILED_PRECONDITION without an active key) is its
        result.
        """
        if len(items) > self.max_batch:
            raise invalid("items", f"{len(items)} items; the limit is {self.max_batch}")
        dept = await self._directory.issuing_department(caller, "licence.issue")
        now = self._clock()
        results: list[LicenceRecord | CertsealError | None] = [None] * len(items)
        pending: list[_Pending] = []
        seen_keys: set[str] = set()
        for index, item in enumerate(items):
            try:
                if item.idempotency_key:
                    if item.idempotency_key in seen_keys:
                        raise invalid(
                            "idempotency_key",
                            f"{item.idempotency_key!r} appears twice in the batch",
                        )
                    seen_keys.add(item.idempotency_key)
                    # a retry answers what its key produced, before the checks of a
                    # new issuance: its type may no longer list the department
                    previous = await self._idempotent(dept.code, item)
                    if previous is not None:
                        if len(items) == 1:  # the call's whole answer is the earlier
                            earlier_answer()
                        results[index] = previous
                        continue
                licence_type = await self._checked_type(caller, dept, item, now)
                pending.append((index, item, licence_type))
            except CertsealError as exc:
                results[index] = exc
        by_suite: dict[str, list[_Pending]] = {}
        for waiting in pending:  # one signing key per suite asked for
            by_suite.setdefault(waiting[1].suite, []).append(waiting)
        for suite, group in by_suite.items():
            issued: list[LicenceRecord | CertsealError]
            try:
                issued = list(
                    await self._sign_and_insert(caller, dept, group, now, suite)
                )
            except NotListed as exc:
                issued = await self._without_unlisted(
                    caller, dept, group, now, suite, exc.type_codes
                )
            except AlreadyStored:
                # A concurrent request with the same idempotency key committed first
                # (or, never yet seen, a serial collided): settle each item alone.
                issued = [await self._issue_alone(caller, dept, p, now) for p in group]
            except CertsealError as exc:  # e.g. no active key of that suite
                issued = [exc] * len(group)
            for (index, _, _), outcome in zip(group, issued, strict=True):
                results[index] = outcome
        return [r for r in results if r is not None]

    async def _without_unlisted(
        self,
        caller: Caller,
        dept: Department,
        group: Sequence[_Pending],
        now: dt.datetime,
        suite: str,
        unlisted: frozenset[str],
    ) -> list[LicenceRecord | CertsealError]:
        """``group``'s outcomes once its write found ``unlisted`` no longer listing
        the department: their items refused (audited), the others written together
        again (one statement and one signature each, as before), each alone only if
        that write is refused too."""
        outcomes: dict[int, LicenceRecord | CertsealError] = {}
        rest: list[_Pending] = []
        for p in group:
            if p[1].type_code in unlisted:
                outcomes[p[0]] = await self._not_listed(caller, dept, p[1].type_code)
            else:
                rest.append(p)
        if rest:
            written: Sequence[LicenceRecord | CertsealError]
            try:
                written = await self._sign_and_insert(caller, dept, rest, now, suite)
            except (AlreadyStored, NotListed):
                written = [await self._issue_alone(caller, dept, p, now) for p in rest]
            except CertsealError as exc:
                written = [exc] * len(rest)
            outcomes.update((p[0], w) for p, w in zip(rest, written, strict=True))
        return [outcomes[p[0]] for p in group]

    async def _issue_alone(
        self,
        caller: Caller,
        dept: Department,
        item: _Pending,
        now: dt.datetime,
        request_ids: Sequence[str] | None = None,
    ) -> LicenceRecord | CertsealError:
        for _ in range(3):
            try:
                return (
                    await self._sign_and_insert(
                        caller, dept, [item], now, item[1].suite, request_ids
                    )
                )[0]
            except AlreadyStored:
                previous = await self._idempotent(dept.code, item[1])
                if previous is not None:
                    return previous
            except NotListed:
                # the group's writer runs in the context of the request that
                # started it: the refusal is audited for the item's own request
                token = REQUEST_ID.set(request_ids[0]) if request_ids else None
                try:
                    return await self._not_listed(caller, dept, item[1].type_code)
                finally:
                    if token is not None:
                        REQUEST_ID.reset(token)
            except CertsealError as exc:
                return exc
        return CertsealError(
            ErrorKind.UNAVAILABLE, "could not mint a unique identifier"
        )

    async def _idempotent(
        self, department: str, item: IssueInput
    ) -> LicenceRecord | None:
        found = await self._store.idempotent_result(department, item.idempotency_key)
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
        return await self._reader.load(identifier, with_holder=True)

    async def _sign_and_insert(
        self,
        caller: Caller,
        dept: Department,
        pending: Sequence[_Pending],
        now: dt.datetime,
        suite: str = "",
        request_ids: Sequence[str] | None = None,
    ) -> list[LicenceRecord]:
        """Sign and write ``pending`` in one statement. ``request_ids``, one per item,
        names the request each audit entry is for (default: the current request).
        Raises :class:`NotListed` (nothing written) when a type no longer lists the
        department, its cached row dropped."""
        for _ in range(2):
            signer = await self._keyring.active_signer(dept.code, now, suite)
            if signer is None:
                raise _no_active_key(dept.code, suite)
            news, events, idem = [], [], []
            audits: list[AuditEntry] = []
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
                news.append(
                    await sign_version(record, licence_type, signer, self._protector)
                )
                events.append(
                    licence_event(
                        record,
                        licence_type,
                        "licence.issued",
                        actor=licence_actor(caller),
                        reason="",
                        sealer=self._sealer,
                    )
                )
                audit = self._auditor.entry(
                    caller,
                    "licence.issue",
                    record.identifier,
                    holder_ref=record.holder_ref,
                )
                if request_ids is not None:
                    audit = dataclasses.replace(
                        audit, request_id=request_ids[len(audits)]
                    )
                audits.append(audit)
                if item.idempotency_key:
                    idem.append(
                        (
                            dept.code,
                            item.idempotency_key,
                            item.request_hash(),
                            record.identifier,
                        )
                    )
            try:
                if await self._store.insert_licences(
                    signer.kid, now, news, events, audits, idem
                ):
                    return [n.record for n in news]
            except NotListed as exc:  # read again by the next request
                for type_code in exc.type_codes:
                    self._directory.forget_type(type_code)
                raise
            self._keyring.forget(dept.code)  # the key changed under us: sign again
        raise _no_active_key(dept.code, suite)


def _no_active_key(department: str, suite: str) -> CertsealError:
    """FAILED_PRECONDITION: no active signing key (of ``suite``, when one is asked)."""
    if suite:
        return precondition(
            f"department {department} has no active {suite} signing key{KEY_HINT}",
            field="suite",
        )
    return precondition(
        f"department {department} has no active signing key{KEY_HINT}", field="as"
    )


#: what a refusal for want of a signing key says to do
KEY_HINT = ": an operator creates one ('certseal key create CODE --suite SUITE')"
