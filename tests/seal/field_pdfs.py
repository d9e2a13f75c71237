"""Small PDFs of the kinds met in the field, made in the test (issue 15): encrypted by
each security handler, certified at each DocMDP level with empty signature fields,
rotated or offset pages (also inherited from the page tree), and PDF/A-1b files.

Pages are written byte by byte so /Rotate, /MediaBox and /CropBox can sit on the page
or on an ancestor /Pages node; pyHanko encrypts and certifies them.
"""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass, field

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from PIL import ImageCms
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.crypt import (
    PubKeySecurityHandler,
    SecurityHandlerVersion,
    StandardSecurityHandler,
    StandardSecuritySettingsRevision,
)
from pyhanko.pdf_utils.generic import pdf_name
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.metadata import xmp_xml
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.pdf_utils.writer import copy_into_new_writer
from pyhanko.sign import fields, signers
from pyhanko.sign.fields import MDPPerm

OWNER_PASSWORD = "owner-secret"
USER_PASSWORD = "user-pass"

# a grey bar across the top of each page, so a render shows the page's own orientation
_PAGE_CONTENT = b"0.5 g 0 0 10 10 re f"


@dataclass
class Page:
    """One page: its own entries (None: not written, so inherited or defaulted)."""

    media_box: tuple[float, float, float, float] | None = (0, 0, 595, 842)
    crop_box: tuple[float, float, float, float] | None = None
    rotate: int | None = None
    extra: bytes = b""


@dataclass
class Tree:
    """The /Pages root's inheritable entries and its pages."""

    pages: list[Page] = field(default_factory=lambda: [Page()])
    media_box: tuple[float, float, float, float] | None = None
    crop_box: tuple[float, float, float, float] | None = None
    rotate: int | None = None
    catalog_extra: bytes = b""
    content: bytes = _PAGE_CONTENT
    extra: bytes = b""  # more entries of the /Pages root


def _box(name: bytes, box: tuple[float, float, float, float] | None) -> bytes:
    if box is None:
        return b""
    return b" /" + name + b" [" + b" ".join(b"%g" % v for v in box) + b"]"


def _rotate(value: int | None) -> bytes:
    return b"" if value is None else b" /Rotate %d" % value


def page_pdf(tree: Tree | None = None) -> bytes:
    """A classic-xref PDF with the page tree ``tree`` (one A4 page by default)."""
    tree = tree or Tree()
    first_page = 4
    kids = b" ".join(b"%d 0 R" % (first_page + 2 * i) for i in range(len(tree.pages)))
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R" + tree.catalog_extra + b" >>",
        b"<< /Type /Pages /Kids ["
        + kids
        + b"] /Count %d" % len(tree.pages)
        + _box(b"MediaBox", tree.media_box)
        + _box(b"CropBox", tree.crop_box)
        + _rotate(tree.rotate)
        + tree.extra
        + b" >>",
        b"<< >>",  # resources shared by every page
    ]
    for i, page in enumerate(tree.pages):
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /Resources 3 0 R /Contents %d 0 R"
            % (first_page + 2 * i + 1)
            + _box(b"MediaBox", page.media_box)
            + _box(b"CropBox", page.crop_box)
            + _rotate(page.rotate)
            + page.extra
            + b" >>"
        )
        objects.append(
            b"<< /Length %d >>\nstream\n" % len(tree.content)
            + tree.content
            + b"\nendstream"
        )
    return assemble_pdf(objects)


def assemble_pdf(objects: list[bytes]) -> bytes:
    """A classic PDF of ``objects`` (numbered from 1, the first the catalog) with its
    cross-reference table and trailer."""
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += (
        b"trailer\n<< /Size %d /Root 1 0 R /ID [<00112233445566778899aabbccddeeff> "
        b"<00112233445566778899aabbccddeeff>] >>\nstartxref\n%d\n%%%%EOF\n"
        % (len(objects) + 1, xref)
    )
    return bytes(out)


# -- encryption ------------------------------------------------------------------------

ENCRYPTIONS = ("rc4-40", "rc4-128", "aes-128", "aes-256", "pubkey")


@dataclass(frozen=True)
class Recipient:
    """A public-key encryption recipient: its certificate and key (PEM)."""

    certificate: asn1_x509.Certificate
    key_pem: bytes
    cert_pem: bytes


def recipient() -> Recipient:
    """An RSA recipient certificate for public-key (/Adobe.PubSec) encryption."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "recipient")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=True,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    der = cert.public_bytes(serialization.Encoding.DER)
    return Recipient(
        asn1_x509.Certificate.load(der),
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
        cert.public_bytes(serialization.Encoding.PEM),
    )


def encrypt(
    pdf: bytes,
    kind: str,
    *,
    user_password: str = USER_PASSWORD,
    to: Recipient | None = None,
    permissions: int | None = None,
) -> bytes:
    """``pdf`` encrypted by the standard security handler (``rc4-40`` revision 2,
    ``rc4-128`` revision 3, ``aes-128`` revision 4, ``aes-256`` revision 6) or the
    public-key handler (``pubkey``, for ``to``); ``user_password`` "" opens it for
    anyone (permissions only)."""
    writer = copy_into_new_writer(PdfFileReader(io.BytesIO(pdf)))
    id1 = writer.document_id[0]
    extra = {} if permissions is None else {"perms": _perms(permissions)}
    if kind == "aes-256":
        handler = StandardSecurityHandler.build_from_pw(
            OWNER_PASSWORD, user_password, **extra
        )
    elif kind == "pubkey":
        assert to is not None
        writer.output_version = (2, 0)
        handler = PubKeySecurityHandler.build_from_certs(
            [to.certificate], version=SecurityHandlerVersion.AES256
        )
    else:
        revision, key_bytes, aes = {
            "rc4-40": (StandardSecuritySettingsRevision.RC4_BASIC, 5, False),
            "rc4-128": (StandardSecuritySettingsRevision.RC4_EXTENDED, 16, False),
            "aes-128": (StandardSecuritySettingsRevision.RC4_OR_AES128, 16, True),
        }[kind]
        handler = StandardSecurityHandler.build_from_pw_legacy(
            revision,
            id1,
            OWNER_PASSWORD,
            user_password,
            keylen_bytes=key_bytes,
            use_aes128=aes,
            **extra,
        )
    writer._assign_security_handler(handler)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _perms(bits: int):  # type: ignore[no-untyped-def]
    from pyhanko.pdf_utils.crypt.permissions import StandardPermissions

    return StandardPermissions.from_uint(bits)


# -- certification ---------------------------------------------------------------------


def _certifier() -> signers.SimpleSigner:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "the author")])
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
    from pyhanko.keys import load_private_key_from_pemder_data

    return signers.SimpleSigner(
        signing_cert=asn1_x509.Certificate.load(
            cert.public_bytes(serialization.Encoding.DER)
        ),
        signing_key=load_private_key_from_pemder_data(
            key.private_bytes(
                serialization.Encoding.DER,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
            passphrase=None,
        ),
        cert_registry=None,  # type: ignore[arg-type]
    )


async def certify(
    pdf: bytes,
    permission: MDPPerm,
    *,
    empty_fields: tuple[str, ...] = (),
    widget_page_entry: bool = True,
) -> bytes:
    """``pdf`` certified by an author (an invisible certification signature with
    DocMDP ``permission``), after adding the visible empty signature fields
    ``empty_fields`` on page 0 (each 100 × 60 pt, left to right from (300, 100)),
    their widgets without the optional /P unless ``widget_page_entry``."""
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    for i, name in enumerate(empty_fields):
        fields.append_signature_field(
            writer,
            fields.SigFieldSpec(
                sig_field_name=name,
                on_page=0,
                box=(300 + 110 * i, 100, 400 + 110 * i, 160),
            ),
        )
    if not widget_page_entry:
        for ref in writer.root["/AcroForm"].raw_get("/Fields"):
            field = ref.get_object()
            del field["/P"]
            writer.update_container(field)
    out = await signers.PdfSigner(
        signers.PdfSignatureMetadata(
            field_name="Author",
            certify=True,
            docmdp_permissions=permission,
            md_algorithm="sha256",
        ),
        signer=_certifier(),
    ).async_sign_pdf(writer)
    return out.getvalue()


# -- PDF/A ------------------------------------------------------------------------------


def _xmp(part: int) -> bytes:
    return (
        b'<?xpacket begin="\xef\xbb\xbf" id="W5M0MpCehiHzreSzNTczkc9d"?>'
        b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
        b'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        b'<rdf:Description rdf:about="" '
        b'xmlns:pdfaid="http://www.aiim.org/pdfa/ns/id/">'
        b"<pdfaid:part>%d</pdfaid:part><pdfaid:conformance>B</pdfaid:conformance>"
        b"</rdf:Description></rdf:RDF></x:xmpmeta>"
        b'<?xpacket end="w"?>' % part
    )


def srgb_profile() -> bytes:
    """An sRGB ICC profile (Little CMS's, through Pillow)."""
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


GREY_PAGE = b"0.5 g -10000 -10000 20000 20000 re f"


def pdfa_pdf(part: int = 1, *, cmyk: bool = False) -> bytes:
    """A one-page grey PDF claiming PDF/A-``part``\\ B: XMP metadata naming the part
    and an sRGB output intent (/GTS_PDFA1). ``cmyk`` labels the profile /N 4 (a
    stand-in: only the component count is read when stamping)."""
    base = page_pdf(Tree(content=GREY_PAGE))
    writer = IncrementalPdfFileWriter(io.BytesIO(base), strict=False)
    profile = generic.StreamObject(
        {pdf_name("/N"): generic.NumberObject(4 if cmyk else 3)},
        stream_data=srgb_profile(),
    )
    profile.compress()
    intent = generic.DictionaryObject(
        {
            pdf_name("/Type"): pdf_name("/OutputIntent"),
            pdf_name("/S"): pdf_name("/GTS_PDFA1"),
            pdf_name("/OutputConditionIdentifier"): generic.TextStringObject("sRGB"),
            pdf_name("/DestOutputProfile"): writer.add_object(profile),
        }
    )
    # a MetadataStream, so pyHanko updates these XMP properties instead of replacing
    metadata = xmp_xml.MetadataStream.from_xmp(
        xmp_xml.parse_xmp(io.BytesIO(_xmp(part)))
    )
    root = writer.root
    root["/OutputIntents"] = generic.ArrayObject([writer.add_object(intent)])
    root["/Metadata"] = writer.add_object(metadata)
    writer.update_root()
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()
