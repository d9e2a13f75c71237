"""The files an OFD document is drawn from (GB/T 33190 §7.4 to §7.9): what a reader
opens to show it, so what every seal on it must cover (atk15 F1, F2; the check
``references`` of :func:`services.seal.ofd.check_references`).

Pure and synchronous over the package's bytes, like :mod:`services.seal.ofd`.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET  # types; parsing is defusedxml
from typing import TYPE_CHECKING, cast

from certseal.errors import CertsealError, ErrorKind, invalid
from services.seal.ofd_loc import (
    LocationPastReading,
    attribute_values,
    element_texts,
    own_texts,
    readings,
)
from services.seal.ofd_package import (
    OfdPackage,
    children,
    file_key,
    local,
    package_xml,
    package_xml_once,
)
from services.seal.ofd_xml import EndsRequest

if TYPE_CHECKING:
    from services.seal.ofd import OfdDocument, SignatureEntry


def _dirname(path: str) -> str:
    return path.rsplit("/", 1)[0] if "/" in path else ""


# what each kind of file names, and the kind of the file named (None: not read on)
_NAMES: dict[str, tuple[tuple[str, str | None, str | None], ...]] = {
    # (element, attribute or None for its text, kind); GB/T 33190 §7.4 (OFD.xml and
    # its versions), §7.5, §7.7, §7.9, annotations, attachments, custom tags and
    # extensions
    "ofd": (
        ("DocRoot", None, "document"),
        ("Version", "BaseLoc", "version"),
        # DocInfo's cover picture (§7.5 Table 4: ST_Loc), shown as the thumbnail
        ("Cover", None, None),
    ),
    "version": (
        ("File", None, None),
        ("DocRoot", None, "document"),
    ),
    "document": (
        ("PublicRes", None, "res"),
        ("DocumentRes", None, "res"),
        ("TemplatePage", "BaseLoc", "page"),
        ("Page", "BaseLoc", "page"),
        ("Annotations", None, "annotations"),
        ("Attachments", None, "attachments"),
        ("CustomTags", None, "tags"),
        ("Extensions", None, None),
    ),
    "page": (("PageRes", None, "res"),),
    "annotations": (("FileLoc", None, None),),
    "attachments": (("FileLoc", None, None),),
    "tags": (("FileLoc", None, None), ("SchemaLoc", None, None)),
    "res": (
        ("FontFile", None, None),
        ("MediaFile", None, None),
        ("ColorSpace", "Profile", None),
        # as attributes, as some producers write them
        ("Font", "FontFile", None),
        ("MultiMedia", "MediaFile", None),
    ),
}


#: files ofdrw opens by their fixed names in a document's folder (``DocDir``,
#: ``SignsDir``), whatever ``DocRoot`` and ``Signatures`` name (atk39ofd F4), with
#: what they are read as: ``OFDDir.obtainDocDefault()`` is the folder of the last
#: ``DocBody``'s ``DocRoot``, whose ``Document.xml`` ``OFDReader`` reads for the
#: page area of every page without its own (``getPageSize``) and the attachments
#: (``getAttachmentList``), ofdrw-layout's ``ResManager`` for the resources it
#: draws new content with, with ``PublicRes.xml`` and ``DocumentRes.xml`` (as does
#: ofdrw-archive); ``OFDSigner`` writes ``Signs/Signatures.xml`` there. Each is
#: drawn when the package holds it beside a document root, named by that root, a
#: document's named signature list left out (judged as a list: ``list grown``).
#: And in ``Doc_0`` (:data:`DEFAULT_FOLDER`) beside a root of any folder: ofdrw's
#: ``obtainDocDefault()`` is ``obtainDoc(0)`` in versions before it read
#: ``OFD.xml``, and in later ones when ``OFD.xml`` is missing or names no
#: ``DocBody`` in its namespace (atk40ofd L2).
FIXED_NAMES: tuple[tuple[str, str | None], ...] = (
    ("Document.xml", "document"),
    ("PublicRes.xml", "res"),
    ("DocumentRes.xml", "res"),
    ("Signs/Signatures.xml", None),
)

#: the folder ofdrw's ``OFDDir.obtainDocDefault()`` falls back to
DEFAULT_FOLDER = "Doc_0"

#: lists whose locations readers also read from a folder above the list's own
#: (atk39ofd F1): ofd.js reads a resource list's ``BaseLoc`` and files from the
#: document's folder (``getMultiMediaRes``: ``Doc_0`` + ``BaseLoc`` + ``MediaFile``
#: for a list in ``Doc_0/Res``) and an annotation list's files from the document's
#: folder and the list location's first folder (``getAnnotations``); ofdrw reads a
#: resource list it opened at its location doubled (``Doc_0/Res/Res/...``:
#: :func:`services.seal.ofd_loc._read_again`) from the folder it changed to
#: (``Doc_0/Res``). Each is a folder above the list's, at most its depth. And a
#: document root's locations (pages, templates, resource, annotation and
#: attachment lists): ofd.js reads each from the root's first folder, its ``doc``
#: (``parsePage``, ``getDocumentRes``, ``getPublicRes``, ``getDocument``: ``doc/``
#: prefixed unless it holds ``doc``), so ``Pages/Page_0/Content.xml`` in
#: ``Doc_0/sub/Document.xml`` opens ``Doc_0/Pages/Page_0/Content.xml`` (atk40ofd L2).
_READ_FROM_ABOVE = frozenset({"res", "annotations", "document"})


def _above(folder: str) -> list[str]:
    """The folders above ``folder``, nearest first, the package root left out
    (every location is read from there already): ``a/b/c`` → ``a/b``, ``a``."""
    parts = folder.split("/") if folder else []
    return ["/".join(parts[:n]) for n in range(len(parts) - 1, 0, -1)]


MAX_LOCATION_WORK = 64 * 1024 * 1024
"""Characters of locations one request reads to find what a document is drawn
from: each spelling of a location (up to 24) from each folder it may be read
from (:func:`services.seal.ofd_loc.readings`). An ordinary OFD reads a few thousand
locations of a few dozen characters from one or two folders; locations written for
the most spellings, of many segments, under a resource ``BaseLoc`` read as several
folders cost tens of times their size (atk33c O1: a 13.7 MiB resource file took
15.5 s of CPU). The folders' own characters are charged too (atk34 O1: each is
walked or joined and looked up with the spelling). Measured: about 25 to 40 ns of
CPU a character, so at most about 3 s."""

MAX_LOCATION_READINGS = 500_000
"""Spellings of locations one request reads (a plain location is one): about 20 µs
of CPU each with its element (measured: 200,000 fonts' locations, 3.9 s), so at
most about 10 s, within ``[seal] job_timeout_s`` (60 s) however large the package;
an OFD of 10,000 pages of 50 pictures each is at the bound."""


class LocationWork:
    """What a request has read of locations (:data:`MAX_LOCATION_WORK`,
    :data:`MAX_LOCATION_READINGS`): called with each spelling's cost in characters
    before it is read. Past either bound the package is refused at once
    (INVALID_ARGUMENT ``ofd``, ending the request), well within the job's time."""

    def __init__(self) -> None:
        self.spent = 0
        self.readings = 0

    def __call__(self, characters: int) -> None:
        self.spent += characters
        self.readings += 1
        if self.spent > MAX_LOCATION_WORK or self.readings > MAX_LOCATION_READINGS:
            raise LocationPastReading(
                ErrorKind.INVALID_ARGUMENT,
                f"its locations take more than {MAX_LOCATION_READINGS:,} readings or "
                f"{MAX_LOCATION_WORK:,} characters of reading (many locations, or "
                "locations of many spellings and segments read from many folders): "
                "what the document is drawn from is not read so far",
                field="ofd",
            )


def drawn_files(document: OfdDocument) -> dict[str, frozenset[str]]:
    """Every file a reader opens to show the document, with the files that name it
    (``OFD.xml`` and the document root, which every signature must cover, are always
    there): what ``OFD.xml`` names (every document's root, versions and their files,
    ``DocInfo``'s cover picture), what
    the document root names (public and document resources, templates,
    pages, annotations, attachments, custom tags, extensions), what each page and
    template names (its resources), what annotation, attachment and tag lists name,
    and each resource file's fonts, media and colour profiles (below its ``BaseLoc``).

    A location is read in every reading a reader may make of it
    (:func:`services.seal.ofd_loc.readings`: its text pieces joined or its first,
    stripped or not, folder names trimmed, backslashes as slashes, an attribute of
    any namespace), relative from its file's folder (GB/T 33190 §7.2) and also from
    the package root (and a resource's from its ``BaseLoc``; a resource or
    annotation list's from each folder above its own, and a resource list's own
    location also as ofdrw reads it: :data:`_READ_FROM_ABOVE`), and every file one
    of them names is drawn: a file any reader might open is covered (atk-ofd2 F4). Each file is parsed once per request
    (the result is kept on ``document``); one that is not bounded XML names nothing
    (its own digest reports it). Only files the package holds are given, found as a
    reader unpacking the package finds them: ignoring case, Unicode form and
    trailing dots or spaces (:func:`services.seal.ofd_package.file_key`; atk15c F3,
    atk16 F1).
    """
    return _drawn(document)[0]


_Drawn = tuple[dict[str, frozenset[str]], dict[str, str], set[tuple[str, str]]]
"""What is drawn (:func:`drawn_files`), the drawn files not read, with why, and
which (file, document root) are drawn only by the file's fixed name beside it."""


def _drawn(document: OfdDocument) -> _Drawn:
    """:func:`drawn_files` and the files among them that could not be read as bounded
    XML, read once per request (kept on ``document``)."""
    kept = cast("_Drawn | None", document.cache.get("drawn"))
    if kept is not None:
        return kept
    package = document.package
    # names are looked up as a reader unpacking the package finds them: a
    # case-insensitive file system opens "publicres.xml" for "PublicRes.xml", Windows
    # "Content.xml." for "Content.xml", macOS NFD for NFC (file_key; the package
    # holds no two names with one key: read_package)
    by_case = {file_key(path): path for path in package.files}
    # and the package's folders, where a resource's BaseLoc may lead (a key's
    # folders are its prefixes: file_key reads each name alone)
    folders: set[str] = set()
    for key in by_case:
        while "/" in key and (key := key.rsplit("/", 1)[0]) not in folders:
            folders.add(key)
    named: dict[str, set[str]] = {"OFD.xml": set()}
    todo: list[tuple[str, str]] = [("OFD.xml", "ofd")]
    if document.doc_root:
        named[document.doc_root] = set()
        todo.append((document.doc_root, "document"))
    seen = {path for path, _ in todo}
    unread: dict[str, str] = {}
    work = LocationWork()
    lists = _signature_lists(package, by_case) | {document.signatures_path}
    fixed: set[tuple[str, str]] = set()
    while todo:
        path, kind = todo.pop()
        # parsed already (OFD.xml, the document root), or parsed here once and not
        # kept: a request does not hold every page's tree at once; one that is
        # absent or refused names nothing (past the request's XML budget: refused),
        # and one refused is kept as unread (refuse_unread_sealed)
        if path not in package.files:
            continue
        try:
            with package_xml_once(package, path, "ofd") as root:
                _named_by(root, path, kind, (by_case, folders, work), named, seen, todo)
                if kind == "document":  # and what ofdrw opens beside it by name
                    _beside(path, by_case, lists, (named, fixed), seen, todo)
        except EndsRequest:
            raise
        except CertsealError as exc:
            unread[path] = exc.message
    drawn = {path: frozenset(by) for path, by in named.items()}
    found: _Drawn = (drawn, unread, fixed)
    document.cache["drawn"] = found
    return found


def _signature_lists(package: OfdPackage, by_case: dict[str, str]) -> set[str]:
    """The signature lists ``OFD.xml`` names, in every reading (none when it cannot
    be read: then no document root is read either)."""
    try:
        ofd = package_xml(package, "OFD.xml", "ofd")
    except EndsRequest:
        raise
    except CertsealError:
        return set()
    # at most MAX_OFD_DOCUMENTS bodies: signatures_documents refused more
    texts = (element_texts(body, "Signatures") for body in children(ofd, "DocBody"))
    paths = (p for locs in texts for p in readings(locs, ("",)))
    return {f for f in map(by_case.get, map(file_key, paths)) if f is not None}


def _beside(
    root: str,
    by_case: dict[str, str],
    lists: set[str | None],
    drawn: tuple[dict[str, set[str]], set[tuple[str, str]]],
    seen: set[str],
    todo: list[tuple[str, str]],
) -> None:
    """The files of :data:`FIXED_NAMES` the package holds in the folder of the
    document root ``root`` and in :data:`DEFAULT_FOLDER`: drawn, by ``root`` (``drawn``: what is drawn, and
    which only by a fixed name), and read on as their kind."""
    named, fixed = drawn
    places = dict.fromkeys((_dirname(root), DEFAULT_FOLDER))
    for folder, (name, then) in ((f, n) for f in places for n in FIXED_NAMES):
        target = by_case.get(file_key(f"{folder}/{name}" if folder else name))
        if target is None or target == root or target in lists:
            continue
        if root not in named.setdefault(target, set()):  # not named by a location
            fixed.add((target, root))
        named[target].add(root)
        if then is not None and target not in seen:
            seen.add(target)
            todo.append((target, then))


def drawn_because(document: OfdDocument, path: str, by: list[str]) -> str:
    """Why ``path`` is drawn by the files ``by`` (of :func:`drawn_files`): each names
    it, or it has a fixed name beside that document root (:data:`FIXED_NAMES`)."""
    fixed = _drawn(document)[2]
    beside = [f for f in by if (path, f) in fixed]
    named = [f for f in by if (path, f) not in fixed]
    return "; ".join(
        [f"named by /{', /'.join(named)}"] * bool(named)
        + [f"opened by its fixed name beside /{', /'.join(beside)}"] * bool(beside)
    )


def refuse_unread_sealed(
    document: OfdDocument, unchanged: set[str], entry: SignatureEntry
) -> None:
    """INVALID_ARGUMENT (``ofd``) when a drawn file (:func:`drawn_files`) the
    verifier could not read as bounded XML is among the files the signature of
    ``entry`` covers ``unchanged``: it was sealed as it is, so it is no changed file
    (a changed one is reported so), and what it draws cannot be told, so no verdict
    on the signature can be given (atk33b F1: a Document.xml of an encoding or DTD
    subset the verifier refuses hid the pages it draws)."""
    for path, why in sorted(_drawn(document)[1].items()):
        if path in unchanged:
            raise invalid(
                "ofd",
                f"/{path} cannot be read ({why}), yet /{entry.path} seals it "
                "unchanged: what it draws cannot be told",
            )


def entry_draws_only_root(document: OfdDocument) -> bool:
    """Whether ``OFD.xml`` names nothing to draw but the document root: one
    ``DocBody``, no versions, no second document (GB/T 33190 §7.4).

    Then a signature that covers the document root unchanged covers everything drawn
    (every file a covered file names must be covered too:
    :func:`services.seal.ofd.check_references`), even when its references leave
    ``OFD.xml`` out, as e-invoice producers do (ofdrw's ``999.ofd``, a Chongqing tax
    e-invoice; ofdrw's validator checks only what the references list). What such a
    signature does not seal is ``OFD.xml``'s own content: the package's ``DocInfo``
    (title, author, dates, custom data).
    """
    drawn = drawn_files(document)
    if any("OFD.xml" in by and path != document.doc_root for path, by in drawn.items()):
        return False
    return _plain_entry(package_xml(document.package, "OFD.xml", "ofd"))


#: a location an unsealed ``OFD.xml`` may give: one every reader reads alike (no
#: space of any kind, no backslash, no escape; atk-ofd2 F1, F2)
_PLAIN_LOCATION = re.compile(r"/?[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*")


def _plain_entry(ofd: ET.Element) -> bool:
    """Whether an ``OFD.xml`` has the one shape whose locations every reader reads as
    this verifier does: one ``DocBody`` holding only ``DocInfo`` (with no ``Cover``,
    the one location in it), one ``DocRoot`` and at most one ``Signatures``, those two
    without attributes or child elements and with a :data:`_PLAIN_LOCATION` as their
    text. dom4j (ofdrw) joins an element's text pieces and keeps spaces in a file
    name, and reads a namespaced ``BaseLoc`` as ``BaseLoc``: any other shape of a
    file nobody sealed could make a reader open what was never verified
    (atk-ofd2 F1 to F3)."""
    bodies = list(ofd)
    if len(bodies) != 1 or local(bodies[0].tag) != "DocBody":
        return False
    parts = [local(element.tag) for element in bodies[0]]
    if len(set(parts)) != len(parts) or "DocRoot" not in parts:
        return False
    for element in bodies[0]:
        name = local(element.tag)
        if name == "DocInfo":
            if any(local(e.tag) == "Cover" for e in element.iter()):
                return False
        elif (
            name not in ("DocRoot", "Signatures")
            or element.attrib
            or len(element)
            or not _PLAIN_LOCATION.fullmatch(element.text or "")
        ):
            return False
    return True


def _named_by(
    root: ET.Element,
    path: str,
    kind: str,
    found: tuple[dict[str, str], set[str], LocationWork],
    named: dict[str, set[str]],
    seen: set[str],
    todo: list[tuple[str, str]],
) -> None:
    """What the file ``path`` of ``kind``, parsed as ``root``, names: added to
    ``named`` (by ``path``), and to ``todo`` when it is to be read on. ``found``:
    the package's files and folders by :func:`file_key`, and the request's work."""
    by_case, present, work = found
    folders = [_dirname(path)]
    if kind in _READ_FROM_ABOVE:  # and from each folder above the list's own,
        # charged as it is built (a list of many segments: many folders, long ones)
        work(len(folders[0]) * folders[0].count("/"))
        folders += _above(folders[0])
    if kind == "res":  # a resource's files are below its BaseLoc, in each reading
        # that is a folder of the package (so a few folders, however it is written)
        below = readings(attribute_values(root, "BaseLoc"), folders, charge=work)
        folders[:0] = [f for f in below if file_key(f) in present]
    wanted = {name: (attr, then) for name, attr, then in _NAMES[kind]}
    # the files a location names, kept per location for this file: its elements
    # often repeat one (a font, a picture), read once (atk34 O1)
    targets_of: dict[tuple[str, ...], list[str]] = {}
    for element in root.iter():
        rule = wanted.get(local(element.tag))
        if rule is None:
            continue
        attr, then = rule
        locs = tuple(attribute_values(element, attr) if attr else own_texts(element))
        targets = targets_of.get(locs)
        if targets is None:
            # every reading a reader may make (ofd_loc): each file one names is
            # drawn; an absent one names nothing (so at most one entry per file of
            # the package, however many names)
            read = readings(locs, folders, again=then == "res", charge=work)
            found_files = (by_case.get(file_key(p)) for p in read)
            targets = targets_of[locs] = list(dict.fromkeys(filter(None, found_files)))
        for target in targets:
            named.setdefault(target, set()).add(path)
            if then is not None and target not in seen:
                seen.add(target)
                todo.append((target, then))
