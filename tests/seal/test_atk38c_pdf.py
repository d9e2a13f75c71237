"""atk38c: attacks on the PDF reading checks after atk38b
(:mod:`certseal.pdfend`: the /Size rule, the linearization check, object streams of
encrypted files) and on pyHanko's difference analysis.

Found:

* F1 (high) a reference, in the sealed revision, to an object number at or beyond
  that revision's ``/Size`` that no revision defines (``/Contents [5 0 R 500 0 R]``,
  a resource ``/Fm1 500 0 R``): every reader resolves it to null, so the sealed page
  shows only what was sealed. An update after the seal that only defines object 500
  (a blue fill) and raises ``/Size`` to 501 passes atk38b's /Size rule (500 is below
  the update's /Size) and pyHanko's difference analysis takes object 500 for an
  orphan (``_find_orphans``: a number the signed revision could not have assigned,
  ``is_ref_unassignable``, reached from no object the update re-wrote), level
  LTA_UPDATES: certseal says VALID ("validation data or document properties only")
  while PDFium and poppler show the page blue. Both for a file certseal sealed and
  for one another platform signed. The same reference to a free number BELOW /Size is
  "unexplained xrefs" (OTHER): MODIFIED, as wanted;
* F2 (medium) the linearization check (:func:`certseal.pdflinear.check_linearized`)
  reads the file's first object in full with pyHanko's lexer
  (:func:`certseal.pdflinear._object_end`) before it looks for ``/Linearized``: a first
  object that is an array of 4 Mi integers (an 8 MiB file, an object no reference
  reaches) costs about 20 s of CPU to verify or seal (the same object elsewhere in
  the file: nothing); within the 60 MiB document limit, minutes;
* F3 (low) ``/Encrypt << >>`` (an empty dictionary) in the trailer: ``read_to_end``
  leaves the object streams to be checked once the file is opened, as for an
  encrypted file, but pyHanko takes an empty encryption dictionary for none
  (``security_handler``: ``if self.encrypt_dict``) so ``authenticate`` returns None
  and the check never runs: a file whose object stream holds object 3 twice (atk38:
  pyHanko takes the first, readers the one at the index) is sealed. PDFium and poppler
  refuse to open such a file, so no reader at hand shows the difference.

Handled: an undefined reference below /Size defined after the seal (MODIFIED); a
/Size that is a real or an indirect reference (refused as ``pdf``);
``/Encrypt`` null, a dangling reference, or a dictionary without /V (refused as
``pdf``).

``premise`` tests render the files; the others assert the behaviour wanted. Fixed:
F1 (:func:`services.seal.pdf_after.filled_after`: an object the revision before
already named, defined at a number it could not assign, makes every earlier
signature MODIFIED), F2 (the first object lexed within its first 8 KiB, else the
file searched as bytes), F3 (:func:`certseal.pdfend.check_opened`: the check runs
once the file is opened whenever its trailer names /Encrypt).
"""

from __future__ import annotations

import gc
import io
import time

import pytest
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.fields import MDPPerm

from certseal.errors import CertsealError
from certseal.pdfend import read_to_end
from services.seal.pdf import PDF_DECODE_LIMITS, reading_pdf
from services.seal.pdf_verify import read_pdf_seals
from tests.seal.field_pdfs import certify
from tests.seal.test_atk37_pdf_tail import BLUE_BODY, _seals_hold, _startxref
from tests.seal.test_atk37b_pdf_end import _pdfium_blue
from tests.seal.test_atk37c_pdf_xref import _poppler_blue
from tests.seal.test_atk38_pdf_streams import BENIGN, BLUE_FORM, FORGED, stream_pdf
from tests.seal.test_field_pdfs import keys, seal, seal_ca  # noqa: F401

_CATALOG = b"<< /Type /Catalog /Pages 2 0 R >>"
_PAGES = b"<< /Type /Pages /Kids [4 0 R] /Count 1 >>"
_GREY = b"<< /Length 20 >>\nstream\n0.5 g 0 0 10 10 re f\nendstream"
_PAGE = (
    b"<< /Type /Page /Parent 2 0 R /Resources 3 0 R /Contents %s "
    b"/MediaBox [0 0 595 842] >>"
)


def classic_pdf(objects: dict[int, bytes], size: int) -> bytes:
    """A PDF with one cross-reference table of ``size`` entries: ``objects`` (number:
    body) in use, every other number below ``size`` free."""
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = {}
    for number, body in objects.items():
        offsets[number] = len(out)
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % size
    out += b"".join(
        b"%010d 00000 n \n" % offsets[n] if n in offsets else b"0000000000 00000 f \n"
        for n in range(1, size)
    )
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        size,
        xref,
    )
    return bytes(out)


#: where the page refers to object ``%d``, which no revision defines: its content
#: (a blue fill, once defined) or its resources' form XObject (BLUE_FORM)
DANGLING = {
    "content": lambda far: {
        3: b"<< >>",
        4: _PAGE % (b"[5 0 R %d 0 R]" % far),
        5: _GREY,
    },
    "form XObject": lambda far: {
        3: b"<< /XObject << /Fm1 %d 0 R >> >>" % far,
        4: _PAGE % b"5 0 R",
        5: b"<< /Length 29 >>\nstream\n0.5 g 0 0 10 10 re f /Fm1 Do\nendstream",
    },
}

#: what defining the dangling object draws, by where it is referred to
_DEFINED = {"content": BLUE_BODY, "form XObject": BLUE_FORM + b"\n"}


def dangling_pdf(where: str, far: int = 500, size: int = 6) -> bytes:
    """A one-page PDF (/Size ``size``) showing a grey square, whose page refers
    (``where``) to object ``far``, which it does not define: readers take null."""
    return classic_pdf({1: _CATALOG, 2: _PAGES, **DANGLING[where](far)}, size)


def defining(pdf: bytes, where: str, far: int = 500) -> bytes:
    """``pdf`` with an incremental update that only defines object ``far`` (what
    ``where`` draws: blue) and says a /Size one above it (or ``pdf``'s own)."""
    trailer = PdfFileReader(io.BytesIO(pdf), strict=False).trailer
    size = max(int(trailer["/Size"]), far + 1)
    out = bytearray(pdf + b"\n")
    at = len(out)
    out += b"%d 0 obj\n" % far + _DEFINED[where] + b"endobj\n"
    xref = len(out)
    out += b"xref\n0 1\n0000000000 65535 f \n%d 1\n%010d 00000 n \n" % (far, at)
    out += (
        b"trailer\n<< /Size %d /Root %d 0 R /Prev %d >>\nstartxref\n%d\n%%%%EOF\n"
        % (size, trailer.raw_get("/Root").idnum, _startxref(pdf), xref)
    )
    return bytes(out)


@pytest.fixture(scope="module")
async def sealed_dangling(seal_ca, keys) -> dict[str, bytes]:  # noqa: F811
    """dangling_pdf as certseal seals it, by where the reference is."""
    return {where: await seal(seal_ca, keys, dangling_pdf(where)) for where in DANGLING}


@pytest.fixture(scope="module")
async def signed_dangling() -> bytes:
    """dangling_pdf (the content) signed by another platform's signer."""
    return await certify(dangling_pdf("content"), MDPPerm.FILL_FORMS)


# -- F1: an object beyond the sealed /Size, referred to when sealed, defined after ---------


@pytest.mark.parametrize("where", list(DANGLING))
async def test_premise_defining_a_dangling_reference_after_the_seal_shows_everywhere(
    sealed_dangling,
    seal_ca,  # noqa: F811
    where,
):
    """Sealed, the page is grey in both readers (the reference is null) and the seal
    holds; the update that only defines object 500 makes it blue in both, and in
    pyHanko's own reading; object 500 is beyond the sealed revision's /Size."""
    sealed = sealed_dangling[where]
    assert not _pdfium_blue(sealed) and not _poppler_blue(sealed)
    assert await _seals_hold(sealed, seal_ca.cert)
    pdf = defining(sealed, where)
    assert _pdfium_blue(pdf) and _poppler_blue(pdf)
    reader = PdfFileReader(io.BytesIO(pdf), strict=False)
    signed = reader.xrefs.get_xref_container_info(reader.xrefs.total_revisions - 2)
    assert signed.size <= 500
    page = reader.root["/Pages"]["/Kids"][0]
    if where == "content":
        assert page["/Contents"][1].data == b"0 0 1 rg 0 0 595 842 re f\n"
    else:
        assert page["/Resources"]["/XObject"]["/Fm1"]["/Subtype"] == "/Form"


@pytest.mark.parametrize("where", list(DANGLING))
async def test_defining_a_dangling_reference_after_the_seal_is_modified(
    sealed_dangling,
    seal_ca,  # noqa: F811
    where,
):
    assert not await _seals_hold(defining(sealed_dangling[where], where), seal_ca.cert)


async def test_defining_a_dangling_reference_after_a_signature_is_modified(
    signed_dangling,
    seal_ca,  # noqa: F811
):
    assert not await _seals_hold(defining(signed_dangling, "content"), seal_ca.cert)


async def test_premise_defining_a_dangling_reference_after_a_signature_shows(
    signed_dangling,
    seal_ca,  # noqa: F811
):
    assert not _pdfium_blue(signed_dangling) and not _poppler_blue(signed_dangling)
    assert await _seals_hold(signed_dangling, seal_ca.cert)
    pdf = defining(signed_dangling, "content")
    assert _pdfium_blue(pdf) and _poppler_blue(pdf)


async def test_defining_a_dangling_reference_below_size_after_the_seal_is_modified(
    seal_ca,  # noqa: F811
    keys,  # noqa: F811
):
    """The reference names a free number below the sealed /Size (8 of 10): pyHanko
    finds object 8 re-defined and unexplained (OTHER): MODIFIED."""
    sealed = await seal(seal_ca, keys, dangling_pdf("content", 8, 10))
    assert await _seals_hold(sealed, seal_ca.cert)
    pdf = defining(sealed, "content", 8)
    assert _pdfium_blue(pdf) and _poppler_blue(pdf)
    assert not await _seals_hold(pdf, seal_ca.cert)


# -- F2: the first object read in full, linearized or not --------------------------------

_PLAIN = {
    1: _CATALOG,
    2: _PAGES,
    3: b"<< >>",
    4: _PAGE % b"5 0 R",
    5: _GREY,
}

#: an array of 600 Ki zeros (1.2 MiB), an object no reference reaches
_BIG_ARRAY = b"[" + b"0 " * (600 << 10) + b"]"


def _cpu_to_read(pdf: bytes) -> float:
    """The CPU seconds certseal's reading (``read_to_end``, as verifying and sealing
    call it) takes of ``pdf``: this thread's, where it reads (the process's counted
    what other threads of the test worker did meanwhile: 0.33 s against 0.02 s,
    CI 2026-12-06), with the cyclic collector held off: a full collection of the
    test worker's heap, due as it read, was counted to it (0.37 s against 0.0007 s,
    CI 2026-12-07)."""
    gc.collect()
    gc.disable()
    try:
        started = time.thread_time()
        with reading_pdf():
            read_to_end(
                pdf,
                lambda pdf: PdfFileReader(
                    io.BytesIO(pdf), strict=False, decode_limits=PDF_DECODE_LIMITS
                ),
                lambda reader: reader.xrefs,
            )
        return time.thread_time() - started
    finally:
        gc.enable()


def test_a_big_first_object_costs_about_what_it_costs_elsewhere():
    """Read in full with pyHanko's lexer, the first object cost about 3 s against
    about 0.2 s for the same array elsewhere (the file's own reading); the bound is
    a ratio to that same-run reference, not a time."""
    elsewhere = _cpu_to_read(classic_pdf({**_PLAIN, 6: _BIG_ARRAY}, 7))
    first = _cpu_to_read(classic_pdf({6: _BIG_ARRAY, **_PLAIN}, 7))
    assert first < 2 * elsewhere + 0.2, (first, elsewhere)


# -- F3: an empty /Encrypt dictionary skips the check of object streams ------------------


def _empty_encrypt(value: bytes) -> bytes:
    """atk38's object stream holding object 3 twice (pyHanko takes the first, BENIGN;
    readers the one at the index, FORGED), its trailer with ``/Encrypt value``."""
    pdf = stream_pdf([(3, BENIGN), (3, FORGED)], (2, 8, 1))
    return pdf.replace(b"/Root 1 0 R", b"/Encrypt " + value + b" /Root 1 0 R")


def test_premise_readers_refuse_an_empty_encryption_dictionary():
    pdf = _empty_encrypt(b"<< >>")
    assert not PdfFileReader(io.BytesIO(pdf), strict=False).encrypted
    pdfium = pytest.importorskip("pypdfium2")
    with pytest.raises(pdfium.PdfiumError):
        pdfium.PdfDocument(pdf)
    with pytest.raises(FileNotFoundError):  # pdftoppm writes no page
        _poppler_blue(pdf)


async def test_an_empty_encryption_dictionary_does_not_skip_the_object_stream_check(
    seal_ca,  # noqa: F811
    keys,  # noqa: F811
):
    with pytest.raises(CertsealError) as err:
        await seal(seal_ca, keys, _empty_encrypt(b"<< >>"))
    assert err.value.field == "pdf"


@pytest.mark.parametrize(
    "value",
    [b"null", b"99 0 R", b"<< /Filter /Standard >>"],
    ids=["null", "a dangling reference", "no /V"],
)
async def test_an_encryption_entry_pyhanko_cannot_read_is_refused(
    seal_ca,  # noqa: F811
    keys,  # noqa: F811
    value,
):
    with pytest.raises(CertsealError) as err:
        await seal(seal_ca, keys, _empty_encrypt(value))
    assert err.value.field == "pdf"
    assert err.value.message.startswith("cannot be read as a PDF: ")


# -- the /Size rule: a /Size that is no whole number -------------------------------------


@pytest.mark.parametrize("size", [b"6.0", b"7 0 R"], ids=["a real", "indirect"])
async def test_a_size_that_is_no_whole_number_is_refused_as_pdf(
    seal_ca,  # noqa: F811
    keys,  # noqa: F811
    size,
):
    """A /Size pyHanko and the /Size rule cannot take whole (PDFium opens both) is
    refused as ``pdf``, sealing and verifying (the indirect one in pyHanko's words)."""
    pdf = classic_pdf(_PLAIN, 6).replace(b"/Size 6", b"/Size " + size)
    for attempt in (seal(seal_ca, keys, pdf), read_pdf_seals(pdf, ca=seal_ca.cert)):
        with pytest.raises(CertsealError) as err:
            await attempt
        assert err.value.field == "pdf"
        assert err.value.message.startswith("cannot be read as a PDF: ")
