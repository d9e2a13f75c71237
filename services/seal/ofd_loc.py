"""An OFD location (``ST_Loc``, GB/T 33190 §7.2) read as readers read it.

Readers do not agree on what a location's text is (atk-ofd2 F2, F4): dom4j, which
ofdrw reads with, joins every text piece of an element (``getText``: an element
child splits them; ElementTree's ``.text`` is the first piece only) and does not
trim it; ofdrw's ``ResourceLocator`` trims each folder name but not the file name;
Python's ``str.strip`` removes Unicode spaces (U+3000, U+00A0, line breaks) no Java
``trim`` and no file system removes; Windows opens ``a\\b`` as ``a/b``; dom4j's
``attributeValue("BaseLoc")`` also matches ``ofd:BaseLoc``. So a location is given
here as every reading a reader may make of it (:func:`readings`), a fixed small set
however the text is written, each resolved as readers resolve it (:func:`resolve`:
``..`` at the package root stays there, any length; atk-last F1, F2), and the rule
for them is:

- what a document is drawn from (what a seal must cover:
  :mod:`services.seal.ofd_drawn`): every reading that names a file of the package,
  from every folder a reader reads it from (a resource list's location also as
  ofdrw reads it, from the folder it names: :func:`_read_again`; atk39ofd F1);
- a location the verifier follows to decide (``DocRoot``, ``Signatures``, a
  ``Signature``'s ``BaseLoc``, ``SignedValue``, ``Seal/BaseLoc``, a ``Reference``'s
  ``FileRef``: :func:`one_file`): readings naming two files of the package are
  ambiguous, INVALID_ARGUMENT naming the location (a reader may open either).

Pure and synchronous.
"""

from __future__ import annotations

import functools
import re
import xml.etree.ElementTree as ET  # types; parsing is defusedxml
from collections.abc import Callable, Iterable, Sequence

from certseal.errors import CertsealError, ErrorKind, invalid
from services.seal.ofd_package import OfdPackage, children, local
from services.seal.ofd_xml import EndsRequest
from services.seal.ofd_zip import normalise


class AmbiguousLocation(CertsealError):
    """INVALID_ARGUMENT: readings of one location name two files of the package."""


class LocationPastReading(EndsRequest):
    """INVALID_ARGUMENT (``ofd``): a location of more than :data:`MAX_SEGMENTS`
    segments, ambiguous (readers differ on how far they resolve it). It ends the
    request: a file holding one is not a damaged file whose other names go
    unread (:func:`~services.seal.ofd_package.damage_tolerated`)."""


def own_texts(element: ET.Element) -> tuple[str, ...]:
    """The texts readers take as ``element``'s: its text pieces joined (dom4j's
    ``getText``: its text and every child element's tail; comments are not kept by
    the parser, so the pieces around one are one already), and its first piece."""
    first = element.text or ""
    joined = first + "".join(item.tail or "" for item in element)
    return (joined,) if joined == first else (joined, first)


def element_texts(parent: ET.Element | None, name: str) -> tuple[str, ...]:
    """The texts readers take for ``parent``'s child element ``name`` (any
    namespace): the first such child's (dom4j's ``element(name)``) and the last's
    (a reader keeping the last of a repeated element); () when there is none."""
    found = children(parent, name) if parent is not None else []
    if not found:
        return ()
    picked = [found[0]] if len(found) == 1 else [found[0], found[-1]]
    return tuple(dict.fromkeys(t for item in picked for t in own_texts(item)))


def attribute_values(element: ET.Element, name: str) -> tuple[str, ...]:
    """The values readers take for ``element``'s attribute ``name``: without a
    namespace, and the first and the last of any namespace (dom4j's
    ``attributeValue(name)`` matches by local name: ``ofd:BaseLoc`` is ``BaseLoc``)."""
    found = [value for key, value in element.attrib.items() if local(key) == name]
    plain = element.get(name)
    picked = [plain] if plain is not None else []
    picked += found[:1] + found[-1:]
    return tuple(dict.fromkeys(picked))


_JAVA_SPACE = "".join(chr(c) for c in range(0x21))  # what Java's String.trim drops
_PLAIN = re.compile(r"[^\s\x00-\x20\\]*")  # no reader reads this otherwise


def _java_trim(text: str) -> str:
    return text.strip(_JAVA_SPACE)


_DOM4J_SPACE = re.compile(r"[ \t\n\r\f]+")  # java.util.StringTokenizer's


def _dom4j_trim(text: str) -> str:
    """``text`` as dom4j's ``getTextTrim`` gives it: its tokens between runs of
    space, tab, line feed, carriage return and form feed, joined by one space."""
    return " ".join(token for token in _DOM4J_SPACE.split(text) if token)


def spellings(loc: str) -> tuple[str, ...]:
    """The spellings readers may read ``loc`` as, the verifier's own first: as
    written and with backslashes read as slashes (Windows), each stripped of Unicode
    spaces (``str.strip``), trimmed as Java trims (code points up to U+0020), as it
    is, with each folder name trimmed (ofdrw's ``ResourceLocator``) or stripped, and
    with each name stripped; and each of those with its runs of white space made
    one space, as dom4j's ``getTextTrim`` reads an element's text (ofdrw's
    ``ST_Loc.getInstance``: ``a  b.xml`` is ``a b.xml``; atk40ofd). At most
    twenty-four, however ``loc`` is written."""
    if _PLAIN.fullmatch(loc):  # no space of any kind and no backslash: one reading
        return (loc,)
    found: dict[str, None] = {}
    slashed = loc.replace("\\", "/")
    for text in dict.fromkeys((loc, slashed, _dom4j_trim(loc), _dom4j_trim(slashed))):
        parts = text.split("/")
        found.update(
            dict.fromkeys(
                (
                    text.strip(),
                    _java_trim(text),
                    text,
                    "/".join([*map(_java_trim, parts[:-1]), parts[-1]]),
                    "/".join([*(p.strip() for p in parts[:-1]), parts[-1]]),
                    "/".join(p.strip() for p in parts),
                )
            )
        )
    return tuple(found)


def readings(
    locs: Iterable[str],
    bases: Sequence[str],
    *,
    explicit_relative: bool = False,
    again: bool = False,
    charge: Callable[[int], None] | None = None,
) -> list[str]:
    """Every package path a reader may open for the locations ``locs`` (the texts
    or values of one location, :func:`own_texts`, :func:`attribute_values`), the
    verifier's own reading first: each spelling (:func:`spellings`), absolute from
    the package root, relative from each folder of ``bases`` (GB/T 33190 §7.2) and
    from the root too (some producers write a root path without its slash). With
    ``explicit_relative`` (a ``Reference``'s ``FileRef``, "an absolute path in the
    package", GB/T 33190 §18) only ``./x`` and ``../x`` are read from ``bases``,
    and only from there. With ``again`` (a resource list's location) each relative
    spelling is also read as ofdrw reads it (:func:`_read_again`).
    Spellings that are no path inside the package are left out. ``charge``, when
    given, is told the characters each spelling costs to read from its folders
    before they are read (it may raise to stop: :func:`~services.seal.ofd_drawn.
    drawn_files` bounds a request's work so)."""
    found: dict[str, None] = {}
    # what reading a spelling below the folders costs beyond its own characters:
    # each folder's path is walked or joined and looked up with it (atk34 O1)
    spread = sum(map(len, bases)) + len(bases)
    rounds = 2 if again else 1  # a second reading from each folder of ``bases``
    for loc in dict.fromkeys(locs):
        for spelling in spellings(loc):
            if "\\" in spelling:
                continue  # read as slashes too; as it is, no package path
            folders: Sequence[str] = (*bases, "")
            cost = spread + 1
            if spelling.startswith("/"):
                folders, cost = ("",), 1
            elif explicit_relative:
                dotted = spelling.split("/", 1)[0] in (".", "..")
                folders = bases if dotted else ("",)
                cost = spread if dotted else 1
            if charge is not None:
                charge(len(spelling) * (1 + rounds * len(folders)) + rounds * cost)
            # resolved once from the root; below a folder it is that folder's path
            # and this one unless it climbs ("..")
            whole = resolve(spelling, "")
            climbs = whole is None or ".." in spelling.split("/")
            for at, folder in enumerate(folders):
                path = (
                    resolve(spelling, folder)
                    if climbs
                    else f"{folder}/{whole}"
                    if folder
                    else whole
                )
                if path is not None:  # else no reader opens a package file for it
                    found[path] = None
                if again and at < len(bases):  # the root's reading is no ofdrw's
                    path = _read_again(spelling, folder)
                    if path is not None:
                        found[path] = None
    return list(found)


def _read_again(spelling: str, folder: str) -> str | None:
    """The file ofdrw opens for a resource list's location ``spelling`` read from
    ``folder`` (atk39ofd F1): ``ResourceManage.loadResFile`` changes directory to
    the location's folder (``rl.cd(resLoc.parent())``) and then opens the location
    again from there (``rl.get(resLoc, ...)``), so ``Res/DocumentRes.xml`` read
    from ``Doc_0`` opens ``Doc_0/Res/Res/DocumentRes.xml`` (and what that list
    names is read from ``Doc_0/Res``, the folder it changed to: a folder above the
    list's, :func:`services.seal.ofd_drawn.drawn_files`). None when that is the one
    reading already: an absolute location, or one without a folder."""
    if spelling.startswith("/") or "/" not in spelling:
        return None
    there = _walked(spelling.rsplit("/", 1)[0], folder)[0]
    return resolve(spelling, "/".join(there))


MAX_SEGMENTS = 4096
"""Segments of one location resolved; beyond, the location is refused as ambiguous
(no OFD names a file so; the work per reading stays bounded)."""


def resolve(loc: str, folder: str) -> str | None:
    """The package path a reader opens for ``loc`` read from ``folder`` (GB/T 33190
    §7.2), resolved segment by segment as ofdrw's ``ResourceLocator`` and ZIP
    readers resolve: empty and ``.`` segments skipped, ``..`` at the package root
    staying at the root, of any length. None when no reader opens a package file
    for it: empty, naming no file, or holding a NUL, a backslash (read as a slash
    in another spelling) or a colon (a drive, a URL or a file stream).

    Raises :class:`LocationPastReading` (INVALID_ARGUMENT, ``ofd``) for a location
    of more than :data:`MAX_SEGMENTS` segments."""
    if not loc or "\x00" in loc or "\\" in loc or ":" in loc:
        return None
    if loc.count("/") >= MAX_SEGMENTS:
        raise LocationPastReading(
            ErrorKind.INVALID_ARGUMENT,
            f"a location of more than {MAX_SEGMENTS} segments ({loc[:80]!r}...): "
            "ambiguous (readers differ on how far they resolve it)",
            field="ofd",
        )
    return "/".join(_walked(loc, folder)[0]) or None


def _walked(loc: str, folder: str) -> tuple[list[str], bool]:
    """The names ``loc`` read from ``folder`` resolves to (empty and ``.`` segments
    skipped, ``..`` at the package root staying there), and whether a ``..`` went
    above the root."""
    if loc.startswith("/"):
        return _walk([], False, loc)
    if len(folder) > _KEPT_FOLDER_CHARS:
        return _walk([], False, f"{folder}/{loc}")
    start, above = _walked_folder(folder)
    return _walk(list(start), above, loc)


_KEPT_FOLDER_CHARS = 4096  # the folders kept walked: 256 of at most this


@functools.lru_cache(maxsize=256)
def _walked_folder(folder: str) -> tuple[tuple[str, ...], bool]:
    """:func:`_walked` of a folder alone, kept: a file's locations are read from
    the same few folders again and again (atk34 O1)."""
    parts, above = _walk([], False, folder)
    return tuple(parts), above


def _walk(parts: list[str], above: bool, path: str) -> tuple[list[str], bool]:
    """``parts`` (a walk so far; ``above``: it went above the root) walked on along
    ``path``'s segments."""
    for part in path.split("/"):
        if part == "..":
            if parts:
                parts.pop()
            else:  # at the root it stays at the root
                above = True
        elif part not in ("", "."):
            parts.append(part)
    return parts, above


def one_file(
    package: OfdPackage,
    locs: Sequence[str],
    field: str,
    what: str,
    *,
    base: str = "",
    explicit_relative: bool = False,
    again: bool = False,
) -> str:
    """The file of ``package`` a location the verifier follows names in every
    reading that names one (found as a reader unpacking the package finds it:
    :meth:`OfdPackage.find`), or the verifier's own reading when none does (a
    missing file, for the caller to report). ``again``: also as ofdrw reads it
    from ``base`` a second time (:func:`_read_again`).

    Raises :class:`AmbiguousLocation` (INVALID_ARGUMENT, ``field``) naming ``what``
    when readings name two files of the package (a reader may open the one not
    verified); INVALID_ARGUMENT
    when no reading is a path inside the package (the reason of the first)."""
    paths = readings(locs, (base,), explicit_relative=explicit_relative, again=again)
    own = (locs[0] if locs else "").strip()
    if not paths:
        normalise(own[:1025], field, base=base)  # its reason, if it has one
        raise invalid(field, f"{what} {_shown(locs)} is not a path inside the package")
    dotted = own.split("/", 1)[0] in (".", "..")
    if _walked(own, base if dotted or not explicit_relative else "")[1]:
        # readers keep it at the root; the verifier follows no such location
        raise invalid(field, f"{what} {_shown(locs)} leaves the package")
    files = list(dict.fromkeys(f for f in map(package.find, paths) if f is not None))
    if len(files) > 1:
        named = " and ".join("/" + f for f in files[:3])
        raise AmbiguousLocation(
            ErrorKind.INVALID_ARGUMENT,
            f"{what} {_shown(locs)} names both {named}: ambiguous (readers differ "
            "on which they open)",
            field=field,
        )
    return files[0] if files else paths[0]


def ofd_js_doc(doc_root: str) -> str:
    """The folder ofd.js reads a document's locations under (``doc`` in its
    ``ofd_parser.doGetDocRoot``: the document root's first folder), "" when the root
    has none (ofd.js's ``doc`` is then a file, below which nothing is)."""
    return doc_root.split("/", 1)[0] if "/" in doc_root else ""


def ofd_js_signatures(locs: Sequence[str], doc: str) -> tuple[str, ...]:
    """``OFD.xml``'s ``Signatures`` as ofd.js reads it (``getSignature``): from the
    package root, its first ``/`` dropped and ``doc/`` prefixed unless it holds
    ``doc`` anywhere."""
    if not doc:
        return ()
    found = (loc[1:] if loc.startswith("/") else loc for loc in locs)
    return tuple(f"/{doc}/{loc}" for loc in found if doc not in loc)


def ofd_js_entry(locs: Sequence[str], doc: str) -> tuple[str, ...]:
    """A ``Signature``'s ``BaseLoc`` as ofd.js reads it (``getSignature``): from the
    package root, whatever the list's folder, its first ``/`` dropped, ``Signs/``
    prefixed unless it holds ``Signs`` anywhere, then ``doc/`` unless it holds
    ``doc``."""
    if not doc:
        return ()
    out = []
    for loc in locs:
        loc = loc[1:] if loc.startswith("/") else loc
        loc = loc if "Signs" in loc else f"Signs/{loc}"
        out.append(f"/{loc}" if doc in loc else f"/{doc}/{loc}")
    return tuple(out)


def ofd_js_signed_value(locs: Sequence[str]) -> tuple[str, ...]:
    """A ``SignedValue`` as ofd.js reads it (``getSignatureData``): its first ``/``
    removed wherever it is (``Sign_0/SignedValue.dat`` is ``Sign_0SignedValue.dat``),
    read from the package root, else from the signature's folder (as every relative
    location is read: :func:`readings`)."""
    return tuple(loc.replace("/", "", 1) for loc in locs if "/" in loc)


def _shown(locs: Sequence[str]) -> str:
    return repr(locs[0][:80]) if locs else "''"
