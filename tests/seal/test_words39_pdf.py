# ruff: noqa: F811  (the fixtures imported below are parameters of the tests)
"""words39 (new users' leftovers) in a sealed PDF's report.

3. An annotation (a comment, a stamp, a drawing) added after a seal was said as
   "objects added or replaced that no signing explains": it is said as what it is,
   and on which page (counted from 1), before pyHanko's own line.
5. A stranger's signature (a certificate that is no seal of the platform's) showed
   no seal name and no reason: its detail says who signed it (the certificate's
   common name, else its organisation, escaped) and why it is not trusted.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import io

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pyhanko.keys import load_private_key_from_pemder_data
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import fields, signers

from services.seal.pdf import Placement
from services.seal.pdf_service import _unregistered
from services.seal.pdf_verify import PdfSeal, read_pdf_seals
from tests.seal.field_pdfs import Page, Tree, page_pdf
from tests.seal.test_field_pdfs import keys, seal, seal_ca  # noqa: F401

ANNOTATION_ADDED = (
    "an annotation (comment, stamp or drawing) was added to page 2 after it"
)


def _annotated(pdf: bytes, page: int, *, listed: bool = True) -> bytes:
    """``pdf`` with a comment (a /Text annotation) added by an incremental update:
    on page ``page`` (from 0), in its /Annots, or (``listed`` False) defined only."""
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    note = writer.add_object(
        generic.DictionaryObject(
            {
                generic.pdf_name("/Type"): generic.pdf_name("/Annot"),
                generic.pdf_name("/Subtype"): generic.pdf_name("/Text"),
                generic.pdf_name("/Rect"): generic.ArrayObject(
                    [generic.NumberObject(n) for n in (100, 100, 120, 120)]
                ),
                generic.pdf_name("/Contents"): generic.TextStringObject("VOID"),
            }
        )
    )
    if listed:
        page_ref = writer.root["/Pages"]["/Kids"][page]
        page_dict = page_ref.get_object()
        annots = page_dict.get("/Annots", generic.ArrayObject())
        page_dict["/Annots"] = generic.ArrayObject([*annots, note])
        writer.update_container(page_dict)
    else:
        writer.update_root()
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


async def test_an_annotation_added_after_a_seal_is_said_as_one_with_its_page(
    seal_ca, keys
):
    sealed = await seal(seal_ca, keys, page_pdf(Tree(pages=[Page(), Page()])))
    [found] = await read_pdf_seals(_annotated(sealed, 1), ca=seal_ca.cert)
    assert found.intact and found.modified, found.detail
    assert found.detail.startswith(
        f"{ANNOTATION_ADDED} (pyHanko: There are unexplained xrefs"
    ), found.detail
    assert "objects added or replaced" not in found.detail, found.detail


async def test_an_annotation_on_no_page_is_no_change(seal_ca, keys):
    """It shows nowhere; pyHanko takes it for an orphan."""
    sealed = await seal(seal_ca, keys, page_pdf())
    [found] = await read_pdf_seals(_annotated(sealed, 0, listed=False), ca=seal_ca.cert)
    assert found.intact and not found.modified, found.detail


async def test_annotations_on_several_pages_are_counted_and_their_pages_named(
    seal_ca, keys
):
    sealed = await seal(seal_ca, keys, page_pdf(Tree(pages=[Page()] * 3)))
    annotated = _annotated(_annotated(_annotated(sealed, 0), 2), 2)
    [found] = await read_pdf_seals(annotated, ca=seal_ca.cert)
    assert found.detail.startswith(
        "3 annotations (comments, stamps or drawings) were added to pages 1, 3 after "
        "it (pyHanko: "
    ), found.detail


async def test_a_later_seal_is_no_annotation_but_a_comment_after_it_is(seal_ca, keys):
    """A later seal's widget is an annotation too: it is no change; a comment added
    after both is, for both, said on its page."""
    sealed = await seal(seal_ca, keys, page_pdf(Tree(pages=[Page(), Page()])))
    twice = await seal(
        seal_ca, keys, sealed, placement=Placement(x_mm=100), new_field_name="Second"
    )
    first, second = await read_pdf_seals(twice, ca=seal_ca.cert)
    assert not first.modified and not second.modified, (first.detail, second.detail)
    found = await read_pdf_seals(_annotated(twice, 1), ca=seal_ca.cert)
    for one in found:
        assert one.modified and one.detail.startswith(ANNOTATION_ADDED), one.detail


def _stranger(*attributes: x509.NameAttribute) -> signers.SimpleSigner:
    """A self-signed signer named ``attributes``."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(list(attributes))
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    der_key = key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return signers.SimpleSigner(
        signing_cert=asn1_x509.Certificate.load(
            cert.public_bytes(serialization.Encoding.DER)
        ),
        signing_key=load_private_key_from_pemder_data(der_key, passphrase=None),
        cert_registry=None,
    )


async def _signed_by(pdf: bytes, signer: signers.SimpleSigner) -> bytes:
    """``pdf`` signed by ``signer`` in a new invisible field "Stranger"."""
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    fields.append_signature_field(
        writer, fields.SigFieldSpec("Stranger", on_page=0, box=(0, 0, 0, 0))
    )
    meta = signers.PdfSignatureMetadata(field_name="Stranger", name="(any)")
    return (
        await signers.PdfSigner(meta, signer=signer).async_sign_pdf(writer)
    ).getvalue()


NOT_OURS = (
    "not a seal of this platform (its certificate does not chain to the platform's "
    "seal CA)"
)


async def test_a_strangers_signature_says_who_signed_it_and_why_it_is_untrusted(
    seal_ca, keys
):
    sealed = await seal(seal_ca, keys, page_pdf())
    named = _stranger(
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "某某科技有限公司"),
        x509.NameAttribute(NameOID.COMMON_NAME, "张三"),
    )
    ours, stranger = await read_pdf_seals(
        await _signed_by(sealed, named), ca=seal_ca.cert
    )
    assert not ours.modified and "signed by" not in ours.detail, ours.detail
    assert stranger.intact and not stranger.trusted
    assert stranger.detail.startswith(f"signed by 张三: {NOT_OURS}, nothing "), (
        stranger.detail
    )


async def test_a_stranger_without_a_common_name_is_named_by_its_organisation(
    seal_ca, keys
):
    """Outside text is escaped as every message shows it: one line, nothing that
    does not print."""
    sealed = await seal(seal_ca, keys, page_pdf())
    organisation = _stranger(
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Acme\nerror: forged")
    )
    _ours, stranger = await read_pdf_seals(
        await _signed_by(sealed, organisation), ca=seal_ca.cert
    )
    assert stranger.detail.startswith(
        f"signed by 'Acme\\nerror: forged': {NOT_OURS}, "
    ), stranger.detail
    nobody = _stranger(x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"))
    _ours, stranger = await read_pdf_seals(
        await _signed_by(sealed, nobody), ca=seal_ca.cert
    )
    assert stranger.detail.startswith(
        f"signed by a certificate that names no one: {NOT_OURS}, "
    ), stranger.detail


def test_a_seal_certificate_of_no_registered_seal_says_so():
    """Issued by the platform's seal CA (trusted) but no seal of that name in the
    registry (UNKNOWN_SEAL): who, and that no seal is registered here; after what
    changed, when it changed."""
    found = PdfSeal("S", "seal:gone-001", None, True, True, False, "coverage X")
    assert _unregistered(found).detail == (
        "signed by seal:gone-001: no seal registered here, coverage X"
    )
    changed = dataclasses.replace(found, modified=True, detail="the title changed")
    assert _unregistered(changed).detail == (
        "the title changed, signed by seal:gone-001: no seal registered here"
    )
