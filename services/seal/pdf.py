"""Sealed PDFs: PAdES signatures (pyHanko) with the seal picture as the visible stamp.

A seal signs a PDF with its own key, which the platform's seal CA certified; the CMS
signature carries that certificate. Each sealing is an incremental update, so several
seals on one PDF each keep covering the revision they signed. Verification
(:mod:`services.seal.pdf_verify`) reports, per signature: intact (the signed bytes are
unchanged), trusted (the chain ends at the seal CA), and modified (anything but further
signatures was added after it).

pyHanko has no SM2 mechanism, so PDFs are sealed by es256 and ed25519 seals; an sm2
seal seals the PDF's bytes as a detached SES_Signature instead (SealDocument).
"""

from __future__ import annotations

import io
import os
import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp
from asn1crypto import algos
from asn1crypto import x509 as asn1_x509
from PIL import Image
from pyhanko.pdf_utils import content_stream_parser, generic
from pyhanko.pdf_utils.decode_limits import (
    DecodeLimits,
    DocumentDecodeBudget,
    StreamDecodeLimits,
)
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.misc import PdfError, PdfReadError
from pyhanko.sign import fields, signers
from pyhanko.sign.fields import enumerate_sig_fields
from pyhanko.sign.general import SigningError
from pyhanko.sign.timestamps.common_utils import TimestampRequestError
from pyhanko_certvalidator.registry import SimpleCertificateStore

from certseal.crypto import Signer, Suite, signature_to_der
from certseal.errors import CertsealError, invalid, precondition
from certseal.pdfend import check_opened, check_revisions, read_to_end
from services.seal.pdf_after import object_after_end, object_after_note
from services.seal.pdf_entries import drop_null_entries, entry
from services.seal.pdf_open import (
    authenticate,
    check_sealable,
    check_signing_permitted,
)
from services.seal.pdf_stamp import (
    MM,
    UprightStampStyle,
    page_geometry,
    pdfa_profile,
    stamp_picture,
)
from services.seal.pdf_trailers import check_catalog, refuse_left_out
from services.seal.pdf_twice import hearing, refuse_sealing
from services.seal.pdf_versions import (
    MALFORMED,
    LinearReader,
    malformed,
    read_linearly,
    refuse_renamed,
)
from services.seal.picture import load_picture
from services.seal.tsa import unavailable
from services.seal.values import no_such_page

_MECHANISMS = {Suite.ES256: "sha256_ecdsa", Suite.ED25519: "ed25519"}
_DIGESTS = {Suite.ES256: "sha256", Suite.ED25519: "sha512"}

MAX_PDF_STREAM_BYTES = 64 * 1024 * 1024
"""Bytes one PDF stream (an object or cross-reference stream, a content stream) may
inflate to while a PDF from outside is read; pyHanko's default, 256 MiB, is an eighth
of the seal service's 2 GiB memory limit for a single stream."""

PDF_DECODE_BUDGET_BYTES = 256 * 1024 * 1024
"""Bytes all streams of one PDF together may always inflate to (pyHanko's document
budget, counting repeated decodes)."""

PDF_DECODE_BUDGET_RATIO = 8
"""Above :data:`PDF_DECODE_BUDGET_BYTES`, the inflated total may be this many times the
PDF's size (pyHanko's default is 100: 6 GB for a 60 MiB PDF). With the 60 MiB
``max_document_bytes`` a request inflates at most 480 MiB."""

PDF_DECODE_LIMITS = DecodeLimits(
    per_stream=StreamDecodeLimits(max_output_size=MAX_PDF_STREAM_BYTES),
    document_budget=DocumentDecodeBudget(
        base_allowance=PDF_DECODE_BUDGET_BYTES, max_ratio=PDF_DECODE_BUDGET_RATIO
    ),
)
"""pyHanko's decode limits for every PDF the seal service reads (zip bombs inside a PDF
end as INVALID_ARGUMENT or a failed signature, not as memory)."""

MAX_PDF_NESTING = 64
"""Levels of arrays and dictionaries nested in one another that a PDF from outside may
hold (one object at top level is level 1; an object stream's objects count the same).
Real PDFs nest a handful of levels (a page's ``/Resources`` → ``/Font`` → a font is 3);
ISO 32000 sets no limit. pyHanko's parser and writer recurse about three frames per
level, so without this bound only Python's recursion limit stopped 5,000 nested arrays
(after parsing that far); with it, the parser refuses the first level beyond 64 before
reading it, and everything that walks a parsed object stays a few hundred frames deep."""


class PdfNestingError(PdfError):
    """A PDF nests arrays or dictionaries beyond :data:`MAX_PDF_NESTING`."""

    def __init__(self) -> None:
        super().__init__(
            f"nests arrays or dictionaries more than {MAX_PDF_NESTING} levels deep; "
            f"the limit is {MAX_PDF_NESTING} levels (MAX_PDF_NESTING)"
        )


_parsing = threading.local()
_read_object = generic.read_object


def _bounded_read_object(
    stream: Any, container_ref: Any, *args: Any, **kwargs: Any
) -> Any:
    """pyHanko's ``read_object`` counting how deep arrays and dictionaries nest.

    pyHanko reads an array's or dictionary's members through the module's
    ``read_object``, so installed there this sees every level, also of objects read
    lazily later or from an object stream; a level beyond :data:`MAX_PDF_NESTING` is
    refused before its members are read.
    """
    depth = getattr(_parsing, "depth", 0)
    start = stream.read(2)
    stream.seek(-len(start), os.SEEK_CUR)
    if start[:1] == b"%":
        _comment_ends(stream)
    # this deep, only scalars may follow
    if depth >= MAX_PDF_NESTING and (start[:1] == b"[" or start == b"<<"):
        raise PdfNestingError()
    _parsing.depth = depth + 1
    try:
        return _read_object(stream, container_ref, *args, **kwargs)
    finally:
        _parsing.depth = depth


def _comment_ends(stream: Any) -> None:
    """PdfReadError unless the comment at ``stream``'s position ends in an end of
    line: pyHanko reads one up to its end of line and never stops at the end of the
    data (atk43: an object stream's member ``%c`` spun a sealing thread forever)."""
    back = stream.tell()
    try:
        while chunk := stream.read(4096):
            if b"\n" in chunk or b"\r" in chunk:
                return
    finally:
        stream.seek(back)
    raise PdfReadError("a comment runs to the end of the data, with no object after it")


# pyHanko's own calls resolve it here (the content-stream parser imported it by name)
generic.read_object = _bounded_read_object
content_stream_parser.read_object = _bounded_read_object


def nesting_refused() -> CertsealError:
    return invalid("pdf", str(PdfNestingError()))


#: what pyHanko raises for a PDF it cannot read (an offset past what a seek takes
#: raises OverflowError, some checks are asserts: atk37; a malformed number
#: decimal.InvalidOperation, a Flate stream that does not decompress zlib.error:
#: atk43 F4, :data:`services.seal.pdf_versions.MALFORMED`)
_UNREADABLE: tuple[type[BaseException], ...] = (PdfError, *MALFORMED)


@contextmanager
def reading_pdf() -> Iterator[None]:
    """Map what pyHanko raises for a PDF it cannot read to INVALID_ARGUMENT ``pdf``:
    nesting beyond :data:`MAX_PDF_NESTING` names the bound; a RecursionError (which the
    bound should leave no way to reach) is refused too."""
    try:
        yield
    except PdfNestingError:
        raise nesting_refused() from None
    except RecursionError:
        raise invalid("pdf", "nests arrays or dictionaries too deeply") from None
    except _UNREADABLE as exc:
        if isinstance(exc, PdfError) and "security handler" in str(exc):
            # pyHanko met an /Encrypt whose handler it has not (e.g. a vendor's DRM)
            raise precondition(
                f"is encrypted in a way certseal cannot open ({exc}); send it "
                "decrypted",
                field="pdf",
            ) from None
        # some of pyHanko's checks are bare asserts, which say nothing
        said = (
            malformed(exc)
            if isinstance(exc, ArithmeticError | zlib.error | NotImplementedError)
            else str(exc)
            or f"pyHanko's reader failed a check of its structure ({type(exc).__name__})"
        )
        raise invalid("pdf", f"cannot be read as a PDF: {said}") from None


class _SealSigner(signers.Signer):
    """pyHanko's Signer over a certseal signer: the key never leaves it."""

    def __init__(self, signer: Signer, cert: bytes, ca: bytes):
        certificate = asn1_x509.Certificate.load(cert)
        super().__init__(
            signing_cert=certificate,
            signature_mechanism=algos.SignedDigestAlgorithm(
                {"algorithm": _MECHANISMS[signer.suite]}
            ),
            cert_registry=SimpleCertificateStore.from_certs(
                [certificate, asn1_x509.Certificate.load(ca)]
            ),
        )
        self._signer = signer

    async def async_sign_raw(
        self, data: bytes, digest_algorithm: str, dry_run: bool = False
    ) -> bytes:
        if dry_run:
            return bytes(72 if self._signer.suite is Suite.ES256 else 64)
        try:
            raw = await self._signer.sign(data)
        except Exception as exc:
            raise _SignerFailed() from exc
        return signature_to_der(self._signer.suite, raw)


class _SignerFailed(Exception):
    """The seal's signer failed (its cause): passed on as it is, never taken for a
    fault of the document being written."""


@dataclass(frozen=True)
class Placement:
    """Where the stamp goes: a page (0-based) and its lower-left corner in mm from the
    lower-left corner of the page as it is seen (CropBox, /Rotate applied; see
    :mod:`services.seal.pdf_stamp`)."""

    page: int = 0
    x_mm: float = 20.0
    y_mm: float = 20.0
    size_mm: float = 42.0


class _SealWriter(IncrementalPdfFileWriter):
    """pyHanko's incremental writer that, once ``keep_version`` is set, never raises
    the document's PDF version nor declares an extension of a later version: a
    PDF/A-1, -2 or -3 file stays on the PDF version its part is based on (pyHanko
    would declare PDF 2.0 and ISO 32002 for an ed25519 or P-256 signature)."""

    keep_version = False

    def keep_own_version(self) -> None:
        """Undo the catalog /Version pyHanko's writer sets on opening (1.7) and keep
        the input's version from here on."""
        self.keep_version = True
        if "/Version" not in self.prev.root and "/Version" in self.root:
            del self.root["/Version"]
        self.output_version = self.prev.input_version

    def _write_objects(self, stream: Any, object_position_dict: Any) -> None:
        refuse_renamed(self.prev, self.objects)  # before a byte is written (atk43 F2b)
        super()._write_objects(stream, object_position_dict)

    def ensure_output_version(self, version: tuple[int, int]) -> None:
        if not self.keep_version:
            super().ensure_output_version(version)

    def register_extension(self, ext: Any) -> None:
        base = str(ext.base_version).lstrip("/")
        major, _, minor = base.partition(".")
        if self.keep_version and (int(major), int(minor or 0)) > self.output_version:
            return
        super().register_extension(ext)


def _writer(pdf: bytes) -> _SealWriter:
    """A writer appending to ``pdf`` up to its last end section, which must start in
    the file's last 1,024 bytes (:func:`certseal.pdfend.read_to_end`): bytes after
    it, which no reader shows, are not kept; an indirect object among them is
    refused (:func:`services.seal.pdf_after.object_after_end`): sealing without it
    would seal other than what a reader that rebuilds the file showed."""
    if not pdf.startswith(b"%PDF-"):
        raise invalid("pdf", "is not a PDF (no %PDF- header)")
    with reading_pdf(), hearing():  # a key given twice: refused, not logged
        writer, tail = read_to_end(pdf, _opened, lambda writer: writer.prev.xrefs)
        check_revisions(writer.prev.xrefs, adding=1)
    header = object_after_end(pdf, len(pdf) - tail)
    if header:
        raise invalid("pdf", object_after_note(header) + "; send the PDF as written")
    return writer


def _opened(pdf: bytes) -> _SealWriter:
    """A writer appending to ``pdf``, its trailer's /Root checked first
    (:func:`services.seal.pdf_trailers.check_catalog`: pyHanko's writer reads the
    catalog on opening)."""
    stream = io.BytesIO(pdf)
    reader = LinearReader(stream, strict=False, decode_limits=PDF_DECODE_LIMITS)
    check_catalog(reader)
    return _SealWriter(stream, reader)


def _stamp_picture(picture_png: bytes) -> Image.Image:
    """The seal's stored picture, checked again: seals registered before pictures were
    decode-checked may hold one beyond :data:`~services.seal.picture.MAX_PICTURE_PIXELS`."""
    try:
        return load_picture(picture_png)
    except CertsealError as exc:
        raise precondition(
            f"this seal's picture cannot be stamped ({exc.message}); register the seal "
            "again with a smaller picture",
            field="seal_id",
        ) from None


def _new_field(
    writer: IncrementalPdfFileWriter, placement: Placement, name: str
) -> tuple[fields.SigFieldSpec, int]:
    """The new signature field's widget on the visible page, and the page's rotation.

    Raises ``CertsealError`` INVALID_ARGUMENT (``page``, ``x_mm`` or ``y_mm``) when the
    page is not in the PDF or the stamp would not lie wholly on the visible page.
    """
    pages = int(writer.root["/Pages"]["/Count"])
    if not 0 <= placement.page < pages:
        raise invalid("page", no_such_page(placement.page, pages, "the PDF"))
    page_ref, _resources = writer.find_page_for_modification(placement.page)
    geometry = page_geometry(page_ref.get_object(), placement.page)
    unit = MM / geometry.user_unit
    x, y, size = placement.x_mm * unit, placement.y_mm * unit, placement.size_mm * unit
    width, height = geometry.visible_size
    for name_, at, room in (("x_mm", x, width), ("y_mm", y, height)):
        if at + size > room + 1e-6:
            raise invalid(
                name_,
                f"puts the {placement.size_mm:g} mm stamp beyond the visible page, "
                f"which is {width / unit:.1f} × {height / unit:.1f} mm "
                f"(rotated {geometry.rotate}°)",
            )
    rect = geometry.rect(x, y, size, size)
    spec = fields.SigFieldSpec(
        sig_field_name=name,
        on_page=placement.page,
        box=tuple(round(v, 3) for v in rect),  # type: ignore[arg-type]
    )
    return spec, geometry.rotate


def _drop_nulls_written(
    writer: IncrementalPdfFileWriter, placement: Placement, into_field: str
) -> None:
    """Remove the null entries (ISO 32000-1 §7.3.9: absent) of the dictionaries the
    sealed revision writes into: the catalog, its form, and the page that gets the
    new widget or the field being filled, so pyHanko's writer finds them absent (it
    would append the widget to an /Annots null, atk-docs F6)."""
    root = writer.root
    drop_null_entries(root)
    form = entry(root, "/AcroForm")
    drop_null_entries(form)
    if into_field:
        for _name, _value, ref in enumerate_sig_fields(writer, with_name=into_field):
            drop_null_entries(ref.get_object())
    else:
        page_ref, _resources = writer.find_page_for_modification(placement.page)
        drop_null_entries(page_ref.get_object())


def _field_rotation(writer: IncrementalPdfFileWriter, field_name: str) -> int:
    """The /Rotate of the page that shows the named field's widget: the widget's /P,
    else the page whose /Annots lists it (0 if no page does)."""
    for _name, _value, ref in enumerate_sig_fields(writer, with_name=field_name):
        field = ref.get_object()
        kids = entry(field, "/Kids")
        widget_ref = (
            kids.raw_get(0) if isinstance(kids, generic.ArrayObject) and kids else ref
        )
        widget = widget_ref.get_object()
        page = entry(widget, "/P")
        if page is not None:
            return page_geometry(page, 0).rotate
        target = getattr(widget_ref, "reference", None)
        for index in range(int(writer.root["/Pages"]["/Count"])):
            page = writer.find_page_for_modification(index)[0].get_object()
            annots = entry(page, "/Annots")
            if isinstance(annots, list) and any(
                target is not None and getattr(a, "reference", None) == target
                for a in annots
            ):
                return page_geometry(page, index).rotate
    return 0


async def seal_pdf(
    pdf: bytes,
    *,
    signer: Signer,
    cert: bytes,
    ca: bytes,
    picture_png: bytes,
    placement: Placement,
    new_field_name: str,
    into_field: str = "",
    password: str = "",
    reason: str = "",
    timestamper: Any = None,
) -> bytes:
    """The PDF with one more PAdES signature (B-T, with an RFC 3161 signature
    timestamp from ``timestamper``, a pyHanko TimeStamper, when given) and the seal's visible stamp: in a new
    field named ``new_field_name`` at ``placement``, or filling the empty signature
    field ``into_field`` (its widget places the stamp). An encrypted PDF opens with
    ``password`` and stays encrypted as it was. Bytes after the PDF's last end
    section are not part of the sealed file (:func:`_writer`).

    Raises ``CertsealError``: FAILED_PRECONDITION (an sm2 seal; the PDF's encryption,
    permissions or certification forbid it, see :mod:`services.seal.pdf_open`) or
    INVALID_ARGUMENT (an unreadable PDF, an object after its end, a key given twice
    (:func:`services.seal.pdf_twice.refuse_sealing`), a newest trailer leaving out
    what pyHanko takes from an older one
    (:func:`services.seal.pdf_trailers.refuse_left_out`), a wrong password, no such
    field, a page or position off the visible page).
    """
    if signer.suite not in _MECHANISMS:
        raise precondition(
            f"PDFs are sealed by es256 and ed25519 seals; this seal is {signer.suite.value}"
            " (seal the PDF's bytes as a document instead: 'certseal seal document', "
            "RPC SealDocument)",
            field="seal_id",  # the seal asked for (a request has no suite)
        )
    writer = _writer(pdf)
    with reading_pdf(), hearing():
        status = authenticate(writer.prev, password, decrypt=writer.encrypt)
        check_opened(writer.prev.xrefs)
        read_linearly(writer.prev)  # before pyHanko's field checks
        check_signing_permitted(writer.prev, status, new_field=not into_field)
        check_sealable(writer.prev, into_field)
        refuse_sealing(writer.prev)
        refuse_left_out(writer.prev)
        if into_field:
            new_field, rotate = None, _field_rotation(writer, into_field)
        else:
            new_field, rotate = _new_field(writer, placement, new_field_name)
        _drop_nulls_written(writer, placement, into_field)
        pdfa = pdfa_profile(writer.prev)
        if pdfa.part in (1, 2, 3):
            writer.keep_own_version()
    stamp = UprightStampStyle(
        background=stamp_picture(_stamp_picture(picture_png), pdfa),
        background_opacity=1,
        border_width=0,
        rotate=rotate,
    )
    pdf_signer = signers.PdfSigner(
        signers.PdfSignatureMetadata(
            field_name=into_field or new_field_name,
            md_algorithm=_DIGESTS[signer.suite],
            subfilter=fields.SigSeedSubFilter.PADES,
            reason=reason or None,
        ),
        signer=_SealSigner(signer, cert, ca),
        stamp_style=stamp,
        new_field_spec=new_field,
        timestamper=timestamper,
    )
    try:
        out = await pdf_signer.async_sign_pdf(writer)
    except CertsealError:
        raise
    except _SignerFailed as failed:  # the seal's key, not the document
        raise failed.__cause__ from None  # type: ignore[misc]
    except PdfNestingError:
        raise nesting_refused() from None
    except RecursionError:
        raise invalid("pdf", "nests arrays or dictionaries too deeply") from None
    except (TimestampRequestError, aiohttp.ClientError, OSError, TimeoutError) as exc:
        raise unavailable(
            f"the time-stamping authority gave no token: {exc}; retry later"
        ) from None
    except (PdfError, SigningError) as exc:  # e.g. a stream beyond PDF_DECODE_LIMITS
        raise invalid("pdf", f"cannot be sealed: {exc}") from None
    except MemoryError:
        raise
    except Exception as exc:  # whatever pyHanko meets writing the document
        why = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        raise invalid(
            "pdf", f"cannot be sealed: the sealed revision could not be written ({why})"
        ) from None
    return out.getvalue()
