"""The licence file's metadata (GB/T 36903-2018 电子证照 元数据规范), as every service
reads it from a PDF: the issuer writes it (services/issuer/document.py), the seal
service reads it to report the licence's status beside the seal verdict.

Two places hold it: XMP in the catalogue's ``/Metadata`` stream, in the
:data:`XMP_NAMESPACE` namespace, one element per key, and ``key=value`` pairs in the
document information dictionary's ``/Keywords``. Incremental updates (sealing) keep
both.
"""

from __future__ import annotations

import io
import re
import urllib.parse
from typing import Any
from xml.etree import ElementTree

from certseal.pdfend import read_to_end

#: the XMP namespace of the licence metadata (GB/T 36903 elements)
XMP_NAMESPACE = "https://certseal.example/ns/licence/1.0/"
#: the metadata elements (GB/T 36903 names in the comments)
METADATA_KEYS = (
    "identifier",  # 证照标识
    "type_code",  # 证照类型代码
    "type_name",  # 证照类型名称
    "issuer_code",  # 发证机构代码
    "holder_ref",  # 持证主体 (keyed reference, never the ID number)
    "valid_from",  # 有效期起始 (RFC 3339, UTC)
    "valid_until",  # 有效期截止
    "version",  # 版本
    "licence_code",  # the licence code (LC1:…) the QR code carries
)
#: how much of the XMP stream is read (a licence file's is about 1 KiB)
MAX_XMP_BYTES = 64 * 1024

_KEYWORD = re.compile(r"(\w+)=(\S*)")


def read_licence_metadata(pdf: bytes) -> dict[str, str]:
    """The GB/T 36903 metadata of a licence file, only :data:`METADATA_KEYS`
    (``{}`` when it has none, or the PDF cannot be read: callers bound its size).

    Reads the XMP stream of the document catalogue (at most :data:`MAX_XMP_BYTES`),
    falling back to ``/Keywords`` of the newest document information dictionary.
    """
    try:
        return _read(pdf)
    except Exception:  # any unreadable PDF: no metadata, never an error
        return {}


def _reader(pdf: bytes) -> Any:
    """pyHanko's lenient reader over ``pdf`` (imported when first read)."""
    from pyhanko.pdf_utils.reader import PdfFileReader

    return PdfFileReader(io.BytesIO(pdf), strict=False)


def _read(pdf: bytes) -> dict[str, str]:
    reader, _ = read_to_end(pdf, _reader, lambda reader: reader.xrefs)
    root = reader.root
    if "/Metadata" in root:
        stream = root["/Metadata"].get_object()
        if "/Filter" in stream or int(stream.get("/Length", 0)) > MAX_XMP_BYTES:
            return {}  # a licence file's XMP is plain and small: nothing to inflate
        found = xmp_values(stream.data[:MAX_XMP_BYTES])
        if found:
            return found
    info = reader.trailer_view.get("/Info")
    if info is None:
        return {}
    keywords = str(info.get_object().get("/Keywords", ""))
    return {
        k: urllib.parse.unquote(v)
        for k, v in _KEYWORD.findall(keywords[:MAX_XMP_BYTES])
        if k in METADATA_KEYS
    }


def signed_metadata(pdf: bytes) -> dict[str, dict[str, str]]:
    """For each signature field of ``pdf``, the licence metadata of the revision that
    signature signed (the bytes up to the end of its ``/ByteRange``, ISO 32000-1
    12.8.1), as :func:`read_licence_metadata` reads it; ``{}`` when the PDF cannot
    be read. Metadata changed in a later incremental update is not what was sealed."""
    try:
        from pyhanko.sign.fields import enumerate_sig_fields

        reader, _ = read_to_end(pdf, _reader, lambda reader: reader.xrefs)
        found: dict[str, dict[str, str]] = {}
        # the signature dictionaries' /ByteRange only: their CMS is never parsed here
        # (reader.embedded_signatures would hand each /Contents to asn1crypto
        # before the DER bounds, services.seal.pdf)
        for name, value, _field in enumerate_sig_fields(reader, filled_status=True):
            ranges = list(value.get_object().get("/ByteRange", []))
            if len(ranges) != 4:
                continue
            end = int(ranges[2]) + int(ranges[3])
            if 0 < end <= len(pdf):
                found[name] = read_licence_metadata(pdf[:end])
        return found
    except Exception:  # any unreadable PDF: nothing was sealed
        return {}


def keywords_text(meta: dict[str, str]) -> str:
    """``/Keywords``: ``key=value`` pairs, values percent-encoded (RFC 3986) so that
    a space in a licence code (Base45 has one) does not end the value."""
    return " ".join(f"{k}={urllib.parse.quote(v, safe='')}" for k, v in meta.items())


def xmp_packet(xml: bytes) -> ElementTree.Element | None:
    """An XMP packet's root element, or None for one that does not parse or has a
    DTD (refused: no entity is ever expanded). Callers bound its size
    (:data:`MAX_XMP_BYTES`)."""
    if b"<!DOCTYPE" in xml or b"<!ENTITY" in xml:
        return None
    try:
        return ElementTree.fromstring(xml)
    except ElementTree.ParseError:
        return None


def xmp_values(xml: bytes) -> dict[str, str]:
    """The :data:`XMP_NAMESPACE` values of an XMP packet, as elements
    (``<cs:identifier>…</cs:identifier>``) or as attributes of ``rdf:Description``
    (as pyHanko rewrites the packet when it seals); ``{}`` for a packet
    :func:`xmp_packet` refuses."""
    root = xmp_packet(xml)
    if root is None:
        return {}
    prefix = "{" + XMP_NAMESPACE + "}"
    found: dict[str, str] = {}
    for element in root.iter():
        for name, value in element.attrib.items():
            if name.startswith(prefix) and name[len(prefix) :] in METADATA_KEYS:
                found[name[len(prefix) :]] = value
        tag = element.tag
        if isinstance(tag, str) and tag.startswith(prefix):
            key = tag[len(prefix) :]
            if key in METADATA_KEYS:
                found[key] = (element.text or "").strip()
    return found
