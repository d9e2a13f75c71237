"""The files the holder side hands out, rendered from the type's template
(:mod:`services.issuer.document`) in a worker process and sealed through the seal
service (:class:`DocumentSealer`):

- the licence file (:meth:`HolderFiles.licence_file`), the holder's own: every visible
  field and the holder's name, sealed with the issuing department's official seal;
- the annotated copy (加注件, :meth:`HolderFiles.annotated_copy`), what a department
  an authorisation names receives: only the fields the holder shared
  (:func:`shared_fields`) and the holder's name masked (:func:`mask_name`), with the
  overlay line, sealed with the platform's official seal. The holder chose what the
  department sees; a copy sealed so that it counts as the licence shows no more.

The metadata both carry (:func:`services.issuer.document.metadata_of`: identifier,
type, issuer, the holder's pseudonym, validity, version, licence code) holds no field
value and no name.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
from collections.abc import Sequence

from certseal.errors import CertsealError, ErrorKind
from certseal.timestamps import Clock
from services.issuer.authorisation import Authorisation
from services.issuer.document import (
    DocumentRenderer,
    DocumentTemplate,
    LicenceDocumentContent,
    template_for,
)
from services.issuer.document_overlay import CopyAnnotation
from services.issuer.domain import FieldValue, LicenceRecord, LicenceType, mask_name
from services.issuer.printable import (
    content_problem,
    drawable_points,
    undrawn_problem,
)
from services.issuer.service.directory import Directory
from services.issuer.service.sealing import DocumentSealer, LicenceDocument
from services.issuer.storage import IssuerStore


def render_value(value: FieldValue) -> str:
    """A field's value as a file draws it (是/否, 2026年1月2日)."""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, dt.date):
        return f"{value.year}年{value.month}月{value.day}日"
    return str(value)


def visible_fields(licence_type: LicenceType) -> list[str]:
    """The fields a holder's file shows, in the type's order: public, restricted and
    personal ones (fields without visibility never leave the issuer)."""
    return [
        f.name for f in licence_type.fields if f.public or f.restricted or f.personal
    ]


def shared_fields(licence_type: LicenceType, shared: Sequence[str]) -> list[str]:
    """The fields an annotated copy shows: those of ``shared`` (an authorisation's)
    that the holder's file shows, in the type's order."""
    chosen = set(shared)
    return [name for name in visible_fields(licence_type) if name in chosen]


class HolderFiles:
    """Renders and seals licence files and annotated copies."""

    def __init__(
        self,
        *,
        store: IssuerStore,
        directory: Directory,
        clock: Clock,
        sealer: DocumentSealer | None,
        renderer: DocumentRenderer | None,
        platform_code: str,
        templates: dict[str, DocumentTemplate] | None = None,
    ):
        self._store = store
        self._directory = directory
        self._clock = clock
        self._sealer = sealer
        self._renderer = renderer
        self._platform_code = platform_code
        self._templates = templates or {}
        #: the code points the fonts draw, read once (in a thread: about a second)
        self._points: frozenset[int] | None = None

    async def _drawable(self) -> frozenset[int]:
        """The code points the fonts draw, read once, in a thread (about a second)."""
        assert self._renderer is not None
        if self._points is None:
            self._points = await asyncio.to_thread(
                drawable_points, self._renderer.fonts
            )
        return self._points

    def laid_out(self, licence_type: LicenceType) -> frozenset[str] | None:
        """The fields the operator's template of ``licence_type`` lays out
        (``field_order``), or None when it lays out every visible one."""
        template = template_for(
            self._templates, licence_type.type_code, licence_type.name
        )
        return frozenset(template.field_order) if template.field_order else None

    async def undrawn_values(self, record: LicenceRecord) -> list[str]:
        """What the department writing ``record`` should know of its files: for the
        holder's name and each text field the licence file draws (visible, and in
        the type's template: :meth:`laid_out`) holding a character the fonts cannot
        draw, one line naming the field and that character, never the value
        (:func:`~services.issuer.printable.undrawn_problem`): the holder then gets
        no file (:func:`~services.issuer.printable.content_problem`), nor a copy
        showing the field, or the name when its masked form still holds it (atk45
        F10). Empty when licence files are off. The type is read from the
        directory's cache."""
        if self._renderer is None:
            return []
        points = await self._drawable()
        licence_type = await self._directory.licence_type(record.type_code)
        name = record.holder.name if record.holder else ""
        no_file = "the holder gets no licence file (PDF or OFD) of this licence"
        said = []
        if problem := undrawn_problem(name, points):
            copies = undrawn_problem(mask_name(name), points) if name.strip() else None
            also = ", nor an annotated copy," if copies else ""
            said.append(
                f"holder.name: {problem}: {no_file}{also} until the fonts draw it"
            )
        laid_out = self.laid_out(licence_type)
        for field in visible_fields(licence_type):
            value = record.fields.get(field)
            if laid_out is not None and field not in laid_out:
                continue  # the file never draws it (atk45 F8)
            if isinstance(value, str) and (problem := undrawn_problem(value, points)):
                said.append(
                    f"fields.{field}: {problem}: {no_file}, nor an annotated copy "
                    "that shows it, until the fonts draw it"
                )
        return said

    async def copy_problem(
        self, record: LicenceRecord, shared: Sequence[str], annotation: CopyAnnotation
    ) -> CertsealError | None:
        """The refusal an annotated copy of ``record`` sharing ``shared`` with
        ``annotation`` would meet when redeemed, or None: FAILED_PRECONDITION naming
        the first of all it draws that the fonts cannot draw
        (:func:`~services.issuer.printable.content_problem`: reason ``not_drawable``
        and ``licence.holder.name`` or ``licence.fields.<name>`` when it is the
        licence's, the masked name or a shared value; the platform's text as it
        is, the department's name, a title: atk46 F10), with the character, never
        the value. None when licence files are off. ``record`` is read with its
        holder."""
        if self._renderer is None:
            return None
        await self._drawable()  # the fonts' maps read once, in a thread
        content, template = await self._content(record, shared, annotation)
        return content_problem(content, template, self._renderer.fonts)

    def _parts(self) -> tuple[DocumentSealer, DocumentRenderer]:
        if self._sealer is None or self._renderer is None:
            raise CertsealError(
                ErrorKind.FAILED_PRECONDITION,
                "this issuer has no seal service or fonts configured for licence files",
                field="format",
            )
        return self._sealer, self._renderer

    async def _content(
        self,
        record: LicenceRecord,
        shared: Sequence[str] | None = None,
        annotation: CopyAnnotation | None = None,
    ) -> tuple[LicenceDocumentContent, DocumentTemplate]:
        """What a file of ``record`` draws and the template it is laid out by: the
        licence file, or with ``shared`` (an authorisation's fields) the annotated
        copy's content, those fields only and the name masked."""
        licence_type = await self._directory.licence_type(record.type_code)
        issuer = await self._directory.department(record.issuer_code)
        stored = await self._store.get_licence(record.identifier)
        assert stored is not None
        holder_name = record.holder.name if record.holder else ""
        if shared is None:
            shown = visible_fields(licence_type)
        else:
            shown = shared_fields(licence_type, shared)
            holder_name = (
                mask_name(holder_name)
                if holder_name.strip()
                else record.holder_display_name
            )
        content = LicenceDocumentContent(
            identifier=record.identifier,
            version=record.version,
            type_code=record.type_code,
            type_name=licence_type.name,
            issuer_code=record.issuer_code,
            issuer_name=issuer.name if issuer else record.issuer_code,
            holder_name=holder_name,
            holder_ref=record.holder_ref,
            fields=[
                (name, _title(licence_type, name), render_value(record.fields[name]))
                for name in shown
                if name in record.fields
            ],
            valid_from=record.valid_from,
            valid_until=record.valid_until,
            licence_code=stored.code,
            annotation=annotation,
        )
        template = template_for(self._templates, record.type_code, licence_type.name)
        return content, template

    async def _render(
        self,
        record: LicenceRecord,
        *,
        shared: Sequence[str] | None = None,
        annotation: CopyAnnotation | None = None,
        ofd: bool = False,
    ) -> bytes:
        """The unsealed file of ``record`` (:meth:`_content`)."""
        _, renderer = self._parts()
        content, template = await self._content(record, shared, annotation)
        return await renderer.render(
            content, template=template, produced_at=self._clock(), ofd=ofd
        )

    async def _seal_pdf(
        self, pdf: bytes, owner_code: str, reason: str
    ) -> LicenceDocument:
        sealer, _ = self._parts()
        sealed, seal_id = await sealer.seal_pdf(
            pdf, owner_code=owner_code, reason=reason
        )
        return LicenceDocument(sealed, seal_id, hashlib.sha256(sealed).hexdigest())

    async def licence_file(
        self, record: LicenceRecord, *, ofd: bool = False
    ) -> LicenceDocument:
        """The holder's licence file of ``record`` (a PDF, or with ``ofd`` an OFD),
        sealed with the issuing department's official seal. FAILED_PRECONDITION when
        licence files are off or the department has no usable official seal."""
        if not ofd:
            pdf = await self._render(record)
            return await self._seal_pdf(pdf, record.issuer_code, "电子证照文件")
        sealer, _ = self._parts()
        sealed, seal_id = await sealer.seal_ofd(
            await self._render(record, ofd=True), owner_code=record.issuer_code
        )
        return LicenceDocument(
            sealed, seal_id, hashlib.sha256(sealed).hexdigest(), "application/ofd"
        )

    async def annotated_copy(
        self, record: LicenceRecord, auth: Authorisation, annotation: CopyAnnotation
    ) -> LicenceDocument:
        """The annotated copy (加注件) of ``record`` for the department ``auth`` names:
        the fields ``auth`` shares, the name masked, ``annotation`` (its statement
        "仅供<department>使用，<date>前有效" across them and under them with the
        purpose quoted, :mod:`services.issuer.document_overlay`), sealed with the
        platform's official seal. The caller makes ``annotation`` with
        :func:`copy_annotation` of :func:`copy_valid_until` (the earlier of
        ``auth``'s expiry and ``record``'s end) and answers the counter its words,
        so the counter says what the copy says (atk41h)."""
        pdf = await self._render(record, shared=auth.fields, annotation=annotation)
        return await self._seal_pdf(pdf, self._platform_code, "加注件")


def _title(licence_type: LicenceType, name: str) -> str:
    spec = licence_type.spec(name)
    return (spec.title if spec else "") or name
