"""A PDF that gives a dictionary key twice is not sealed (atk40 P4's kind, found
while fixing it): pyHanko's parser keeps the first value, PDFium, poppler and pdf.js
the last, and pyHanko's writer writes each object the seal rewrites (the page
that gets the stamp, the catalog, the form) with the first only. A page saying
``/Contents`` twice (blank, then a red fill) showed red as submitted and blank once
sealed, under a seal VALID over a document that looks otherwise than the one
submitted. SealPdf (and ``certseal seal pdf``, which calls it) refuses it,
INVALID_ARGUMENT ``pdf``, naming the key and the object
(:func:`services.seal.pdf_twice.refuse_sealing`), wherever the current revision
gives it: a page, the catalog, a field, an object in an object stream, the trailer.
A key given twice only in a version no longer in use does not count.
"""

from __future__ import annotations

import pytest

import services.seal.pdf
from certseal.errors import ErrorKind
from certseal.v1 import seal_pb2 as pb
from tests.seal.field_pdfs import Tree, assemble_pdf, page_pdf
from tests.seal.test_atk38d import raw_update
from tests.seal.test_atk40_pdf_form import _RED, _amount_form, _pdfium_page_red
from tests.seal.test_atk40b_pdf_twice import (
    _object_stream_twice,
    _trailer_root_twice,
)
from tests.seal.test_field_pdfs import keys, refused, seal, seal_ca  # noqa: F401
from tests.seal.test_field_pdfs_rpc import _es256_seal, _refusal

_BLANK = b"<< /Length 0 >>\nstream\n\nendstream"
_RED_STREAM = b"<< /Length %d >>\nstream\n%s\nendstream" % (len(_RED), _RED)
_PAGE = b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R"


def _contents_twice() -> bytes:
    """A page (object 3) saying /Contents twice: blank (4), then a red fill (5)."""
    return assemble_pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            _PAGE + b" /Contents 5 0 R >>",
            _BLANK,
            _RED_STREAM,
        ]
    )


def _catalog_twice() -> bytes:
    """The catalog (object 1) saying /Pages twice: the second a page tree of a red
    page."""
    return assemble_pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R /Pages 6 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            _PAGE + b" >>",
            _BLANK,
            _RED_STREAM,
            b"<< /Type /Pages /Kids [7 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 6 0 R /MediaBox [0 0 595 842] /Contents 5 0 R >>",
        ]
    )


#: inputs giving a key twice in their current revision, and what the refusal names
_TWICE = {
    "a-page": (_contents_twice, "/Contents in object 3"),
    "the-catalog": (_catalog_twice, "/Pages in object 1"),
    "a-field": (lambda: _amount_form(b"/V (9999)"), "/V in object 5"),
    "an-object-in-an-object-stream": (
        lambda: _object_stream_twice(page_pdf(Tree())),
        "/Contents in object 4",
    ),
    "the-trailer": (
        lambda: _trailer_root_twice(page_pdf(Tree())),
        "/Root in the trailer",
    ),
}


async def test_premise_sealing_wrote_the_first_contents_viewers_drew_the_last(
    seal_ca,  # noqa: F811
    keys,  # noqa: F811
):
    pdf = _contents_twice()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(services.seal.pdf, "refuse_sealing", lambda reader: None)
        sealed = await seal(seal_ca, keys, pdf)
    assert _pdfium_page_red(pdf) and not _pdfium_page_red(sealed)


@pytest.mark.parametrize("kind", list(_TWICE))
async def test_a_pdf_giving_a_key_twice_is_not_sealed(
    seal_ca,  # noqa: F811
    keys,  # noqa: F811
    kind,
):
    make, where = _TWICE[kind]
    err = await refused(seal(seal_ca, keys, make()))
    assert (err.kind, err.field) == (ErrorKind.INVALID_ARGUMENT, "pdf")
    assert err.message == (
        f"the PDF gives a key twice ({where}), which PDF readers read differently; "
        "save it again with a PDF editor and seal that"
    )


async def test_a_key_given_twice_in_a_version_no_longer_in_use_is_sealed(
    seal_ca,  # noqa: F811
    keys,  # noqa: F811
):
    rewritten = raw_update(_contents_twice(), {(3, 0): _PAGE + b" >>"})
    assert await seal(seal_ca, keys, rewritten)


async def test_sealpdf_refuses_a_pdf_giving_a_key_twice(seal_stub, operator):
    _, stub, seal_ = await _es256_seal(seal_stub, operator)
    code, field, details = await _refusal(
        stub.SealPdf(pb.SealPdfRequest(seal_id=seal_.seal_id, pdf=_contents_twice()))
    )
    assert (code, field) == ("INVALID_ARGUMENT", "pdf")
    assert "gives a key twice (/Contents in object 3)" in details
