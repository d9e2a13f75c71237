"""A PDF with bytes after its end section (ISO 32000-1 §7.5.5)
(:func:`certseal.pdfend.read_to_end`): read up to its last end section when that
starts in the file's last 1,024 bytes, where readers look for it, and its seals say
that bytes follow; refused with where its end is beyond that, since readers then
rebuild the file from whatever objects it holds (atk37: an object appended before or
after an end section showed in PDFium while the seal verified VALID). An object after
the end makes the seals MODIFIED and is never sealed over."""

from __future__ import annotations

import io
import os
import time

import pytest
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

from certseal.errors import CertsealError
from certseal.pdfend import NO_END, pdf_end, too_far
from certseal.pdfsyntax import OBJECT_HEADER
from certseal.v1 import seal_pb2 as pb
from services.seal.pdf import Placement
from services.seal.pdf_after import TRAILING_BYTES, object_after_end
from services.seal.pdf_verify import read_pdf_seals
from tests.conftest import seal_owner
from tests.seal.field_pdfs import USER_PASSWORD, Tree, encrypt, page_pdf
from tests.seal.test_field_pdfs import PICTURE, keys, seal, seal_ca  # noqa: F401

#: bytes after a sealed PDF's ``%%EOF``: each is no PDF update, and each length is
#: tried within and beyond the window of 1,024 bytes
TAILS = {
    "zeros (a block size's padding)": lambda n: bytes(n),
    "random bytes": os.urandom,
    "text": lambda n: (b"appended by a gateway\r\n" * n)[:n],
    "another %%EOF line in it": lambda n: b"%%EOF\n" + b"x" * n,
}


async def _seal_again(pdf: bytes, keys, seal_ca) -> bytes:  # noqa: F811
    """``pdf`` sealed by a second field, ``Second``."""
    return await seal(
        seal_ca, keys, pdf, placement=Placement(x_mm=100), new_field_name="Second"
    )


@pytest.fixture(scope="module")
async def sealed(seal_ca, keys) -> bytes:  # noqa: F811
    return await seal(seal_ca, keys, page_pdf(Tree()))


@pytest.mark.parametrize("length", [1, 100, 990])
@pytest.mark.parametrize("kind", list(TAILS))
async def test_a_sealed_pdf_with_bytes_after_its_end_verifies_and_says_so(
    sealed,
    seal_ca,  # noqa: F811
    kind,
    length,
):
    [found] = await read_pdf_seals(sealed + TAILS[kind](length), ca=seal_ca.cert)
    assert found.intact and not found.modified, found.detail
    assert found.detail.startswith(TRAILING_BYTES), found.detail
    assert "coverage ENTIRE_REVISION, modification level NONE" in found.detail


@pytest.mark.parametrize("length", [1_100, 5_000, 1 << 20])
@pytest.mark.parametrize("kind", list(TAILS))
async def test_an_end_beyond_the_readers_window_is_refused_saying_where_it_is(
    sealed,
    seal_ca,  # noqa: F811
    kind,
    length,
):
    tail = TAILS[kind](length)
    with pytest.raises(CertsealError) as err:
        await read_pdf_seals(sealed + tail, ca=seal_ca.cert)
    assert err.value.field == "pdf"
    assert err.value.message == "cannot be read as a PDF: " + too_far(
        len(sealed) + len(tail), sealed.rindex(b"startxref"), len(sealed), False
    )
    assert f"its first {len(sealed)} bytes are the PDF" in err.value.message


async def test_without_a_tail_the_seal_covers_the_entire_file(sealed, seal_ca):  # noqa: F811
    [found] = await read_pdf_seals(sealed, ca=seal_ca.cert)
    assert found.detail == (
        "nothing the document shows has changed since it was sealed; pyHanko's own "
        "finding: coverage ENTIRE_FILE, modification level NONE"
    )


@pytest.mark.parametrize(
    "tail", [b"startxref %c\n1\n%%EOF\n", b"startxref\x0b1\n%%EOF\n", b"startxref 1 x"]
)
async def test_a_tail_holding_startxref_is_refused(sealed, seal_ca, tail):  # noqa: F811
    """atk37b: readers take the last ``startxref`` as the file's end, find nothing
    there and rebuild the file."""
    with pytest.raises(CertsealError) as err:
        await read_pdf_seals(sealed + tail, ca=seal_ca.cert)
    assert err.value.message == (
        f"cannot be read as a PDF: its last 'startxref' (byte "
        f"{len(sealed) + tail.index(b'startxref')}) is not followed by an offset and "
        "'%%EOF' (ISO 32000-1 §7.5.5): PDF readers take the last as the file's end "
        "and, finding no cross-reference there, rebuild the file from whatever "
        f"objects it holds; its last complete end section ends at byte {len(sealed)}"
    )


@pytest.mark.parametrize(
    "cut",
    [
        b"startxref",
        b"startxref\n",
        b"startxref\n12",
        b"startxref 1 %%EO",
        b"x startxref 1 %",
    ],
)
@pytest.mark.parametrize("earlier_end", [True, False])
async def test_a_file_cut_within_its_end_section_is_said_to_be_cut_short(
    sealed,
    seal_ca,  # noqa: F811
    cut,
    earlier_end,
):
    """trial38: a sealed PDF cut 6 or 10 bytes short (its last end section cut) was
    told its last startxref had no offset; a file ending within a start of an end
    section is said to be cut short, whether or not an earlier end section stands
    before it."""
    body = sealed if earlier_end else sealed[: sealed.index(b"startxref")]
    with pytest.raises(CertsealError) as err:
        await read_pdf_seals(body + cut, ca=seal_ca.cert)
    assert err.value.message.startswith(
        "cannot be read as a PDF: it looks cut short (a transfer that stopped?): get "
        "the whole file again: it ends within its end section (byte "
    ), err.value.message


#: a sealed PDF's end section made to name no cross-reference section, by the kind
#: of fault: an offset past the file (a huge one too, beyond what a seek takes), one
#: into the middle of the file, one at a comment, one at a number that is no object
_WRONG_STARTXREF = {
    "past the file": lambda pdf: len(pdf) + 10,
    "beyond a seek": lambda pdf: 10**20,
    "inside the file": lambda pdf: len(pdf) // 2,
    "at the header's comment": lambda pdf: 1,
    "at the trailer": lambda pdf: pdf.rindex(b"trailer"),
    # trial38: pyHanko's "negative seek value -5" and "startxref loop detected at 7"
    "at the file's start (its header, then the catalog)": lambda pdf: 0,
    "at the second header line": lambda pdf: 9,
    # an object, but no cross-reference stream (pyHanko's bare assert said nothing)
    "at the catalog": lambda pdf: pdf.index(b"1 0 obj"),
}


@pytest.mark.parametrize("kind", list(_WRONG_STARTXREF))
async def test_a_startxref_naming_no_cross_reference_section_is_refused_in_its_words(
    sealed,
    seal_ca,  # noqa: F811
    kind,
):
    """An end section whose offset names no ``xref`` keyword or object header is
    refused before pyHanko reads the file, in certseal's words (pyHanko's were
    "Stream ended prematurely", "Python int too large to convert to C ssize_t", or
    nothing at all: trial37)."""
    body = sealed[: sealed.rindex(b"startxref")]
    offset = _WRONG_STARTXREF[kind](sealed)
    with pytest.raises(CertsealError) as err:
        await read_pdf_seals(
            body + b"startxref\n%d\n%%%%EOF\n" % offset, ca=seal_ca.cert
        )
    past = (
        f" (past the {len(body)} bytes it must lie in)" if offset >= len(body) else ""
    )
    assert (err.value.field, err.value.message) == (
        "pdf",
        f"cannot be read as a PDF: its last cross-reference section is not at byte "
        f"{offset}{past}, where its startxref or /Prev says: PDF readers then rebuild "
        "the file from whatever objects it holds",
    )


@pytest.mark.parametrize("cut", [100, 1_500, "half"])
async def test_a_sealed_pdf_cut_short_is_said_to_be_cut_short(
    sealed,
    seal_ca,  # noqa: F811
    cut,
):
    """trial38: a sealed PDF cut short (its seal's end section lost) was told to send
    its first N bytes, which are the unsealed original: the seal's objects follow
    that end, so the file is said to be cut short instead."""
    kept = len(sealed) // 2 if cut == "half" else len(sealed) - cut
    with pytest.raises(CertsealError) as err:
        await read_pdf_seals(sealed[:kept], ca=seal_ca.cert)
    assert err.value.message.startswith(
        "cannot be read as a PDF: it looks cut short (a transfer that stopped?): get "
        "the whole file again: PDF objects with no end of their own follow its last "
        "end section (at byte "
    ), err.value.message
    assert "bytes are the PDF" not in err.value.message
    assert len(err.value.message) < 400  # a refusal's words are bounded


def test_the_window_is_said_from_where_the_end_section_starts():
    """trial38: '1010 bytes before the file's end' beside 'the last 1024 bytes' read
    as a contradiction; the window holds where the end section starts."""
    message = too_far(2_000, 900, 930, False)
    assert message.startswith(
        "its last end section (startxref ... %%EOF) starts at byte 900, 1100 bytes "
        "before the file's end: PDF readers look for it in the last 1024 bytes"
    )
    assert message.endswith(
        "if what follows it is padding, its first 930 bytes are the PDF"
    )


async def test_a_sealed_pdf_after_another_pdf_is_refused_at_its_offsets(
    sealed,
    seal_ca,  # noqa: F811
):
    """Two files joined: the sealed one's offsets count from its own first byte."""
    joined = page_pdf(Tree()) + b"% another file\n" + sealed
    with pytest.raises(CertsealError) as err:
        await read_pdf_seals(joined, ca=seal_ca.cert)
    assert "cross-reference section is not at byte" in err.value.message


@pytest.mark.parametrize("length", [100, 900])
async def test_a_false_end_section_in_the_tail_is_refused_whatever_its_length(
    sealed,
    seal_ca,  # noqa: F811
    length,
):
    """The last end section is the file's, as a reader takes it: one pointing
    nowhere is refused at any distance from the end, not read past."""
    tail = b"startxref\n5\n%%EOF\n" + bytes(length)
    with pytest.raises(CertsealError) as err:
        await read_pdf_seals(sealed + tail, ca=seal_ca.cert)
    assert err.value.field == "pdf"
    assert err.value.message.startswith("cannot be read as a PDF"), err.value.message


async def test_a_pdf_without_any_end_section_is_still_refused(seal_ca):  # noqa: F811
    unsealed = page_pdf(Tree())
    assert unsealed.count(b"startxref") == 1
    cut = unsealed[: unsealed.index(b"startxref")] + bytes(2_000)
    with pytest.raises(CertsealError) as err:
        await read_pdf_seals(cut, ca=seal_ca.cert)
    assert (err.value.field, err.value.message) == (
        "pdf",
        f"cannot be read as a PDF: {NO_END}",
    )


async def test_a_pdf_with_a_tail_is_sealed_again_and_both_seals_hold(
    sealed,
    seal_ca,  # noqa: F811
    keys,  # noqa: F811
):
    tail = bytes(900)
    again = await _seal_again(sealed + tail, keys, seal_ca)
    assert again.startswith(sealed) and tail not in again  # the tail is no PDF
    first, second = await read_pdf_seals(again, ca=seal_ca.cert)
    assert (first.field_name, second.field_name) == ("Seal-field", "Second")
    assert all(s.intact and not s.modified for s in (first, second))
    assert "added after it: later signatures only" in first.detail, first.detail
    assert second.detail.startswith(
        "nothing the document shows has changed since it was sealed; pyHanko's own "
        "finding: coverage ENTIRE_FILE"
    )


@pytest.mark.parametrize(
    ("pdf", "after"),
    [
        (b"%PDF-1.7\n...startxref\n123\n%%EOF\n", b""),
        (b"%PDF-1.7\n...startxref\r\n123\r\n%%EOF\r\nxyz", b"xyz"),
        (b"%PDF-1.7\n...startxref 123 %%EOFxyz", b"xyz"),
        (b"%PDF-1.7\n...startxref\n1\n%%EOF\n...startxref\n2\n%%EOF\rjunk", b"junk"),
        (b"%PDF-1.7\n...startxref\x00\x0c2\t%%EOF\n\n", b"\n"),
    ],
)
def test_the_end_is_past_the_last_end_section_and_its_end_of_line(pdf, after):
    found = pdf_end(pdf)
    assert found is not None and pdf[found[1] :] == after
    assert pdf[found[0] :].startswith(b"startxref")


@pytest.mark.parametrize(
    "pdf", [b"%PDF-1.7\n...startxref\nxref\n%%EOF\n", b"%PDF-1.7\n...%%EOF\n", b""]
)
def test_a_file_without_an_end_section_has_no_end(pdf):
    assert pdf_end(pdf) is None


async def test_verify_pdf_rpc_reads_a_sealed_pdf_with_a_tail(seal_stub, operator):
    owner = await seal_owner(operator)
    stub = seal_stub(f"dept:{owner}")
    seal_id = (
        await stub.RegisterSeal(
            pb.RegisterSealRequest(name="示例专用章", suite="es256")
        )
    ).seal.seal_id
    pdf = (
        await stub.SealPdf(pb.SealPdfRequest(seal_id=seal_id, pdf=page_pdf(Tree())))
    ).pdf
    for tail in (b"", bytes(900)):
        reply = await stub.VerifyPdf(pb.VerifyPdfRequest(pdf=pdf + tail))
        assert [(s.seal_id, s.verdict) for s in reply.seals] == [(seal_id, "VALID")]
        assert (TRAILING_BYTES in reply.seals[0].detail) == bool(tail)


#: an object after the end that replaces the signed page's content (object 4 is
#: page_pdf's content stream): a reader that rebuilds the file would show it
REPLACED = (
    b"4 0 obj\n<< /Length 21 >>\nstream\nBT /F1 24 Tf (X) Tj ET\nendstream\nendobj\n"
)


@pytest.mark.parametrize("padding", [0, 100, 800])
@pytest.mark.parametrize("before", [b"", b"\r\n% a comment\r\n"])
async def test_an_object_after_the_end_makes_the_seal_modified(
    sealed,
    seal_ca,  # noqa: F811
    padding,
    before,
):
    pdf = sealed + before + REPLACED + bytes(padding)
    [found] = await read_pdf_seals(pdf, ca=seal_ca.cert)
    assert found.intact and found.modified, found.detail
    assert "a PDF object ('4 0 obj') follows the file's end" in found.detail


@pytest.mark.parametrize(
    ("tail", "found"),
    [
        (b"12 0 obj", "12 0 obj"),
        (b"x 12\x00\t0\r\nobj<<", "12 0 obj"),
        (b"12 0 object", ""),
        (b"112 0 objx 5 0 obj", "5 0 obj"),
        (b"1" * 100_000 + b" 0 obj", "1" * 80),
        # trial37: what a reader's lexer skips between the parts, in any number
        (b"4" + b" " * 300 + b"0 obj", "4 0 obj"),
        (b"4 0" + b"\r\n" * 300 + b"obj", "4 0 obj"),
        (b"4 0 % c\nobj", "4 0 obj"),
        (b"4 % one\r% two\n0%\nobj<<", "4 0 obj"),
        (b"04 1 obj[", "04 1 obj"),
        (b"4 0 objx", ""),
        # atk37b: a sign is part of a number to readers' lexers
        (b"5 +0 obj", "5 +0 obj"),
        (b"-5 0 obj", "-5 0 obj"),
        (b"4 0 % obj", ""),
        (b"not an obj", ""),
    ],
)
def test_an_object_header_after_the_end_is_found(sealed, tail, found):
    assert object_after_end(sealed + tail, len(sealed)) == found
    assert object_after_end(sealed, len(sealed)) == ""


@pytest.mark.parametrize(
    "header", [b"4 0 obj\n", b"4" + b" " * 300 + b"0 obj\n", b"4 0 % c\nobj\n"]
)
async def test_an_object_after_the_end_is_not_sealed_over(
    sealed,
    seal_ca,  # noqa: F811
    keys,  # noqa: F811
    header,
):
    """trial37: sealing left the object out, so the file came back with both seals
    VALID while a reader that rebuilt the file had shown the object."""
    forged = sealed + bytes(300) + header + REPLACED.partition(b"\n")[2]
    with pytest.raises(CertsealError) as err:
        await _seal_again(forged, keys, seal_ca)
    assert err.value.field == "pdf"
    assert err.value.message.startswith("a PDF object ('4 0 obj') follows the file's")


async def test_megabytes_of_zeros_after_the_end_are_refused_at_once(
    sealed,
    seal_ca,  # noqa: F811
):
    """trial37: pyHanko stepped back through a last line of 20 MB of zeros one byte
    at a time (4 s) before certseal looked for the end itself."""
    started = time.thread_time()
    with pytest.raises(CertsealError) as err:
        await read_pdf_seals(sealed + bytes(20 << 20), ca=seal_ca.cert)
    assert time.thread_time() - started < 2.0
    assert f"its first {len(sealed)} bytes" in err.value.message


async def test_a_sealed_licence_file_s_metadata_is_read_as_its_seal(
    seal_ca,  # noqa: F811
    keys,  # noqa: F811
):
    """VerifyPdf's licence part (certseal.licencefile.signed_metadata) reads the
    file as the seal part does: with a tail within the window, and not beyond it."""
    from certseal.licencefile import signed_metadata
    from services.issuer.document import Fonts
    from tests.issuer.test_document import CONTENT, render

    pdf = await seal(seal_ca, keys, render(Fonts.bundled()))
    for tail in (b"", bytes(900)):
        [(field, meta)] = signed_metadata(pdf + tail).items()
        assert (field, meta["identifier"]) == ("Seal-field", CONTENT.identifier)
    assert signed_metadata(pdf + bytes(5_000)) == {}


async def test_a_sealed_pdf_whose_cross_reference_a_reader_would_not_follow_is_refused(
    sealed,
    seal_ca,  # noqa: F811
):
    """atk37c: an entry pyHanko's ``int()`` reads (``00000_0123``) and readers do
    not; they rebuild the file. Verification refuses it as sealing does."""
    table = sealed.index(b"xref\n0 ")
    entry = sealed.index(b" 00000 n", table) - 10
    digits = sealed[entry : entry + 10]
    broken = sealed[:entry] + digits[:5] + b"_" + digits[6:] + sealed[entry + 10 :]
    with pytest.raises(CertsealError) as err:
        await read_pdf_seals(broken, ca=seal_ca.cert)
    assert err.value.field == "pdf"
    assert "does not read as ISO 32000-1 §7.5.4 writes it" in err.value.message


async def test_entries_ended_by_one_byte_as_some_writers_put_them_are_read(
    seal_ca,  # noqa: F811
    keys,  # noqa: F811
):
    """Real writers end a table's entries with ``\\n`` alone (19 bytes, not 20):
    readers follow them, and so does certseal."""
    plain = page_pdf(Tree())
    table = plain.index(b"xref\n")
    trailer = plain.index(b"trailer", table)
    short = plain[table:trailer].replace(b" \n", b"\n")
    moved = len(plain[table:trailer]) - len(short)
    head, tail = plain[:table], plain[trailer:]
    start = tail.index(b"startxref\n") + len(b"startxref\n")
    assert int(tail[start:].split(b"\n")[0]) == table  # the offset stays: before it
    pdf = head + short + tail
    assert moved > 0
    [found] = await read_pdf_seals(await seal(seal_ca, keys, pdf), ca=seal_ca.cert)
    assert found.intact and not found.modified, found.detail


async def test_an_author_changed_after_the_seal_is_said_as_a_property_change(
    sealed,
    seal_ca,  # noqa: F811
):
    """trial38: pyHanko's level LTA_UPDATES also allows the document information
    dictionary and XMP metadata; such a change was said as 'validation data only'.
    The author is no title a viewer shows: VALID, said so."""
    [found] = await read_pdf_seals(_updated(sealed, _reauthor), ca=seal_ca.cert)
    assert found.intact and not found.modified, found.detail
    assert (
        "added after it: validation data or document properties no viewer shows "
        "(author, subject, metadata other than the title) only; pyHanko's own finding: coverage ENTIRE_REVISION, "
        "modification level LTA_UPDATES" in found.detail
    ), found.detail


async def test_a_title_changed_after_the_seal_is_modified_whatever_the_viewer(
    sealed,
    seal_ca,  # noqa: F811
):
    """trial38c: pdf.js shows any PDF's title in its tab, DisplayDocTitle or not.
    words39: what changed is the detail's first sentence, in a clerk's words; not
    "changed after it (pyHanko's level LTA_UPDATES does not show this change)"."""
    [found] = await read_pdf_seals(_updated(sealed, _retitle), ca=seal_ca.cert)
    assert found.modified, found.detail
    assert found.detail == (
        "the title viewers show changed after it: '' to 'FORGED TITLE'; pyHanko's "
        "own finding: coverage ENTIRE_REVISION, modification level LTA_UPDATES, which "
        "does not count this change"
    ), found.detail


async def test_a_change_pyhanko_cannot_explain_names_its_objects_plainly(
    sealed,
    seal_ca,  # noqa: F811
):
    """trial38: MODIFIED said "There are unexplained xrefs in revision 2:
    Reference(idnum=2, generation=0)", Python's words; objects are now named as a
    PDF names them."""
    writer = IncrementalPdfFileWriter(io.BytesIO(sealed), strict=False)
    pages = writer.root["/Pages"]
    pages["/Rotate"] = generic.NumberObject(90)
    writer.update_container(pages)
    out = io.BytesIO()
    writer.write(out)
    [found] = await read_pdf_seals(out.getvalue(), ca=seal_ca.cert)
    assert found.modified
    assert found.detail.startswith(
        "objects added or replaced that no signing explains "
        "(pyHanko: There are unexplained xrefs"
    ), found.detail
    assert found.detail.endswith(
        "; pyHanko's own finding: coverage ENTIRE_REVISION, modification level OTHER"
    ), found.detail
    assert "Reference(" not in found.detail, found.detail
    assert "object 2 0" in found.detail, found.detail


@pytest.mark.parametrize("kept", [0, 40, 900])
async def test_a_sealed_pdf_cut_just_after_its_original_is_said_to_be_cut_short(
    sealed,
    seal_ca,  # noqa: F811
    kept,
):
    """trial38: cut within 1 KiB after the unsealed original's end, the file read as
    the original with part of the seal's update after its end, and said "0 seal(s)":
    a clerk would think it never sealed. With no signature and a PDF object after
    its end, it is said to look cut short."""
    original_end = pdf_end(page_pdf(Tree()))[1]  # type: ignore[index]
    start = sealed.index(b"obj", original_end) - 6
    cut = sealed[: max(start + 12, original_end + kept)]
    assert OBJECT_HEADER.search(cut, original_end)
    with pytest.raises(CertsealError) as err:
        await read_pdf_seals(cut, ca=seal_ca.cert)
    assert err.value.message.startswith(
        "cannot be read as a PDF: it looks cut short (a transfer that stopped?): get "
        "the whole file again: a PDF object ("
    ), err.value.message


def _with_display_title(pdf: bytes) -> bytes:
    """``pdf`` with a title and the catalog's /ViewerPreferences /DisplayDocTitle
    true, as Chromium's PDFs have: viewers show the title in their title bar."""
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    writer.root["/ViewerPreferences"] = generic.DictionaryObject(
        {generic.pdf_name("/DisplayDocTitle"): generic.BooleanObject(True)}
    )
    writer.update_root()
    writer.document_meta.title = "营业执照"
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _updated(pdf: bytes, change) -> bytes:
    """``pdf`` with an update by pyHanko's writer: ``change``, the catalog written
    again unchanged (an empty update is not written), and the metadata pyHanko
    writes on every update."""
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    change(writer)
    writer.update_root()
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _retitle(writer) -> None:
    """As pyHanko's writer retitles a document: /Info and the XMP packet."""
    writer.document_meta.title = "FORGED TITLE"


def _reauthor(writer) -> None:
    writer.document_meta.author = "someone else"


def _keep_title(writer) -> None:
    """An update that keeps the title (pyHanko's writer still rewrites its XMP)."""


async def test_a_title_viewers_show_changed_after_the_seal_is_modified(
    seal_ca,  # noqa: F811
    keys,  # noqa: F811
):
    """trial38: a Chromium PDF (DisplayDocTitle true) retitled after its seal verified
    VALID while the viewer's title bar showed the new title."""
    sealed = await seal(seal_ca, keys, _with_display_title(page_pdf(Tree())))
    [kept] = await read_pdf_seals(sealed, ca=seal_ca.cert)
    assert kept.intact and not kept.modified, kept.detail
    [found] = await read_pdf_seals(_updated(sealed, _retitle), ca=seal_ca.cert)
    assert found.modified, found.detail
    assert found.detail.startswith(
        "the title viewers show changed after it: '营业执照' to 'FORGED TITLE'; "
    ), found.detail


async def test_an_update_keeping_the_title_of_a_file_showing_it_stays_valid(
    seal_ca,  # noqa: F811
    keys,  # noqa: F811
):
    """pyHanko's writer rewrites the XMP packet on every update (a later seal, a
    timestamp): a title kept is no change."""
    sealed = await seal(seal_ca, keys, _with_display_title(page_pdf(Tree())))
    [found] = await read_pdf_seals(_updated(sealed, _keep_title), ca=seal_ca.cert)
    assert found.intact and not found.modified, found.detail


async def test_an_encrypted_file_showing_its_title_retitled_after_the_seal_is_modified(
    seal_ca,  # noqa: F811
    keys,  # noqa: F811
):
    """trial38c: in an encrypted file the catalog's /ViewerPreferences is a proxy
    until decrypted, and the title's change was not seen: VALID."""
    pdf = encrypt(page_pdf(Tree()), "aes-256")
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    writer.encrypt(USER_PASSWORD)
    writer.root["/ViewerPreferences"] = generic.DictionaryObject(
        {generic.pdf_name("/DisplayDocTitle"): generic.BooleanObject(True)}
    )
    writer.update_root()
    writer.document_meta.title = "营业执照"
    out = io.BytesIO()
    writer.write(out)
    sealed = await seal(seal_ca, keys, out.getvalue(), password=USER_PASSWORD)
    writer = IncrementalPdfFileWriter(io.BytesIO(sealed), strict=False)
    writer.encrypt(USER_PASSWORD)
    _retitle(writer)
    writer.update_root()
    out = io.BytesIO()
    writer.write(out)
    [found] = await read_pdf_seals(
        out.getvalue(), ca=seal_ca.cert, password=USER_PASSWORD
    )
    assert found.modified, found.detail
    assert found.detail.startswith(
        "the title viewers show changed after it: '营业执照' to 'FORGED TITLE'; "
    ), found.detail
