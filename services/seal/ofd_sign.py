"""Sealing an OFD document: the GB/T 33190 §18 signature layout around a GB/T 38540
SES_Signature (:mod:`services.seal.ofd` describes the layout).

Sealing happens in two synchronous steps around the (async) signer:

1. :func:`prepare_seal` reads the package (bounded), adds ``Signs/Sign_<n>/Seal.esl``
   (the SESeal), the new entry in ``Signatures.xml`` (created, and named in
   ``OFD.xml``'s ``DocBody``, for the first seal) and ``Signature.xml``: the stamp
   annotation and one reference with its digest (SM3 for sm2 seals, SHA-256 for
   others) per file of the package except this signature's own ``Signature.xml`` and
   ``SignedValue.dat``;
2. the caller signs the digest of ``Signature.xml`` (an SES_Signature), and
   :func:`finish_seal` writes it as ``SignedValue.dat`` and zips the package again.

Nothing of an earlier signature changes except ``Signatures.xml``, which grows by one
entry, so several seals on one document each keep verifying.
"""

from __future__ import annotations

import base64
import codecs
import io
import re
import zipfile
from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

from certseal.crypto import Suite
from certseal.errors import invalid
from services.seal.ofd import (
    OfdDocument,
    SignatureEntry,
    check_digest,
    document_bodies,
    find_keyword,
    id_number,
    open_document,
    signature_entries,
)
from services.seal.ofd_package import (
    OfdPackage,
    child,
    children,
    damage_tolerated,
    package_xml,
    package_xml_once,
    read_package,
)
from services.seal.ses import SIGNATURE_OIDS
from services.seal.values import no_such_page

PROVIDER = "certseal"
CHECK_METHODS = {Suite.SM2: "SM3", Suite.ES256: "SHA256", Suite.ED25519: "SHA256"}
_HEADER = '<?xml version="1.0" encoding="UTF-8"?>\n'
_NS = 'xmlns:ofd="http://www.ofdspec.org/2016"'


@dataclass(frozen=True)
class StampPlace:
    """Where the stamp goes: a page (0-based) and the stamp's top-left corner in mm
    from the page's top left (OFD's coordinates, y downwards), or a keyword: the stamp
    is then centred on the first text object showing it."""

    page: int = 0
    x_mm: float = 20.0
    y_mm: float = 20.0
    keyword: str = ""


@dataclass(frozen=True)
class PreparedSeal:
    """An OFD package with every file of a new seal but its SignedValue.dat."""

    files: dict[str, bytes]
    signature_id: str  # e.g. "s007"
    signature_path: str  # "Doc_0/Signs/Sign_1/Signature.xml"
    signed_value_path: str
    signature_xml: bytes  # what the SES_Signature's dataHash is the digest of
    page: int  # 0-based page the stamp is on


def _loc(path: str) -> str:
    return "/" + path


_WIDE_ENCODINGS = (
    # XML 1.0 Appendix F: a byte order mark, or "<?" as the first two characters
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
    (b"<\x00?\x00", "utf-16-le"),
    (b"\x00<\x00?", "utf-16-be"),
)
_ENCODING = re.compile(
    rb"(?:\xef\xbb\xbf)?<\?xml[^>]{0,200}?encoding\s*=\s*[\"']([A-Za-z0-9._-]{1,64})"
)
_DOC_BODY_END = r"</([^\W\d][\w.-]*:)?DocBody\s*>"


def _declare_signatures(ofd_xml: bytes, loc: str) -> bytes:
    """``OFD.xml`` with ``<Signatures>`` as the first DocBody's last child (its place
    in the schema), written with the prefix the file uses, in the file's encoding:
    UTF-16 (by its byte order mark or first characters) is decoded and encoded
    again; in an ASCII-compatible one (UTF-8, GB 18030, GBK, single-byte) the element
    is written in the declared encoding, a character it lacks as a reference."""
    for mark, codec in _WIDE_ENCODINGS:
        if ofd_xml.startswith(mark):
            bom = mark if len(mark) == 2 else b""
            try:
                text = ofd_xml[len(bom) :].decode(codec)
            except UnicodeDecodeError as exc:
                raise invalid(
                    "ofd", f"OFD.xml is not valid {codec.upper()}: {exc}"
                ) from None
            return bom + _with_signatures(text, loc, codec).encode(codec)
    found = _ENCODING.match(ofd_xml)
    try:
        codec = codecs.lookup(found.group(1).decode() if found else "utf-8").name
    except LookupError:
        codec = "utf-8"  # the parser read it: a name it knows that Python does not
    return _with_signatures(ofd_xml.decode("latin-1"), loc, codec, wrap=True).encode(
        "latin-1"
    )


def _with_signatures(text: str, loc: str, codec: str, *, wrap: bool = False) -> str:
    """``text`` with the Signatures element before the first DocBody's end tag;
    ``wrap``: ``text`` is bytes read as Latin-1, so the location is first encoded in
    ``codec`` and read back the same way."""
    match = re.search(_DOC_BODY_END, text)
    if match is None:
        raise invalid("ofd", "OFD.xml's DocBody has no end tag")
    prefix = match.group(1) or ""  # as written: in ``wrap``, the file's own bytes
    value = escape(loc)
    if wrap:
        value = value.encode(codec, "xmlcharrefreplace").decode("latin-1")
    element = f"<{prefix}Signatures>{value}</{prefix}Signatures>"
    return text[: match.start()] + element + text[match.start() :]


def _signatures_xml(
    entries: list[tuple[tuple[str, str], ...]], max_sign_id: str
) -> bytes:
    items = "".join(
        "<ofd:Signature"
        + "".join(f" {name}={quoteattr(value)}" for name, value in attributes)
        + "/>"
        for attributes in entries
    )
    body = f"<ofd:Signatures {_NS}>{items}<ofd:MaxSignId>{max_sign_id}</ofd:MaxSignId>"
    return (_HEADER + body + "</ofd:Signatures>").encode()


def _place(
    document: OfdDocument, place: StampPlace, size: tuple[float, float]
) -> tuple[int, tuple[float, float, float, float]]:
    width, height = size
    if place.keyword:
        page, cx, cy = find_keyword(document, place.keyword)
        x, y = cx - width / 2, cy - height / 2
    else:
        page, x, y = place.page, place.x_mm, place.y_mm
        if page >= len(document.pages):
            raise invalid("page", no_such_page(page, len(document.pages), "the OFD"))
    sheet = document.pages[page]
    if not place.keyword:  # asked for there: refused off the page, as for a PDF
        for name, at, stamp, room in (
            ("x_mm", x, width, sheet.width_mm),
            ("y_mm", y, height, sheet.height_mm),
        ):
            if at + stamp > room + 1e-6:
                raise invalid(
                    name,
                    f"puts the {width:g} × {height:g} mm stamp beyond page {page}, "
                    f"which is {sheet.width_mm:.1f} × {sheet.height_mm:.1f} mm",
                )
    # centred on a keyword: kept inside the page
    x = min(max(x, 0.0), max(sheet.width_mm - width, 0.0))
    y = min(max(y, 0.0), max(sheet.height_mm - height, 0.0))
    return page, (x, y, width, height)


def _ids_in_use(document: OfdDocument, entries: list[SignatureEntry]) -> set[str]:
    """Every ID the document's signatures use: each entry's ``ID`` and each
    ``StampAnnot`` ``ID`` of its ``Signature.xml`` (GB/T 33190 §18 numbers both from
    one ``MaxSignId``). A ``Signature.xml`` that cannot be read has no IDs to read:
    its entry's ID still counts, and sealing beside a damaged seal goes on."""
    used = {entry.signature_id for entry in entries if entry.signature_id}
    package = document.package
    for entry in entries:
        if entry.path not in package.files:
            continue
        # each tree only while its IDs are read: a request holds one at a time
        with damage_tolerated(), package_xml_once(package, entry.path, "ofd") as root:
            info = child(root, "SignedInfo")
            stamps = children(info, "StampAnnot") if info is not None else []
            used.update(stamp.get("ID", "") for stamp in stamps)
    used.discard("")
    return used


def _new_ids(used: set[str], most: int) -> tuple[str, str]:
    """The new signature's ID and its stamp's: above ``most`` (the highest
    ``MaxSignId``) and every ID in ``used``, whatever the file says its maximum is
    (atk-docs F5: ofdrw's h.ofd lists s007 and s008 above its first MaxSignId), and
    none of them (a number cut to 9 digits could repeat one)."""
    number = max([most, *(id_number(i) for i in used)]) + 1
    found: list[str] = []
    while len(found) < 2:
        candidate = f"s{number:03d}"
        if candidate not in used:
            found.append(candidate)
        number += 1
    return found[0], found[1]


def _number(value: float) -> str:
    return f"{value:.3f}".rstrip("0").rstrip(".")


def _one_document(package: OfdPackage) -> None:
    """Refuses an OFD of several documents (INVALID_ARGUMENT ``ofd``): the seal would
    go on the first while the answer, a sealed OFD, speaks for the file, and a
    verifier finds the others unsealed."""
    bodies = document_bodies(package_xml(package, "OFD.xml", "ofd"), "ofd")
    if len(bodies) > 1:
        raise invalid(
            "ofd",
            f"OFD.xml has {len(bodies)} documents (DocBody); SealOfd seals an OFD of "
            "one document (split it, and seal each)",
        )


def prepare_seal(
    ofd: bytes,
    *,
    seal: bytes,
    suite: Suite,
    stamp_mm: tuple[float, float],
    place: StampPlace,
    signed_at_text: str,
    provider_version: str = "1.0",
) -> PreparedSeal:
    """The package with a new seal's files but its signed value (see the module).

    ``seal`` is the DER SESeal; ``stamp_mm`` its picture's width and height in mm;
    ``signed_at_text`` the ``SignatureDateTime`` ("YYYY-MM-DD HH:MM:SS", UTC here).
    Raises INVALID_ARGUMENT naming ``ofd``, ``page`` or ``keyword``.
    """
    package = read_package(ofd, "ofd")
    document = open_document(package, "ofd")
    _one_document(package)
    files = dict(package.files)
    entries, max_id = signature_entries(document, "ofd")
    signatures_path = document.signatures_path
    if signatures_path is None:
        base = document.doc_root.rsplit("/", 1)[0] if "/" in document.doc_root else ""
        signatures_path = f"{base}/Signs/Signatures.xml".lstrip("/")
        files["OFD.xml"] = _declare_signatures(files["OFD.xml"], _loc(signatures_path))
    signs_dir = signatures_path.rsplit("/", 1)[0] if "/" in signatures_path else ""
    index = 0
    while any(
        name.startswith(f"{signs_dir}/Sign_{index}/".lstrip("/")) for name in files
    ):
        index += 1
    folder = f"{signs_dir}/Sign_{index}".lstrip("/")
    seal_path = f"{folder}/Seal.esl"
    signature_path = f"{folder}/Signature.xml"
    signed_value_path = f"{folder}/SignedValue.dat"
    signature_id, annot_id = _new_ids(_ids_in_use(document, entries), max_id)
    files[seal_path] = seal
    files[signatures_path] = _signatures_xml(
        [e.attributes for e in entries]
        + [
            (
                ("ID", signature_id),
                ("Type", "Seal"),
                ("BaseLoc", _loc(signature_path)),
            )
        ],
        annot_id,
    )
    page, box = _place(document, place, stamp_mm)
    method = CHECK_METHODS[suite]
    references = "".join(
        f"<ofd:Reference FileRef={quoteattr(_loc(name))}><ofd:CheckValue>"
        + base64.b64encode(check_digest(method, data) or b"").decode()
        + "</ofd:CheckValue></ofd:Reference>"
        for name, data in sorted(files.items())
    )
    boundary = " ".join(_number(v) for v in box)
    signature_xml = (
        _HEADER
        + f"<ofd:Signature {_NS}><ofd:SignedInfo>"
        + f'<ofd:Provider ProviderName="{PROVIDER}" Company="{PROVIDER}" '
        + f"Version={quoteattr(provider_version)}/>"
        + f"<ofd:SignatureMethod>{SIGNATURE_OIDS[suite]}</ofd:SignatureMethod>"
        + f"<ofd:SignatureDateTime>{signed_at_text}</ofd:SignatureDateTime>"
        + f"<ofd:References CheckMethod={quoteattr(method)}>{references}"
        + "</ofd:References>"
        + f'<ofd:StampAnnot ID="{annot_id}" PageRef={quoteattr(document.pages[page].page_id)}'
        + f' Boundary="{boundary}"/>'
        + f"<ofd:Seal><ofd:BaseLoc>{_loc(seal_path)}</ofd:BaseLoc></ofd:Seal>"
        + "</ofd:SignedInfo>"
        + f"<ofd:SignedValue>{_loc(signed_value_path)}</ofd:SignedValue>"
        + "</ofd:Signature>"
    ).encode()
    files[signature_path] = signature_xml
    return PreparedSeal(
        files, signature_id, signature_path, signed_value_path, signature_xml, page
    )


def finish_seal(prepared: PreparedSeal, signed_value: bytes) -> bytes:
    """The sealed OFD: the prepared package with ``SignedValue.dat`` (the DER
    SES_Signature), zipped (deflate; ``OFD.xml`` first, as readers expect)."""
    files = dict(prepared.files)
    files[prepared.signed_value_path] = signed_value
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(files, key=lambda n: (n != "OFD.xml", n)):
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, files[name])
    return out.getvalue()
