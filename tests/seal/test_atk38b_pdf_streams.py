"""atk38b: attacks on atk38's checks (:func:`certseal.pdfend.check_cross_references`,
:func:`certseal.pdflinear.check_linearized`) and what they leave uncovered.

Found:

* F1 (high) an object stream numbered at or beyond the trailer's ``/Size``. pyHanko
  reads every revision's compressed objects from the NEWEST version of their object
  stream, and its difference analysis lets an update re-write an object stream whose
  number the signed revision could not yet have assigned (``ObjectStreamRule``,
  ``is_ref_unassignable``: number >= the signed revision's ``/Size``), or count it an
  orphan. A PDF whose object 3 (the page's resources) sits in object stream 40 while
  its ``/Size`` is 10 is sealed (the seal's revision says ``/Size`` 19); an update
  after the seal that only re-writes object 40, now holding a forged object 3, is
  "validation data only" (LTA_UPDATES) and VALID, while PDFium and poppler (and
  pyHanko itself) show the forged page;
* F2 (high) a linearization dictionary whose ``/L`` certseal does not find: it looks
  for ``/L`` between the first object header and the first ``endobj`` bytes in the
  file's first 1,024 bytes, while poppler parses the first object's whole dictionary
  (``Linearization``) and, when ``/L`` is the file's length, starts at the first
  ``endobj`` BYTES it finds (``PDFDoc::getStartXRef``). ``endobj`` inside a string
  before ``/L`` (the string holding a whole cross-reference table), a name
  ``/endobj`` before ``/L``, or a dictionary longer than 1 KiB: certseal seals the
  file (``/L`` set to the sealed file's length, known in advance) and says VALID,
  "nothing added after it", while poppler shows object 5 as a blue page (the
  string's table, or rebuilding the file) and pyHanko and PDFium a grey square;
* F3 (medium) a reference in generation 1 (``3 1 R``) to an object in an object
  stream (generation 0): pyHanko resolves it to null (no resources), PDFium and
  poppler take the compressed object whatever the generation (a blue page); certseal
  seals the file and says VALID;
* F4 (medium) a genuine encrypted PDF with an object stream (as pyHanko's own writer
  makes one: AES-256, the empty user password) is refused, "cannot be read as a PDF:
  No key available to decrypt, please authenticate first": the check of object
  streams' members (:func:`certseal.pdfend._members`) reads the (encrypted) stream
  before the file is opened with its password (:func:`read_to_end` runs before
  ``authenticate``), both to seal and to verify; with the password given too;
* F5 (medium: a genuine file refused) an object number freed in one revision (its
  free entry's generation raised to 1, as ISO 32000-1 §7.5.4 prescribes) and used
  again in a later one as ``5 1 obj``, every reference saying ``5 1 R``: pyHanko,
  PDFium and poppler all show the reused object, certseal refuses the file ("in use
  in generation 0 (revision 0) and 1 (revision 2)").

``premise`` tests render the files; the others assert the behaviour wanted. Fixed:
F1 (every object number in use below its revision's ``/Size``), F2 (the first object
read with pyHanko's lexer, and poppler's first ``endobj`` bytes, both checked), F4
(object streams checked once an encrypted file is opened). Left, and said in
docs/architecture.md §4: F3 (the readers agree with each other, so what a clerk sees
before sealing is what every reader shows) and F5 (refused with its reason: telling
it from atk38's generation attack needs every reference in the file read).
"""

from __future__ import annotations

import io

import pytest
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.crypt import StandardSecurityHandler
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.pdf_utils.writer import PageObject, PdfFileWriter
from pyhanko.sign.fields import MDPPerm

from certseal.errors import CertsealError
from services.seal.pdf_verify import read_pdf_seals
from tests.seal.field_pdfs import Tree, certify, page_pdf
from tests.seal.test_atk37_pdf_tail import BLUE_BODY, _seals_hold
from tests.seal.test_atk37b_pdf_end import _pdfium_blue
from tests.seal.test_atk37c_pdf_xref import _poppler_blue
from tests.seal.test_atk38_pdf_streams import (
    FORGED,
    linearized_pdf,
    object_stream,
    signed_and_padded,
    stream_pdf,
    stream_update,
    table_update,
)
from tests.seal.test_field_pdfs import keys, seal, seal_ca  # noqa: F401

#: page_pdf's grey square, object 5 as sealed
GREY = b"<< /Length 20 >>\nstream\n0.5 g 0 0 10 10 re f\nendstream"


async def _sealed_or_refused(seal_ca, keys, pdf: bytes) -> bytes | None:  # noqa: F811
    """``pdf`` sealed by certseal, or None when sealing refused it as ``pdf``."""
    try:
        return await seal(seal_ca, keys, pdf)
    except CertsealError as err:
        assert err.field == "pdf", err
        return None


def _content(pdf: bytes) -> bytes:
    """The first page's content as pyHanko reads it."""
    reader = PdfFileReader(io.BytesIO(pdf), strict=False)
    return reader.root["/Pages"]["/Kids"][0]["/Contents"].data


# -- F1: an object stream numbered beyond /Size, re-written after the seal -------------


def far_stream_pdf() -> bytes:
    """stream_pdf with its object stream numbered 40 while its /Size says 10."""
    return stream_pdf(stream=40)


@pytest.fixture(scope="module")
async def far_sealed() -> bytes:
    """far_stream_pdf signed by another platform's signer (pyHanko's certification:
    certseal refuses to seal it, below)."""
    return await certify(far_stream_pdf(), MDPPerm.FILL_FORMS)


def _far_forged(sealed: bytes, stream: int = 40) -> bytes:
    """``sealed`` with an update re-writing object stream ``stream`` alone: its
    object 3 now FORGED (``/Fm0`` blue)."""
    return stream_update(sealed, {stream: object_stream([(3, FORGED)])})


async def test_premise_rewriting_an_object_stream_beyond_size_shows_everywhere(
    far_sealed,
    seal_ca,  # noqa: F811
):
    """The sealed file is white in both readers; after the update both show the
    forged resources (blue), and so does pyHanko's own reading of the page; the seal's
    revision says a /Size below 40."""
    assert not _pdfium_blue(far_sealed) and not _poppler_blue(far_sealed)
    pdf = _far_forged(far_sealed)
    assert _pdfium_blue(pdf) and _poppler_blue(pdf)
    reader = PdfFileReader(io.BytesIO(pdf), strict=False)
    signed = reader.xrefs.get_xref_container_info(reader.xrefs.total_revisions - 2)
    assert signed.size <= 40
    page = reader.root["/Pages"]["/Kids"][0]
    assert page["/Resources"]["/XObject"].raw_get("/Fm0").idnum == 7  # blue


async def test_an_object_stream_beyond_size_rewritten_after_the_seal_is_modified(
    far_sealed,
    seal_ca,  # noqa: F811
):
    assert not await _seals_hold(_far_forged(far_sealed), seal_ca.cert)


async def test_sealing_refuses_an_object_stream_numbered_beyond_size(
    seal_ca,  # noqa: F811
    keys,  # noqa: F811
):
    assert await _sealed_or_refused(seal_ca, keys, far_stream_pdf()) is None


async def test_rewriting_an_object_stream_below_size_after_the_seal_is_modified(
    seal_ca,  # noqa: F811
    keys,  # noqa: F811
):
    """The same update on an honest /Size (object stream 8 < /Size 10): pyHanko finds
    object 8 re-written and unexplained (level OTHER): MODIFIED."""
    sealed = await seal(seal_ca, keys, stream_pdf())
    assert await _seals_hold(sealed, seal_ca.cert)
    pdf = _far_forged(sealed, 8)
    assert _pdfium_blue(pdf) and _poppler_blue(pdf)
    assert not await _seals_hold(pdf, seal_ca.cert)


# -- F2: a linearization dictionary's /L that certseal does not find --------------------


#: what stands in the linearization dictionary before its /L (``%s``: a
#: cross-reference table putting object 5 at the blue fill)
HIDDEN = {
    # poppler starts at the string's table; certseal stops looking at its endobj
    "endobj in a string": b"/X (endobj\n%s)",
    # poppler starts at '/L ...', fails, and rebuilds the file (later objects win)
    "a name /endobj": b"/X /endobj",
    # no endobj in the first 1,024 bytes: poppler starts at byte 0 and rebuilds
    "a dictionary over 1 KiB": b"/X (" + b"a" * 1100 + b")",
}


@pytest.mark.parametrize("name", list(HIDDEN))
async def test_premise_poppler_reads_a_hidden_linearized_length(
    seal_ca,  # noqa: F811
    keys,  # noqa: F811
    name,
):
    """Signed, the file's /L is its length: poppler opens it as linearized and shows
    the blue object 5; PDFium and pyHanko the grey square; certseal refuses it. With
    /L 0 poppler shows grey too, and certseal seals it."""
    signed = await signed_and_padded(HIDDEN[name])
    assert _poppler_blue(signed) and not _pdfium_blue(signed)
    assert _content(signed) == b"0.5 g 0 0 10 10 re f"
    assert not await _seals_hold(signed, seal_ca.cert)
    plain = await seal(seal_ca, keys, linearized_pdf(0, HIDDEN[name]))
    assert not _poppler_blue(plain)
    assert await _seals_hold(plain, seal_ca.cert)


@pytest.mark.parametrize("name", list(HIDDEN))
async def test_a_linearized_length_hidden_from_the_check_is_not_sealed(
    seal_ca,  # noqa: F811
    keys,  # noqa: F811
    name,
):
    length = len(await seal(seal_ca, keys, linearized_pdf(0, HIDDEN[name])))
    sealed = await _sealed_or_refused(
        seal_ca, keys, linearized_pdf(length, HIDDEN[name])
    )
    assert sealed is None or not await _seals_hold(sealed, seal_ca.cert)


# -- F3: a reference in generation 1 to an object in an object stream -------------------


def _generation_1_reference() -> bytes:
    """stream_pdf with object 3 FORGED (``/Fm0`` blue) in object stream 8, the page
    naming it ``3 1 R``."""
    pdf = stream_pdf([(3, FORGED)])
    return pdf.replace(b"/Resources 3 0 R", b"/Resources 3 1 R")


def test_premise_readers_take_a_compressed_object_whatever_the_generation():
    pdf = _generation_1_reference()
    reader = PdfFileReader(io.BytesIO(pdf), strict=False)
    page = reader.root["/Pages"]["/Kids"][0]
    assert isinstance(page.raw_get("/Resources").get_object(), generic.NullObject)
    assert _pdfium_blue(pdf) and _poppler_blue(pdf)


# -- F4: an encrypted PDF with an object stream -----------------------------------------


def encrypted_object_stream_pdf(user_password: str = "") -> bytes:
    """A one-page PDF as pyHanko's writer makes it: a cross-reference stream, the
    page's resources in an object stream, AES-256 (the standard security handler)
    with ``user_password``; the page is blue."""
    writer = PdfFileWriter(stream_xrefs=True)
    stream = writer.prepare_object_stream()
    resources = writer.add_object(
        generic.DictionaryObject(
            {generic.pdf_name("/Font"): generic.DictionaryObject()}
        ),
        obj_stream=stream,
    )
    content = writer.add_object(
        generic.StreamObject(stream_data=b"0 0 1 rg 0 0 595 842 re f")
    )
    page = PageObject(
        contents=content,
        media_box=generic.ArrayObject(
            [generic.NumberObject(x) for x in (0, 0, 595, 842)]
        ),
    )
    page["/Resources"] = resources
    writer.insert_page(page)
    writer._assign_security_handler(
        StandardSecurityHandler.build_from_pw("owner", user_password)
    )
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_premise_an_encrypted_pdf_with_an_object_stream_is_genuine():
    pdf = encrypted_object_stream_pdf()
    reader = PdfFileReader(io.BytesIO(pdf), strict=False)
    assert reader.encrypted
    assert reader.xrefs.get_xref_data(0).xrefs_in_objstm  # an object stream
    reader.decrypt("")
    page = reader.root["/Pages"]["/Kids"][0]
    assert page["/Resources"] == {"/Font": {}}
    assert _pdfium_blue(pdf) and _poppler_blue(pdf)


@pytest.mark.parametrize("password", ["", "secret"])
async def test_an_encrypted_pdf_with_an_object_stream_is_sealed(
    seal_ca,  # noqa: F811
    keys,  # noqa: F811
    password,
):
    pdf = encrypted_object_stream_pdf(password)
    sealed = await seal(seal_ca, keys, pdf, password=password)
    [found] = await read_pdf_seals(sealed, ca=seal_ca.cert, password=password)
    assert found.intact and not found.modified, found.detail


async def test_an_encrypted_pdf_with_an_object_stream_is_read(seal_ca):  # noqa: F811
    assert await read_pdf_seals(encrypted_object_stream_pdf(), ca=seal_ca.cert) == []


# -- F5: an object number freed and used again in the next generation -------------------

_REUSING_PAGE = (
    b"4 0 obj\n<< /Type /Page /Parent 2 0 R /Resources 3 0 R /Contents %s "
    b"/MediaBox [0 0 595 842] >>\nendobj\n"
)


def reused_number_pdf() -> bytes:
    """page_pdf, then an update pointing the page at a new empty content (6) and
    freeing object 5 (its free entry's generation 1), then an update pointing the
    page at ``5 1 R``, object 5 used again in generation 1 (a blue fill)."""
    freed = table_update(
        page_pdf(Tree()),
        [
            _REUSING_PAGE % b"6 0 R",
            b"6 0 obj\n<< /Length 0 >>\nstream\n\nendstream\nendobj\n",
        ],
        b"4 1\n%010d 00000 n \n5 2\n0000000000 00001 f \n%010d 00000 n \n",
    ).replace(b"/Size 6 ", b"/Size 7 ")
    return table_update(
        freed,
        [_REUSING_PAGE % b"5 1 R", b"5 1 obj\n" + BLUE_BODY + b"endobj\n"],
        b"4 2\n%010d 00000 n \n%010d 00001 n \n",
    )


def test_premise_every_reader_shows_an_object_used_again_in_generation_1():
    pdf = reused_number_pdf()
    assert _content(pdf) == b"0 0 1 rg 0 0 595 842 re f\n"
    assert _pdfium_blue(pdf) and _poppler_blue(pdf)


async def test_an_object_number_used_again_after_it_was_freed_is_refused(
    seal_ca,  # noqa: F811
    keys,  # noqa: F811
):
    """Left refused (docs/architecture.md §4): telling this genuine file from atk38's
    (a newer entry in another generation, references left in the old one: PDFium
    shows the newer, poppler nothing, pyHanko the older) needs every reference in the
    file read; refusing both says why."""
    with pytest.raises(CertsealError) as err:
        await seal(seal_ca, keys, reused_number_pdf())
    assert err.value.message == (
        "cannot be read as a PDF: its object 5 is in use in generation 0 (revision 0) "
        "and 1 (revision 2): PDF readers differ in which they show (pyHanko the one a "
        "reference names, PDFium the newest)"
    )
