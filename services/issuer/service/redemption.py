"""授权用证, the department's side: redeeming a holder's authorisation code
(docs/holder.md, "Redemption and the annotated copy").

:class:`RedemptionDesk` decides a redemption (:mod:`services.issuer.authorisation`),
renders the annotated copy (加注件) and records the use, or the refusal. Every refusal
is audited (``authorisation.redeem`` denied). A refusal of an authorisation made out to
the redeeming department is also an entry of the holder's usage record (用证记录, kind
``redemption_refused``, :func:`services.issuer.usage.refused_redemption`), written in
one transaction with its audit row and at most one per authorisation and reason (later
attempts are only audited); an unknown code, or one made out to another department,
identifies nobody's authorisation and is only audited.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from certseal.errors import CertsealError, ErrorKind, invalid, precondition
from certseal.rpc import Caller
from certseal.timestamps import Clock
from services.issuer.authorisation import (
    MISREAD_CODE,
    Authorisation,
    code_digest,
    copy_annotation,
    copy_valid_until,
    licence_refusal,
    normalise_code,
    redemption_refusal,
    refusal_error,
)
from services.issuer.document_overlay import CopyAnnotation
from services.issuer.domain import FieldValue, LicenceRecord
from services.issuer.printable import NOT_DRAWABLE
from services.issuer.service.common import Auditor
from services.issuer.service.directory import Directory
from services.issuer.service.holder_files import HolderFiles
from services.issuer.service.sealing import LicenceDocument
from services.issuer.storage import IssuerStore
from services.issuer.usage import LicenceUse, UsageEntry, refused_redemption

#: an authorisation's status that refuses a redemption being recorded: why
_LATE = {"revoked": "withdrawn", "expired": "expired"}

Rows = tuple[list, list[UsageEntry]]


@dataclass(frozen=True)
class Redemption:
    """What the authorised department receives: with the copy, what it says
    (``copy_identifier``, the version it is of; ``copy_valid_until``, the moment it
    is valid before; ``annotation``, its words), so the counter says the same."""

    authorisation: Authorisation
    department_name: str
    fields: dict[str, FieldValue]
    annotated_copy: LicenceDocument
    copy_identifier: str
    copy_valid_until: dt.datetime
    annotation: CopyAnnotation
    type_code: str = ""
    type_name: str = ""
    field_titles: dict[str, str] = field(default_factory=dict)
    holder_display_name: str = ""  # masked


def _audited(error: CertsealError) -> CertsealError:
    """``error``, its refusal's audit row written (the call writes no second one:
    :meth:`services.issuer.service.common.Auditor.attempt`)."""
    error.audited = True
    return error


class RedemptionDesk:
    """Redemptions of authorisation codes over the issuer's store."""

    def __init__(
        self,
        *,
        store: IssuerStore,
        directory: Directory,
        files: HolderFiles,
        auditor: Auditor,
        clock: Clock,
        current: Callable[[str, str, bool], Awaitable[LicenceRecord]],
        use_rows: Callable[[LicenceUse, str], Rows],
    ):
        self._store = store
        self._directory = directory
        self._files = files
        self._auditor = auditor
        self._clock = clock
        self._current = current
        self._use_rows = use_rows

    async def redeem(self, caller: Caller, code: str, *, counter: str) -> Redemption:
        """Redeem authorisation ``code`` as department ``caller`` (or the console for a
        counter: ``caller`` then is that counter's department) at ``counter``.

        INVALID_ARGUMENT (field ``code``, :data:`MISREAD_CODE`) for a text that cannot
        be an authorisation code (a read cut short or doubled): it reveals nothing of
        anyone's. Refusals of a code are audited. NOT_FOUND for an unknown code or one
        made out to another department (a stranger learns nothing; no usage entry);
        PERMISSION_DENIED for another counter of the department; FAILED_PRECONDITION
        for a withdrawn or expired one, or when the lineage's current version is not
        valid or outside its validity (not yet valid, no longer valid:
        :func:`licence_refusal`), or when the copy cannot be drawn whole (reason
        ``not_drawable``, naming the field and the code point); each of these is a
        ``redemption_refused`` entry of the holder's record with its audit row
        (:meth:`_refuse`). A use of kind ``redeemed``.
        """
        normal = normalise_code(code)
        if normal is None:  # not the shape of any code: says nothing about anyone's
            raise invalid("code", MISREAD_CODE)
        auth = await self._store.authorisation_by_code(code_digest(normal))
        now = self._clock()
        why = (
            "not_found"
            if auth is None
            else redemption_refusal(
                auth, department_code=caller.name, counter=counter, now=now
            )
        )
        if auth is None or why == "not_found":
            subject = auth.authorisation_id if auth else "-"
            await self._store.audit(
                [
                    self._auditor.entry(
                        caller, "authorisation.redeem", subject, "denied", why=why
                    )
                ]
            )
            raise _audited(refusal_error("not_found", auth))
        record, unusable = None, None
        if why is None:
            record = await self._current(auth.lineage, auth.identifier, True)
            unusable = licence_refusal(record, now)
        if unusable is not None:
            await self._refuse(caller, auth, unusable[0], clerk=counter)
            raise _audited(precondition(unusable[1], field="code", reason=unusable[0]))
        if why is not None:
            await self._refuse(caller, auth, why, clerk=counter)
            raise _audited(refusal_error(why, auth))
        assert record is not None
        dept = await self._directory.department(auth.department_code)
        dept_name = dept.name if dept else auth.department_code
        # the copy's words, made once: the copy draws them and the counter says them
        until = copy_valid_until(auth, record)
        annotation = copy_annotation(dept_name, auth.purpose, until)
        try:
            copy = await self._files.annotated_copy(record, auth, annotation)
        except CertsealError as exc:
            if exc.reason != NOT_DRAWABLE:
                raise
            # the holder learns the department tried and why it got no copy
            await self._refuse(caller, auth, NOT_DRAWABLE, clerk=counter)
            raise _audited(exc) from None
        await self._record_redemption(caller, auth, record, clerk=counter)
        shared = {k: record.fields[k] for k in auth.fields if k in record.fields}
        licence_type = await self._directory.licence_type(record.type_code)
        specs = {name: licence_type.spec(name) for name in shared}
        return Redemption(
            auth,
            dept_name,
            shared,
            copy,
            record.identifier,
            until,
            annotation,
            type_code=record.type_code,
            type_name=licence_type.name,
            field_titles={k: s.title for k, s in specs.items() if s and s.title},
            holder_display_name=record.holder_display_name,
        )

    def _refusal_rows(
        self,
        caller: Caller,
        auth: Authorisation,
        current: LicenceRecord,
        why: str,
        *,
        clerk: str,
        at: dt.datetime,
    ) -> Rows:
        """What records a refusal for ``why`` of ``auth`` (made out to the redeeming
        department, as locked) at ``at`` (read under the lock): its audit row and its
        ``redemption_refused`` entry, naming the lineage's ``current`` version. The
        entry is never dated before the authorisation, nor a refusal for its
        withdrawal before the withdrawal (whose time another replica's clock may
        have read: atk41h F8)."""
        at = max(at, auth.created_at)
        if why == "withdrawn" and auth.revoked_at is not None:
            at = max(at, auth.revoked_at)
        audit = self._auditor.entry(
            caller,
            "authorisation.redeem",
            auth.authorisation_id,
            "denied",
            why=why,
            **({"clerk": clerk} if clerk else {}),
        )
        entry = refused_redemption(
            entry_id=f"refused:{uuid.uuid4()}",
            lineage=auth.lineage,
            identifier=current.identifier,
            at=at,
            authorisation_id=auth.authorisation_id,
            department_code=auth.department_code,
            purpose=auth.purpose,
            counter=str(caller),
            clerk=clerk,
            why=why,
        )
        return [audit], [entry]

    async def _refuse(
        self, caller: Caller, auth: Authorisation, why: str, *, clerk: str
    ) -> None:
        """Record the refusal for ``why`` decided before the copy is made: its audit
        row and usage entry in one transaction (the one that locks the authorisation,
        :meth:`IssuerStore.record_redemption`, so repeated refusals are bounded one
        by one), dated when the lock is held."""
        await self._store.record_redemption(
            auth.authorisation_id,
            self._clock,
            lambda locked, current, at: self._refusal_rows(
                caller, locked, current, why, clerk=clerk, at=at
            ),
        )

    async def _record_redemption(
        self, caller: Caller, auth: Authorisation, record: LicenceRecord, *, clerk: str
    ) -> None:
        """Record the redemption once the copy is made, in one transaction with the
        authorisation's row and its lineage's row locked and both checked again: a
        withdrawal committed, or the expiry passed, while the copy was rendered
        refuses it (atk39holder 2), and so does a change of the licence committed
        meanwhile (atk39b_holder): its current version no longer usable
        (:func:`licence_refusal`: revoked, suspended, transferred, expired), or
        another version than the copy was made of (renewed: ABORTED, redeem again).
        Refused: FAILED_PRECONDITION (ABORTED), audited and a ``redemption_refused``
        entry, nothing answered. A withdrawal or licence change after it waits for
        it. The entry names the counter (``caller``, ``dept:<code>``) and, at the
        counter console, the ``clerk`` (atk39holder 4). Everything is checked and
        dated at the time read once the locks are held (atk41h F8)."""
        refused: list[CertsealError] = []

        def rows(
            locked: Authorisation, current: LicenceRecord, at: dt.datetime
        ) -> Rows:
            why = _LATE.get(locked.status(at))
            if why is not None:
                refused.append(refusal_error(why, locked))
            elif unusable := licence_refusal(current, at):
                why = unusable[0]
                refused.append(
                    precondition(unusable[1], field="code", reason=unusable[0])
                )
            elif current.identifier != record.identifier:
                why = "licence_changed"
                refused.append(
                    CertsealError(
                        ErrorKind.ABORTED,
                        f"licence {record.identifier} was changed (now "
                        f"{current.identifier}) while the copy was made: redeem the "
                        "code again",
                        field="code",
                        reason=why,
                    )
                )
            if why is not None:
                return self._refusal_rows(
                    caller, locked, current, why, clerk=clerk, at=at
                )
            use = LicenceUse(
                "redeemed",
                record.identifier,
                record.holder_ref,
                str(caller),
                at,
                authorisation_id=auth.authorisation_id,
                department_code=auth.department_code,
                purpose=auth.purpose,
                counter=str(caller),
                clerk=clerk,
            )
            return self._use_rows(use, record.lineage)

        locked = await self._store.record_redemption(
            auth.authorisation_id, self._clock, rows
        )
        if locked is None:  # (rows are never deleted: cannot happen)
            raise refusal_error("not_found", locked)
        if refused:
            raise _audited(refused[0])
