"""OFD documents (GB/T 33190-2016): their pages and their signatures, read from a
bounded package (:mod:`services.seal.ofd_package`).

The signature layout (GB/T 33190 §18, as ofdrw and other platforms write it):

- ``OFD.xml``'s ``DocBody/Signatures`` names the document's ``Signatures.xml``;
- ``Signatures.xml`` lists every ``Signature`` (``ID``, ``Type`` Seal or Sign,
  ``BaseLoc`` of its ``Signature.xml``) and ``MaxSignId``;
- ``Signature.xml`` holds ``SignedInfo``: ``Provider``, ``SignatureMethod`` (an OID),
  ``SignatureDateTime``, ``Seal/BaseLoc`` (the SESeal), one ``StampAnnot`` per stamp
  (``PageRef`` a page ID, ``Boundary`` "x y w h" in mm from the page's top left) and
  ``References`` (``CheckMethod``, then ``Reference FileRef`` with a base64
  ``CheckValue``, the digest of that file); and ``SignedValue``, the path of
  ``SignedValue.dat``;
- for an electronic seal, ``SignedValue.dat`` is a GB/T 38540 SES_Signature whose
  ``dataHash`` is the digest (SM3 for SM2) of ``Signature.xml``'s bytes.

Everything here is synchronous and pure over the package's bytes.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
from dataclasses import dataclass, field
from typing import cast

from certseal.crypto import Suite, digest
from certseal.errors import CertsealError, invalid
from services.seal.ofd_drawn import drawn_files, entry_draws_only_root
from services.seal.ofd_package import (
    OfdPackage,
    child,
    children,
    damage_tolerated,
    local,
    package_xml,
    package_xml_once,
    text_of,
)
from services.seal.ofd_xml import XmlTooLarge
from services.seal.ofd_zip import MAX_OFD_ENTRIES, normalise

A4_MM = (210.0, 297.0)

MAX_OFD_SIGNATURES = 100
"""Signatures one ``Signatures.xml`` may list (each costs a few signature checks)."""

MAX_OFD_REFERENCES = MAX_OFD_ENTRIES
"""References one ``Signature.xml`` may have: one per file of the largest package."""

MAX_CHECK_VALUE_BYTES = 64
"""The longest digest a ``CheckValue`` can be (SHA-512; SM3 and SHA-256 are 32)."""
_SM3_NAMES = {"sm3", "1.2.156.10197.1.401"}
_SHA256_NAMES = {"sha256", "sha-256", "2.16.840.1.101.3.4.2.1"}


def check_digest(method: str, data: bytes) -> bytes | None:
    """The digest of ``data`` by a ``CheckMethod`` name or OID: SM3 or SHA-256, None for
    any other (SHA-1 and MD5 are not accepted as protecting anything)."""
    name = method.strip().lower()
    if name in _SM3_NAMES:
        return digest(Suite.SM2, data)
    if name in _SHA256_NAMES:
        return hashlib.sha256(data).digest()
    return None


def _dirname(path: str) -> str:
    return path.rsplit("/", 1)[0] if "/" in path else ""


def _box(text: str, field: str, what: str) -> tuple[float, float, float, float]:
    try:
        values = [float(v) for v in text.split()]
    except ValueError:
        values = []
    if len(values) != 4 or not all(abs(v) < 1e6 for v in values):
        raise invalid(field, f"{what} {text[:60]!r} is not 'x y width height' in mm")
    return values[0], values[1], values[2], values[3]


@dataclass(frozen=True)
class OfdPage:
    """One page: its ID (``PageRef`` in stamps), its content file and size in mm."""

    page_id: str
    path: str
    width_mm: float
    height_mm: float


@dataclass(frozen=True)
class OfdDocument:
    """The first document of an OFD package (GB/T 33190 §7.4: ``DocBody``)."""

    package: OfdPackage
    doc_root: str  # e.g. "Doc_0/Document.xml"
    signatures_path: str | None  # e.g. "Doc_0/Signs/Signatures.xml"; None: unsigned
    pages: tuple[OfdPage, ...]
    # (CheckMethod, path) → digest: each file is digested once per method however many
    # signatures or references name it, so verifying is linear in the package's size
    digests: dict[tuple[str, str], bytes | None] = field(
        default_factory=dict, compare=False, repr=False
    )
    # what is read once per request and used by every signature: the entries of
    # Signatures.xml and the files the document draws from (see drawn_files)
    cache: dict[str, object] = field(default_factory=dict, compare=False, repr=False)

    def digest_of(self, method: str, path: str) -> bytes | None:
        """The digest of the file at ``path`` by ``method`` (None: unsupported)."""
        key = (method.strip().lower(), path)
        if key not in self.digests:
            self.digests[key] = check_digest(method, self.package.files[path])
        return self.digests[key]


def open_document(package: OfdPackage, field: str = "ofd") -> OfdDocument:
    """The package's first document with its pages.

    Raises INVALID_ARGUMENT (``field``) when ``OFD.xml``, the document root or a page
    is missing or not bounded XML.
    """
    ofd = package_xml(package, "OFD.xml", field)
    if local(ofd.tag) != "OFD":
        raise invalid(field, "OFD.xml's root is not an OFD element")
    body = child(ofd, "DocBody")
    if body is None:
        raise invalid(field, "OFD.xml has no DocBody")
    doc_root = normalise(text_of(child(body, "DocRoot")), field)
    signatures = text_of(child(body, "Signatures"))
    signatures_path = normalise(signatures, field) if signatures else None
    document = package_xml(package, doc_root, field)
    base = _dirname(doc_root)
    common = child(document, "CommonData")
    default = A4_MM
    area = child(common, "PageArea") if common is not None else None
    if area is not None and child(area, "PhysicalBox") is not None:
        box = _box(text_of(child(area, "PhysicalBox")), field, "PageArea")
        default = (box[2], box[3])
    pages_el = child(document, "Pages")
    pages = []
    for page in children(pages_el, "Page") if pages_el is not None else []:
        path = normalise(page.get("BaseLoc", ""), field, base=base)
        size = default
        if path in package.files:
            with package_xml_once(package, path, field) as page_xml:
                area = child(page_xml, "Area")
                physical = child(area, "PhysicalBox") if area is not None else None
                if physical is not None:
                    box = _box(text_of(physical), field, path)
                    size = (box[2], box[3])
        pages.append(OfdPage(page.get("ID", ""), path, size[0], size[1]))
    if not pages:
        raise invalid(field, f"{doc_root} lists no pages")
    return OfdDocument(package, doc_root, signatures_path, tuple(pages))


def signatures_document(package: OfdPackage, field: str = "ofd") -> OfdDocument:
    """The package as verifying reads it: where ``Signatures.xml`` is, the document
    root and its pages (IDs and paths; the page files are not read here).

    Damage is tolerated, since a damaged file is a changed one, which the references
    of each signature report: a document root that is no bounded XML gives no pages, a
    page whose location leaves the package is left out. When ``OFD.xml`` itself is
    damaged, the conventional ``Signs/Signatures.xml`` is used if the package has
    exactly one, so that the signatures still verify and report ``OFD.xml`` as
    changed; otherwise INVALID_ARGUMENT (``field``).
    """
    try:
        ofd = package_xml(package, "OFD.xml", field)
        body = child(ofd, "DocBody")
        if local(ofd.tag) != "OFD" or body is None:
            raise invalid(field, "OFD.xml is not an OFD with a DocBody")
        signatures = text_of(child(body, "Signatures"))
        path = normalise(signatures, field) if signatures else None
    except XmlTooLarge:
        raise
    except CertsealError:
        found = [
            name
            for name in package.files
            if name == "Signs/Signatures.xml" or name.endswith("/Signs/Signatures.xml")
        ]
        if len(found) != 1:
            raise
        return OfdDocument(package, "", found[0], ())
    doc_root = ""
    with contextlib.suppress(CertsealError):
        doc_root = normalise(text_of(child(body, "DocRoot")), field)
    pages: list[OfdPage] = []
    with damage_tolerated():
        document = package_xml(package, doc_root, field) if doc_root else None
        pages_el = child(document, "Pages") if document is not None else None
        for page in children(pages_el, "Page") if pages_el is not None else []:
            with contextlib.suppress(CertsealError):
                loc = normalise(page.get("BaseLoc", ""), field, base=_dirname(doc_root))
                pages.append(OfdPage(page.get("ID", ""), loc, *A4_MM))
    return OfdDocument(package, doc_root, path, tuple(pages))


def find_keyword(
    document: OfdDocument, keyword: str, field: str = "keyword"
) -> tuple[int, float, float]:
    """The first page (0-based) showing ``keyword`` in one text object, and the centre
    of that text object's ``Boundary`` in mm from the page's top left.

    Raises INVALID_ARGUMENT (``field``) when no page shows it.
    """
    for index, page in enumerate(document.pages):
        if page.path not in document.package.files:
            continue
        with package_xml_once(document.package, page.path, "ofd") as page_xml:
            for element in page_xml.iter():
                if local(element.tag) != "TextObject":
                    continue
                codes = children(element, "TextCode")
                if keyword in "".join(code.text or "" for code in codes):
                    x, y, w, h = _box(element.get("Boundary", ""), "ofd", page.path)
                    return index, x + w / 2, y + h / 2
    raise invalid(field, f"{keyword!r} is on no page of the document")


@dataclass(frozen=True)
class SignatureEntry:
    """One ``Signature`` of ``Signatures.xml``."""

    signature_id: str
    kind: str  # Seal | Sign
    path: str  # its Signature.xml, normalised
    attributes: tuple[tuple[str, str], ...]  # as written, to write them back


def id_number(text: str) -> int:
    """The number in a signature ID such as ``s007`` (its digits; 0 if none)."""
    # ASCII digits only: str.isdigit() also takes "²" or "①", which int() refuses
    digits = "".join(c for c in text if c in "0123456789")
    return int(digits[-9:]) if digits else 0


def signature_entries(
    document: OfdDocument, field: str = "ofd"
) -> tuple[list[SignatureEntry], int]:
    """The document's signatures and the highest number in its ``MaxSignId``
    elements (0 if none)."""
    if document.signatures_path is None:
        return [], 0
    kept = cast(
        "tuple[tuple[SignatureEntry, ...], int] | None", document.cache.get("entries")
    )
    if kept is not None:  # read once per request, however many ask
        return list(kept[0]), kept[1]
    root = package_xml(document.package, document.signatures_path, field)
    listed = children(root, "Signature")
    if len(listed) > MAX_OFD_SIGNATURES:
        raise invalid(
            field,
            f"{document.signatures_path} lists {len(listed)} signatures; the limit "
            f"is {MAX_OFD_SIGNATURES}",
        )
    base = _dirname(document.signatures_path)
    entries = [
        SignatureEntry(
            item.get("ID", ""),
            item.get("Type", "Seal"),
            normalise(item.get("BaseLoc", ""), field, base=base),
            tuple(item.attrib.items()),
        )
        for item in listed
    ]
    # every MaxSignId: ofdrw's h.ofd has two, the later one the higher (atk-docs F5)
    most = max((id_number(text_of(m)) for m in children(root, "MaxSignId")), default=0)
    document.cache["entries"] = (tuple(entries), most)
    return entries, most


@dataclass(frozen=True)
class Reference:
    """A file a signature protects: its path and the digest written in Signature.xml."""

    file: str  # normalised package path
    check_value: bytes


@dataclass(frozen=True)
class Stamp:
    """Where a stamp shows: a page ID and its boundary in mm."""

    page_ref: str
    boundary: tuple[float, float, float, float]


@dataclass(frozen=True)
class SignatureFile:
    """What one ``Signature.xml`` says."""

    path: str
    signed_value_path: str
    method: str  # SignatureMethod, an OID
    signed_at_text: str  # SignatureDateTime as written
    seal_path: str | None
    check_method: str
    references: tuple[Reference, ...]
    stamps: tuple[Stamp, ...]


def _file_ref(loc: str, base: str, field: str) -> str:
    """A ``Reference``'s ``FileRef``: GB/T 33190 §18 has it "an absolute path in the
    package", so ``/Doc_0/x`` and ``Doc_0/x`` both name ``Doc_0/x`` from the root; only
    an explicitly relative one (``./x``, ``../x``) is read from Signature.xml's folder
    ``base``. One reading, whatever files the package holds: a file added beside
    Signature.xml cannot take a signed reference over."""
    if loc.split("/", 1)[0] in (".", ".."):
        return normalise(loc, field, base=base)
    return normalise(loc, field)


def _resolve(package: OfdPackage, loc: str, base: str, field: str) -> str:
    """An ``ST_Loc`` of a Signature.xml (``SignedValue``, ``Seal/BaseLoc``): absolute
    from the package root, relative from its folder (GB/T 33190 §7.2). Some producers
    write a root path without its slash, so a relative one naming no file in the folder
    is read from the root; when both readings name files the location is ambiguous,
    and INVALID_ARGUMENT (``field``) says so (the signature is then not VALID)."""
    path = normalise(loc, field, base=base)
    if loc.startswith("/"):
        return path
    from_root = path
    with contextlib.suppress(CertsealError):  # e.g. "../x" leaves from the root
        from_root = normalise(loc, field)
    if from_root == path or from_root not in package.files:
        return path
    if path in package.files:
        raise invalid(
            field, f"{loc[:80]!r} names both /{path} and /{from_root}: ambiguous"
        )
    return from_root


def read_signature_file(
    package: OfdPackage, path: str, field: str = "ofd"
) -> SignatureFile:
    """Parse a ``Signature.xml``; INVALID_ARGUMENT (``field``) if it is not one."""
    root = package_xml(package, path, field)
    base = _dirname(path)
    info = child(root, "SignedInfo")
    if local(root.tag) != "Signature" or info is None:
        raise invalid(field, f"{path} is not an OFD Signature (no SignedInfo)")
    signed_value = text_of(child(root, "SignedValue"))
    if not signed_value:
        raise invalid(field, f"{path} names no SignedValue")
    seal = child(info, "Seal")
    seal_loc = text_of(child(seal, "BaseLoc")) if seal is not None else ""
    refs_el = child(info, "References")
    references = []
    listed = children(refs_el, "Reference") if refs_el is not None else []
    if len(listed) > MAX_OFD_REFERENCES:
        raise invalid(
            field,
            f"{path} has {len(listed)} References; the limit is {MAX_OFD_REFERENCES}",
        )
    for ref in listed:
        encoded = text_of(child(ref, "CheckValue"))
        if len(encoded) > 4 * ((MAX_CHECK_VALUE_BYTES + 2) // 3):
            raise invalid(
                field,
                f"{path}: a CheckValue of {len(encoded)} characters is no digest "
                f"(a digest is at most {MAX_CHECK_VALUE_BYTES} bytes)",
            )
        try:
            value = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise invalid(field, f"{path}: a CheckValue is not base64") from None
        if len(value) > MAX_CHECK_VALUE_BYTES:
            raise invalid(
                field,
                f"{path}: a CheckValue of {len(value)} bytes is no digest (a digest "
                f"is at most {MAX_CHECK_VALUE_BYTES} bytes)",
            )
        references.append(
            Reference(_file_ref(ref.get("FileRef", ""), base, field), value)
        )
    stamps = [
        Stamp(s.get("PageRef", ""), _box(s.get("Boundary", ""), field, path))
        for s in children(info, "StampAnnot")
    ]
    return SignatureFile(
        path=path,
        signed_value_path=_resolve(package, signed_value, base, field),
        method=text_of(child(info, "SignatureMethod")),
        signed_at_text=text_of(child(info, "SignatureDateTime")),
        seal_path=_resolve(package, seal_loc, base, field) if seal_loc else None,
        check_method=(refs_el.get("CheckMethod", "") if refs_el is not None else ""),
        references=tuple(references),
        stamps=tuple(stamps),
    )


#: the status of an ``OFD.xml`` a signature leaves out that changes nothing drawn
ENTRY_UNSIGNED = "entry unsigned"


@dataclass(frozen=True)
class ReferenceResult:
    """One protected file: the digest signed, the digest now, and what that means.

    ``status``: ``ok``; ``changed``; ``missing``; ``list grown`` (``Signatures.xml``
    changed only by signatures added after this one, which still lists this one, each
    of them a VALID seal: see ``ofd_service``); ``unsupported`` (a CheckMethod other
    than SM3 or SHA-256); ``unsigned`` (a file the document is drawn from, present in
    the package but not among the references: :func:`drawn_files`); ``entry
    unsigned`` (``OFD.xml`` left out while what it draws is covered:
    :func:`~services.seal.ofd_drawn.entry_draws_only_root`; it holds, its metadata
    unsealed). ``note`` says why, where the status alone does not.
    """

    file: str
    expected: bytes
    actual: bytes | None
    status: str
    note: str = ""

    @property
    def holds(self) -> bool:
        """Whether this reference leaves the package unmodified."""
        return self.status in ("ok", "list grown", ENTRY_UNSIGNED)


def check_references(
    document: OfdDocument, signature: SignatureFile, entry: SignatureEntry
) -> list[ReferenceResult]:
    """Every reference of ``signature`` checked against the package as it is now, and
    every file the document is drawn from that the references leave out.

    A later seal adds its own entry to ``Signatures.xml``, so that file's digest is
    ``list grown`` while it still lists ``entry`` with entries after it (ofdrw treats
    the signature list the same way); whether those entries are signatures that hold
    is for the caller, who verifies them. Every other difference is ``changed``.
    """
    results = []
    for ref in signature.references:
        present = ref.file in document.package.files  # a large file is not inflated
        actual = (
            document.digest_of(signature.check_method, ref.file) if present else None
        )
        if not present:
            status = "missing"
        elif actual is None:
            status = "unsupported"
        elif actual == ref.check_value:
            status = "ok"
        elif ref.file == document.signatures_path and _still_listed(document, entry):
            status = "list grown"
        else:
            status = "changed"
        results.append(ReferenceResult(ref.file, ref.check_value, actual, status))
    signed = {ref.file for ref in signature.references}
    for path, named_by in sorted(drawn_files(document).items()):
        if path in signed or path not in document.package.files:
            continue  # signed, or absent: nothing in it can be drawn
        if path == "OFD.xml" and _root_holds(document, results):
            results.append(ReferenceResult(path, b"", None, ENTRY_UNSIGNED, _ENTRY))
        elif path in ("OFD.xml", document.doc_root) or named_by & signed:
            why = (
                "the package's entry point"
                if path == "OFD.xml"
                else "the document root"
                if path == document.doc_root
                else "named by /" + ", /".join(sorted(named_by & signed))
            )
            results.append(ReferenceResult(path, b"", None, "unsigned", why))
    return results


_ENTRY = (
    "the package's entry point, not covered: what it draws is; its DocInfo (title, "
    "author, dates, custom data) is not sealed"
)


def _root_holds(document: OfdDocument, results: list[ReferenceResult]) -> bool:
    """Whether the references cover the document root unchanged and ``OFD.xml``
    draws nothing else (:func:`~services.seal.ofd_drawn.entry_draws_only_root`)."""
    return any(
        r.file == document.doc_root and r.status == "ok" for r in results
    ) and entry_draws_only_root(document)


def _still_listed(document: OfdDocument, entry: SignatureEntry) -> bool:
    entries, _ = signature_entries(document)
    return entries.index(entry) < len(entries) - 1 if entry in entries else False
