"""The holder's side of a licence: the licence file and 授权用证 (docs/holder.md).

- :meth:`HolderSide.document`: the licence file, rendered and sealed with the issuing
  department's official seal (:mod:`.holder_files`);
- :meth:`HolderSide.authorise` and :meth:`HolderSide.revoke`: a holder app's
  authorisation of one department for one purpose, and its withdrawal, each stored
  with its event (``licence.authorised``, ``licence.authorisation_revoked``) and audit
  row in one transaction;
- :meth:`HolderSide.redeem`: the authorised department receives the shared fields and
  the annotated copy (加注件) sealed with the platform's seal, which shows those fields
  only and the holder's name masked (:mod:`.redemption`, :mod:`.holder_files`).

Every download and redemption is a use of the licence, recorded in one place,
:meth:`HolderSide._use_rows`: its audit row and its usage-record (用证记录) entry,
written in one transaction (:meth:`HolderSide.record_use`; a redemption's is the one
that locks its authorisation). A redemption refused although the authorisation is the
redeeming department's is an entry too (``redemption_refused``, with its audit row:
:mod:`.redemption`).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import replace

from certseal.errors import CertsealError, ErrorKind, denied, invalid, precondition
from certseal.identifiers import parse_licence_id, validate_uscc
from certseal.protectors import PersonalDataProtector
from certseal.rpc import Caller
from certseal.text import check_display_name, display_name_problem
from certseal.timestamps import Clock
from services.issuer.authorisation import (
    MAX_FIELDS,
    MAX_PURPOSE_CHARS,
    MAX_REASON_CHARS,
    Authorisation,
    asked_authorisation,
    asked_expiry,
    check_counter,
    code_digest,
    copy_annotation,
    expiry_problem,
    is_authorisation_id,
    licence_refusal,
    new_authorisation_id,
    new_code,
)
from services.issuer.document import DocumentRenderer, DocumentTemplate
from services.issuer.domain import LicenceRecord
from services.issuer.events import authorisation_event, authorisation_usage_entries
from services.issuer.printable import check_printable
from services.issuer.published import published_about
from services.issuer.service.codes import Codes
from services.issuer.service.common import Auditor
from services.issuer.service.directory import Directory
from services.issuer.service.holder_files import HolderFiles, visible_fields
from services.issuer.service.reading import HolderId, Reader
from services.issuer.service.redemption import Redemption, RedemptionDesk
from services.issuer.service.sealing import DocumentSealer, LicenceDocument
from services.issuer.storage import IssuerStore
from services.issuer.usage import LicenceUse, UsageEntry, department_of

__all__ = ["HolderSide", "LicenceUse", "Redemption"]


class HolderSide:
    """Licence files and authorisations over the issuer's store."""

    def __init__(
        self,
        *,
        store: IssuerStore,
        reader: Reader,
        directory: Directory,
        codes: Codes,
        protector: PersonalDataProtector,
        auditor: Auditor,
        clock: Clock,
        sealer: DocumentSealer | None,
        renderer: DocumentRenderer | None,
        platform_code: str,
        templates: dict[str, DocumentTemplate] | None = None,
    ):
        self._store = store
        self._reader = reader
        self._directory = directory
        self._codes = codes
        self._protector = protector
        self._auditor = auditor
        self._clock = clock
        self._fonts = renderer.fonts if renderer else None  # what files draw with
        self._files = HolderFiles(
            store=store,
            directory=directory,
            clock=clock,
            sealer=sealer,
            renderer=renderer,
            platform_code=platform_code,
            templates=templates,
        )
        self._desk = RedemptionDesk(
            store=store,
            directory=directory,
            files=self._files,
            auditor=auditor,
            clock=clock,
            current=self._current,
            use_rows=self._use_rows,
        )

    def _use_rows(self, use: LicenceUse, lineage: str) -> tuple[list, list[UsageEntry]]:
        """What records ``use``: its audit row and its usage-record entry (用证记录),
        written in one transaction."""
        audit = self._auditor.entry(
            use.actor,
            f"licence.{use.kind}",
            use.identifier,
            holder=use.holder_ref,
            authorisation=use.authorisation_id,
            department=use.department_code,
            **({"clerk": use.clerk} if use.clerk else {}),
        )
        return [audit], [use.entry(f"use:{uuid.uuid4()}", lineage)]

    async def undrawn_values(self, record: LicenceRecord) -> list[str]:
        """:meth:`HolderFiles.undrawn_values`: what the department writing
        ``record`` should know of its files."""
        return await self._files.undrawn_values(record)

    async def record_use(self, use: LicenceUse) -> None:
        """The one place a holder-side use of a licence is recorded: its audit row and
        its usage-record entry (用证记录) in one transaction, so neither is kept
        without the other (a redemption writes them in its own transaction:
        :meth:`_record_redemption`)."""
        audit, usage = self._use_rows(use, parse_licence_id(use.identifier).lineage)
        await self._store.record_usage(usage, self._clock(), audit)

    async def _current(
        self, lineage: str, identifier: str, with_holder: bool
    ) -> LicenceRecord:
        """The lineage's current version (else ``identifier``): what a use uses."""
        current = await self._store.current_identifier(lineage)
        return await self._reader.load(current or identifier, with_holder=with_holder)

    async def document(
        self,
        caller: Caller,
        text: str,
        holder: HolderId | None = None,
        *,
        ofd: bool = False,
    ) -> LicenceDocument:
        """The licence file of version ``text`` (an identifier or a lineage) as a PDF,
        or with ``ofd`` as an OFD (GB/T 33190, :mod:`services.issuer.document_ofd`),
        sealed with the issuing department's official seal.

        For the holder's app (naming the holder) or the issuing department
        (:meth:`Reader.readable`: NOT_FOUND, PERMISSION_DENIED). FAILED_PRECONDITION
        when the department has no usable official seal. A use of kind
        ``downloaded``. The file of a superseded or transferred version names the
        version that now stands for it (``current_identifier``: its lineage's
        current, through transfers).
        """
        record = await self._reader.readable(  # its one ok row: the download's
            caller, text, "licence.document", holder=holder, view=False, recorded=False
        )
        document = await self._files.licence_file(record, ofd=ofd)
        await self.record_use(
            LicenceUse(
                "downloaded",
                record.identifier,
                record.holder_ref,
                str(caller),
                self._clock(),
                # the issuing department's own download names it (atk39holder 7)
                department_code=department_of(str(caller)),
            )
        )
        # trial45: a superseded version's file was given without a word; atk46 F12:
        # a lineage transferred out goes on in the receiving department's licence
        found = await self._store.holder_current(record.holder_ref, record.identifier)
        current = "" if found == record.identifier else found
        return replace(document, status=record.status, current_identifier=current)

    async def authorise(
        self,
        caller: Caller,
        text: str,
        *,
        holder: HolderId | None,
        department_code: str,
        counter: str,
        purpose: str,
        fields: Sequence[str],
        expires_at: dt.datetime | None,
        valid_days: int = 0,
    ) -> tuple[Authorisation, str, str]:
        """A new authorisation, its code (shown only now) and the department's name.

        Holder apps only (PERMISSION_DENIED otherwise), for one of the named holder's
        licences (NOT_FOUND otherwise). INVALID_ARGUMENT: a malformed (GB 32100) or
        unknown department code, an empty or over-long purpose or one holding a
        character the licence files' fonts cannot draw, a field the type
        lacks, an expiry (``expires_at``, or ``valid_days`` from now:
        :func:`asked_expiry`) not after now, after the licence's ``valid_until`` or
        over 90 days ahead. FAILED_PRECONDITION
        when the lineage's current version cannot be used now (licence_refusal), or
        when its copy could not be drawn (reason ``not_drawable``: the masked name or
        a shared value holding a character the fonts cannot draw)."""
        if caller.kind != "app":
            raise denied(
                f"{caller} may not authorise uses: holder apps only", field="as"
            )
        record = await self._reader.readable(  # its one ok row: the authorisation's
            caller, text, "licence.authorise", holder=holder, view=False, recorded=False
        )
        now = self._clock()
        dept_code = validate_uscc(department_code.strip(), "department_code")
        if (dept := await self._directory.department(dept_code)) is None:
            raise invalid("department_code", f"unknown department {dept_code!r}")
        purpose = purpose.strip()
        if not purpose:
            raise invalid(
                "purpose", f"give a purpose of 1 to {MAX_PURPOSE_CHARS} characters"
            )
        if len(purpose) > MAX_PURPOSE_CHARS:
            raise invalid(
                "purpose",
                f"is {len(purpose)} characters; the limit is {MAX_PURPOSE_CHARS}",
            )
        # the purpose is printed on the sealed annotated copy: no direction mark,
        # line separator or invisible character may make it read otherwise
        check_display_name(purpose, "purpose")
        # and drawn whole: a character the files' fonts lack would be left out
        await check_printable(purpose, "purpose", self._fonts)
        counter = check_counter(counter)
        published_about(record, purpose=purpose, counter=counter)  # in its event
        licence_type = await self._directory.licence_type(record.type_code)
        shown = set(visible_fields(licence_type))
        if not fields or len(fields) > MAX_FIELDS:
            raise invalid("fields", f"name 1 to {MAX_FIELDS} fields to share")
        laid_out = self._files.laid_out(licence_type)
        for name in fields:
            if name not in shown:
                raise invalid("fields", f"{name!r} is not a field the holder can share")
            if laid_out is not None and name not in laid_out:  # atk46 F11
                raise invalid(
                    "fields",
                    f"{name!r} is not drawn on this licence type's files: no copy "
                    "could show it",
                )
        expires_at, asked = asked_expiry(expires_at, valid_days, now)
        problem = expiry_problem(expires_at, now)
        if problem or expires_at is None:
            raise invalid(asked, problem or "is required")
        # what could not be redeemed now is not authorised: a use is within validity
        current = await self._current(record.lineage, record.identifier, True)
        unusable = licence_refusal(current, now)
        if unusable is not None:
            raise precondition(unusable[1], field="identifier")
        # and its copy can be drawn, the department's name too (trial45, atk46 F10:
        # the code was refused at every counter)
        until = min(expires_at, current.valid_until)
        said = copy_annotation(dept.name, purpose, until)
        if undrawn := await self._files.copy_problem(current, fields, said):
            if undrawn.field == "department_name":  # the request's name of it
                raise precondition(undrawn.message, field="department_code")
            raise undrawn
        # nor does the authorisation outlive the licence (atk39holder 5)
        if problem := expiry_problem(expires_at, now, current.valid_until):
            raise invalid(asked, problem)
        auth = Authorisation(
            authorisation_id=new_authorisation_id(),
            lineage=record.lineage,
            identifier=record.identifier,
            holder_ref=record.holder_ref,
            department_code=dept.code,
            counter=counter.strip(),
            purpose=purpose,
            fields=tuple(dict.fromkeys(fields)),
            expires_at=expires_at,
            created_at=now,
            created_by=str(caller),
        )
        code = new_code()
        event = authorisation_event(
            record, auth, "licence.authorised", actor=str(caller), reason="", at=now
        )
        await self._store.insert_authorisation(
            auth,
            code_digest(code),
            event,
            self._auditor.entry(
                caller,
                "licence.authorise",
                record.identifier,
                authorisation=auth.authorisation_id,
                department=dept.code,
                holder=record.holder_ref,
            ),
            authorisation_usage_entries(event.value),
        )
        return auth, code, dept.name

    async def revoke(
        self,
        caller: Caller,
        authorisation_id: str,
        *,
        holder: HolderId | None,
        reason: str,
    ) -> tuple[Authorisation, str]:
        """Withdraw an authorisation of the named holder (holder apps only); it and
        the department's name. An authorisation that is not that holder's is
        NOT_FOUND; one already withdrawn is FAILED_PRECONDITION; a ``reason`` over
        :data:`MAX_REASON_CHARS` characters is INVALID_ARGUMENT."""
        if caller.kind != "app":
            raise denied(
                f"{caller} may not withdraw authorisations: holder apps only",
                field="as",
            )
        if holder is None:
            raise invalid("holder", "a holder app names the holder: id_type, id_number")
        if len(reason) > MAX_REASON_CHARS:  # refused, never cut (atk39holder 6)
            raise invalid(
                "reason",
                f"is {len(reason)} characters; the limit is {MAX_REASON_CHARS}",
            )
        # published in its event and the usage record, as the purpose is: no line
        # break, direction mark or invisible character may make it read otherwise
        # (none given, or only spaces, is no reason: left as it is)
        problem = display_name_problem(reason) if reason else None
        if problem is not None and not problem.startswith("is blank"):
            raise invalid("reason", problem)
        # no grant: refused before any look-up, so it learns nobody's (atk-authz 2)
        await self._reader.granted_types(
            caller,
            "licence.authorisation_revoke",
            asked_authorisation(authorisation_id),
        )
        authorisation_id = authorisation_id.strip()
        if not is_authorisation_id(authorisation_id):
            raise invalid(
                "authorisation_id",
                "is not an authorisation id: au- and 16 hex digits, as AuthoriseUse "
                "answered it",
            )
        holder_ref = self._protector.pseudonym(*holder)
        auth = await self._store.get_authorisation(authorisation_id)
        if auth is None or auth.holder_ref != holder_ref:
            raise CertsealError(
                ErrorKind.NOT_FOUND,
                f"authorisation {authorisation_id} not found",
                field="authorisation_id",
            )
        # the holder must still read the licence through this app
        record = await self._reader.readable(
            caller,
            auth.identifier,
            "licence.authorisation_revoke",
            holder=holder,
            view=False,
            recorded=False,  # its one ok row: the withdrawal's
        )
        if auth.revoked_at is not None:
            raise CertsealError(
                ErrorKind.FAILED_PRECONDITION,
                f"authorisation {auth.authorisation_id} was already withdrawn",
                field="authorisation_id",
            )
        published_about(record, reason=reason)
        now = self._clock()
        event = authorisation_event(
            record,
            auth,
            "licence.authorisation_revoked",
            actor=str(caller),
            reason=reason,
            at=now,
        )
        revoked = await self._store.revoke_authorisation(
            auth.authorisation_id,
            now,
            str(caller),
            reason,
            event,
            self._auditor.entry(
                caller,
                "licence.authorisation_revoke",
                auth.identifier,
                authorisation=auth.authorisation_id,
                holder=holder_ref,
            ),
            authorisation_usage_entries(event.value),
        )
        if revoked is None:
            raise CertsealError(
                ErrorKind.FAILED_PRECONDITION,
                f"authorisation {auth.authorisation_id} was already withdrawn",
                field="authorisation_id",
            )
        dept = await self._directory.department(revoked.department_code)
        return revoked, dept.name if dept else ""

    async def redeem(self, caller: Caller, code: str, *, counter: str) -> Redemption:
        """Redeem authorisation ``code`` as department ``caller`` at ``counter``
        (:meth:`RedemptionDesk.redeem`, :mod:`.redemption`)."""
        return await self._desk.redeem(caller, code, counter=counter)
