"""atk39pdf: attacks on the PDF seal verification after atk38d and trial38c (the
title read as each revision has it, ``filled_after`` by number, ``changes_after``).

Found:

* F1 (medium) the XMP title is read by certseal (``pdf_after._titles``: ElementTree,
  Dublin Core's namespace, the first ``dc:title`` anywhere, an unfiltered packet of
  at most 64 KiB without a DTD) otherwise than pdf.js shows it (its
  ``MetadataParser``: any filter decoded, no size bound, a DOCTYPE skipped, names
  matched as written and lower-cased, ``dc:title`` whatever namespace its prefix
  names, the LAST one among ``rdf:Description``'s children winning). pyHanko's
  ``MetadataUpdateRule`` (lxml, well-formed, root ``x:xmpmeta``) passes each at
  LTA_UPDATES. A sealed file whose packet has no title (as certseal's seal writes
  it), updated after the seal with a packet whose ``dc:title`` certseal reads as
  none, verifies VALID while pdf.js shows "FORGED" in its tab: the packet
  compressed (/FlateDecode), with a ``<!DOCTYPE>``, with the ``dc`` prefix bound to
  another URI (the DC namespace without its last slash), written ``dc:Title``,
  with a first empty ``dc:title`` and a second "FORGED", or past 64 KiB (a packet
  with a thumbnail is that large). Fixed (``pdf_title``): every title read as
  loosely as pdf.js reads it (expat, entities refused), and a packet that does not
  read counted by its bytes.
* F2 (high) a signature field added after a seal whose widget has the NoView flag
  (/F 32) counts as showing nothing (``pdf_revisions._never_shown``), so an empty
  field, no signature at all, with an appearance covering the page is excused and
  the seal stays VALID ("later signatures only"), while PDFium draws the widget with
  its forms (``FPDF_FFLDraw``, as Chrome renders a page): the whole sealed page red.
  With /F 36 (NoView, Print) poppler prints it too (``pdftocairo``), while its screen
  rendering leaves it out. Fixed (``pdf_shows``): only Hidden as an integer /F from 0
  to 2**31 - 1 is a flag no reader draws (poppler draws /F 2.5 and /F 2**31 + 2), and
  a widget with /MK colours shows even without an appearance (poppler fills it).
* F3 (medium) ``pdf_after.filled_after`` collects, for every revision that adds an
  object, the dependencies of the whole revision before, each object found through
  pyHanko's ``get_last_change`` (a walk back over the revisions): objects times
  revisions squared. It runs for an unsigned file too. A 118 KB PDF of 1,000 objects
  and 400 one-object updates costs 137 s of CPU (1,000 and 200: 59 s), past the seal
  service's 60 s job bound. Fixed: each object version read once (0.26 s), and more
  than MAX_PDF_REVISIONS revisions refused (pyHanko's own analysis is quadratic).
* F4 (high) ``/AcroForm /DR`` (the default resources a viewer draws a field's value
  with when the field has no appearance of its own) is among the keys certseal's
  form rule ignores (``pdf_verify._DIFF_POLICY``), with ``/Fields`` and
  ``/NeedAppearances``: a sealed form whose text field "Amount" holds "1000" and no
  /AP (PDFium and poppler draw "1000" in Helvetica) updated after the seal so that
  /DR's /Helv is ZapfDingbats (direct dictionaries only, the catalog and its
  /AcroForm written again) is pyHanko level LTA_UPDATES, VALID "validation data or
  document properties only", while PDFium draws four pencils for the amount and
  poppler nothing. Fixed (``pdf_form.drawing_changes``): every /AcroForm entry but
  /Fields and /SigFlags is compared with all it reaches, the key named.

Handled: the XMP title changed in a plain packet (MODIFIED); a zero-area or inverted
rectangle for the added field (nothing drawn, or MODIFIED); a Hidden widget (/F 2:
nothing drawn by PDFium).
"""

from __future__ import annotations

import io
import os
import re
import shutil
import signal
import subprocess
import tempfile
import zlib

import pytest
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.fields import enumerate_sig_fields

from certseal.bounds import MAX_PDF_REVISIONS
from certseal.errors import CertsealError
from services.seal.pdf_revisions import inventory
from services.seal.pdf_shows import shows_on_a_page
from services.seal.pdf_title import xmp_titles
from services.seal.pdf_verify import read_pdf_seals
from tests.seal.field_pdfs import Tree, assemble_pdf, page_pdf
from tests.seal.test_atk38d import raw_update
from tests.seal.test_field_pdfs import keys, seal, seal_ca  # noqa: F401
from tests.seal.test_pdf_tail import _with_display_title

FORGED = "FORGED"


async def _verdicts(pdf: bytes, ca: bytes) -> list[tuple[bool, bool, str]]:
    return [(s.intact, s.modified, s.detail) for s in await read_pdf_seals(pdf, ca=ca)]


@pytest.fixture(scope="module")
async def titled(seal_ca, keys) -> bytes:  # noqa: F811
    """A PDF with a title (/Info) and DisplayDocTitle as certseal seals it: its XMP
    packet (pyHanko's) has no dc:title."""
    return await seal(seal_ca, keys, _with_display_title(page_pdf(Tree())))


# -- F1: an XMP title pdf.js shows and certseal reads as none --------------------------

_HEAD = (
    '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
    '<x:xmpmeta xmlns:x="adobe:ns:meta/">'
    '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
)
_TAIL = '</rdf:RDF></x:xmpmeta><?xpacket end="w"?>'
_DC = "http://purl.org/dc/elements/1.1/"


def _description(inner: str, dc: str = _DC) -> str:
    return f'<rdf:Description rdf:about="" xmlns:dc="{dc}">{inner}</rdf:Description>'


def _title(text: str, tag: str = "dc:title") -> str:
    return (
        f'<{tag}><rdf:Alt><rdf:li xml:lang="x-default">{text}</rdf:li></rdf:Alt>'
        f"</{tag}>"
    )


#: packets whose shown title (pdf.js: the last rdf:Description child named
#: "dc:title" once lower-cased, any filter decoded) is FORGED, and whether compressed
_PACKETS = {
    "flate": (_HEAD + _description(_title(FORGED)) + _TAIL, True),
    "doctype": (
        '<?xml version="1.0"?><!DOCTYPE x:xmpmeta>'
        + _HEAD[_HEAD.index("<x:") :]
        + _description(_title(FORGED))
        + _TAIL,
        False,
    ),
    "dc-prefix-other-uri": (
        _HEAD + _description(_title(FORGED), dc=_DC.rstrip("/")) + _TAIL,
        False,
    ),
    "dc:Title": (_HEAD + _description(_title(FORGED, tag="dc:Title")) + _TAIL, False),
    "second-dc:title": (
        _HEAD + _description(_title("") + _title(FORGED)) + _TAIL,
        False,
    ),
    "over-64-KiB": (
        _HEAD
        + _description(
            "<dc:description>" + "x" * 70_000 + "</dc:description>" + _title(FORGED)
        )
        + _TAIL,
        False,
    ),
}


def _xmp_replaced(sealed: bytes, packet: str, flate: bool) -> bytes:
    """``sealed`` with its XMP packet redefined at its number by a classic update."""
    metadata = PdfFileReader(io.BytesIO(sealed), strict=False).root.raw_get("/Metadata")
    data, extra = packet.encode(), b""
    if flate:
        data, extra = zlib.compress(data), b" /Filter /FlateDecode"
    stream = b"<< /Type /Metadata /Subtype /XML%s /Length %d >>\nstream\n" % (
        extra,
        len(data),
    )
    return raw_update(sealed, {(metadata.idnum, 0): stream + data + b"\nendstream"})


def test_premise_pyhankos_metadata_rule_takes_each_packet():
    """Each packet is well-formed XMP for lxml (pyHanko's check), so pyHanko's level
    stays LTA_UPDATES; pdf.js (src/core/metadata_parser.js) keys entries by their
    written, lower-cased names, keeps the last, and decodes the stream's filters."""
    from lxml import etree

    for packet, _ in _PACKETS.values():
        root = etree.fromstring(
            packet.encode(), etree.XMLParser(resolve_entities=False)
        )
        assert root.tag == "{adobe:ns:meta/}xmpmeta"
        # as pdf.js reads it: the last child of rdf:Description named dc:title
        titles = [
            e
            for e in root.iter()
            if isinstance(e.tag, str)
            and e.getparent() is not None
            and etree.QName(e.getparent()).localname == "Description"
            and f"{e.prefix}:{etree.QName(e).localname}".lower() == "dc:title"
        ]
        assert "".join(titles[-1].itertext()).strip() == FORGED


async def test_premise_a_plain_retitled_packet_is_modified(titled, seal_ca):  # noqa: F811
    packet = _HEAD + _description(_title(FORGED)) + _TAIL
    [(intact, modified, detail)] = await _verdicts(
        _xmp_replaced(titled, packet, False), seal_ca.cert
    )
    assert intact and modified, detail
    assert "the title viewers show changed after it: '' to 'FORGED'" in detail


@pytest.mark.parametrize("kind", list(_PACKETS))
async def test_an_xmp_title_pdfjs_shows_added_after_the_seal_is_modified(
    titled,
    seal_ca,  # noqa: F811
    kind,
):
    packet, flate = _PACKETS[kind]
    [(intact, modified, detail)] = await _verdicts(
        _xmp_replaced(titled, packet, flate), seal_ca.cert
    )
    assert intact and modified, detail
    assert "the title viewers show changed after it" in detail


#: more packets of the kind: a title some reader shows (pdf.js or, by namespace,
#: another XMP reader) that changed after the seal, or a packet that does not read
_MORE_PACKETS = {
    "DC:TITLE": (_HEAD + _description(_title(FORGED, tag="DC:TITLE")) + _TAIL, False),
    "default-namespace": (
        _HEAD
        + '<rdf:Description rdf:about="">'
        + f'<title xmlns="{_DC}"><rdf:Alt><rdf:li>{FORGED}</rdf:li></rdf:Alt></title>'
        + "</rdf:Description>"
        + _TAIL,
        False,
    ),
    "other-prefix-dc-namespace": (
        _HEAD
        + f'<rdf:Description rdf:about="" xmlns:purl="{_DC}">'
        + _title(FORGED, tag="purl:title")
        + "</rdf:Description>"
        + _TAIL,
        False,
    ),
    "attribute": (
        _HEAD + f'<rdf:Description xmlns:dc="{_DC}" dc:title="{FORGED}"/>' + _TAIL,
        False,
    ),
    "cdata-and-junk-before": (
        "junk " + _HEAD + _description(_title(f"<![CDATA[{FORGED}]]>")) + _TAIL,
        True,
    ),
    "entity-declared": (
        '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY t "FORGED">]>'
        + _HEAD[_HEAD.index("<x:") :]
        + _description(_title("&t;"))
        + _TAIL,
        False,
    ),
    "not-xml": ("<x:xmpmeta><dc:title>FORGED</x:xmpmeta>", False),
}


@pytest.mark.parametrize("kind", list(_MORE_PACKETS))
async def test_more_xmp_titles_changed_after_the_seal_are_modified(
    titled,
    seal_ca,  # noqa: F811
    kind,
):
    packet, flate = _MORE_PACKETS[kind]
    [(intact, modified, detail)] = await _verdicts(
        _xmp_replaced(titled, packet, flate), seal_ca.cert
    )
    assert intact and modified, detail
    assert "the title viewers show changed after it" in detail


def test_xmp_titles_are_read_as_shown_and_white_space_is_no_change():
    packet = _HEAD + _description(_title("") + _title(f" {FORGED}\n  X ")) + _TAIL
    assert xmp_titles(packet.encode()) == [(True, ""), (True, f"{FORGED} X")]
    spread = packet.replace("<rdf:Alt>", "\n   <rdf:Alt>\n    ")
    assert xmp_titles(spread.encode()) == xmp_titles(packet.encode())
    nested = _HEAD + "<x>" + _description(_title(FORGED)) + "</x>" + _TAIL
    assert xmp_titles(nested.encode()) == [(False, FORGED)]  # not where pdf.js looks


def test_entities_are_never_expanded():
    laughs = (
        '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa">'
        + "".join(
            f'<!ENTITY {c} "{("&" + p + ";") * 10}">'
            for p, c in zip("abcdefgh", "bcdefghi", strict=True)
        )
        + ']><x xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>&i;</dc:title></x>'
    )
    assert xmp_titles(laughs.encode()) is None
    external = '<!DOCTYPE x SYSTEM "http://example.invalid/x.dtd"><x>&e;</x>'
    assert xmp_titles(external.encode()) is None


# -- F2: a NoView widget PDFium draws -------------------------------------------------


def _name(text: str) -> generic.NameObject:
    return generic.pdf_name(text)


def _covering_field(
    pdf: bytes, flags: int | generic.PdfObject, *, appearance: bool = True, **more
) -> bytes:
    """``pdf`` with an empty signature field (no signature) added by an incremental
    update: a widget with /F ``flags`` over the whole first page, its appearance a
    red fill (or none), with the entries ``more`` (e.g. ``MK={...}``)."""
    if not isinstance(flags, generic.PdfObject):
        flags = generic.NumberObject(flags)
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    page_ref = writer.root["/Pages"]["/Kids"].raw_get(0)
    page = writer.get_object(page_ref.reference)
    box = generic.ArrayObject(generic.NumberObject(v) for v in (0, 0, 595, 842))
    red = generic.StreamObject(
        {
            _name("/Type"): _name("/XObject"),
            _name("/Subtype"): _name("/Form"),
            _name("/BBox"): box,
        },
        stream_data=b"1 0 0 rg 0 0 595 842 re f",
    )
    field = writer.add_object(
        generic.DictionaryObject(
            {
                _name("/FT"): _name("/Sig"),
                _name("/T"): generic.pdf_string("Covering"),
                _name("/Type"): _name("/Annot"),
                _name("/Subtype"): _name("/Widget"),
                _name("/F"): flags,
                _name("/Rect"): box,
                _name("/P"): page_ref,
                **{_name(f"/{key}"): value for key, value in more.items()},
            }
        )
    )
    if appearance:
        field.get_object()[_name("/AP")] = generic.DictionaryObject(
            {_name("/N"): writer.add_object(red)}
        )
    annots = page.raw_get("/Annots") if "/Annots" in page else None
    if annots is None:
        page[_name("/Annots")] = generic.ArrayObject([field])
    else:
        annots.get_object().append(field)
        if isinstance(annots, generic.IndirectObject):
            writer.mark_update(annots.reference)
    writer.mark_update(page_ref.reference)
    form_ref = writer.root.raw_get("/AcroForm")
    form = form_ref.get_object()
    fields = form.raw_get("/Fields")
    fields.get_object().append(field)
    for ref in (form_ref, fields):
        if isinstance(ref, generic.IndirectObject):
            writer.mark_update(ref.reference)
    writer.update_root()
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _pdfium_red_with_forms(pdf: bytes) -> bool:
    """Whether PDFium, drawing the page with its forms (``FPDF_FFLDraw``, as Chrome
    does), paints the first page's upper middle red."""
    pdfium = pytest.importorskip("pypdfium2")
    document = pdfium.PdfDocument(pdf)
    document.init_forms()
    image = document[0].render(scale=0.2, may_draw_forms=True).to_pil().convert("RGB")
    return image.getpixel((image.width // 2, image.height // 4)) == (255, 0, 0)


@pytest.fixture(scope="module")
async def plain(seal_ca, keys) -> bytes:  # noqa: F811
    return await seal(seal_ca, keys, page_pdf(Tree()))


@pytest.mark.parametrize("flags", [32, 36])
async def test_premise_pdfium_draws_a_noview_widget(plain, flags):
    assert not _pdfium_red_with_forms(plain)
    assert _pdfium_red_with_forms(_covering_field(plain, flags))
    assert not _pdfium_red_with_forms(_covering_field(plain, 2))  # Hidden: not drawn


async def test_premise_a_shown_empty_field_after_the_seal_is_modified(
    plain,
    seal_ca,  # noqa: F811
):
    [(intact, modified, detail)] = await _verdicts(
        _covering_field(plain, 4), seal_ca.cert
    )
    assert intact and modified, detail
    assert "'Covering'" in detail


def _poppler_red(pdf: bytes, *, printed: bool = False) -> bool:
    """Whether poppler draws the first page's upper middle red: on screen
    (``pdftoppm``), or as it prints (``pdftocairo -pdf``, then drawn)."""
    if shutil.which("pdftoppm") is None or shutil.which("pdftocairo") is None:
        pytest.skip("poppler's pdftoppm and pdftocairo are not installed")
    from PIL import Image

    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "in.pdf")
        with open(path, "wb") as file:
            file.write(pdf)
        if printed:
            run = ["pdftocairo", "-pdf", path, f"{folder}/printed.pdf"]
            subprocess.run(run, capture_output=True, timeout=30, check=True)
            path = f"{folder}/printed.pdf"
        run = ["pdftoppm", "-r", "10", "-png", "-singlefile", path, f"{folder}/out"]
        subprocess.run(run, capture_output=True, timeout=30, check=True)
        image = Image.open(f"{folder}/out.png").convert("RGB")
        return image.getpixel((image.width // 2, image.height // 4)) == (255, 0, 0)


#: flags some common reader draws a widget with (each measured below): NoView
#: (PDFium), NoView and Print (PDFium; poppler prints), NoView and ToggleNoView, and
#: Hidden written as a real or past 2**31 (poppler reads either as no flags)
_DRAWN_FLAGS = {
    "NoView": 32,
    "NoView-Print": 36,
    "NoView-ToggleNoView": 32 | 256,
    "Hidden-as-real": generic.FloatObject("2.5"),
    "Hidden-past-2**31": 2**31 + 2,
}


def test_premise_poppler_draws_hidden_written_as_a_real_or_past_2_31(plain):
    assert _poppler_red(_covering_field(plain, 4))
    assert not _poppler_red(_covering_field(plain, 2))
    assert _poppler_red(_covering_field(plain, 36), printed=True)
    assert _poppler_red(_covering_field(plain, _DRAWN_FLAGS["Hidden-as-real"]))
    assert _poppler_red(_covering_field(plain, _DRAWN_FLAGS["Hidden-past-2**31"]))


@pytest.mark.parametrize("kind", list(_DRAWN_FLAGS))
async def test_a_drawn_field_covering_the_page_after_the_seal_is_modified(
    plain,
    seal_ca,  # noqa: F811
    kind,
):
    [(intact, modified, detail)] = await _verdicts(
        _covering_field(plain, _DRAWN_FLAGS[kind]), seal_ca.cert
    )
    assert intact and modified, detail
    assert "'Covering'" in detail


def _background_only(plain: bytes) -> bytes:
    """``plain`` with the covering field given no appearance, only /MK colours."""
    red = generic.ArrayObject(generic.NumberObject(v) for v in (1, 0, 0))
    mk = generic.DictionaryObject({_name("/BG"): red})
    return _covering_field(plain, 4, appearance=False, MK=mk)


def test_premise_poppler_draws_the_background_of_a_widget_without_appearance(plain):
    assert _poppler_red(_background_only(plain))
    assert _poppler_red(_background_only(plain), printed=True)


def test_a_widget_without_appearance_but_with_colours_poppler_draws_shows(plain):
    """A later signature whose widget has no /AP but /MK /BG shows on the page
    (poppler fills its /Rect): it must be VALID here, or the seal is MODIFIED."""
    reader = PdfFileReader(io.BytesIO(_background_only(plain)), strict=False)
    last = reader.get_historical_resolver(reader.xrefs.total_revisions - 1)
    [ref] = [r for n, _v, r in enumerate_sig_fields(reader) if n == "Covering"]
    assert shows_on_a_page(ref, inventory(last).on_pages)
    assert not shows_on_a_page(ref, set())  # on no page: nothing drawn


# -- F3: filled_after's cost in objects times revisions squared -----------------------


def _many_revisions(objects: int, revisions: int) -> bytes:
    """An unsigned PDF of ``objects`` small objects the catalog reaches, then
    ``revisions`` classic updates each adding one object nothing names."""
    first = 5
    pdf = assemble_pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R /Extra 3 0 R >>",
            b"<< /Type /Pages /Kids [4 0 R] /Count 1 >>",
            b"[" + b" ".join(b"%d 0 R" % (first + i) for i in range(objects)) + b"]",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 10 10] >>",
        ]
        + [b"<< /A %d >>" % i for i in range(objects)]
    )
    size = first + objects
    for _ in range(revisions):
        prev = int(re.findall(rb"startxref\s+(\d+)", pdf[-64:])[-1])
        at = len(pdf)
        body = b"%d 0 obj\n<< >>\nendobj\n" % size
        pdf += body + (
            b"xref\n0 1\n0000000000 65535 f \n%d 1\n%010d 00000 n \n"
            b"trailer\n<< /Size %d /Root 1 0 R /Prev %d >>\nstartxref\n%d\n%%%%EOF\n"
            % (size, at, size + 1, prev, at + len(body))
        )
        size += 1
    return pdf


class _CpuSpent(BaseException):
    """Raised by the CPU timer: no product `except Exception` may take it."""


async def test_many_small_updates_verify_within_a_few_seconds_of_cpu(seal_ca):  # noqa: F811
    """1,000 objects, 300 updates (about 105 KB): a verdict (no seal) or a refusal
    naming a bound, within 5 s of CPU (today: over a minute)."""
    pdf = _many_revisions(1000, 300)

    def spent(*_):
        raise _CpuSpent

    previous = signal.signal(signal.SIGPROF, spent)
    signal.setitimer(signal.ITIMER_PROF, 5.0)
    try:
        try:
            assert await read_pdf_seals(pdf, ca=seal_ca.cert) == []
        except CertsealError as exc:
            assert exc.field == "pdf", exc
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.signal(signal.SIGPROF, previous)


# -- F4: /AcroForm /DR changed after the seal ----------------------------------------


def _form_without_appearance(
    more: bytes = b"", da: bytes = b"/Helv 40 Tf 0 g"
) -> bytes:
    """A page with a text field "Amount" valued "1000" and no /AP: readers draw its
    value with /DA's font, /Helv of /AcroForm /DR (Helvetica); ``more``: more
    entries of /AcroForm."""
    return assemble_pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R /AcroForm << /Fields [5 0 R] "
            b"/DA (" + da + b") /DR << /Font << /Helv 6 0 R >> >> " + more + b" >> >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Annots [5 0 R] "
            b"/Contents 4 0 R >>",
            b"<< /Length 0 >>\nstream\n\nendstream",
            b"<< /FT /Tx /T (Amount) /V (1000) /Type /Annot /Subtype /Widget "
            b"/Rect [50 600 500 700] /P 3 0 R /F 4 >>",
            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica "
            b"/Encoding /WinAnsiEncoding >>",
        ]
    )


def _default_font_changed(pdf: bytes) -> bytes:
    """``pdf`` with /AcroForm /DR /Font /Helv made ZapfDingbats (direct objects)."""
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    font = generic.DictionaryObject(
        {
            _name("/Type"): _name("/Font"),
            _name("/Subtype"): _name("/Type1"),
            _name("/BaseFont"): _name("/ZapfDingbats"),
        }
    )
    writer.root["/AcroForm"]["/DR"] = generic.DictionaryObject(
        {_name("/Font"): generic.DictionaryObject({_name("/Helv"): font})}
    )
    writer.update_root()
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _pdfium_field_pixels(pdf: bytes) -> bytes:
    """The field's area as PDFium draws it with its forms (as Chrome does)."""
    pdfium = pytest.importorskip("pypdfium2")
    document = pdfium.PdfDocument(pdf)
    document.init_forms()
    image = document[0].render(scale=0.5, may_draw_forms=True).to_pil().convert("L")
    return image.crop((25, 71, 250, 121)).tobytes()


@pytest.fixture(scope="module")
async def form(seal_ca, keys) -> bytes:  # noqa: F811
    return await seal(seal_ca, keys, _form_without_appearance())


async def test_premise_pdfium_draws_the_value_otherwise_after_the_change(form):
    sealed = _pdfium_field_pixels(form)
    assert min(sealed) < 128  # "1000" drawn
    assert _pdfium_field_pixels(_default_font_changed(form)) != sealed


async def test_the_default_resources_changed_after_the_seal_is_modified(
    form,
    seal_ca,  # noqa: F811
):
    [(intact, modified, detail)] = await _verdicts(
        _default_font_changed(form), seal_ca.cert
    )
    assert intact and modified, detail
    assert "/DR" in detail


def _root_changed(pdf: bytes, change) -> bytes:
    """``pdf`` with ``change(root)`` applied in an incremental update (the catalog
    written again)."""
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    change(writer.root)
    writer.update_root()
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _form_entry_set(pdf: bytes, key: str, value: generic.PdfObject) -> bytes:
    """``pdf`` with /AcroForm ``key`` set to ``value`` (the catalog written again)."""
    return _root_changed(
        pdf, lambda root: root["/AcroForm"].__setitem__(_name(key), value)
    )


def _default_font_replaced_in_place(pdf: bytes) -> bytes:
    """``pdf`` with the font object /DR names (6) redefined at its number: /DR itself
    unchanged, what it reaches changed (pyHanko's form rule explains it as FORM_FILLING)."""
    return raw_update(
        pdf,
        {
            (6, 0): b"<< /Type /Font /Subtype /Type1 /BaseFont /ZapfDingbats >>",
        },
    )


#: other changes of what readers draw the sealed form's fields with, and the key
_DRAWING_CHANGES = {
    "/DR font redefined in place": (_default_font_replaced_in_place, "/DR"),
    "/DA": (
        lambda pdf: _form_entry_set(
            pdf, "/DA", generic.pdf_string("/Helv 12 Tf 1 0 0 rg")
        ),
        "/DA",
    ),
    "/Q": (lambda pdf: _form_entry_set(pdf, "/Q", generic.NumberObject(2)), "/Q"),
    "/NeedAppearances": (
        lambda pdf: _form_entry_set(
            pdf, "/NeedAppearances", generic.BooleanObject(True)
        ),
        "/NeedAppearances",
    ),
    "/XFA": (
        lambda pdf: _form_entry_set(pdf, "/XFA", generic.pdf_string("<xdp/>")),
        "/XFA",
    ),
}


def test_premise_pdfium_draws_the_value_otherwise_after_the_font_is_redefined(form):
    changed = _default_font_replaced_in_place(form)
    assert _pdfium_field_pixels(changed) != _pdfium_field_pixels(form)


@pytest.mark.parametrize("kind", list(_DRAWING_CHANGES))
async def test_what_the_form_is_drawn_with_changed_after_the_seal_is_modified(
    form,
    seal_ca,  # noqa: F811
    kind,
):
    change, key = _DRAWING_CHANGES[kind]
    [(intact, modified, detail)] = await _verdicts(change(form), seal_ca.cert)
    assert intact and modified, detail
    assert "what the form's fields are drawn with changed after it" in detail
    assert key in detail


async def test_a_later_seal_on_the_form_leaves_the_first_valid(form, seal_ca, keys):  # noqa: F811
    """Sealing again (pyHanko's signer: a field added, /SigFlags set) changes none
    of what the form is drawn with."""
    twice = await seal(seal_ca, keys, form, new_field_name="Second")
    first, second = await _verdicts(twice, seal_ca.cert)
    assert first == (True, False, first[2]) and second[:2] == (True, False), first
    assert "added after it: later signatures only" in first[2]


async def test_a_form_asking_for_appearances_sealed_twice_leaves_the_first_valid(
    seal_ca,  # noqa: F811
    keys,  # noqa: F811
):
    """pyHanko's signer removes /NeedAppearances in the revision it signs, so a later
    seal, which would remove it again, changes nothing the first seal signed."""
    once = await seal(seal_ca, keys, _form_without_appearance(b"/NeedAppearances true"))
    form = PdfFileReader(io.BytesIO(once), strict=False).root["/AcroForm"]
    assert "/NeedAppearances" not in form
    twice = await seal(seal_ca, keys, once, new_field_name="Second")
    first, second = await _verdicts(twice, seal_ca.cert)
    assert first[:2] == second[:2] == (True, False), first


async def test_more_revisions_than_the_bound_are_refused_naming_both(seal_ca, keys):  # noqa: F811
    """pyHanko's difference analysis costs revisions squared (1,000 objects: 200,
    400, 800 updates 0.85, 1.9, 5.4 s): past MAX_PDF_REVISIONS a file is refused,
    to verify and to seal (which adds one), in words naming the count and limit."""
    over = _many_revisions(10, MAX_PDF_REVISIONS)  # one more than the bound
    with pytest.raises(CertsealError) as err:
        await read_pdf_seals(over, ca=seal_ca.cert)
    assert err.value.field == "pdf"
    assert f"has {MAX_PDF_REVISIONS + 1:,} revisions" in err.value.message
    assert f"at most {MAX_PDF_REVISIONS:,} (MAX_PDF_REVISIONS)" in err.value.message
    at_bound = _many_revisions(10, MAX_PDF_REVISIONS - 1)
    assert await read_pdf_seals(at_bound, ca=seal_ca.cert) == []
    with pytest.raises(CertsealError) as err:
        await seal(seal_ca, keys, at_bound)
    assert err.value.field == "pdf"
    assert (
        f"sealed here may have at most {MAX_PDF_REVISIONS - 1:,}" in err.value.message
    )


def _resource_added(pdf: bytes, name: str) -> bytes:
    """``pdf`` with a font ``name`` (ZapfDingbats) added to /AcroForm /DR /Font, as a
    later signer's writer adds the fonts its own field uses."""
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    fonts = writer.root["/AcroForm"]["/DR"]["/Font"]
    fonts[_name(name)] = generic.DictionaryObject(
        {
            _name("/Type"): _name("/Font"),
            _name("/Subtype"): _name("/Type1"),
            _name("/BaseFont"): _name("/ZapfDingbats"),
        }
    )
    writer.update_root()
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


async def test_a_font_added_to_the_resources_that_nothing_sealed_names_is_no_change(
    form,
    seal_ca,  # noqa: F811
):
    """Acrobat and iText add the fonts a later signature's field draws with to /DR
    (/ZaDb, /Helv): a resource no sealed default appearance names draws nothing
    sealed anew, so the seal stays VALID."""
    [(intact, modified, detail)] = await _verdicts(
        _resource_added(form, "/ZaDb"), seal_ca.cert
    )
    assert intact and not modified, detail


@pytest.mark.parametrize("da", [b"/Cour 40 Tf 0 g", b"/Co#75r 40 Tf 0 g"])
async def test_a_font_added_that_a_sealed_appearance_names_is_a_change(
    seal_ca,  # noqa: F811
    keys,  # noqa: F811
    da,
):
    """A field whose /DA names a font /DR lacked was drawn with a fallback; the font
    added after the seal draws it anew (its name escaped or not)."""
    sealed = await seal(seal_ca, keys, _form_without_appearance(da=da))
    [(intact, modified, detail)] = await _verdicts(
        _resource_added(sealed, "/Cour"), seal_ca.cert
    )
    assert intact and modified, detail
    assert "/DR/Font/Cour" in detail


async def test_a_font_removed_from_the_resources_is_a_change(form, seal_ca):  # noqa: F811
    emptied = _root_changed(
        form,
        lambda root: root["/AcroForm"]["/DR"].__setitem__(
            _name("/Font"), generic.DictionaryObject()
        ),
    )
    [(intact, modified, detail)] = await _verdicts(emptied, seal_ca.cert)
    assert intact and modified, detail
    assert "/DR/Font/Helv" in detail
