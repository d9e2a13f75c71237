"""atk38d: attacks on trial38b's checks of what came after a seal
(:func:`services.seal.pdf_after.title_changed`, :func:`~services.seal.pdf_after.filled_after`)
and on the end-of-file reading.

Found:

* F1 (high) ``_titles`` reads the signed revision's /Info through the trailer's
  reference, which resolves to the NEWEST definition of the object (the signed
  revision's /Info shows the forged title): an update that redefines the document
  information dictionary at its own number (as pyHanko's writer does) with a new
  /Title and leaves the XMP packet alone reads as the same title "then" and "now",
  so a DisplayDocTitle PDF retitled so stays VALID while PDFium shows the new title.
  trial38b's own test passed only because pyHanko's writer also wrote a new XMP
  packet (with dc:title) at a new number; its detail even says "'' to 'FORGED
  TITLE'" (the XMP's), not the sealed title.
* F2 (high) ``/DisplayDocTitle`` given as an indirect reference to ``true`` (ISO
  32000-1 §7.3.10: any value may be indirect; pyHanko and pdf.js resolve it) is taken
  for "not shown": a retitled file stays VALID.
* F3 (high) ``filled_after`` matches the object the older revision named by number
  AND generation: a page naming ``500 0 R`` (beyond the sealed /Size), an update
  defining ``500 1 obj`` (cross-reference generation 1). PDFium (Chrome) ignores a
  reference's generation and paints the object (the page turns blue); pyHanko takes
  (500, 1) for an orphan (LTA_UPDATES) and ``filled_after`` sees no named object:
  VALID.

Handled: a title changed in a new XMP packet or in the XMP packet redefined at its
number; /ViewerPreferences as an indirect
dictionary; a later certseal seal on a DisplayDocTitle PDF stays VALID (both seals);
an object named beyond /Size filled at its generation (atk38c); a sealed PDF ending
in "%%EOF" and whitespace (gateway line ends) stays VALID and is not said cut short.

All three are fixed: each revision's /Info, its /Title and its XMP packet are read as
that revision has them (``pdf_after._resolved``), /DisplayDocTitle resolved like any
value, and ``filled_after`` matches objects by number alone.
"""

from __future__ import annotations

import io
import re

import pypdfium2 as pdfium
import pytest
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader

from services.seal.pdf_verify import read_pdf_seals
from tests.seal.field_pdfs import Tree, page_pdf
from tests.seal.test_atk37b_pdf_end import _pdfium_blue
from tests.seal.test_atk38c_pdf import dangling_pdf, defining
from tests.seal.test_field_pdfs import keys, seal, seal_ca  # noqa: F401
from tests.seal.test_pdf_tail import _retitle, _updated, _with_display_title

FORGED = "FORGED TITLE"

_XMP = (
    '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
    '<x:xmpmeta xmlns:x="adobe:ns:meta/">'
    '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    '<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/">'
    '<dc:title><rdf:Alt><rdf:li xml:lang="x-default">%s</rdf:li></rdf:Alt></dc:title>'
    '</rdf:Description></rdf:RDF></x:xmpmeta><?xpacket end="w"?>'
)


def raw_update(pdf: bytes, objects: dict[tuple[int, int], bytes]) -> bytes:
    """``pdf`` with a classic incremental update that defines ``objects`` (number,
    generation: body) and keeps the trailer's /Root, /Info and /Size."""
    trailer = PdfFileReader(io.BytesIO(pdf), strict=False).trailer
    prev = int(re.findall(rb"startxref\s+(\d+)", pdf)[-1])
    body, offsets = b"\n", {}
    for (number, generation), obj in sorted(objects.items()):
        offsets[number, generation] = len(pdf) + len(body)
        body += b"%d %d obj\n" % (number, generation) + obj + b"\nendobj\n"
    xref = len(pdf) + len(body)
    table = b"xref\n0 1\n0000000000 65535 f \n" + b"".join(
        b"%d 1\n%010d %05d n \n" % (n, at, g) for (n, g), at in sorted(offsets.items())
    )
    root = trailer.raw_get("/Root")
    said = b"<< /Size %d /Root %d 0 R /Prev %d" % (
        max(int(trailer["/Size"]), max(n for n, _ in objects) + 1),
        root.idnum,
        prev,
    )
    if "/Info" in trailer:
        said += b" /Info %d 0 R" % trailer.raw_get("/Info").idnum
    return (
        pdf
        + body
        + table
        + b"trailer\n"
        + said
        + b" >>\nstartxref\n%d\n%%%%EOF\n" % xref
    )


async def _verdicts(pdf: bytes, ca: bytes) -> list[tuple[bool, bool, str]]:
    return [(s.intact, s.modified, s.detail) for s in await read_pdf_seals(pdf, ca=ca)]


def _pdfium_title(pdf: bytes) -> str:
    return pdfium.PdfDocument(pdf).get_metadata_dict()["Title"]


@pytest.fixture(scope="module")
async def shown(seal_ca, keys) -> bytes:  # noqa: F811
    """A Chromium-like PDF (DisplayDocTitle true, a title) as certseal seals it."""
    return await seal(seal_ca, keys, _with_display_title(page_pdf(Tree())))


# -- F1: the signed revision's titles read through the newest objects -----------------


def _info_retitled_in_place(sealed: bytes) -> bytes:
    info = PdfFileReader(io.BytesIO(sealed), strict=False).trailer.raw_get("/Info")
    return raw_update(sealed, {(info.idnum, 0): b"<< /Title (%s) >>" % FORGED.encode()})


def _xmp_retitled_in_place(sealed: bytes) -> bytes:
    metadata = PdfFileReader(io.BytesIO(sealed), strict=False).root.raw_get("/Metadata")
    packet = (_XMP % FORGED).encode()
    stream = b"<< /Type /Metadata /Subtype /XML /Length %d >>\nstream\n" % len(packet)
    return raw_update(sealed, {(metadata.idnum, 0): stream + packet + b"\nendstream"})


async def test_premise_the_info_retitled_in_place_is_the_title_readers_show(
    shown,
    seal_ca,  # noqa: F811
):
    """Sealed, PDFium shows the sealed title; after the update, the forged one."""
    assert _pdfium_title(shown) == "营业执照"
    pdf = _info_retitled_in_place(shown)
    assert _pdfium_title(pdf) == FORGED
    reader = PdfFileReader(io.BytesIO(pdf), strict=False)
    prefs = reader.root["/ViewerPreferences"]
    assert prefs["/DisplayDocTitle"] is True or prefs["/DisplayDocTitle"].value


async def test_the_info_retitled_in_place_after_the_seal_is_modified(
    shown,
    seal_ca,  # noqa: F811
):
    [(intact, modified, detail)] = await _verdicts(
        _info_retitled_in_place(shown), seal_ca.cert
    )
    assert intact and modified, detail
    assert "the title viewers show changed after it" in detail


async def test_the_xmp_retitled_in_place_after_the_seal_is_modified(
    shown,
    seal_ca,  # noqa: F811
):
    """Handled: the catalog's /Metadata is read as of the signed revision."""
    [(intact, modified, detail)] = await _verdicts(
        _xmp_retitled_in_place(shown), seal_ca.cert
    )
    assert intact and modified, detail


async def test_a_title_in_a_new_xmp_packet_after_the_seal_is_modified(
    shown,
    seal_ca,  # noqa: F811
):
    """Handled: pyHanko's writer puts the retitled XMP packet at a new number."""
    [(intact, modified, detail)] = await _verdicts(
        _updated(shown, _retitle), seal_ca.cert
    )
    assert intact and modified, detail


# -- F2: /DisplayDocTitle as an indirect reference ---------------------------------------


def _prefs(pdf: bytes, indirect: str) -> bytes:
    """``pdf`` with /ViewerPreferences /DisplayDocTitle true, ``indirect``: the
    boolean ("value") or the dictionary ("dictionary") an indirect object."""
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    true = generic.BooleanObject(True)
    value = writer.add_object(true) if indirect == "value" else true
    prefs = generic.DictionaryObject({generic.pdf_name("/DisplayDocTitle"): value})
    writer.root["/ViewerPreferences"] = (
        writer.add_object(prefs) if indirect == "dictionary" else prefs
    )
    writer.update_root()
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


async def test_an_indirect_display_doc_title_retitled_after_the_seal_is_modified(
    seal_ca,  # noqa: F811
    keys,  # noqa: F811
):
    sealed = await seal(seal_ca, keys, _prefs(_with_display_title(page_pdf()), "value"))
    reader = PdfFileReader(io.BytesIO(sealed), strict=False)
    assert reader.root["/ViewerPreferences"]["/DisplayDocTitle"]  # resolves to true
    [(intact, modified, detail)] = await _verdicts(
        _updated(sealed, _retitle), seal_ca.cert
    )
    assert intact and modified, detail


async def test_indirect_viewer_preferences_retitled_after_the_seal_is_modified(
    seal_ca,  # noqa: F811
    keys,  # noqa: F811
):
    pdf = _prefs(_with_display_title(page_pdf()), "dictionary")
    sealed = await seal(seal_ca, keys, pdf)
    [(intact, modified, detail)] = await _verdicts(
        _updated(sealed, _retitle), seal_ca.cert
    )
    assert intact and modified, detail


# -- F3: filled_after matches the generation too ------------------------------------------


def _defined_at_generation_1(sealed: bytes) -> bytes:
    """:func:`defining` (object 500, a blue fill), but as ``500 1 obj``."""
    pdf = defining(sealed, "content")
    update = pdf[len(sealed) :]
    update = update.replace(b"500 0 obj", b"500 1 obj").replace(
        b" 00000 n \n", b" 00001 n \n"
    )
    return sealed + update


@pytest.fixture(scope="module")
async def sealed_dangling(seal_ca, keys) -> bytes:  # noqa: F811
    return await seal(seal_ca, keys, dangling_pdf("content"))


async def test_premise_pdfium_paints_an_object_defined_at_another_generation(
    sealed_dangling,
):
    assert not _pdfium_blue(sealed_dangling)
    assert _pdfium_blue(_defined_at_generation_1(sealed_dangling))


async def test_a_named_object_filled_at_another_generation_is_modified(
    sealed_dangling,
    seal_ca,  # noqa: F811
):
    found = await _verdicts(_defined_at_generation_1(sealed_dangling), seal_ca.cert)
    assert all(intact and modified for intact, modified, _ in found), found


async def test_a_named_object_filled_at_its_generation_is_modified(
    sealed_dangling,
    seal_ca,  # noqa: F811
):
    found = await _verdicts(defining(sealed_dangling, "content"), seal_ca.cert)
    assert all(intact and modified for intact, modified, _ in found), found


# -- genuine files ---------------------------------------------------------------------


async def test_a_second_seal_on_a_display_doc_title_pdf_keeps_both_valid(
    shown,
    seal_ca,  # noqa: F811
    keys,  # noqa: F811
):
    twice = await seal(seal_ca, keys, shown, new_field_name="Second")
    found = await _verdicts(twice, seal_ca.cert)
    assert len(found) == 2
    assert all(intact and not modified for intact, modified, _ in found), found


@pytest.mark.parametrize("tail", [b"\n", b"\r\n", b" \r\n \n", b"\n" * 600])
async def test_a_sealed_pdf_ending_in_whitespace_stays_valid(
    shown,
    seal_ca,  # noqa: F811
    tail,
):
    [(intact, modified, detail)] = await _verdicts(shown + tail, seal_ca.cert)
    assert intact and not modified, detail
    assert "cut short" not in detail, detail
