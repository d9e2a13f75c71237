"""atk40 P4's kind, beyond the attacker's two inputs: a dictionary key given twice
(pyHanko keeps the first value, PDFium, poppler and pdf.js the last), wherever it
is written after a seal, and the verifier's own readings of what a seal signed
(:mod:`services.seal.pdf_twice`); and P1 to P3's kind, a sealed /DA read as the
most permissive reader reads it (:func:`services.seal.pdf_form.da_fonts`).

After the seal, each makes the seal MODIFIED, said as a rewrite viewers read
differently: a key twice in a dictionary nested in an object, in a stream's
dictionary, in an object inside an object stream, in the trailer (``/Root`` twice:
PDFium opens another catalog); an object the sealed revision names only through a
repeated key's later value, defined after the seal (pyHanko takes it for an orphan:
it was VALID while PDFium drew it; the later values unknown to certseal, any object
written while a sealed one gives a key twice counts); an object that gave a key
twice when sealed, rewritten without (viewers read the first value from then on).

In the sealed revision itself (sealed by another signer's software: certseal does
not seal such a PDF, tests/seal/test_atk40c_pdf_seal_twice.py): a /DA given twice
counts every added font, and a signature dictionary giving ``/ByteRange`` or
``/Contents`` twice is not verified (another validator reads the last). The check
is linear: an object of 100,000 repeated keys after the seal verifies in about 3 s
(25 s when each was a log record).
"""

from __future__ import annotations

import io
import logging
import time

import pytest
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.signers.pdf_byterange import SignatureObject

import services.seal.pdf
from services.seal import pdf_twice
from services.seal.pdf_form import da_fonts, drawing_changes
from services.seal.pdf_twice import REWRITTEN
from services.seal.pdf_verify import read_pdf_seals
from tests.seal.field_pdfs import Tree, assemble_pdf, page_pdf
from tests.seal.test_atk38_pdf_streams import object_stream, stream_update
from tests.seal.test_atk38d import raw_update
from tests.seal.test_atk39_pdf import (
    _pdfium_field_pixels,
    _resource_added,
    _verdicts,
)
from tests.seal.test_atk40_pdf_form import (
    _RED,
    _amount_form,
    _pdfium_page_red,
    _with_key_again,
)
from tests.seal.test_field_pdfs import keys, seal, seal_ca  # noqa: F401

_RED_STREAM = b"<< /Length %d >>\nstream\n%s\nendstream" % (len(_RED), _RED)


@pytest.fixture(scope="module")
async def sealed_page(seal_ca, keys) -> bytes:  # noqa: F811
    return await seal(seal_ca, keys, page_pdf(Tree()))


async def _sealed_anyway(seal_ca, keys, pdf: bytes) -> bytes:  # noqa: F811
    """``pdf`` sealed though it gives a key twice, as another signer's software may
    seal it (certseal refuses: :func:`services.seal.pdf_twice.refuse_sealing`)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(services.seal.pdf, "refuse_sealing", lambda reader: None)
        return await seal(seal_ca, keys, pdf)


def _page(pdf: bytes) -> int:
    reader = PdfFileReader(io.BytesIO(pdf), strict=False)
    return reader.root["/Pages"]["/Kids"].raw_get(0).idnum


def _size(pdf: bytes) -> int:
    return int(PdfFileReader(io.BytesIO(pdf), strict=False).trailer["/Size"])


async def _one(pdf: bytes, ca: bytes) -> tuple[bool, bool, str]:
    [found] = await _verdicts(pdf, ca)
    return found


def _nested_twice(sealed: bytes) -> bytes:
    """The page redefined with a direct /Resources dictionary whose /ProcSet is given
    twice (a dictionary inside the object)."""
    return _with_key_again(
        sealed, _page(sealed), b"/Resources << /ProcSet [/PDF] /ProcSet [/Text] >>"
    )


def _stream_twice(sealed: bytes) -> bytes:
    """The page's content stream redefined with /Length given twice in its
    dictionary (the same value: only the repetition differs)."""
    reader = PdfFileReader(io.BytesIO(sealed), strict=False)
    contents = reader.root["/Pages"]["/Kids"][0].raw_get("/Contents").idnum
    data = reader.get_object(generic.Reference(contents, 0)).encoded_data
    body = b"<< /Length %d /Length %d >>\nstream\n%s\nendstream" % (
        len(data),
        len(data),
        data,
    )
    return raw_update(sealed, {(contents, 0): body})


def _object_stream_twice(sealed: bytes) -> bytes:
    """The page redefined inside an object stream of a cross-reference-stream update,
    saying /Contents a second time (a red fill)."""
    page, new = _page(sealed), _size(sealed)
    reader = PdfFileReader(io.BytesIO(sealed), strict=False)
    written = io.BytesIO()
    reader.get_object(generic.Reference(page, 0)).write_to_stream(written)
    body = written.getvalue().rstrip()[:-2] + b" /Contents %d 0 R >>" % new
    return stream_update(
        sealed,
        {new: _RED_STREAM, new + 1: object_stream([(page, body)])},
        {page: (2, new + 1, 0)},
    )


def _trailer_root_twice(sealed: bytes) -> bytes:
    """An update whose trailer names /Root twice: the second a new catalog whose page
    is painted red."""
    reader = PdfFileReader(io.BytesIO(sealed), strict=False)
    new = _size(sealed)
    catalog, pages, page = new, new + 1, new + 2
    objects = {
        (catalog, 0): b"<< /Type /Catalog /Pages %d 0 R >>" % pages,
        (pages, 0): b"<< /Type /Pages /Kids [%d 0 R] /Count 1 >>" % page,
        (page, 0): b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 595 842] "
        b"/Contents %d 0 R >>" % (pages, new + 3),
        (new + 3, 0): _RED_STREAM,
    }
    updated = raw_update(sealed, objects)
    root = reader.trailer.raw_get("/Root").idnum
    said = b"/Root %d 0 R" % root
    at = updated.rindex(said)
    return updated[:at] + said + b" /Root %d 0 R" % catalog + updated[at + len(said) :]


def _xref_stream_root_twice(sealed: bytes) -> bytes:
    """An update with a cross-reference stream whose dictionary names /Root twice:
    the second a new catalog whose page is painted red."""
    reader = PdfFileReader(io.BytesIO(sealed), strict=False)
    new = _size(sealed)
    objects = {
        new: b"<< /Type /Catalog /Pages %d 0 R >>" % (new + 1),
        new + 1: b"<< /Type /Pages /Kids [%d 0 R] /Count 1 >>" % (new + 2),
        new + 2: b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 595 842] "
        b"/Contents %d 0 R >>" % (new + 1, new + 3),
        new + 3: _RED_STREAM,
    }
    root = reader.trailer.raw_get("/Root").idnum
    said = b"/Root %d 0 R /Prev" % root
    updated = stream_update(sealed, objects)
    assert updated.count(said) == 1
    return updated.replace(said, b"/Root %d 0 R /Root %d 0 R /Prev" % (root, new))


#: inputs of P4's kind written after the seal, each MODIFIED
_AFTER = {
    "a-nested-dictionary": _nested_twice,
    "a-stream-dictionary": _stream_twice,
    "an-object-in-an-object-stream": _object_stream_twice,
    "the-trailer-root": _trailer_root_twice,
    "a-cross-reference-stream-root": _xref_stream_root_twice,
}


def test_premise_pdfium_reads_the_last_root_and_the_object_stream_page(sealed_page):
    assert _pdfium_page_red(_trailer_root_twice(sealed_page))
    assert _pdfium_page_red(_object_stream_twice(sealed_page))
    assert _pdfium_page_red(_xref_stream_root_twice(sealed_page))


@pytest.mark.parametrize("kind", list(_AFTER))
async def test_a_key_given_twice_after_the_seal_is_modified(
    sealed_page,
    seal_ca,  # noqa: F811
    kind,
):
    intact, modified, detail = await _one(_AFTER[kind](sealed_page), seal_ca.cert)
    assert intact and modified, detail
    assert detail.startswith(REWRITTEN + " (a key given twice"), detail


# -- what the sealed revision names through a key given twice --------------------------


#: a blank form XObject and one painting the page red
_BLANK_FORM = b"<< /Type /XObject /Subtype /Form /BBox [0 0 595 842] /Length 0 >>\nstream\n\nendstream"
_RED_FORM = (
    b"<< /Type /XObject /Subtype /Form /BBox [0 0 595 842] /Length %d >>\nstream\n"
    b"%s\nendstream" % (len(_RED), _RED)
)


def _resources_twice(second: bytes) -> bytes:
    """A page drawing /Fm0 from its resources (object 5, which sealing does not
    rewrite), which say /XObject twice: first /Fm0 blank (6), then ``second``."""
    return assemble_pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
            b"/Resources 5 0 R >>",
            b"<< /Length 8 >>\nstream\n/Fm0 Do\nendstream",
            b"<< /XObject << /Fm0 6 0 R >> /XObject << /Fm0 " + second + b" >> >>",
            _BLANK_FORM,
            _RED_FORM,
        ]
    )


@pytest.fixture(scope="module")
async def sealed_hidden(seal_ca, keys) -> bytes:  # noqa: F811
    # the second /XObject names object 900, which the file does not define
    return await _sealed_anyway(seal_ca, keys, _resources_twice(b"900 0 R"))


def test_premise_pdfium_draws_an_object_named_only_by_the_second_value(sealed_hidden):
    filled = raw_update(sealed_hidden, {(900, 0): _RED_FORM})
    assert not _pdfium_page_red(sealed_hidden) and _pdfium_page_red(filled)


async def test_an_object_named_only_through_a_key_given_twice_filled_after_is_modified(
    sealed_hidden,
    seal_ca,  # noqa: F811
):
    filled = raw_update(sealed_hidden, {(900, 0): _RED_FORM})
    intact, modified, detail = await _one(filled, seal_ca.cert)
    assert intact and modified, detail
    # the later value is unknown to certseal: any object written counts
    assert "object 900 written while object 5 gives /XObject twice" in detail


async def test_an_object_that_gave_a_key_twice_rewritten_after_the_seal_is_modified(
    seal_ca,  # noqa: F811
    keys,  # noqa: F811
):
    # sealed, the page draws the red form (the second /XObject's /Fm0); its
    # resources rewritten as pyHanko reads them (the first only), viewers draw blank
    sealed = await _sealed_anyway(seal_ca, keys, _resources_twice(b"7 0 R"))
    rewritten = raw_update(sealed, {(5, 0): b"<< /XObject << /Fm0 6 0 R >> >>"})
    assert _pdfium_page_red(sealed) and not _pdfium_page_red(rewritten)
    intact, modified, detail = await _one(rewritten, seal_ca.cert)
    assert intact and modified, detail
    assert "object 5, which gave /XObject twice, rewritten" in detail


# -- the sealed revision's own keys given twice ---------------------------------------


def _da_twice() -> bytes:
    """The form with its field's /DA given twice: /Helv first (pyHanko), /Cour last
    (PDFium draws with it)."""
    return _amount_form(b"/DA (/Helv 40 Tf 0 g) /DA (/Cour 40 Tf 0 g)")


def test_premise_pdfium_draws_a_field_with_the_last_da():
    pdf = _da_twice()
    assert b"/DA (/Cour" in pdf
    assert _pdfium_field_pixels(_resource_added(pdf, "/Cour")) != _pdfium_field_pixels(
        pdf
    )


async def test_a_font_the_last_of_two_sealed_das_names_added_after_is_a_change(
    seal_ca,  # noqa: F811
    keys,  # noqa: F811
):
    sealed = await _sealed_anyway(seal_ca, keys, _da_twice())
    added = _resource_added(sealed, "/Cour")
    intact, modified, detail = await _one(added, seal_ca.cert)
    assert intact and modified, detail
    # said first: anything written while a sealed object gives a key twice
    assert "while object 5 gives /DA twice" in detail
    # and the form rule, on its own, counts the font
    reader = PdfFileReader(io.BytesIO(added), strict=False)
    [signature] = reader.embedded_signatures
    signed = signature.signed_revision
    assert "/DR/Font/Cour" in drawing_changes(reader, [signed], {signed})[signed]


def _signature_written_twice(extra: bytes):  # type: ignore[no-untyped-def]
    """SignatureObject's writer that writes ``extra`` (a key again) last."""

    def write(self, stream, handler=None, container_ref=None):  # type: ignore[no-untyped-def]
        stream.write(b"<<\n")
        for key, value in list(self.items()):
            key.write_to_stream(stream, handler, container_ref)
            stream.write(b" ")
            value.write_to_stream(stream, handler, container_ref)
            stream.write(b"\n")
        stream.write(extra + b"\n>>")

    return write


@pytest.mark.parametrize(
    "extra",
    [b"/ByteRange [0 10 20 30]", b"/Contents <3082>"],
    ids=["byterange", "contents"],
)
async def test_a_signature_dictionary_giving_a_key_twice_is_not_verified(
    seal_ca,  # noqa: F811
    keys,  # noqa: F811
    monkeypatch,
    extra,
):
    monkeypatch.setattr(
        SignatureObject, "write_to_stream", _signature_written_twice(extra)
    )
    sealed = await seal(seal_ca, keys, page_pdf(Tree()))
    monkeypatch.undo()
    assert sealed.count(extra) == 1  # signed: the bytes cover it
    [found] = await read_pdf_seals(sealed, ca=seal_ca.cert)
    assert found.modified and not found.intact, found.detail
    key = extra.split()[0].decode()
    assert f"its signature dictionary gives {key} twice" in found.detail


async def test_a_later_signature_field_giving_its_value_twice_makes_the_seal_modified(
    sealed_page,
    seal_ca,  # noqa: F811
):
    reader = PdfFileReader(io.BytesIO(sealed_page), strict=False)
    fields = reader.root["/AcroForm"]["/Fields"]
    number = fields.raw_get(0).idnum
    value = fields[0].raw_get("/V").idnum
    updated = _with_key_again(sealed_page, number, b"/V %d 0 R" % value)
    found = await read_pdf_seals(updated, ca=seal_ca.cert)
    assert all(f.modified for f in found), [f.detail for f in found]
    assert any("gives /V twice" in f.detail for f in found)


# -- bounded ----------------------------------------------------------------------------


async def test_many_keys_given_twice_after_the_seal_verify_quickly(
    sealed_page,
    seal_ca,  # noqa: F811
):
    many = b" ".join(b"/K %d" % i for i in range(100_000))
    updated = _with_key_again(sealed_page, _page(sealed_page), many)
    start = time.process_time()
    intact, modified, detail = await _one(updated, seal_ca.cert)
    assert time.process_time() - start < 10  # about 3 s here
    assert intact and modified and "a key given twice: /K" in detail


# -- P1 to P3's kind: a /DA read as the most permissive reader reads it -----------------


@pytest.mark.parametrize(
    ("da", "named"),
    [
        (b"/Cour\x00 40 Tf 0 g", "/Cour"),  # P1: NUL is white-space
        (b"/Cour\t40\x0cTf\r0 g", "/Cour"),  # TAB, FF, CR
        (b"/Cour\x0bX 40 Tf", "/Cour\x0bX"),  # VT is no PDF white-space
        (b"XCour 40 Tf 0 g", "/Cour"),  # P2: PDFium drops the first character
        (b"1Cour 40 Tf", "/Cour"),
        (b"(Cour) 40 Tf", "/Cour)"),  # a string as PDFium's word
        (b"/Helv/Cour 40 Tf", "/Helv/Cour"),  # poppler's token up to white-space
        (b"/Helv/Cour 40 Tf", "/Cour"),  # PDFium's and pdf.js's name
        (b"/Helv 12 Tf /Cour 40 Tf", "/Cour"),  # poppler and pdf.js take the last
        (b"/Caf#C3#A9 40 Tf", "/Caf\u00e9"),  # as pyHanko keys /DR: UTF-8
        (b"/Co#zzur 40 Tf", "/Co\x00ur"),  # PDFium's PDF_NameDecode
    ],
)
def test_a_da_counts_every_font_a_reader_may_take_from_it(da, named):
    assert named in da_fonts(da)


def test_a_plain_da_names_its_font_only():
    assert da_fonts(b"/Helv 12 Tf 0 g") == {"/Helv"}
    assert da_fonts(b"0 0 1 rg /Helv 0 Tf") == {"/Helv"}


# -- heard from pyHanko's own warning, whatever logging's configuration ---------------


def _read_catalog_twice() -> None:
    """pyHanko reads a catalog saying /Pages twice (its version in revision 0)."""
    pdf = assemble_pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [] /Count 0 >>",
        ]
    )
    reader = PdfFileReader(io.BytesIO(pdf), strict=False)
    reader.get_object(generic.Reference(1, 0, reader), 0)


def test_a_key_given_twice_is_heard_and_not_logged(caplog):
    with caplog.at_level(logging.WARNING), pdf_twice.hearing() as heard:
        _read_catalog_twice()
    assert (heard.count, heard.key) == (1, "/Pages")
    assert "Multiple definitions" not in caplog.text


def test_outside_hearing_pyhanko_s_warning_is_logged_as_configured(caplog):
    with caplog.at_level(logging.WARNING):
        _read_catalog_twice()
    assert "Multiple definitions in dictionary" in caplog.text


@pytest.mark.parametrize("off", ["level", "disabled"])
def test_a_key_given_twice_is_heard_with_pyhanko_s_logging_turned_off(caplog, off):
    log, pyhanko = generic.logger, logging.getLogger("pyhanko")
    listener = next(f for f in log.filters if isinstance(f, pdf_twice._Listener))
    saved = (log.level, log.disabled, pyhanko.level, listener.floor)
    try:
        if off == "level":
            pyhanko.setLevel(logging.ERROR)  # as certseal.logs quiets diff_analysis
        else:
            log.disabled = True  # as dictConfig's disable_existing_loggers does
        with pdf_twice.hearing() as heard:
            _read_catalog_twice()
        assert heard.key == "/Pages"
        with caplog.at_level(logging.WARNING):
            _read_catalog_twice()  # and still not logged, as configured
        assert "Multiple definitions" not in caplog.text
    finally:
        log.setLevel(saved[0])
        log.disabled = saved[1]
        pyhanko.setLevel(saved[2])
        listener.floor = saved[3]
