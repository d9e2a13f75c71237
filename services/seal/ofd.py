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

import xml.etree.ElementTree as ET  # types; parsing is defusedxml
from dataclasses import dataclass, field
from typing import cast

from certseal.errors import CertsealError, invalid
from services.seal.ofd_drawn import (
    drawn_because,
    drawn_files,
    entry_draws_only_root,
    refuse_unread_sealed,
)
from services.seal.ofd_loc import (
    AmbiguousLocation,
    attribute_values,
    element_texts,
    ofd_js_doc,
    ofd_js_entry,
    ofd_js_signatures,
    one_file,
    readings,
)
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
from services.seal.ofd_signature import MAX_CHECK_VALUE_BYTES as MAX_CHECK_VALUE_BYTES
from services.seal.ofd_signature import MAX_OFD_REFERENCES as MAX_OFD_REFERENCES
from services.seal.ofd_signature import Reference as Reference
from services.seal.ofd_signature import SignatureFile as SignatureFile
from services.seal.ofd_signature import Stamp as Stamp
from services.seal.ofd_signature import box_mm, list_grown
from services.seal.ofd_signature import check_algorithm as check_algorithm
from services.seal.ofd_signature import check_digest as check_digest
from services.seal.ofd_signature import read_signature_file as read_signature_file
from services.seal.ofd_xml import EndsRequest

A4_MM = (210.0, 297.0)

MAX_OFD_SIGNATURES = 100
"""Signatures an OFD may list, its documents' lists together (each costs a few
signature checks)."""

MAX_OFD_DOCUMENTS = 16
"""Documents (``DocBody`` elements of ``OFD.xml``) an OFD may hold: each is verified,
so a hostile ``OFD.xml`` of a million ``DocBody`` entries is refused before any work
(GB/T 33190 sets no bound; a package of several documents is rare)."""


def _dirname(path: str) -> str:
    return path.rsplit("/", 1)[0] if "/" in path else ""


@dataclass(frozen=True)
class OfdPage:
    """One page: its ID (``PageRef`` in stamps), its content file and size in mm."""

    page_id: str
    path: str
    width_mm: float
    height_mm: float


@dataclass(frozen=True)
class OfdDocument:
    """One document of an OFD package (GB/T 33190 §7.4: a ``DocBody``)."""

    package: OfdPackage
    doc_root: str  # e.g. "Doc_0/Document.xml"
    signatures_path: str | None  # e.g. "Doc_0/Signs/Signatures.xml"; None: unsigned
    pages: tuple[OfdPage, ...]
    # (algorithm, path) → digest: each file is digested once per algorithm however
    # many signatures or references name it and however their CheckMethod spells it
    # (SM3 or its OID; SHA256, SHA-256 or its OID: atk39ofd F3), so verifying is
    # linear in the package's size
    digests: dict[tuple[str, str], bytes | None] = field(
        default_factory=dict, compare=False, repr=False
    )
    # what is read once per request and used by every signature, shared by the
    # file's documents: each Signatures.xml's entries (by its path) and the files
    # OFD.xml draws, every document's (see drawn_files)
    cache: dict[str, object] = field(default_factory=dict, compare=False, repr=False)

    def digest_of(self, method: str, path: str) -> bytes | None:
        """The digest of the file at ``path`` by ``method`` (None: unsupported), kept
        by the algorithm ``method`` names (:func:`check_algorithm`), not its spelling."""
        key = (check_algorithm(method) or "", path)
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
    bodies = document_bodies(ofd, field)
    if not bodies:
        raise invalid(field, "OFD.xml has no DocBody")
    doc_root, signatures_path = _entry_locations(package, bodies[0], field)
    if not doc_root:
        raise invalid(field, "OFD.xml's DocBody names no DocRoot")
    document = package_xml(package, doc_root, field)
    base = _dirname(doc_root)
    common = child(document, "CommonData")
    default = A4_MM
    area = child(common, "PageArea") if common is not None else None
    if area is not None and child(area, "PhysicalBox") is not None:
        box = box_mm(text_of(child(area, "PhysicalBox")), field, "PageArea")
        default = (box[2], box[3])
    pages_el = child(document, "Pages")
    pages = []
    for page in children(pages_el, "Page") if pages_el is not None else []:
        path = one_file(
            package,
            attribute_values(page, "BaseLoc"),
            field,
            f"{doc_root}'s Page BaseLoc",
            base=base,
        )
        size = default
        if path in package.files:
            with package_xml_once(package, path, field) as page_xml:
                area = child(page_xml, "Area")
                physical = child(area, "PhysicalBox") if area is not None else None
                if physical is not None:
                    box = box_mm(text_of(physical), field, path)
                    size = (box[2], box[3])
        pages.append(OfdPage(page.get("ID", ""), path, size[0], size[1]))
    if not pages:
        raise invalid(field, f"{doc_root} lists no pages")
    return OfdDocument(package, doc_root, signatures_path, tuple(pages))


def document_bodies(ofd: ET.Element, field: str = "ofd") -> list[ET.Element]:
    """``OFD.xml``'s ``DocBody`` elements, one per document (GB/T 33190 §7.4).

    Raises INVALID_ARGUMENT (``field``) when there are more than
    :data:`MAX_OFD_DOCUMENTS`."""
    bodies = children(ofd, "DocBody")
    if len(bodies) > MAX_OFD_DOCUMENTS:
        raise invalid(
            field,
            f"OFD.xml has {len(bodies)} documents (DocBody); the limit is "
            f"{MAX_OFD_DOCUMENTS}",
        )
    return bodies


def _entry_locations(
    package: OfdPackage, body: ET.Element, field: str, *, tolerant: bool = False
) -> tuple[str, str | None]:
    """``OFD.xml``'s ``DocRoot`` ("" when it names none) and ``Signatures`` (None
    when it names none), each the one file every reading names
    (:func:`~services.seal.ofd_loc.one_file`; atk-ofd2 F2).

    Raises INVALID_ARGUMENT (``field``) when readings of one name two files
    (ambiguous), or when one is no path inside the package (a ``DocRoot`` only
    when not ``tolerant``: verifying reads on without pages)."""
    found: list[str] = []
    for name in ("DocRoot", "Signatures"):
        locs = element_texts(body, name)
        if not any(loc.strip() for loc in locs):
            found.append("")
            continue
        if name == "Signatures":  # and as ofd.js reads it (atk40ofd L2)
            locs += ofd_js_signatures(locs, ofd_js_doc(found[0]))
        try:
            found.append(one_file(package, locs, field, f"OFD.xml's {name}"))
        except AmbiguousLocation:
            raise
        except CertsealError:
            if name == "Signatures" or not tolerant:
                raise
            found.append("")
    return found[0], found[1] or None


def signatures_document(package: OfdPackage, field: str = "ofd") -> OfdDocument:
    """The package's first document as verifying reads it (see
    :func:`signatures_documents`)."""
    return signatures_documents(package, field)[0]


def signatures_documents(package: OfdPackage, field: str = "ofd") -> list[OfdDocument]:
    """Every document of the package as verifying reads it, in ``OFD.xml``'s order:
    where its ``Signatures.xml`` is, its document root and pages (IDs and paths; the
    page files are not read here). The documents share the package's digests and
    what is read once per request (what ``OFD.xml`` draws is the same for each).

    Damage is tolerated, since a damaged file is a changed one, which the references
    of each signature report (:func:`check_references` refuses a file that cannot be
    read yet is covered unchanged): a document root that is no bounded XML gives no
    pages, a page whose location leaves the package is left out. A ``Signatures``
    location that is no path inside the package refuses it (INVALID_ARGUMENT
    ``field``, naming the document). When ``OFD.xml`` is damaged, the package's one
    ``Signs/Signatures.xml`` is read (a document without a root, none of whose
    signatures holds); with none or several, or more than :data:`MAX_OFD_DOCUMENTS`
    documents, INVALID_ARGUMENT (``field``).
    """
    try:
        ofd = package_xml(package, "OFD.xml", field)
        if local(ofd.tag) != "OFD" or child(ofd, "DocBody") is None:
            raise invalid(field, "OFD.xml is not an OFD with a DocBody")
    except EndsRequest:
        raise
    except CertsealError as exc:
        return [_conventional(package, exc)]
    bodies = document_bodies(ofd, field)  # too many: no work on any of them
    places = []
    for index, body in enumerate(bodies):
        # its locations as readers read them; an ambiguous one is refused, and so
        # is a Signatures location the verifier does not follow (one leaving the
        # package: a reader keeping ".." at the root lists what is there), naming
        # the document: it is never dropped from the verdict (atk33 A3)
        try:
            places.append(_entry_locations(package, body, field, tolerant=True))
        except (EndsRequest, AmbiguousLocation):
            raise
        except CertsealError as exc:
            raise invalid(field, f"document {index}: {exc.message}") from None
    digests: dict[tuple[str, str], bytes | None] = {}
    cache: dict[str, object] = {}
    return [
        OfdDocument(package, root, path, _pages(package, root, field), digests, cache)
        for root, path in places
    ]


def _conventional(package: OfdPackage, exc: CertsealError) -> OfdDocument:
    """A document of the package's one ``Signs/Signatures.xml``, read when
    ``OFD.xml`` is damaged (else ``exc`` is raised)."""
    found = [
        name
        for name in package.files
        if name == "Signs/Signatures.xml" or name.endswith("/Signs/Signatures.xml")
    ]
    if len(found) != 1:
        raise exc
    return OfdDocument(package, "", found[0], ())


def _pages(package: OfdPackage, doc_root: str, field: str) -> tuple[OfdPage, ...]:
    """A document root's pages as verifying reads them (damage tolerated)."""
    pages: list[OfdPage] = []
    with damage_tolerated():
        document = package_xml(package, doc_root, field) if doc_root else None
        pages_el = child(document, "Pages") if document is not None else None
        base = _dirname(doc_root)
        for page in children(pages_el, "Page") if pages_el is not None else []:
            # the verifier's own reading: no verdict follows it (what every
            # reading names is drawn, so covered: drawn_files)
            found = readings(attribute_values(page, "BaseLoc")[:1], (base,))
            if found:
                pages.append(OfdPage(page.get("ID", ""), found[0], *A4_MM))
    return tuple(pages)


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
                    x, y, w, h = box_mm(element.get("Boundary", ""), "ofd", page.path)
                    return index, x + w / 2, y + h / 2
    raise invalid(field, f"{keyword!r} is on no page of the document")


@dataclass(frozen=True)
class SignatureEntry:
    """One ``Signature`` of ``Signatures.xml``."""

    signature_id: str
    kind: str  # Seal | Sign
    path: str  # its Signature.xml, normalised
    attributes: tuple[tuple[str, str], ...]  # as written, to write them back
    ambiguous: str = ""  # why its BaseLoc names no one file (then not VALID)


def _entry(
    package: OfdPackage, item: ET.Element, base: str, field: str, doc: str = ""
) -> SignatureEntry:
    """One ``Signature``, its ``BaseLoc`` read from ``base`` as readers read it (and
    below ``doc`` as ofd.js does): two files named leave it ``ambiguous``."""
    locs = attribute_values(item, "BaseLoc")
    problem = ""
    try:
        every = locs + ofd_js_entry(locs, doc)
        path = one_file(package, every, field, "a Signature's BaseLoc", base=base)
    except AmbiguousLocation as exc:
        path, problem = readings(locs, (base,))[0], exc.message
    attrs = tuple(item.attrib.items())
    return SignatureEntry(
        item.get("ID", ""), item.get("Type", "Seal"), path, attrs, problem
    )


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
    doc = ofd_js_doc(document.doc_root)  # read once per request for each document
    key = f"entries {doc}/{document.signatures_path}"
    kept = cast(
        "tuple[tuple[SignatureEntry, ...], int] | None", document.cache.get(key)
    )
    if kept is not None:
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
    entries = [_entry(document.package, item, base, field, doc) for item in listed]
    # every MaxSignId: ofdrw's h.ofd has two, the later one the higher (atk-docs F5)
    most = max((id_number(text_of(m)) for m in children(root, "MaxSignId")), default=0)
    document.cache[key] = (tuple(entries), most)
    return entries, most


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
    document: OfdDocument,
    signature: SignatureFile,
    entry: SignatureEntry,
    at: int | None = None,
) -> list[ReferenceResult]:
    """Every reference of ``signature`` checked against the package as it is now, and
    every file the document is drawn from that the references leave out.

    A later seal adds its own entry to ``Signatures.xml``, so that file's digest is
    ``list grown`` while the list it signed may be a prefix of it
    (:func:`~services.seal.ofd_signature.list_grown`; ``at``: ``entry``'s place in
    the list, its only place when not given); whether the entries after it are
    signatures that hold is for the caller, who verifies them. Every other
    difference is ``changed``.

    What is drawn must be told: a signature covering unchanged a drawn file (or an
    ``OFD.xml``) that cannot be read refuses the package (INVALID_ARGUMENT ``ofd``;
    atk33 A2, atk33b F1); no signature holds over a document without a root the
    verifier reads (``OFD.xml`` ``unsigned``) or whose root is not in the package
    (``missing``; atk33b F2).
    """
    results = []
    signed = {ref.file for ref in signature.references}
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
        elif ref.file == document.signatures_path and _grown(
            document, entry, at, signed
        ):
            status = "list grown"
        else:
            status = "changed"
        results.append(ReferenceResult(ref.file, ref.check_value, actual, status))
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
                else drawn_because(document, path, sorted(named_by & signed))
            )
            results.append(ReferenceResult(path, b"", None, "unsigned", why))
    refuse_unread_sealed(document, {r.file for r in results if r.status == "ok"}, entry)
    if not document.doc_root:  # drawn from what cannot be told: never holds
        if all(r.holds for r in results):
            results.append(ReferenceResult("OFD.xml", b"", None, "unsigned", _NO_ROOT))
    elif document.doc_root not in document.package.files:  # atk33b F2
        absent = ReferenceResult(document.doc_root, b"", None, "missing", _ROOT_ABSENT)
        results.append(absent)  # nothing of the document can be shown
    return results


_NO_ROOT = "no document root the verifier reads: what is drawn cannot be told"
_ROOT_ABSENT = "the document root, named by /OFD.xml, is not in the package"


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


def _grown(
    document: OfdDocument, entry: SignatureEntry, at: int | None, signed: set[str]
) -> bool:
    paths = [e.path for e in signature_entries(document)[0]]
    if at is None:
        at = paths.index(entry.path) if entry.path in paths else -1
    listing = document.signatures_path or ""
    return list_grown(paths, at, entry.path, signed, listing)
