"""The licence file as OFD (GB/T 33190-2016, 电子文件存储与交换格式 版式文档): the same
page as the PDF form (:mod:`services.issuer.document`), as an OFD package the seal
service seals with ``SealOfd``.

The package (a ZIP, GB/T 33190 §7):

- ``OFD.xml``: ``DocBody/DocInfo`` with ``DocID``, ``Title``, ``Author`` (the issuing
  department), ``Subject`` (the identifier), ``CreationDate``, ``Creator`` and, in
  ``CustomDatas``, one ``CustomData Name="<key>"`` per GB/T 36903 metadata element
  (:data:`certseal.licencefile.METADATA_KEYS`: identifier, type, issuer, holder
  reference, validity, version, licence code), so other systems read them without
  OCR; ``DocRoot`` ``Doc_0/Document.xml``;
- ``Doc_0/Document.xml``: A4 pages (``PhysicalBox 0 0 210 297``, mm), as many as
  the fields take: as the PDF's, they end above 196 mm (174 mm on an annotated copy)
  on every page and a long value goes on at the top of the next (a single page let
  a long value run off its foot, under the QR code and the seal's stamp), the QR code
  on the last; ``PublicRes.xml`` and ``DocumentRes.xml``;
- ``Doc_0/PublicRes.xml``: the fonts, each **embedded** (§11.1 ``FontFile``) as a
  subset of only the characters the page draws: ``Res/NotoSansSC.otf`` and, when the
  page has a character Noto Sans SC lacks (生僻字 outside the BMP), ``Res/HanaMinB.ttf``.
  A viewer needs no system font;
- ``Doc_0/DocumentRes.xml``: the licence code's QR code, ``Res/licence_code.png``
  (``MultiMedia Type="Image" Format="PNG"``);
- ``Doc_0/Pages/Page_<n>/Content.xml``, a page each: text objects (``TextObject``
  with ``TextCode`` and ``DeltaX`` advances from the embedded font's metrics, in mm)
  for the title, the holder, the visible fields, the validity, the issuing
  department and the identifier (titles shrunk, then wrapped, to their widths:
  :mod:`services.issuer.document_fit`), the QR code's ``ImageObject`` and, on every
  page of an annotated copy, the statement and the purpose's field, its frame a
  ``PathObject``.

The seal service adds ``Doc_0/Signs/…`` (GB/T 33190 §18) when it seals; its
references cover every file above, the metadata included.
"""

from __future__ import annotations

import datetime as dt
import io
import unicodedata
import uuid
import zipfile
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

import segno
from fontTools import ttLib

from services.issuer.document import (
    DocumentTemplate,
    Fonts,
    LicenceDocumentContent,
    font_code_points,
    font_subset,
    metadata_of,
    rows_of,
)
from services.issuer.document_fit import (
    FIELD_TITLE_SIZES,
    FIELD_TITLE_WIDTH,
    LINE_MM_PER_PT,
    TITLE_LINE_MM_PER_PT,
    TITLE_SIZES,
    TITLE_WIDTH,
    fitted,
)
from services.issuer.document_overlay import (
    FIELDS_BOTTOM,
    FRAME_GAP,
    FRAME_LINE,
    FRAME_PAD_X,
    FRAME_PAD_Y,
    LABEL_GAP,
    PURPOSE_LABEL,
    PURPOSE_LINE_MM,
    PURPOSE_PT,
    STATEMENT_LINE_MM,
    STATEMENT_PT,
    CopyAnnotation,
    under_tries,
)
from services.issuer.printable import UNDRAWN_CONTROLS

_NS = 'xmlns:ofd="http://www.ofdspec.org/2016"'
_HEADER = '<?xml version="1.0" encoding="UTF-8"?>\n'
PT_MM = 25.4 / 72  # one point in mm
MAIN_FONT_ID, RARE_FONT_ID, QR_ID = 2, 3, 4
#: where a page's fields end without an annotation (mm from the top: above the QR at
#: 200 mm and the seal's stamp, as the PDF's) and where a further page's start; the
#: pitch of a value's lines (12 pt)
FIELDS_END, PAGE_TOP, VALUE_LINE_MM = 196.0, 20.0, 9.0
_FIXED_TEXT = "扫码核验 .…-0123456789"


@dataclass(frozen=True)
class _Face:
    """An embedded font subset: its id, file name and advances (em fractions)."""

    font_id: int
    file: str
    family: str
    name: str
    data: bytes
    advances: dict[int, float]


def _face(font_id: int, path: Path, points: set[int], file: str) -> _Face:
    data = font_subset(path, points)
    font = ttLib.TTFont(io.BytesIO(data), lazy=True)
    per_em = float(font["head"].unitsPerEm)
    metrics = font["hmtx"].metrics
    advances = {
        point: metrics[glyph][0] / per_em
        for point, glyph in font.getBestCmap().items()
        if glyph in metrics
    }
    names = font["name"]
    family = str(names.getBestFamilyName() or path.stem)
    name = str(names.getDebugName(6) or path.stem)
    return _Face(font_id, file, family, name, data, advances)


class _Ids:
    """The document's object IDs (GB/T 33190 §7.4: unique in the document), handed
    out in turn across its pages; ``last`` is its ``MaxUnitID``."""

    def __init__(self, last: int = 10):
        self.last = last

    def __call__(self) -> int:
        self.last += 1
        return self.last


class _Page:
    """Writes a page's text and image objects, measuring text with the faces."""

    def __init__(self, main: _Face, rare: _Face | None, ids: _Ids, page_id: int = 1):
        self.main, self.rare, self.ids, self.page_id = main, rare, ids, page_id
        self.objects: list[str] = []

    def _id(self) -> int:
        return self.ids()

    def _face_of(self, char: str) -> _Face:
        if ord(char) in self.main.advances or self.rare is None:
            return self.main
        return self.rare if ord(char) in self.rare.advances else self.main

    def _advance(self, char: str, size_mm: float) -> float:
        face = self._face_of(char)
        em = face.advances.get(ord(char))
        if em is None:  # not in the font: an em for wide characters, half otherwise
            em = 1.0 if unicodedata.east_asian_width(char) in "WF" else 0.5
        return em * size_mm

    def width(self, text: str, size_pt: float) -> float:
        """The advance of ``text`` at ``size_pt`` points, in mm."""
        return sum(self._advance(c, size_pt * PT_MM) for c in text)

    def lines(self, text: str, size_pt: float, width_mm: float) -> list[str]:
        """``text`` broken into lines no wider than ``width_mm`` (by character)."""
        found, line = [], ""
        for char in text:
            if line and self.width(line + char, size_pt) > width_mm:
                found.append(line)
                line = ""
            line += char
        return [*found, line] if line else found or [""]

    def text(
        self, text: str, x: float, y: float, size_pt: float, colour: str = "0 0 0"
    ) -> None:
        """``text`` with its top left at (``x``, ``y``) mm: one text object per run
        of characters of one font."""
        size = size_pt * PT_MM
        runs: list[tuple[_Face, str]] = []
        for char in text:
            face = self._face_of(char)
            if runs and runs[-1][0] is face:
                runs[-1] = (face, runs[-1][1] + char)
            else:
                runs.append((face, char))
        for face, run in runs:
            advances = [self._advance(c, size) for c in run]
            width = sum(advances)
            delta = " ".join(f"{a:.3f}" for a in advances[:-1])
            delta_attr = f" DeltaX={quoteattr(delta)}" if delta else ""
            self.objects.append(
                f'<ofd:TextObject ID="{self._id()}" '
                f'Boundary="{x:.3f} {y:.3f} {width:.3f} {size * 1.4:.3f}" '
                f'Font="{face.font_id}" Size="{size:.3f}">'
                f'<ofd:FillColor Value="{colour}"/>'
                f'<ofd:TextCode X="0" Y="{size * 1.1:.3f}"{delta_attr}>'
                f"{escape(run)}</ofd:TextCode></ofd:TextObject>"
            )
            x += width

    def image(self, resource: int, x: float, y: float, w: float, h: float) -> None:
        """The image resource ``resource`` in the box (``x``, ``y``, ``w``, ``h``) mm."""
        self.objects.append(
            f'<ofd:ImageObject ID="{self._id()}" Boundary="{x} {y} {w} {h}" '
            f'CTM="{w} 0 0 {h} 0 0" ResourceID="{resource}"/>'
        )

    def frame(self, x: float, y: float, w: float, h: float, colour: str) -> None:
        """A rectangle's outline, ``colour``, :data:`FRAME_LINE` mm wide."""
        self.objects.append(
            f'<ofd:PathObject ID="{self._id()}" Boundary="{x:.3f} {y:.3f} {w:.3f} '
            f'{h:.3f}" LineWidth="{FRAME_LINE}"><ofd:StrokeColor Value="{colour}"/>'
            f"<ofd:AbbreviatedData>M 0 0 L {w:.3f} 0 L {w:.3f} {h:.3f} L 0 {h:.3f} "
            "C</ofd:AbbreviatedData></ofd:PathObject>"
        )

    def xml(self) -> str:
        layer = self._id()
        return (
            f"{_HEADER}<ofd:Page {_NS}><ofd:Content>"
            f'<ofd:Layer ID="{layer}" Type="Body">{"".join(self.objects)}</ofd:Layer>'
            "</ofd:Content></ofd:Page>"
        )


def _ofd_xml(
    content: LicenceDocumentContent, title: str, produced_at: dt.datetime
) -> str:
    customs = "".join(
        f"<ofd:CustomData Name={quoteattr(key)}>{escape(value)}</ofd:CustomData>"
        for key, value in metadata_of(content).items()
    )
    # one DocID per licence version, the same however often it is rendered
    doc_id = uuid.uuid5(
        uuid.NAMESPACE_URL,
        f"urn:certseal:licence:{content.identifier}:{content.version}",
    ).hex
    return (
        f'{_HEADER}<ofd:OFD {_NS} Version="1.0" DocType="OFD"><ofd:DocBody>'
        f"<ofd:DocInfo><ofd:DocID>{doc_id}</ofd:DocID>"
        f"<ofd:Title>{escape(title)}</ofd:Title>"
        f"<ofd:Author>{escape(content.issuer_name)}</ofd:Author>"
        f"<ofd:Subject>{escape(content.identifier)}</ofd:Subject>"
        f"<ofd:CreationDate>{produced_at.astimezone(dt.UTC).date().isoformat()}"
        "</ofd:CreationDate><ofd:Creator>certseal</ofd:Creator>"
        f"<ofd:CustomDatas>{customs}</ofd:CustomDatas></ofd:DocInfo>"
        "<ofd:DocRoot>Doc_0/Document.xml</ofd:DocRoot></ofd:DocBody></ofd:OFD>"
    )


def _public_res(faces: list[_Face]) -> str:
    fonts = "".join(
        f'<ofd:Font ID="{f.font_id}" FontName={quoteattr(f.name)} '
        f"FamilyName={quoteattr(f.family)}>"
        f"<ofd:FontFile>{f.file}</ofd:FontFile></ofd:Font>"
        for f in faces
    )
    return f'{_HEADER}<ofd:Res {_NS} BaseLoc="Res"><ofd:Fonts>{fonts}</ofd:Fonts></ofd:Res>'


def _under(page: _Page, said: CopyAnnotation) -> None:
    """The statement (red) from 180 mm, its next lines indented past 仅供, then the
    purpose's field: the label (red) and right of it the purpose (dark grey) in a
    frame to the statement's right edge, at the first width and size that ends above
    its foot, as the PDF's (:func:`~services.issuer.document_overlay.under_tries`,
    :func:`services.issuer.document_overlay.draw_under`)."""
    red, grey = "200 0 0", "64 64 64"
    for width, foot, scale in under_tries():
        statement_pt, purpose_pt = STATEMENT_PT * scale, PURPOSE_PT * scale
        statement_mm, purpose_mm = STATEMENT_LINE_MM * scale, PURPOSE_LINE_MM * scale
        indent = page.width("仅供", statement_pt)
        left = 20 + page.width(PURPOSE_LABEL, purpose_pt) + LABEL_GAP
        right = 20 + width
        statement = page.lines(said.statement[2:], statement_pt, right - 20 - indent)
        lines = page.lines(said.purpose, purpose_pt, right - left - 2 * FRAME_PAD_X)
        height = len(lines) * purpose_mm + 2 * FRAME_PAD_Y
        if 180 + len(statement) * statement_mm + FRAME_GAP + height < foot:
            break
    y = 180.0
    for number, line in enumerate(statement):
        shown, x = ("仅供" + line, 20.0) if not number else (line, 20 + indent)
        page.text(shown, x, y, statement_pt, colour=red)
        y += statement_mm
    y += FRAME_GAP
    page.text(PURPOSE_LABEL, 20, y + FRAME_PAD_Y, purpose_pt, colour=red)
    page.frame(left, y, right - left, height, grey)
    y += FRAME_PAD_Y
    for line in lines:
        page.text(line, left + FRAME_PAD_X, y, purpose_pt, colour=grey)
        y += purpose_mm


def render_licence_ofd(
    content: LicenceDocumentContent,
    *,
    template: DocumentTemplate,
    fonts: Fonts,
    produced_at: dt.datetime,
) -> bytes:
    """The licence file as OFD package bytes (A4, as many pages as its fields take),
    not yet sealed (see the module for the layout). Leaves the area from (95, 200) mm
    to (145, 250) mm of every page free for the seal's stamp."""
    rows = rows_of(content, template)
    text = "".join(
        [template.title, template.note]
        + [content.annotation.text if content.annotation else ""]
        + [title + value for title, value in rows]
    )
    wanted = {ord(c) for c in text + _FIXED_TEXT} - UNDRAWN_CONTROLS
    if missing := wanted - font_code_points(fonts.main) - font_code_points(fonts.rare):
        # never drawn without them: DocumentRenderer.render refuses such content
        raise ValueError(f"the fonts cannot draw {sorted(map(chr, missing))}")
    main = _face(MAIN_FONT_ID, fonts.main, wanted, f"NotoSansSC{fonts.main.suffix}")
    rare_points = {c for c in wanted - font_code_points(fonts.main) if c > 0x20}
    rare = (
        _face(RARE_FONT_ID, fonts.rare, rare_points, f"HanaMinB{fonts.rare.suffix}")
        if rare_points & font_code_points(fonts.rare)
        else None
    )
    ids = _Ids()
    pages = [_Page(main, rare, ids)]
    page = pages[0]
    # the fields end above the QR (200 mm) or above an annotated copy's lines under
    # them (180 mm) on every page, as the PDF's (document.render_licence_pdf)
    below = FIELDS_BOTTOM if content.annotation else FIELDS_END

    def room(height: float, at: float) -> float:
        """``at``, or the top of a new page when ``height`` mm from ``at`` would
        pass ``below`` (a page whose fields start at its top takes any line)."""
        nonlocal page
        if at + height <= below or at <= PAGE_TOP:
            return at
        page = _Page(main, rare, ids, ids())
        pages.append(page)
        return PAGE_TOP

    size, lines = fitted(page.lines, template.title, TITLE_WIDTH, TITLE_SIZES, 1)
    y = 18.0  # the title shrunk, then wrapped, each line centred: on the page
    for line in lines:
        page.text(line, (210 - page.width(line, size)) / 2, y, size)
        y += 16.5 if len(lines) == 1 else size * TITLE_LINE_MM_PER_PT
    y = max(42.0, y + 8)
    for title, value in rows:  # a title shrunk, then wrapped: never over its value
        title_size, titled = fitted(
            page.lines, title, FIELD_TITLE_WIDTH - 2, FIELD_TITLE_SIZES, 2
        )
        title_high = len(titled) * title_size * LINE_MM_PER_PT
        y = start = room(max(VALUE_LINE_MM, title_high), y)
        first = page
        for number, line in enumerate(titled):
            page.text(line, 20, y + number * title_size * LINE_MM_PER_PT, title_size)
        for line in page.lines(value, 12, 130):  # a long value goes on over pages
            y = room(VALUE_LINE_MM, y)
            page.text(line, 55, y, 12)
            y += VALUE_LINE_MM
        if page is first:
            y = max(y, start + title_high)
    if template.note:
        for line in page.lines(template.note, 9, 170):
            y = room(12.0, y) + 6
            page.text(line, 20, y, 9)
    for each in pages:
        if content.annotation:  # the statement, then the purpose's field (no
            _under(each, content.annotation)  # diagonal), as the PDF's, on each page
    page.image(QR_ID, 150, 200, 40, 40)  # on the last page, as the PDF's
    page.text("扫码核验", 170 - page.width("扫码核验", 8) / 2, 241, 8)
    qr = io.BytesIO()
    segno.make(content.licence_code, error="m").save(qr, kind="png", scale=4)
    faces = [main, *([rare] if rare else [])]
    pages_xml = [each.xml().encode() for each in pages]  # layers: the last IDs
    files = {
        "OFD.xml": _ofd_xml(content, template.title, produced_at).encode(),
        "Doc_0/Document.xml": (
            f"{_HEADER}<ofd:Document {_NS}><ofd:CommonData>"
            f"<ofd:MaxUnitID>{ids.last}</ofd:MaxUnitID>"
            "<ofd:PageArea><ofd:PhysicalBox>0 0 210 297</ofd:PhysicalBox>"
            "</ofd:PageArea><ofd:PublicRes>PublicRes.xml</ofd:PublicRes>"
            "<ofd:DocumentRes>DocumentRes.xml</ofd:DocumentRes></ofd:CommonData>"
            "<ofd:Pages>"
            + "".join(
                f'<ofd:Page ID="{each.page_id}" '
                f'BaseLoc="Pages/Page_{number}/Content.xml"/>'
                for number, each in enumerate(pages)
            )
            + "</ofd:Pages></ofd:Document>"
        ).encode(),
        "Doc_0/PublicRes.xml": _public_res(faces).encode(),
        "Doc_0/DocumentRes.xml": (
            f'{_HEADER}<ofd:Res {_NS} BaseLoc="Res"><ofd:MultiMedias>'
            f'<ofd:MultiMedia ID="{QR_ID}" Type="Image" Format="PNG">'
            "<ofd:MediaFile>licence_code.png</ofd:MediaFile></ofd:MultiMedia>"
            "</ofd:MultiMedias></ofd:Res>"
        ).encode(),
        **{
            f"Doc_0/Pages/Page_{number}/Content.xml": data
            for number, data in enumerate(pages_xml)
        },
        "Doc_0/Res/licence_code.png": qr.getvalue(),
        **{f"Doc_0/Res/{face.file}": face.data for face in faces},
    }
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    return out.getvalue()
