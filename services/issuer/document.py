"""The licence file (GB/T 36905 电子证照文件): a PDF rendered from the licence type's
template, with the GB/T 36903 metadata embedded so other systems read it without OCR.

Layout: the type's name as the title, the holder, the fields the holder may see (in the
template's order), the validity, the identifier, and the licence code as a QR code; a
title shrunk, then wrapped, to its width (:mod:`services.issuer.document_fit`).
A4, more pages when a value is long (the fields end above the QR, 196 mm, on each; the
QR on the last). An annotated copy (加注件) carries its 加注 on **every** page (fpdf2's
footer hook), inside the content the platform's seal signs: a diagonal across the
fields and the statement and the framed purpose under them, from 180 mm (the fields
end above 174 mm): :mod:`services.issuer.document_overlay`.

Fonts are bundled: Noto Sans SC (the ``pylopdf-fonts-zh-cn`` wheel) and, for Han
characters outside the BMP that it lacks (生僻字 such as 𠈌 or 𪚥), Debian's HanaMinB
(fonts-hanazono) as the fallback. Both are embedded as subsets. A file holding a
character neither maps is not rendered (:mod:`services.issuer.printable`).

The metadata (GB/T 36903-2018, 电子证照 元数据规范: 证照标识, 证照类型代码, 发证机构代码,
持证主体 reference, 有效期, 版本) is written twice: in the document information
dictionary (``/Subject`` the identifier, ``/Keywords`` ``key=value`` pairs) and as XMP
in a ``certseal`` namespace, read back by
:func:`certseal.licencefile.read_licence_metadata` (any service reads it there).

Rendering is CPU-bound: :class:`DocumentRenderer` runs it in worker processes. Reading
the large CJK fonts cost most of it (0.9 s a file when fpdf2 parsed both whole fonts
for every file; it subsets a parsed font in place). Each worker reads a font once
(:func:`_font_source`: bytes, glyph order, character map) and, per file, fontTools
cuts a subset of only the characters the file draws (:func:`font_subset`), which fpdf2
loads in milliseconds; the rare font only when the file needs a character of it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
import functools
import io
import multiprocessing
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from xml.sax.saxutils import escape

import msgspec
import segno
from fontTools import subset as ftsubset
from fontTools import ttLib
from fpdf import FPDF

from certseal.errors import invalid
from certseal.files import folder_entries, is_missing, read_regular_file
from certseal.fontfiles import check_font_file
from certseal.licencefile import XMP_NAMESPACE, keywords_text
from services.issuer.document_fit import draw_pdf_row, draw_pdf_title
from services.issuer.document_overlay import (
    FIELDS_BOTTOM,
    CopyAnnotation,
    annotate_page,
)
from services.issuer.printable import UNDRAWN_CONTROLS, content_problem

#: Debian fonts-hanazono's font for CJK Extension B and later (``make fonts``)
DEFAULT_RARE_FONT = Path("/usr/share/fonts/truetype/hanazono/HanaMinB.ttf")


@dataclass(frozen=True)
class DocumentTemplate:
    """How one licence type's file is laid out.

    The default (:meth:`default_for`) shows every visible field in the type's order;
    an operator-supplied template renames the title, orders or omits fields and adds a
    note.
    """

    title: str
    field_order: tuple[str, ...] = ()  # empty: the type's own order
    note: str = ""

    @classmethod
    def default_for(cls, type_name: str) -> DocumentTemplate:
        """The default layout: the type's name as the title, fields in order."""
        return cls(title=type_name)


class _TemplateFile(msgspec.Struct, forbid_unknown_fields=True):
    title: str = ""
    field_order: list[str] = msgspec.field(default_factory=list)
    note: str = ""


#: an operator's template file is small: anything bigger is a mistake
MAX_TEMPLATE_BYTES = 16 * 1024


def load_templates(
    folder: Path, field: str = "issuer.document_templates_dir"
) -> dict[str, DocumentTemplate]:
    """Operator-supplied templates: ``<type_code>.toml`` files in ``folder``, each
    with ``title``, ``field_order`` (field names) and ``note`` (all optional; an
    empty title keeps the type's name, filled in by :func:`template_for`).

    Raises CertsealError(INVALID_ARGUMENT, ``field``: the setting naming the folder)
    naming the folder when it is not one (missing, a file: every template would be
    silently unused), or a file and its problem (not a regular file, over
    :data:`MAX_TEMPLATE_BYTES`, not UTF-8 TOML, an unknown key, a wrong type).
    """
    if is_missing(folder, field) or not folder.is_dir():
        raise invalid(field, f"{folder} is not a folder of <type_code>.toml templates")
    found: dict[str, DocumentTemplate] = {}
    for path in folder_entries(folder, field, ".toml"):
        # a regular file within the bound: a FIFO named x.toml is refused, not read
        data = read_regular_file(
            path, field, MAX_TEMPLATE_BYTES, limit_text=f"{MAX_TEMPLATE_BYTES} bytes"
        )
        try:
            parsed = msgspec.toml.decode(data, type=_TemplateFile)
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            raise invalid(field, f"{path}: {exc}") from None
        if len(parsed.title) > 64 or len(parsed.note) > 500:
            raise invalid(field, f"{path}: title over 64 or note over 500 characters")
        found[path.stem] = DocumentTemplate(
            parsed.title, tuple(parsed.field_order), parsed.note
        )
    return found


def template_for(
    templates: dict[str, DocumentTemplate], type_code: str, type_name: str
) -> DocumentTemplate:
    """The operator's template of the type (its title defaulting to the type's
    name), or the default layout."""
    given = templates.get(type_code)
    if given is None:
        return DocumentTemplate.default_for(type_name)
    return DocumentTemplate(given.title or type_name, given.field_order, given.note)


@dataclass(frozen=True)
class LicenceDocumentContent:
    """What a licence file shows and carries (times UTC, dates rendered in UTC+8)."""

    identifier: str
    version: int
    type_code: str
    type_name: str
    issuer_code: str
    issuer_name: str
    holder_name: str
    holder_ref: str  # HMAC of the identity document, hex; never the ID number
    fields: Sequence[tuple[str, str, str]]  # (name, title, rendered value)
    valid_from: dt.datetime
    valid_until: dt.datetime
    licence_code: str  # LC1:…, rendered as the QR code
    annotation: CopyAnnotation | None = None  # 加注: the annotated copy's overlay
    extra_metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Fonts:
    """The bundled fonts: the main CJK font and the fallback for rare characters."""

    main: Path
    rare: Path

    @classmethod
    def bundled(
        cls, rare: Path = DEFAULT_RARE_FONT, field: str = "issuer.rare_font_file"
    ) -> Fonts:
        """Noto Sans SC from its wheel and ``rare`` (HanaMinB by default).

        Raises ``FileNotFoundError`` naming ``make fonts`` when ``rare`` does not
        exist (licence files are then off), and CertsealError(INVALID_ARGUMENT,
        ``field``) when it cannot be reached (a folder on its way this process may
        not enter) or exists but is no font fontTools opens
        (:func:`certseal.fontfiles.check_font_file`): every render would fail."""
        if is_missing(rare, field):  # only ENOENT: a folder it cannot enter is
            # the setting's fault, not an absent font
            raise FileNotFoundError(
                f"{field}: {rare}: the rare-character font is missing (make fonts "
                "installs Debian's fonts-hanazono)"
            )
        check_font_file(rare, field)
        main = resources.files("pylopdf_fonts_zh_cn") / "NotoSansSC-Regular.otf"
        return cls(main=Path(str(main)), rare=rare)


BEIJING = dt.timezone(dt.timedelta(hours=8))


def render_date(at: dt.datetime) -> str:
    """``2026年11月30日`` in China Standard Time (UTC+8)."""
    local = at.astimezone(BEIJING)
    return f"{local.year}年{local.month}月{local.day}日"


def metadata_of(content: LicenceDocumentContent) -> dict[str, str]:
    """The GB/T 36903 metadata elements of ``content``
    (:data:`certseal.licencefile.METADATA_KEYS`)."""
    return {
        "identifier": content.identifier,
        "type_code": content.type_code,
        "type_name": content.type_name,
        "issuer_code": content.issuer_code,
        "holder_ref": content.holder_ref,
        "valid_from": content.valid_from.astimezone(dt.UTC).isoformat(),
        "valid_until": content.valid_until.astimezone(dt.UTC).isoformat(),
        "version": str(content.version),
        "licence_code": content.licence_code,
        **content.extra_metadata,
    }


def _xmp(meta: dict[str, str]) -> str:
    props = "".join(
        f"<cs:{key}>{escape(value)}</cs:{key}>" for key, value in meta.items()
    )
    return (
        '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        f'<rdf:Description rdf:about="" xmlns:cs="{XMP_NAMESPACE}">'
        f"{props}</rdf:Description></rdf:RDF>"
    )


@dataclass(frozen=True)
class _FontSource:
    """One font file as a worker process keeps it: the bytes, the glyph order and the
    code points it maps (read once; a fresh fontTools font is made from them per
    subset, because subsetting changes a font in place)."""

    data: bytes
    glyph_order: tuple[str, ...]
    code_points: frozenset[int]


@lru_cache(maxsize=4)
def _font_source(path: Path) -> _FontSource:
    data = path.read_bytes()
    font = ttLib.TTFont(io.BytesIO(data), lazy=True)
    return _FontSource(data, tuple(font.getGlyphOrder()), frozenset(font.getBestCmap()))


def read_fonts(fonts: Fonts) -> None:
    """Read both fonts into this process's cache (a rendering worker's start-up, so
    that no file waits for it)."""
    _font_source(fonts.main)
    _font_source(fonts.rare)


def font_code_points(path: Path) -> frozenset[int]:
    """The code points the font at ``path`` maps (cached per process)."""
    return _font_source(path).code_points


BLOCK_BITS = 12
"""Code points are grouped in blocks of 4,096 (``point >> 12``): the blocks a file's
rare characters lie in (CJK Extension B and later, in HanaMinB) are cut from the
whole font once per worker, on first need."""


MAX_BLOCKS = 2
"""Files with rare characters in more blocks are subset from the whole font."""


@lru_cache(maxsize=64)
def _block_source(path: Path, blocks: frozenset[int]) -> _FontSource:
    """The font at ``path`` cut to the code points of ``blocks`` (about 0.5 s, once
    per worker and set of blocks): later files whose characters all lie in them are
    subset from a few thousand glyphs instead of the whole font's."""
    source = _font_source(path)
    data = _subset(source, {p for p in source.code_points if p >> BLOCK_BITS in blocks})
    font = ttLib.TTFont(io.BytesIO(data), lazy=True)
    return _FontSource(
        data, tuple(font.getGlyphOrder()), frozenset(font.getBestCmap() or {})
    )


def font_subset(path: Path, code_points: set[int]) -> bytes:
    """The font at ``path`` cut to the glyphs of ``code_points`` (those it maps, with
    the .notdef outline and their layout closure), as font bytes of the same format
    (TrueType or CFF OpenType). The names are kept, so the embedded font is still
    called e.g. ``HanaMinB``. About 0.2 s for Noto Sans SC, 0.3 s for HanaMinB; when
    the characters lie in at most :data:`MAX_BLOCKS` blocks (:data:`BLOCK_BITS`), as
    a name's rare characters do, from those blocks' cut (:func:`_block_source`), some
    tens of milliseconds.
    """
    source = _font_source(path)
    wanted = code_points & source.code_points
    blocks = frozenset(p >> BLOCK_BITS for p in wanted)
    if len(blocks) <= MAX_BLOCKS and len(source.code_points) > 4 << BLOCK_BITS:
        source = _block_source(path, blocks)
    return _subset(source, wanted)


def _subset(source: _FontSource, code_points: set[int]) -> bytes:
    font = ttLib.TTFont(io.BytesIO(source.data), recalcTimestamp=False, lazy=True)
    font.setGlyphOrder(list(source.glyph_order))  # not rebuilt from the cmap again
    options = ftsubset.Options(
        notdef_outline=True,
        recommended_glyphs=True,
        name_IDs=["*"],
        name_languages=["*"],
        glyph_names=False,
        drop_tables=[*ftsubset.Options().drop_tables, "FFTM"],
    )
    subsetter = ftsubset.Subsetter(options)
    subsetter.populate(unicodes=sorted(code_points & source.code_points))
    subsetter.subset(font)
    out = io.BytesIO()
    font.save(out)
    return out.getvalue()


def rows_of(
    content: LicenceDocumentContent, template: DocumentTemplate
) -> list[tuple[str, str]]:
    """The (title, value) rows under the title, in the template's order."""
    rows: list[tuple[str, str]] = [("持证人", content.holder_name)]
    by_name = {name: (title, value) for name, title, value in content.fields}
    order = template.field_order or tuple(name for name, _, _ in content.fields)
    rows += [by_name[name] for name in order if name in by_name]
    rows += [
        (
            "有效期",
            f"{render_date(content.valid_from)} 至 {render_date(content.valid_until)}",
        ),
        ("发证机构", content.issuer_name),
        ("证照标识", content.identifier),
    ]
    return rows


#: drawn on every file besides its content (the QR's caption), and what fpdf2 may add
_FIXED_TEXT = "扫码核验 .…-0123456789"


def _load_fonts(pdf: FPDF, fonts: Fonts, text: str, folder: Path) -> None:
    """Subsets of the main font and, only when ``text`` needs it, the rare font, added
    to ``pdf`` as ``main`` and ``rare`` (the fallback)."""
    wanted = {ord(c) for c in text + _FIXED_TEXT} - UNDRAWN_CONTROLS
    main_points = font_code_points(fonts.main)
    if missing := wanted - main_points - font_code_points(fonts.rare):
        # never drawn without them (fpdf2 would leave them out, saying so in a log
        # line only): DocumentRenderer.render refuses such content, naming its field
        raise ValueError(f"the fonts cannot draw {sorted(map(chr, missing))}")
    main_file = folder / f"main{fonts.main.suffix}"
    main_file.write_bytes(font_subset(fonts.main, wanted))
    pdf.add_font("main", fname=main_file)
    rare = {c for c in wanted - main_points if c > 0x20}
    if rare & font_code_points(fonts.rare):
        rare_file = folder / f"rare{fonts.rare.suffix}"
        rare_file.write_bytes(font_subset(fonts.rare, rare))
        pdf.add_font("rare", fname=rare_file)
        pdf.set_fallback_fonts(["rare"], exact_match=False)


def render_licence_pdf(
    content: LicenceDocumentContent,
    *,
    template: DocumentTemplate,
    fonts: Fonts,
    produced_at: dt.datetime,
) -> bytes:
    """The licence file as PDF bytes (A4, one page or more), not yet sealed.

    Leaves room at the bottom right (from 20 mm, 20 mm) for the seal's stamp.
    """
    with tempfile.TemporaryDirectory(prefix="certseal-fonts-") as folder:
        return _render_pdf(
            content,
            template=template,
            fonts=fonts,
            produced_at=produced_at,
            folder=Path(folder),
        )


def _render_pdf(
    content: LicenceDocumentContent,
    *,
    template: DocumentTemplate,
    fonts: Fonts,
    produced_at: dt.datetime,
    folder: Path,
) -> bytes:
    rows = rows_of(content, template)
    text = "".join(
        [template.title, template.note]
        + [content.annotation.text if content.annotation else ""]
        + [title + value for title, value in rows]
    )
    pdf = _LicencePdf(content.annotation)
    pdf.set_creation_date(produced_at)
    _load_fonts(pdf, fonts, text, folder)
    meta = metadata_of(content)
    pdf.set_title(template.title)
    pdf.set_subject(content.identifier)
    pdf.set_author(content.issuer_name)
    pdf.set_creator("certseal")
    pdf.set_keywords(keywords_text(meta))
    pdf.set_xmp_metadata(_xmp(meta))
    below = FIELDS_BOTTOM if content.annotation else 196.0  # the fields end above
    pdf.set_auto_page_break(True, margin=pdf.h - below)
    pdf.add_page()
    pdf.set_font("main", size=22)
    draw_pdf_title(pdf, template.title)  # shrunk, then wrapped: on the page
    pdf.ln(4)
    pdf.set_font("main", size=12)
    for title, value in rows:  # a title shrunk, then wrapped: never over its value
        draw_pdf_row(pdf, title, value)
    if template.note:
        pdf.ln(3)
        pdf.set_font("main", size=9)
        pdf.multi_cell(0, 6, template.note, new_x="LMARGIN", new_y="NEXT")
    pdf.set_auto_page_break(False)  # the QR and its caption below the fields' foot
    qr = io.BytesIO()
    segno.make(content.licence_code, error="m").save(qr, kind="png", scale=4)
    qr.seek(0)
    pdf.image(qr, x=150, y=200, w=40, h=40)
    pdf.set_font("main", size=8)
    pdf.set_xy(140, 241)
    pdf.cell(60, 5, "扫码核验", align="C")
    return bytes(pdf.output())


class _LicencePdf(FPDF):
    """An A4 document in mm; a copy's pages each get its annotation as fpdf2
    finishes them (the footer hook: :func:`annotate_page`)."""

    def __init__(self, annotation: CopyAnnotation | None):
        super().__init__(format="A4", unit="mm")
        self.annotation = annotation

    def footer(self) -> None:
        if self.annotation is not None:
            annotate_page(self, self.annotation)


class DocumentRenderer:
    """Renders licence files in worker processes (fontTools and fpdf2 are pure Python:
    in threads they would hold the GIL that the gRPC event loop, health and the
    outbox relay need). ``workers`` processes, started on first use with the
    ``spawn`` method (a forked gRPC process is unsafe), each reading the fonts once as
    it starts (:func:`read_fonts`)."""

    def __init__(self, *, fonts: Fonts, workers: int = 2):
        self.fonts = fonts
        self._workers = max(1, workers)
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None

    async def render(
        self,
        content: LicenceDocumentContent,
        *,
        template: DocumentTemplate,
        produced_at: dt.datetime,
        ofd: bool = False,
    ) -> bytes:
        """:func:`render_licence_pdf` (or, with ``ofd``,
        :func:`services.issuer.document_ofd.render_licence_ofd`) in a worker
        process. FAILED_PRECONDITION naming the field when the fonts cannot draw
        all of what the file draws (:func:`services.issuer.printable.content_problem`):
        a file is drawn whole or not at all, never sealed with characters left out."""
        from services.issuer.document_ofd import render_licence_ofd

        if problem := await asyncio.to_thread(
            content_problem, content, template, self.fonts
        ):
            raise problem
        render = render_licence_ofd if ofd else render_licence_pdf
        if self._pool is None:
            self._pool = concurrent.futures.ProcessPoolExecutor(
                self._workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=read_fonts,
                initargs=(self.fonts,),
            )
        return await asyncio.get_running_loop().run_in_executor(
            self._pool,
            functools.partial(
                render,
                content,
                template=template,
                fonts=self.fonts,
                produced_at=produced_at,
            ),
        )

    async def close(self) -> None:
        """Stop the worker processes and wait, in a thread (the event loop keeps
        running), until they and the pool's manager thread have ended: renders not yet
        started are cancelled, one already running finishes (``shutdown(wait=False)``
        left the manager thread closing its wake-up pipe while the exit hook wrote to
        it: ``OSError: [Errno 9] Bad file descriptor`` on some stops of the issuer)."""
        pool, self._pool = self._pool, None
        if pool is not None:
            await asyncio.to_thread(pool.shutdown, wait=True, cancel_futures=True)
