"""Reading licences: resolve an identifier, load a version, get and list for callers
entitled to them (the issuing department, or a holder app granted the licence type,
holder-bound). Every read by a holder app that returns a licence is an entry of kind
"viewed" in the licence's usage record, written with the read's audit row."""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid

from certseal.audit import recordable
from certseal.errors import CertsealError, ErrorKind, invalid, not_found
from certseal.identifiers import (
    LICENCE_OID_PREFIX,
    parse_licence_id,
    validate_type_code,
)
from certseal.paging import page
from certseal.personal import holds_identity_number
from certseal.protectors import PersonalDataProtector
from certseal.rpc import Caller
from services.issuer.domain import Holder, LicenceRecord, Status
from services.issuer.service.common import Auditor
from services.issuer.service.directory import Directory
from services.issuer.storage import IssuerStore
from services.issuer.storage.rows import StoredLicence, decode_fields
from services.issuer.usage import UsageEntry, UsageKind

#: a holder's identity document: (id type, id number)
HolderId = tuple[str, str]

_LINEAGE_RE = re.compile(
    re.escape(LICENCE_OID_PREFIX) + r"[0-9A-Z]{21}\.[0-9A-Z]+\.[0-9A-Z]+"
)


def asked_licence(text: str) -> str:
    """A licence identifier or lineage as a caller sent it, fit for an audit row's
    subject before it is resolved: itself (stripped) when it has an identifier's or
    a lineage's shape and none of its parts after the OID prefix holds an identity
    number (:func:`certseal.audit.holds_identity_number`), else ``-``. A holder app
    may send anything where the identifier goes, an identity number too, and the
    audit log never holds one (docs/operations.md "Caller kinds")."""
    text = text.strip()
    if len(text) > 200 or not text.startswith(LICENCE_OID_PREFIX):
        return "-"
    if not _LINEAGE_RE.fullmatch(text):
        try:
            parse_licence_id(text)
        except CertsealError:
            return "-"
    parts = text[len(LICENCE_OID_PREFIX) :].split(".")
    return "-" if any(holds_identity_number(part) for part in parts) else text


def masked_number(number: str) -> str:
    """An id number as a refusal shows it back: its first three and last four
    characters (of ten or more; else its last two), the others ``*``."""
    if len(number) >= 10:
        return number[:3] + "*" * (len(number) - 7) + number[-4:]
    return "*" * max(len(number) - 2, 0) + number[-2:]


def not_the_holders(text: str, holder: HolderId) -> CertsealError:
    """The NOT_FOUND a holder app is answered for a licence that is not the named
    holder's, of a type it is not granted, or absent (the same words for each: it
    learns of no other holder's licence), naming what it may have mistyped."""
    id_type, id_number = holder
    return CertsealError(
        ErrorKind.NOT_FOUND,
        f"no licence {text.strip()[:200]} of a type this app is granted for the "
        f"holder {id_type} {masked_number(id_number)}: check the identifier, the id "
        "type and the id number",
        field="identifier",
    )


class Reader:
    """Stored licences as records, the holder decrypted for those entitled to it."""

    def __init__(
        self,
        *,
        store: IssuerStore,
        directory: Directory,
        protector: PersonalDataProtector,
        auditor: Auditor,
    ):
        self._store = store
        self._directory = directory
        self._protector = protector
        self._auditor = auditor

    async def load(self, identifier: str, *, with_holder: bool) -> LicenceRecord:
        """One stored licence version (``with_holder``: decrypt holder and personal
        data); NOT_FOUND."""
        stored = await self._store.get_licence(identifier)
        if stored is None:
            raise not_found(f"licence {identifier}", field="identifier")
        return await self.record(stored, with_holder=with_holder)

    async def record(
        self, stored: StoredLicence, *, with_holder: bool
    ) -> LicenceRecord:
        """The record of a stored version, typed by its licence type (``with_holder``:
        holder and personal fields decrypted)."""
        licence_type = await self._directory.licence_type(stored.record.type_code)
        record = stored.typed(licence_type)
        if with_holder:
            private = json.loads(
                self._protector.decrypt(stored.private_data, record.lineage.encode())
            )
            record.holder = Holder(*private["holder"])
            record.fields.update(decode_fields(licence_type, private["fields"]))
        return record

    async def resolve(self, text: str, field: str = "identifier") -> str:
        """An identifier, or the current identifier of a lineage; INVALID_ARGUMENT on
        ``field`` or NOT_FOUND."""
        text = text.strip()
        if _LINEAGE_RE.fullmatch(text):
            current = await self._store.current_identifier(text)
            if current is None:
                raise not_found(f"licence lineage {text}", field="identifier")
            return current
        parse_licence_id(text, field)
        return text

    async def readable(
        self,
        caller: Caller,
        text: str,
        action: str,
        *,
        holder: HolderId | None = None,
        view: bool = True,
        recorded: bool = True,
    ) -> LicenceRecord:
        """Version ``text`` (an identifier or a lineage) with its holder, for a caller
        entitled to it (``view``: a holder app's read is a usage-record entry;
        ``recorded`` False: a holder app's read that is found writes no ``ok`` row,
        the use case that read it writing its one row, with its change).

        A department reads what it issued, and only while it has the issuer role; a
        holder app reads holder-bound (:meth:`_holder_read`). Anyone else, or a
        department reading another's licence, gets an audited PERMISSION_DENIED.
        """
        if caller.kind == "app":
            return await self._holder_read(caller, text, action, holder, view, recorded)
        await self._directory.issuing_department(caller, action)
        identifier = await self.resolve(text)
        record = await self.load(identifier, with_holder=True)
        if record.issuer_code != caller.name:
            raise await self._auditor.deny(
                caller,
                action,
                identifier,
                f"department {caller.name} may not read {identifier}: "
                f"it was issued by {record.issuer_code}",
            )
        return record

    async def granted_types(
        self, caller: Caller, action: str, subject: str
    ) -> frozenset[str]:
        """The licence types holder app ``caller`` was granted; an audited
        PERMISSION_DENIED when it has none."""
        granted = frozenset(
            g.type_code for g in await self._store.holder_app_grants(str(caller))
        )
        if not granted:
            raise await self._auditor.deny(
                caller, action, subject, f"{caller} has no holder-app grant"
            )
        return granted

    async def _holder_read(
        self,
        caller: Caller,
        text: str,
        action: str,
        holder: HolderId | None,
        view: bool = True,
        recorded: bool = True,
    ) -> LicenceRecord:
        """A holder app's read: the licence only if it is the named holder's and of a
        granted type; NOT_FOUND otherwise, indistinguishable from an absent licence,
        saying what the holder app may have mistyped (:func:`not_the_holders`).
        Every read leaves one audit row (the holder as its pseudonym, never in
        clear): ``denied``, or ``ok`` unless not ``recorded``.
        """
        granted = await self.granted_types(caller, action, asked_licence(text))
        if holder is None:
            raise invalid("holder", "a holder app names the holder: id_type, id_number")
        holder_ref = self._protector.pseudonym(*holder)
        stored = None
        try:
            stored = await self._store.get_licence(await self.resolve(text))
        except CertsealError as exc:
            if exc.kind is not ErrorKind.NOT_FOUND:
                raise
        theirs = (
            stored is not None
            and stored.record.holder_ref == holder_ref
            and stored.record.type_code in granted
        )
        subject = stored.record.identifier if stored else asked_licence(text)
        details = {"holder": holder_ref}
        if not theirs:
            details["why"] = "no such licence of a granted type for this holder"
        audit = self._auditor.entry(
            caller, action, subject, "ok" if theirs else "denied", **details
        )
        if not theirs or stored is None:
            await self._store.audit([audit])
            error = not_the_holders(text, holder)
            error.audited = True
            raise error
        if not recorded:
            return await self.record(stored, with_holder=True)
        await self._store.record_usage(
            [viewed(caller, stored.record, action, audit.occurred_at)] if view else [],
            audit.occurred_at,
            [audit],
        )
        return await self.record(stored, with_holder=True)

    async def get(
        self, caller: Caller, text: str, holder: HolderId | None = None
    ) -> LicenceRecord:
        """One licence version (with its holder) for its issuer, or for a holder app
        naming its holder (:meth:`readable`)."""
        return await self.readable(caller, text, "licence.get", holder=holder)

    async def list(
        self,
        caller: Caller,
        *,
        holder: HolderId | None,
        type_code: str,
        status: Status | None,
        include_superseded: bool,
        page_size: int,
        page_token: str,
    ) -> tuple[list[LicenceRecord], str]:
        """A page of licences and the next page's token ("" after the last page).

        A department (with the issuer role) sees its own; a holder app must name the
        holder and sees that holder's licences of the types it was granted (asking for
        another type is PERMISSION_DENIED), each listing audited. ``page_size`` is at
        most 500 (0: 50). INVALID_ARGUMENT or PERMISSION_DENIED.
        """
        holder_ref = self._protector.pseudonym(*holder) if holder else None
        type_codes: list[str] | None = None
        if caller.kind == "app":
            granted = await self.granted_types(
                caller, "licence.list", holder_ref or "-"
            )
            if holder_ref is None:
                raise invalid("holder", "a holder app lists by holder")
            if type_code and type_code not in granted:
                raise await self._auditor.deny(
                    caller,
                    "licence.list",
                    holder_ref,
                    f"{caller} is not granted licence type "
                    f"{recordable(type_code, validate_type_code)}",
                )
            type_codes = sorted(granted)
        else:
            await self._directory.issuing_department(caller, "licence.list")
        if holder is None and not type_code and status is None:
            raise invalid(
                "holder", "give at least one filter: holder, type_code or status"
            )
        if type_code:
            await self._directory.licence_type(type_code)
        window = page(page_size, page_token)
        found = await self._store.list_licences(
            issuer_code=caller.name if caller.kind == "dept" else None,
            holder_ref=holder_ref,
            type_code=type_code or None,
            status=status.value if status else None,
            include_superseded=include_superseded,
            after=window.after,
            limit=window.limit + 1,
            type_codes=type_codes,
        )
        shown, token = window.split(found, lambda s: s.record.identifier)
        if caller.kind == "app":
            audit = self._auditor.entry(
                caller,
                "licence.list",
                holder_ref or "-",
                holder=holder_ref,
                returned=[s.record.identifier for s in shown],
            )
            await self._store.record_usage(
                [
                    viewed(caller, s.record, "licence.list", audit.occurred_at)
                    for s in shown
                ],
                audit.occurred_at,
                [audit],
            )
        return [await self.record(s, with_holder=True) for s in shown], token


def viewed(
    caller: Caller, record: LicenceRecord, action: str, at: dt.datetime
) -> UsageEntry:
    """The usage-record entry of holder app ``caller`` reading ``record`` by
    ``action`` (``licence.get``, ``licence.list``, ``licence.code``, ...)."""
    return UsageEntry(
        entry_id=f"view:{uuid.uuid4()}",
        lineage=record.lineage,
        identifier=record.identifier,
        kind=UsageKind.VIEWED,
        occurred_at=at,
        actor=str(caller),
        action=action,
    )
