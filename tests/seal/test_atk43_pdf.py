"""atk43: an outside attack on the PDF seal's newest checks (pdf_twice, pdf_versions,
pdf_form, pdf_title), and on what they rest on.

Found (each ``xfail(strict=True)`` until fixed; ``premise`` tests render the files
with PDFium, pypdfium2, and poppler, ``pdftoppm``):

* F1, a later update whose trailer leaves out ``/Root``: pyHanko inherits every
  trailer key from the revisions before (``TrailerDictionary.raw_get``), so it reads
  the file as written; poppler (and pdf.js, which reads only the newest trailer)
  finds no catalog and rebuilds the file from every ``N G obj`` in it, the last of
  each number winning, so an object the update holds but no cross-reference lists
  (the page again, its /Contents a blue fill) shows in poppler while certseal says
  VALID "nothing the document shows has changed". Sealing takes such a file too:
  poppler showed the rebuilt file before sealing and the file as written after;
* F2, two spellings of one name: pyHanko decodes a name's bytes as UTF-8 and, when
  they are not, as Latin-1 (``generic._decode_name``), so ``/#E9`` and ``/#C3#A9``
  are the same key to it and two different names to every viewer. A sealed page
  whose resources name its form XObject ``/#E9`` while its content draws
  ``/#C3#A9`` draws nothing; an update after the seal writing the resources again
  with ``/#C3#A9`` is no change to pyHanko's difference analysis (VALID) while PDFium
  and poppler draw the blue form. Not a key given twice, so pdf_twice hears nothing.
  Sealing alone does it too (F2b): with the resources written in the page, which
  the seal rewrites to add its widget, pyHanko's writer writes ``/#E9`` back as
  UTF-8, ``/#C3#A9``, so the sealed PDF draws the blue form the clerk never saw,
  VALID "nothing the document shows has changed" (as atk40c's key given twice);
* F3, sealing reads every object in use (``pdf_twice.refuse_sealing``), also those
  nothing reaches: an unreferenced array of zeros (pyHanko's lexer, about 4 µs a
  number) made sealing a 1.2 MiB PDF take 3.4 s of CPU against 0.04 s without the
  check; a 60 MiB one takes minutes on a sealing thread nothing stops. Verifying
  reads every object version the same way (``pdf_after.filled_after``, which the
  TwiceFinder rides on): the array in an update after the seal, 2.6 s;
* F4, a number token pyHanko hands to ``Decimal`` that does not convert (``1.2.3``,
  ``.``, ``+-.``; PDFium reads ``1.2``) raises ``decimal.InvalidOperation``, an
  ``ArithmeticError`` that ``reading_pdf`` does not map: sealing such a PDF, or
  verifying any sealed PDF after an update holding such an object (one nothing
  reaches will do), ends in an uncaught exception (INTERNAL), not a refusal or a
  verdict.

F1 and F4 are fixed, their xfail marks gone; their kinds are tested in
tests/seal/test_atk43b_pdf.py (``services.seal.pdf_trailers``: a trailer key pyHanko
takes from an older trailer; ``services.seal.pdf_versions.UnreadableObject``: an
object pyHanko's parser cannot read, whatever it raises).

Resisted (tests without xfail): two verifications at once, in threads or tasks of
one loop, each hear only their own keys given twice (the listener's state is a
contextvar).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import io
import re
import time

import pytest
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.reader import PdfFileReader

import services.seal.pdf
from certseal.errors import CertsealError
from services.seal.pdf_twice import REWRITTEN
from services.seal.pdf_verify import read_pdf_seals
from tests.seal.field_pdfs import Tree, assemble_pdf, page_pdf
from tests.seal.test_atk37_pdf_tail import BLUE_BODY, _startxref
from tests.seal.test_atk37b_pdf_end import _pdfium_blue
from tests.seal.test_atk37c_pdf_xref import _poppler_blue
from tests.seal.test_atk38_pdf_streams import BLUE_FORM, stream_update
from tests.seal.test_atk38c_pdf import classic_pdf
from tests.seal.test_atk38d import raw_update
from tests.seal.test_atk40b_pdf_twice import _nested_twice
from tests.seal.test_field_pdfs import keys, seal, seal_ca  # noqa: F401


async def _verdicts(pdf: bytes, ca: bytes) -> list[tuple[bool, bool, str]]:
    return [(s.intact, s.modified, s.detail) for s in await read_pdf_seals(pdf, ca=ca)]


@pytest.fixture(scope="module")
async def sealed_page(seal_ca, keys) -> bytes:  # noqa: F811
    return await seal(seal_ca, keys, page_pdf(Tree()))


# -- F1: a trailer without /Root -------------------------------------------------------


def _blue_page_unlisted(sealed: bytes, *, table: bool = True) -> bytes:
    """``sealed`` with an update holding its page again, its /Contents a new blue
    fill, which no cross-reference lists (only the fill is listed), and a trailer
    (``table``) or cross-reference stream without /Root."""
    reader = PdfFileReader(io.BytesIO(sealed), strict=False)
    page = reader.root["/Pages"]["/Kids"].raw_get(0).idnum
    size = int(reader.trailer["/Size"])
    written = io.BytesIO()
    reader.get_object(generic.Reference(page, 0)).write_to_stream(written)
    forged = re.sub(
        rb"/Contents \d+ 0 R", b"/Contents %d 0 R" % size, written.getvalue()
    )
    unlisted = b"\n%d 0 obj\n" % page + forged + b"\nendobj\n"
    fill = BLUE_BODY.rstrip(b"\n")
    if not table:
        root = b" /Root %d 0 R" % reader.trailer.raw_get("/Root").idnum
        updated = stream_update(sealed + unlisted, {size: fill})
        at = updated.rindex(root)
        return updated[:at] + b" " * len(root) + updated[at + len(root) :]
    out = bytearray(sealed + unlisted)
    at = len(out)
    out += b"%d 0 obj\n" % size + fill + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 1\n0000000000 65535 f \n%d 1\n%010d 00000 n \n" % (size, at)
    out += b"trailer\n<< /Size %d /Prev %d >>\nstartxref\n%d\n%%%%EOF\n" % (
        size + 1,
        _startxref(sealed),
        xref,
    )
    return bytes(out)


def test_premise_poppler_rebuilds_a_file_whose_trailer_has_no_root(sealed_page):
    assert not _poppler_blue(sealed_page)
    for table in (True, False):
        forged = _blue_page_unlisted(sealed_page, table=table)
        assert _poppler_blue(forged)
        assert not _pdfium_blue(forged)  # PDFium inherits /Root, as pyHanko does


@pytest.mark.parametrize("table", [True, False], ids=["table", "xref-stream"])
async def test_an_update_whose_trailer_has_no_root_is_not_valid(
    sealed_page,
    seal_ca,  # noqa: F811
    table,
):
    [(intact, modified, detail)] = await _verdicts(
        _blue_page_unlisted(sealed_page, table=table), seal_ca.cert
    )
    assert modified or not intact, detail


async def test_a_pdf_whose_trailer_has_no_root_is_not_sealed_as_another(
    seal_ca,  # noqa: F811
    keys,  # noqa: F811
):
    submitted = _blue_page_unlisted(page_pdf(Tree()))
    try:
        sealed = await seal(seal_ca, keys, submitted)
    except CertsealError as err:
        assert err.field == "pdf", err
        return
    assert _poppler_blue(sealed) == _poppler_blue(submitted)


# -- F2: one name to pyHanko, two to viewers -------------------------------------------


def _latin_utf8_page(key: bytes, resources: bytes = b"3 0 R") -> bytes:
    """A page whose content draws the form XObject ``/#C3#A9`` (é in UTF-8) and
    whose resources (object 3, or ``resources``) name BLUE_FORM ``key``."""
    content = b"/#C3#A9 Do"
    return assemble_pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [4 0 R] /Count 1 >>",
            b"<< /XObject << " + key + b" 6 0 R >> >>",
            b"<< /Type /Page /Parent 2 0 R /Resources %s /Contents 5 0 R "
            b"/MediaBox [0 0 595 842] >>" % resources,
            b"<< /Length %d >>\nstream\n%s\nendstream" % (len(content), content),
            BLUE_FORM,
        ]
    )


@pytest.fixture(scope="module")
async def sealed_latin(seal_ca, keys) -> bytes:  # noqa: F811
    """The page with its form named ``/#E9`` (é in Latin-1), sealed."""
    return await seal(seal_ca, keys, _latin_utf8_page(b"/#E9"))


def _renamed(sealed: bytes) -> bytes:
    return raw_update(sealed, {(3, 0): b"<< /XObject << /#C3#A9 6 0 R >> >>"})


def test_premise_viewers_tell_the_two_names_apart_and_pyhanko_does_not(sealed_latin):
    assert not _pdfium_blue(sealed_latin) and not _poppler_blue(sealed_latin)
    renamed = _renamed(sealed_latin)
    assert _pdfium_blue(renamed) and _poppler_blue(renamed)
    reader = PdfFileReader(io.BytesIO(renamed), strict=False)
    old = reader.get_object(generic.Reference(3, 0), revision=0)
    assert old == reader.get_object(generic.Reference(3, 0))


async def test_a_resource_renamed_to_a_name_pyhanko_reads_alike_is_modified(
    sealed_latin,
    seal_ca,  # noqa: F811
):
    [(intact, modified, detail)] = await _verdicts(_renamed(sealed_latin), seal_ca.cert)
    assert intact and modified, detail


def _latin_in_the_page() -> bytes:
    """The page of :func:`_latin_utf8_page` with its resources written in it (the
    object the seal rewrites)."""
    return _latin_utf8_page(b"/#E9", b"<< /XObject << /#E9 6 0 R >> >>")


async def test_premise_sealing_rewrites_the_page_s_latin1_name_as_utf8(
    seal_ca,  # noqa: F811
    keys,  # noqa: F811
    monkeypatch,
):
    """pyHanko's writer, without certseal's check of the names it rewrites
    (``refuse_renamed``), writes the page's ``/#E9`` as ``/#C3#A9``."""
    monkeypatch.setattr(services.seal.pdf, "refuse_renamed", lambda *args: None)
    submitted = _latin_in_the_page()
    sealed = await seal(seal_ca, keys, submitted)
    assert not _pdfium_blue(submitted) and not _poppler_blue(submitted)
    assert _pdfium_blue(sealed) and _poppler_blue(sealed)


async def test_a_pdf_whose_rewritten_names_would_change_is_not_sealed(
    seal_ca,  # noqa: F811
    keys,  # noqa: F811
):
    try:
        sealed = await seal(seal_ca, keys, _latin_in_the_page())
    except CertsealError as err:
        assert err.field == "pdf", err
        return
    assert not _pdfium_blue(sealed), "the sealed PDF shows what the submitted did not"


# -- F3: sealing reads objects nothing reaches -----------------------------------------

_GREY = b"<< /Length 20 >>\nstream\n0.5 g 0 0 10 10 re f\nendstream"
_PLAIN = {
    1: b"<< /Type /Catalog /Pages 2 0 R >>",
    2: b"<< /Type /Pages /Kids [4 0 R] /Count 1 >>",
    3: b"<< >>",
    4: b"<< /Type /Page /Parent 2 0 R /Resources 3 0 R /Contents 5 0 R "
    b"/MediaBox [0 0 595 842] >>",
    5: _GREY,
}


async def test_an_object_nothing_reaches_costs_sealing_little(
    seal_ca,  # noqa: F811
    keys,  # noqa: F811
):
    pdf = classic_pdf({**_PLAIN, 6: b"[" + b"0 " * (400 << 10) + b"]"}, 7)
    started = time.process_time()
    await seal(seal_ca, keys, pdf)
    spent = time.process_time() - started
    assert spent < 1.0, f"{spent:.2f} s of CPU"


async def test_an_object_nothing_reaches_costs_verifying_little(
    sealed_page,
    seal_ca,  # noqa: F811
):
    updated = raw_update(sealed_page, {(40, 0): b"[" + b"0 " * (400 << 10) + b"]"})
    started = time.process_time()
    await _verdicts(updated, seal_ca.cert)
    spent = time.process_time() - started
    assert spent < 1.0, f"{spent:.2f} s of CPU"


async def test_premise_the_same_pdf_seals_quickly_without_the_check(
    seal_ca,  # noqa: F811
    keys,  # noqa: F811
    monkeypatch,
):
    """What F3 measures is the check: without it the same PDF seals in a blink."""
    monkeypatch.setattr(services.seal.pdf, "refuse_sealing", lambda reader: None)
    pdf = classic_pdf({**_PLAIN, 6: b"[" + b"0 " * (400 << 10) + b"]"}, 7)
    started = time.process_time()
    await seal(seal_ca, keys, pdf)
    assert time.process_time() - started < 1.0


# -- F4: a number Decimal cannot read --------------------------------------------------


async def test_sealing_a_pdf_with_a_malformed_number_is_a_clear_refusal(
    seal_ca,  # noqa: F811
    keys,  # noqa: F811
):
    pdf = classic_pdf({**_PLAIN, 6: b"[1.2.3]"}, 7)
    try:
        await seal(seal_ca, keys, pdf)
    except CertsealError as err:
        assert err.field == "pdf", err


async def test_a_malformed_number_after_the_seal_is_a_verdict_or_a_refusal(
    sealed_page,
    seal_ca,  # noqa: F811
):
    updated = raw_update(sealed_page, {(40, 0): b"[1.2.3]"})
    try:
        verdicts = await _verdicts(updated, seal_ca.cert)
    except CertsealError as err:
        assert err.field == "pdf", err
    else:
        assert verdicts


# -- resisted: keys given twice heard per verification, in threads and tasks -----------


def _verdicts_in_a_thread(pdf: bytes, ca: bytes) -> list[tuple[bool, bool, str]]:
    return asyncio.run(_verdicts(pdf, ca))


async def test_verifications_at_once_hear_only_their_own_keys_given_twice(
    sealed_page,
    seal_ca,  # noqa: F811
):
    """The listener's state is a contextvar: two verifications at once, one of a
    PDF whose update gives a key twice and one of the sealed PDF, in threads and
    as tasks of one loop, each say only their own."""
    twice = _nested_twice(sealed_page)
    jobs = [twice, sealed_page] * 4
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        threaded = list(
            pool.map(lambda pdf: _verdicts_in_a_thread(pdf, seal_ca.cert), jobs)
        )
    tasked = await asyncio.gather(*(_verdicts(pdf, seal_ca.cert) for pdf in jobs))
    for found in (threaded, list(tasked)):
        for pdf, [(intact, modified, detail)] in zip(jobs, found, strict=True):
            assert intact, detail
            assert modified == (pdf is twice), detail
            assert detail.startswith(REWRITTEN) == (pdf is twice), detail
