"""Null entries in the PDFs SealPdf seals (atk-docs F6 and its kind).

ISO 32000-1 §7.3.9: a dictionary entry whose value is null is the same as an absent
entry; §7.3.10: a reference to a missing or free object is null. So a page or catalog
entry written as ``null``, as a reference to a missing object, or as a reference to a
free object is sealed exactly as the document without the entry (an inheritable page
entry is inherited from the page tree), and the result verifies VALID. What pyHanko
cannot write is INVALID_ARGUMENT ``pdf``, never an untyped exception (INTERNAL).
"""

from __future__ import annotations

import asyncio
import io
import re
from asyncio.subprocess import PIPE

import pytest
from asn1crypto import x509 as asn1_x509
from pyhanko.pdf_utils.reader import PdfFileReader

from certseal.crypto import Suite
from certseal.errors import CertsealError, ErrorKind, invalid
from services.seal.domain import SealVerdict, pdf_seal_verdict
from services.seal.pdf import Placement, seal_pdf
from services.seal.pdf_verify import read_pdf_seals
from services.seal.values import SealStatus
from tests.seal.field_pdfs import Page, Tree, page_pdf
from tests.seal.test_field_pdfs import (  # noqa: F401
    keys,
    refused,
    seal,
    seal_ca,
    top_half_picture,
)

PLACEMENT = Placement(page=0, x_mm=30, y_mm=50, size_mm=40)
FREE = b"6 0 R"  # the object :func:`_with_free_object` adds to a one-page PDF

# how a null is written: directly, a reference to a missing object, to a free one
NULLS = {"null": b"null", "missing object": b"99 0 R", "free object": FREE}

# (a document, the same document with an entry set to {null}): sealed alike
CASES = {
    "page /Annots": (Tree(), Tree(pages=[Page(extra=b" /Annots {null}")])),
    "page /Rotate, inherited 90": (
        Tree(rotate=90),
        Tree(rotate=90, pages=[Page(extra=b" /Rotate {null}")]),
    ),
    "page /CropBox, inherited": (
        Tree(crop_box=(100, 100, 400, 600)),
        Tree(crop_box=(100, 100, 400, 600), pages=[Page(extra=b" /CropBox {null}")]),
    ),
    "page /MediaBox, inherited": (
        Tree(media_box=(50, 50, 500, 800), pages=[Page(media_box=None)]),
        Tree(
            media_box=(50, 50, 500, 800),
            pages=[Page(media_box=None, extra=b" /MediaBox {null}")],
        ),
    ),
    "page /UserUnit": (Tree(), Tree(pages=[Page(extra=b" /UserUnit {null}")])),
    "catalog /Perms": (Tree(), Tree(catalog_extra=b" /Perms {null}")),
    "catalog /AcroForm": (Tree(), Tree(catalog_extra=b" /AcroForm {null}")),
    "form /Fields": (Tree(), Tree(catalog_extra=b" /AcroForm << /Fields {null} >>")),
    "catalog /Metadata": (Tree(), Tree(catalog_extra=b" /Metadata {null}")),
    "catalog /OutputIntents": (Tree(), Tree(catalog_extra=b" /OutputIntents {null}")),
    "pages /Rotate": (Tree(), Tree(extra=b" /Rotate {null}")),
}


def _with_free_object(pdf: bytes) -> bytes:
    """``pdf`` (one page, objects 1 to 5) with an object 6 whose body (90) is in the
    file but whose cross-reference row says free: a reference to it is null
    (§7.3.10), whatever the body says."""
    at = pdf.index(b"xref\n")
    trailer = pdf.index(b"trailer\n")
    body = pdf[:at] + b"6 0 obj\n90\nendobj\n"
    table = pdf[at:trailer].replace(b"xref\n0 6\n", b"xref\n0 7\n", 1)
    table += b"0000000000 00001 f \n"
    tail = pdf[trailer : pdf.index(b"startxref")].replace(b"/Size 6", b"/Size 7", 1)
    assert table.startswith(b"xref\n0 7\n") and b"/Size 7" in tail
    return body + table + tail + b"startxref\n%d\n%%%%EOF\n" % len(body)


def _pdf(tree: Tree, null: bytes) -> bytes:
    filled = Tree(
        pages=[
            Page(p.media_box, p.crop_box, p.rotate, p.extra.replace(b"{null}", null))
            for p in tree.pages
        ],
        media_box=tree.media_box,
        crop_box=tree.crop_box,
        rotate=tree.rotate,
        catalog_extra=tree.catalog_extra.replace(b"{null}", null),
        extra=tree.extra.replace(b"{null}", null),
    )
    pdf = page_pdf(filled)
    return _with_free_object(pdf) if null == FREE else pdf


def _stamp(sealed: bytes) -> tuple[list[float], list[float]]:
    """The seal widget's /Rect and its appearance's /Matrix."""
    reader = PdfFileReader(io.BytesIO(sealed), strict=False)
    for field in reader.root["/AcroForm"]["/Fields"]:
        field = field.get_object()
        if field["/T"] == "Seal-field":
            matrix = field["/AP"]["/N"].get("/Matrix", [1, 0, 0, 1, 0, 0])
            return [float(v) for v in field["/Rect"]], [float(v) for v in matrix]
    raise AssertionError("no field Seal-field")


async def _verdict(sealed: bytes, ca: bytes, cert: bytes) -> list[SealVerdict]:
    """VerifyPdf's verdict on each seal, the seal registered and active."""
    validity = asn1_x509.Certificate.load(cert)["tbs_certificate"]["validity"]
    valid = (validity["not_before"].native, validity["not_after"].native)
    return [
        pdf_seal_verdict(
            intact=s.intact,
            modified=s.modified,
            trusted=s.trusted,
            signed_at=s.signed_at,
            seal_valid=valid,
            status=SealStatus("active"),
        )
        for s in await read_pdf_seals(sealed, ca=ca)
    ]


@pytest.mark.parametrize("null", NULLS.values(), ids=NULLS.keys())
@pytest.mark.parametrize("case", CASES)
async def test_a_null_entry_is_sealed_as_an_absent_one(seal_ca, keys, case, null):  # noqa: F811
    without, with_null = CASES[case]
    expected = _stamp(await seal(seal_ca, keys, page_pdf(without), placement=PLACEMENT))
    sealed = await seal(seal_ca, keys, _pdf(with_null, null), placement=PLACEMENT)
    rect, matrix = _stamp(sealed)
    assert rect == pytest.approx(expected[0], abs=0.01)
    assert matrix == pytest.approx(expected[1])
    assert await _verdict(sealed, seal_ca.cert, keys[Suite.ES256][1]) == [
        SealVerdict.VALID
    ]


async def test_a_free_object_reads_as_null_not_as_its_stale_body(seal_ca, keys):  # noqa: F811
    # object 6's body says 90, but the cross-reference table freed it
    sealed = await seal(
        seal_ca,
        keys,
        _pdf(Tree(pages=[Page(extra=b" /Rotate {null}")]), FREE),
        placement=PLACEMENT,
    )
    upright = await seal(seal_ca, keys, page_pdf(), placement=PLACEMENT)
    assert _stamp(sealed) == _stamp(upright)


@pytest.mark.parametrize("case", ["page /Annots", "page /Rotate, inherited 90"])
async def test_poppler_pdfsig_accepts_a_seal_on_a_null_entry(
    seal_ca,  # noqa: F811
    keys,  # noqa: F811
    case,
    tmp_path,
):
    sealed = await seal(seal_ca, keys, _pdf(CASES[case][1], b"null"))
    path = tmp_path / "sealed.pdf"
    path.write_bytes(sealed)
    process = await asyncio.create_subprocess_exec(
        "/usr/bin/pdfsig", "-nocert", str(path), stdout=PIPE, stderr=PIPE
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, stderr.decode()
    assert "Signature Validation: Signature is Valid." in stdout.decode()


@pytest.mark.parametrize(
    "catalog, what",
    [
        # pyHanko: TypeError ('NumberObject' object is not subscriptable)
        (b" /Extensions 5", "TypeError"),
        # pyHanko: AssertionError (a field list entry that is no reference)
        (b" /AcroForm << /Fields [5] >>", "AssertionError"),
    ],
)
async def test_what_pyhanko_cannot_write_is_an_invalid_pdf(
    seal_ca,  # noqa: F811
    keys,  # noqa: F811
    catalog,
    what,
):
    err = await refused(seal(seal_ca, keys, page_pdf(Tree(catalog_extra=catalog))))
    assert (err.kind, err.field) == (ErrorKind.INVALID_ARGUMENT, "pdf")
    assert "the sealed revision could not be written" in err.message
    assert what in err.message


@pytest.mark.parametrize("annots", [b" /Annots 5", b" /Annots << >>"])
async def test_an_annots_that_is_no_array_is_an_invalid_pdf(seal_ca, keys, annots):  # noqa: F811
    err = await refused(seal(seal_ca, keys, page_pdf(Tree(pages=[Page(extra=annots)]))))
    assert (err.kind, err.field) == (ErrorKind.INVALID_ARGUMENT, "pdf")
    assert "could not be written" in err.message


class _FailingSigner:
    """A seal's signer whose key is out of reach (an HSM that went away)."""

    suite = Suite.ES256

    def __init__(self, error: Exception):
        self.error = error

    async def sign(self, data: bytes) -> bytes:
        raise self.error


async def test_a_signer_failure_is_not_taken_for_the_documents(seal_ca, keys):  # noqa: F811
    down = CertsealError(ErrorKind.UNAVAILABLE, "the token is gone")
    cert = keys[Suite.ES256][1]
    for error, kind in ((down, ErrorKind.UNAVAILABLE), (invalid("x", "y"), None)):
        with pytest.raises(CertsealError) as caught:
            await seal_pdf(
                page_pdf(),
                signer=_FailingSigner(error),  # type: ignore[arg-type]
                cert=cert,
                ca=seal_ca.cert,
                picture_png=top_half_picture(),
                placement=Placement(),
                new_field_name="Seal-field",
            )
        assert caught.value is error
        assert kind is None or caught.value.kind is kind


async def test_a_signer_bug_stays_a_bug(seal_ca, keys):  # noqa: F811
    # a fault of certseal's own signer is INTERNAL, not the caller's document
    with pytest.raises(RuntimeError, match="signer bug"):
        await seal_pdf(
            page_pdf(),
            signer=_FailingSigner(RuntimeError("signer bug")),  # type: ignore[arg-type]
            cert=keys[Suite.ES256][1],
            ca=seal_ca.cert,
            picture_png=top_half_picture(),
            placement=Placement(),
            new_field_name="Seal-field",
        )


def test_the_free_object_helper_frees_object_6():
    pdf = _with_free_object(page_pdf())
    assert re.search(rb"xref\n0 7\n(?:.*\n){6}0000000000 00001 f \n", pdf)
    assert PdfFileReader(io.BytesIO(pdf), strict=False).root["/Type"] == "/Catalog"
