"""What a PDF from outside allows before a seal is added: its encryption, its
certification (DocMDP) and its empty signature fields.

- **Encryption** (ISO 32000-1 §7.6, ISO 32000-2 §7.6): the standard security handler
  (RC4 40/128-bit, AES-128, AES-256; revisions 2 to 6) opens with the user or the owner
  password; an incremental update keeps the file's own encryption. Opened with the user
  password, the file's /P permissions must allow signing (Table 22: bit 6, plus bit 4 to
  add a field; or bit 9 to fill an existing field). The public-key handler
  (/Adobe.PubSec) needs a recipient's private key, which certseal never holds, and any
  other handler is unknown: both are refused.
- **Certification** (§12.8.2.2, DocMDP): P=1 allows no change, so no seal; P=2 allows
  filling in forms and signing existing signature fields; P=3 adds annotations, but a
  new signature field is still a form change its certifier did not allow, so under
  P=2 and P=3 a seal goes into an empty signature field the author prepared. A
  signature's FieldMDP /P (ISO 32000-2 §12.8.2.4) restricts the document the same way.

Refusals are ``CertsealError`` FAILED_PRECONDITION (the document forbids it) or
INVALID_ARGUMENT (the request is wrong), each naming the field: ``pdf``, ``password``
or ``field_name``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.crypt import (
    AuthResult,
    AuthStatus,
    PubKeySecurityHandler,
    StandardSecurityHandler,
)
from pyhanko.pdf_utils.crypt.permissions import StandardPermissions
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.fields import enumerate_sig_fields

from certseal.bounds import MAX_PDF_PASSWORD_BYTES
from certseal.errors import CertsealError, invalid, precondition
from certseal.text import with_article
from services.seal.pdf_entries import entry

MAX_PASSWORD_BYTES = MAX_PDF_PASSWORD_BYTES
"""UTF-8 bytes of a PDF password (:data:`certseal.bounds.MAX_PDF_PASSWORD_BYTES`)."""

_REVISIONS = {
    2: "RC4 40-bit (revision 2)",
    3: "RC4 128-bit (revision 3)",
    4: "RC4 or AES-128 (revision 4)",
    5: "AES-256 (revision 5, pre-ISO)",
    6: "AES-256 (revision 6)",
    7: "AES-256-GCM (revision 7)",
}


def _encryption_name(handler: Any) -> str:
    if isinstance(handler, StandardSecurityHandler):
        revision = getattr(handler, "revision", None)
        number = int(revision.value) if revision is not None else 0
        return f"the standard security handler, {_REVISIONS.get(number, 'unknown')}"
    return "the public-key security handler"


def _check_password(password: str) -> None:
    if len(password.encode()) > MAX_PASSWORD_BYTES:
        raise invalid("password", f"is longer than {MAX_PASSWORD_BYTES} bytes of UTF-8")


def authenticate(
    reader: PdfFileReader,
    password: str,
    *,
    decrypt: Callable[[str], AuthResult] | None = None,
) -> AuthStatus | None:
    """Open an encrypted ``reader`` with ``password`` ("" tries the empty user
    password that opens files restricted by permissions only), through ``decrypt``
    (default ``reader.decrypt``; an incremental writer's ``encrypt`` also keeps the
    file's encryption for the update).

    Returns None for an unencrypted file (the password is not used), else how it
    opened: ``AuthStatus.USER`` or ``AuthStatus.OWNER``.
    Raises ``CertsealError``: FAILED_PRECONDITION (``pdf``: public-key or unknown
    encryption; ``password``: a password is needed) or INVALID_ARGUMENT
    (``password``: too long, not encodable for the file's handler, or wrong).
    """
    _check_password(password)
    try:
        encrypted = reader.encrypted
        handler = reader.security_handler if encrypted else None
    except (PdfError, KeyError, ValueError, TypeError, NotImplementedError) as exc:
        raise precondition(
            f"is encrypted in a way certseal cannot open ({exc}); send it decrypted",
            field="pdf",
        ) from None
    if not encrypted:
        return None
    if isinstance(handler, PubKeySecurityHandler):
        raise precondition(
            "is encrypted for certificate holders (the public-key security handler, "
            "/Adobe.PubSec); certseal holds no recipient's private key: send the PDF "
            "decrypted",
            field="pdf",
        )
    if not isinstance(handler, StandardSecurityHandler):
        raise precondition(
            f"is encrypted with the security handler "
            f"{entry(reader.encrypt_dict, '/Filter') or '?'}, "
            "which certseal cannot open: send the PDF decrypted",
            field="pdf",
        )
    try:
        result = (decrypt or reader.decrypt)(password)
    except UnicodeEncodeError:
        raise invalid(
            "password",
            f"has characters that {_encryption_name(handler)} cannot carry "
            "(its passwords are PDFDocEncoding)",
        ) from None
    except (PdfError, ValueError, KeyError, TypeError) as exc:
        raise invalid("pdf", f"its encryption cannot be read: {exc}") from None
    if result.status is AuthStatus.FAILED:
        if password:
            raise invalid("password", "does not open this PDF")
        raise precondition(
            f"the PDF is encrypted ({_encryption_name(handler)}) and opens only with "
            "a password: give its user or owner password",
            field="password",
        )
    return result.status


def check_signing_permitted(
    reader: PdfFileReader, status: AuthStatus | None, *, new_field: bool
) -> None:
    """Refuse when a file opened with its user password forbids signing: its /P
    must allow filling in forms (bit 6 or 9) and, for a new field, modifying (bit 4).

    Raises ``CertsealError`` FAILED_PRECONDITION (field ``password``).
    """
    if status is not AuthStatus.USER:
        return
    handler = reader.security_handler
    perms = handler.perms if isinstance(handler, StandardSecurityHandler) else None
    if perms is None:
        return
    fill = (
        StandardPermissions.ALLOW_ANNOTS_FORM_FILLING in perms
        or StandardPermissions.ALLOW_FORM_FILLING in perms
    )
    add = (
        StandardPermissions.ALLOW_ANNOTS_FORM_FILLING in perms
        and StandardPermissions.ALLOW_MODIFICATION_GENERIC in perms
    )
    if not (add if new_field else fill):
        what = "adding a signature field" if new_field else "signing its fields"
        raise precondition(
            f"the PDF's permissions (/P) forbid {what} to a user who opens it with the "
            "user password: give the owner password",
            field="password",
        )


_ALLOWED = {
    2: "form filling and signing",
    3: "form filling, signing and annotations",
}


@dataclass(frozen=True)
class Certification:
    """What a PDF's signatures allow to change after them (DocMDP, §12.8.2.2)."""

    permission: int  # 1 no changes, 2 form filling and signing, 3 also annotations
    by: str  # the field name of the signature that set it


def _reference_p(signature: Any, method: str) -> int | None:
    references = entry(signature, "/Reference")
    if not isinstance(references, generic.ArrayObject):
        return None
    for i in range(len(references)):
        reference = references[i]  # indexing resolves references
        if entry(reference, "/TransformMethod") != method:
            continue
        value = entry(entry(reference, "/TransformParams"), "/P")
        if value is None:
            return 2 if method == "/DocMDP" else None  # DocMDP's default
        if not isinstance(value, int) or value not in (1, 2, 3):
            raise invalid(
                "pdf",
                f"has {with_article(method[1:])} permission /P {value}; ISO 32000 allows 1, 2 or 3",
            )
        return value
    return None


def _signature_fields(reader: PdfFileReader) -> Iterator[tuple[str, Any]]:
    for name, value, _ref in enumerate_sig_fields(reader, filled_status=True):
        yield name, value


def certification(reader: PdfFileReader) -> Certification | None:
    """The most restrictive DocMDP permission of ``reader``: its certification
    signature's (/Perms /DocMDP) or any signature's FieldMDP /P; None if none."""
    found: list[Certification] = []
    try:
        author = entry(entry(reader.root, "/Perms"), "/DocMDP")
        if author is not None:
            p = _reference_p(author, "/DocMDP")
            if p is not None:
                found.append(Certification(p, "the certification signature"))
        for name, signature in _signature_fields(reader):
            if signature is not None:
                p = _reference_p(signature, "/FieldMDP")
                if p is not None:
                    found.append(Certification(p, f"the signature in field {name}"))
    except CertsealError:
        raise
    except (PdfError, KeyError, ValueError, TypeError, AttributeError) as exc:
        raise invalid("pdf", f"its signatures cannot be read: {exc}") from None
    return min(found, key=lambda c: c.permission) if found else None


def empty_signature_fields(reader: PdfFileReader) -> list[str]:
    """The fully qualified names of the PDF's unsigned signature fields."""
    try:
        return [n for n, _v, _r in enumerate_sig_fields(reader, filled_status=False)]
    except (PdfError, KeyError, ValueError, TypeError, AttributeError) as exc:
        raise invalid("pdf", f"its form fields cannot be read: {exc}") from None


def check_sealable(reader: PdfFileReader, field_name: str) -> None:
    """Refuse a seal the document's certification forbids, or a named field that is
    not an empty signature field. The request field is the error's field, never in
    its text: the CLI names it as its option, ``field`` (``--field``), a trial's
    "(field_name)" named what no CLI user types.

    Raises ``CertsealError``: FAILED_PRECONDITION (``pdf``: certified with no changes
    allowed; ``field_name``: certified for form filling and no empty field named, or
    the field already signed) or INVALID_ARGUMENT (``field_name``: no such signature
    field).
    """
    cert = certification(reader)
    if cert is not None and cert.permission == 1:
        raise precondition(
            f"the PDF is certified with no changes allowed (DocMDP P=1, set by "
            f"{cert.by}): any seal would break its certification",
            field="pdf",
        )
    empty = empty_signature_fields(reader)
    listed = ", ".join(empty) if empty else "none"
    if field_name:
        if field_name in empty:
            return
        try:
            signed = any(
                True
                for _ in enumerate_sig_fields(
                    reader, filled_status=True, with_name=field_name
                )
            )
        except (PdfError, KeyError, ValueError, TypeError, AttributeError):
            signed = False
        if signed:
            raise precondition(
                f"field {field_name} is already signed; its empty signature fields: "
                f"{listed}",
                field="field_name",
            )
        raise invalid(
            "field_name",
            f"the PDF has no signature field {field_name}; its empty signature "
            f"fields: {listed}",
        )
    if cert is not None:
        raise precondition(
            f"the PDF is certified allowing only {_ALLOWED[cert.permission]} (DocMDP "
            f"P={cert.permission}, set by {cert.by}): a new signature field would break "
            f"its certification, so name one of its empty signature fields: {listed}",
            field="field_name",
        )
