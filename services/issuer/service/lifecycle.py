"""The life of an issued licence: renew, amend, suspend, unsuspend, revoke, cancel,
expire and transfer.

Every change runs in the lineage's transaction (:meth:`IssuerStore.change_lineage`):
the lineage row is locked and its version bumped, the caller and the transition are
checked against the locked version (the transitions are :data:`domain.TRANSITIONS`),
and the rows, the event and the audit row commit together. A refused caller's
transaction is rolled back and the refusal audited on its own.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from certseal.crypto import Signer
from certseal.errors import CertsealError, ErrorKind, invalid, not_found, precondition
from certseal.events import OutboxRecord
from certseal.identifiers import LicenceId, mint_serial, parse_licence_id, validate_uscc
from certseal.rpc import Caller
from services.issuer import domain
from services.issuer.domain import (
    Action,
    FieldValue,
    LicenceRecord,
    LicenceType,
    Operation,
    Status,
)
from services.issuer.events import licence_event
from services.issuer.published import holder_texts, validate_reason
from services.issuer.renewal import renewal_validity
from services.issuer.service.common import licence_actor
from services.issuer.service.issuance import KEY_HINT, sign_version
from services.issuer.service.licensing import LicenceCases
from services.issuer.storage.licences import LineageTx
from services.issuer.storage.rows import Records, StoredLicence

T = TypeVar("T")
_SWEEP = "service:expiry-sweep"


class _Denied(Exception):
    """Raised inside a lineage transaction; audited after the rollback."""


class Lifecycle(LicenceCases):
    """Transitions of existing licences, by their issuing department (or the sweep)."""

    async def _change(
        self,
        caller: Caller | str,
        text: str,
        action: Action,
        body: Callable[
            [LineageTx, LicenceRecord, domain.Transition], Awaitable[tuple[T, Records]]
        ],
        *,
        reason: str,
    ) -> T:
        """Lock the lineage, check the caller and the transition, run ``body``.

        Only a department with the issuer role gets as far as the identifier (anyone
        else: an audited PERMISSION_DENIED before the licence is looked up). The
        change's ``reason``, published in its event, is then checked against the
        licence's holder (INVALID_ARGUMENT when it names them: after the caller is
        known to be the issuing department, so that it tells no one else whose
        licence it is).
        """
        if isinstance(caller, Caller):
            await self._directory.issuing_department(
                caller, f"licence.{action.name.lower()}"
            )
        identifier = await self._reader.resolve(text)
        lineage = parse_licence_id(identifier).lineage

        async def change(tx: LineageTx, stored: StoredLicence) -> tuple[T, Records]:
            record = await self._reader.record(stored, with_holder=True)
            if isinstance(caller, Caller) and (
                caller.kind != "dept" or record.issuer_code != caller.name
            ):
                raise _Denied(
                    f"{caller} may not {action.value} {identifier}: it "
                    f"was issued by {record.issuer_code}"
                )
            validate_reason(reason, required=False, personal=holder_texts(record))
            transition = domain.check_transition(
                action, record.status, superseded_by=record.superseded_by
            )
            return await body(tx, record, transition)

        try:
            result = await self._store.change_lineage(lineage, identifier, change)
        except _Denied as exc:
            assert isinstance(caller, Caller)  # only callers are refused
            raise await self._auditor.deny(
                caller, f"licence.{action.name.lower()}", identifier, str(exc)
            ) from None
        if result is None:
            raise not_found(f"licence {identifier}", field="identifier")
        return result

    async def _locked_signer(
        self, tx: LineageTx, department: str, now: dt.datetime, *, field: str = "as"
    ) -> Signer:
        """The department's active signer, re-checked under a share lock in ``tx``."""
        signer = await self._keyring.active_signer(department, now)
        if signer is None or not await tx.key_is_active(signer.kid, now):
            self._keyring.forget(department)
            raise precondition(
                f"department {department} has no active signing key{KEY_HINT}",
                field=field,
            )
        return signer

    async def _issuers_now(
        self, tx: LineageTx, licence_type: LicenceType
    ) -> LicenceType:
        """``licence_type`` with its issuers read again under a key share lock in
        ``tx``: a change of them that answered before this commits is seen (it waits
        for ``tx``, or ``tx`` for it), not the cached ones; a cached row found
        stale is dropped."""
        issuers = await tx.type_issuers(licence_type.type_code)
        if issuers == licence_type.issuer_codes:
            return licence_type
        self._directory.forget_type(licence_type.type_code)
        return dataclasses.replace(licence_type, issuer_codes=issuers)

    async def change_status(
        self, caller: Caller | str, text: str, action: Action, reason: str
    ) -> LicenceRecord:
        """Suspend, unsuspend, revoke, revoke as sanction, cancel or expire version or
        lineage ``text``; revocations need a ``reason`` (at most 500 characters).

        Raises INVALID_ARGUMENT, NOT_FOUND, PERMISSION_DENIED (audited) or
        FAILED_PRECONDITION (a transition :data:`domain.TRANSITIONS` does not allow,
        or an expiry before ``valid_until``).
        """
        validate_reason(
            reason, required=action in {Action.REVOKE, Action.REVOKE_AS_SANCTION}
        )

        async def body(
            tx: LineageTx, record: LicenceRecord, transition: domain.Transition
        ) -> tuple[LicenceRecord, Records]:
            now = self._clock()
            if action is Action.EXPIRE and record.valid_until > now:
                raise precondition(
                    f"{record.identifier} is valid until "
                    f"{record.valid_until.isoformat()}",
                    field="identifier",
                )
            await tx.update_status(
                record.identifier, transition.to, reason, transition.operation, now
            )
            record.status, record.status_reason = transition.to, reason
            record.last_operation, record.updated_at = transition.operation, now
            record.lineage_version = tx.lineage_version
            licence_type = await self._directory.licence_type(record.type_code)
            return record, self._records(
                caller, action, record, licence_type, transition, reason
            )

        return await self._change(caller, text, action, body, reason=reason)

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
        """Renew (``action`` RENEW: a new validity, valid from now by default and
        never later, :func:`renewal_validity`) or amend (AMEND: field ``changes`` and
        ``removals``, a corrected ``holder_name``; the validity carries over): a new
        signed version that supersedes the current one at once, so that the holder
        is never left without a valid version.

        Raises as :meth:`change_status`; FAILED_PRECONDITION also without an active key.
        """
        validate_reason(reason, required=False, personal=(holder_name,))

        async def body(
            tx: LineageTx, old: LicenceRecord, transition: domain.Transition
        ) -> tuple[LicenceRecord, Records]:
            now = self._clock()
            licence_type = await self._directory.licence_type(old.type_code)
            fields, holder = dict(old.fields), old.holder
            assert holder is not None
            if action is Action.RENEW:  # valid from now: it supersedes at once
                licence_type = await self._issuers_now(tx, licence_type)
                _check_still_issues(old, licence_type)
                validity = renewal_validity(
                    licence_type,
                    old.valid_until,
                    valid_from,
                    valid_until,
                    now,
                    current_from=old.valid_from,
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
            new = await sign_version(record, licence_type, signer, self._protector)
            await tx.supersede(new, now)
            return record, self._records(
                caller,
                action,
                record,
                licence_type,
                transition,
                reason,
                replaces=old.identifier,
            )

        return await self._change(caller, text, action, body, reason=reason)

    async def transfer(
        self, caller: Caller, text: str, to_department: str, reason: str
    ) -> tuple[LicenceRecord, LicenceRecord]:
        """Transfer out to another department, which gets a new licence (transfer in).

        Returns (the transferred-out version, the new licence). Raises as
        :meth:`new_version`; INVALID_ARGUMENT when ``to_department`` is not an
        onboarded issuer or is the issuing one, FAILED_PRECONDITION when it may not
        issue the type.
        """
        await self._directory.issuing_department(caller, "licence.transfer")
        validate_uscc(to_department, "to_department_code")
        validate_reason(reason, required=False)
        target = await self._directory.department(to_department)
        if target is None or "issuer" not in target.roles:
            raise invalid(
                "to_department_code",
                f"department {to_department} is not an onboarded issuer",
            )

        async def body(
            tx: LineageTx, old: LicenceRecord, transition: domain.Transition
        ) -> tuple[tuple[LicenceRecord, LicenceRecord], Records]:
            now = self._clock()
            licence_type = await self._issuers_now(
                tx, await self._directory.licence_type(old.type_code)
            )
            if to_department == old.issuer_code:
                raise invalid("to_department_code", "is the department that issued it")
            if to_department not in licence_type.issuer_codes:
                raise precondition(
                    f"department {to_department} may not issue licence "
                    f"type {old.type_code}: a transfer goes to a listed issuer of "
                    "the type",
                    field="to_department_code",
                )
            signer = await self._locked_signer(
                tx, to_department, now, field="to_department_code"
            )
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
            await tx.insert_lineage(
                await sign_version(new, licence_type, signer, self._protector)
            )
            return (old, new), (
                [
                    self._event(
                        old, licence_type, "licence.transferred", caller, reason
                    ),
                    self._event(
                        new, licence_type, "licence.transferred", caller, reason
                    ),
                ],
                [
                    self._auditor.entry(
                        caller,
                        "licence.transfer",
                        old.identifier,
                        to=new.identifier,
                        reason=reason,
                    )
                ],
            )

        return await self._change(caller, text, Action.TRANSFER, body, reason=reason)

    async def expire_due(self, limit: int = 500) -> int:
        """Expire up to ``limit`` live licences past their validity; returns how
        many (``licence.expired`` events)."""
        expired = 0
        for lineage in await self._store.lineages_to_expire(self._clock(), limit):
            try:
                await self.change_status(_SWEEP, lineage, Action.EXPIRE, "")
                expired += 1
            except CertsealError as exc:
                if exc.kind not in (ErrorKind.FAILED_PRECONDITION, ErrorKind.NOT_FOUND):
                    raise
        return expired

    def _records(
        self,
        caller: Caller | str,
        action: Action,
        record: LicenceRecord,
        licence_type: domain.LicenceType,
        transition: domain.Transition,
        reason: str,
        **details: str,
    ) -> Records:
        """The transition's event of ``record`` and the audit row of ``action``."""
        return (
            [self._event(record, licence_type, transition.event, caller, reason)],
            [
                self._auditor.entry(
                    caller,
                    f"licence.{action.name.lower()}",
                    record.identifier,
                    **details,
                    reason=reason,
                )
            ],
        )

    def _event(
        self,
        record: LicenceRecord,
        licence_type: domain.LicenceType,
        event_type: str,
        caller: Caller | str,
        reason: str,
    ) -> OutboxRecord:
        return licence_event(
            record,
            licence_type,
            event_type,
            actor=licence_actor(caller),
            reason=reason,
            sealer=self._sealer,
        )


def _check_still_issues(old: LicenceRecord, licence_type: LicenceType) -> None:
    """An audited PERMISSION_DENIED (raised as :class:`_Denied`) when the licence's
    department is no longer an issuer of its type
    (:meth:`Directory.set_licence_type_issuers`): a renewal is a new grant of
    validity, which only a current issuer makes; the department may transfer the
    licence to one of them, who renews it."""
    if old.issuer_code not in licence_type.issuer_codes:
        raise _Denied(
            f"department {old.issuer_code} no longer issues licence type "
            f"{old.type_code}: transfer the licence to one of its issuers (an "
            "operator says which), which may renew it"
        )
