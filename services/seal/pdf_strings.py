"""PDF text strings (ISO 32000-1 §7.9.2.2) as viewers show them, and when two of them
show alike in every viewer: what :mod:`services.seal.pdf_title` compares a document's
/Info /Title with.

pdf.js (``stringToPDFString``) reads UTF-16BE, UTF-16LE and UTF-8 after their BOM
(an odd last byte of UTF-16 dropped, a string that does not decode read as
PDFDocEncoding) and drops language escapes (ESC ... ESC); PDFium reads the same
BOMs; a viewer following ISO 32000-1 reads PDFDocEncoding and UTF-16BE only.
pyHanko reads the three BOMs and PDFDocEncoding, and a string none of them decodes
(a PDFDocEncoding tab or line end, odd-length UTF-16) as bytes. pdf40: /Info /Title
was compared as ``str()`` of what pyHanko read, a string it could not decode as its
``repr``, so a later title spelling that ``repr`` compared equal, and the same text
in UTF-16LE or UTF-8 compared equal to it in UTF-16BE.
"""

from __future__ import annotations

import codecs
import hashlib
import re
from typing import Any

from pyhanko.pdf_utils import generic


def _pdfdoc_or_none(byte: bytes) -> str | None:
    """``byte`` in PDFDocEncoding, or None where it defines none."""
    try:
        return generic.decode_pdfdocencoding(byte)
    except UnicodeDecodeError:
        return None


#: PDFDocEncoding as pdf.js reads it (``PDFStringTranslateTable``): a byte the
#: encoding does not define (pyHanko's table refuses it) read as Latin-1
_PDFDOC = {byte: _pdfdoc_or_none(bytes([byte])) or chr(byte) for byte in range(256)}

#: a language escape in a text string (ISO 32000-2 §7.9.2.2), which pdf.js and
#: PDFium drop
_ESCAPE = re.compile("\x1b[^\x1b]*(?:\x1b|\\Z)")
_UNICODE_BOMS = (
    (codecs.BOM_UTF16_BE, "utf-16-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF8, "utf-8"),
)


def pdfjs_string(raw: bytes) -> str:
    """A PDF text string's bytes as pdf.js shows them (``stringToPDFString``):
    UTF-16 (either byte order, an odd last byte dropped) or UTF-8 after its BOM,
    else, or when that does not decode, PDFDocEncoding; language escapes dropped."""
    for bom, codec in _UNICODE_BOMS:
        if raw.startswith(bom):
            body = raw[len(bom) :]
            if codec != "utf-8":
                body = body[: len(body) // 2 * 2]
            try:
                return _ESCAPE.sub("", body.decode(codec))
            except UnicodeDecodeError:
                break
    return _ESCAPE.sub("", raw.decode("latin-1")).translate(_PDFDOC)


def info_title(value: Any) -> tuple[str, bytes]:
    """/Info /Title as pdf.js shows it, and how it reads: as its text when every
    viewer reads it alike (PDFDocEncoding or UTF-16BE, ISO 32000-1 §7.9.2.2, with
    no language escape), else by its bytes (pdf40: a string pyHanko cannot decode
    was compared as its ``repr``, which a later text string spelling it matched;
    UTF-16LE and UTF-8, a text viewers without them show otherwise, or a language
    escape, which pdf.js and PDFium drop and others show, as their text). Not a
    string: pdf.js shows none, PDFium a name's text; read by its type and value."""
    if value is None:
        return "", b""
    if not isinstance(value, generic.TextStringObject | generic.ByteStringObject):
        return str(value), hashlib.sha256(b"object " + repr(value).encode()).digest()
    encoding = getattr(value, "autodetected_encoding", None)
    if isinstance(value, generic.ByteStringObject):
        raw = bytes(value)
    else:
        if encoding is None:  # a string not read from a file: its text
            encoding = generic.TextStringEncoding.UTF16BE
        raw = encoding.encode(value)
    alike = (encoding is generic.TextStringEncoding.PDF_DOC and b"\x1b" not in raw) or (
        encoding is generic.TextStringEncoding.UTF16BE and "\x1b" not in value
    )
    read = b"text " + str(value).encode("utf-8", "surrogatepass")
    return pdfjs_string(raw), hashlib.sha256(
        read if alike else b"bytes " + raw
    ).digest()
