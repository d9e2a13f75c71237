"""Reading licences: resolve an identifier, load a version, get and list for callers
entitled to them (the issuing department, or the holder's app)."""

from __future__ import annotations

import json
import re

from certseal.crypto import PersonalDataProtector
from certseal.errors import denied, invalid, not_found
from certseal.identifiers import LICENCE_OID_PREFIX, parse_licence_id
from certseal.paging import page
from certseal.rpc import Caller
from services.issuer.domain import Holder, LicenceRecord, Status
from services.issuer.service.common import Auditor
from services.issuer.service.directory import Directory
from services.issuer.storage import IssuerStore
from services.issuer.storage.rows import StoredLicence, decode_fields

_LINEAGE_RE = re.compile(
    re.escape(LICENCE_OID_PREFIX) + r"[0-9A-Z]{21}\.[0-9A-Z]+\.[0-9A-Z]+"
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
            raise not_found(f"licence {identifier}")
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
                raise not_found(f"licence lineage {text}")
            return current
        parse_licence_id(text, field)
        return text

    async def readable(
        self, caller: Caller, identifier: str, action: str
    ) -> LicenceRecord:
        """Version ``identifier`` with its holder, for its issuing department or the
        holder's app; an audited PERMISSION_DENIED for anyone else."""
        record = await self.load(identifier, with_holder=True)
        if caller.kind == "app":
            return record
        if caller.kind != "dept":
            raise await self._auditor.deny(
                caller, action, identifier, f"{caller} may not read licences"
            )
        if record.issuer_code != caller.name:
            raise await self._auditor.deny(
                caller,
                action,
                identifier,
                f"department {caller.name} may not read {identifier}: "
                f"it was issued by {record.issuer_code}",
            )
        return record

    async def get(self, caller: Caller, text: str) -> LicenceRecord:
        """One licence version (with its holder) for its issuer or the holder's app."""
        return await self.readable(caller, await self.resolve(text), "licence.get")

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
        """A page of licences and the next page's token ("" after the last page);
        departments see their own, the app one holder's (id type, id number).

        ``page_size`` is at most 500 (0: 50). INVALID_ARGUMENT or PERMISSION_DENIED.
        """
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
            await self._directory.licence_type(type_code)
        window = page(page_size, page_token)
        found = await self._store.list_licences(
            issuer_code=caller.name if caller.kind == "dept" else None,
            holder_ref=self._protector.pseudonym(*holder) if holder else None,
            type_code=type_code or None,
            status=status.value if status else None,
            include_superseded=include_superseded,
            after=window.after,
            limit=window.limit + 1,
        )
        shown, token = window.split(found, lambda s: s.record.identifier)
        return [await self.record(s, with_holder=True) for s in shown], token
