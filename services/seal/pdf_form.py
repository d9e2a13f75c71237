"""What readers draw a PDF's form with, document-wide, and the difference analysis
certseal runs on what follows a seal (:data:`DIFF_POLICY`).

A field without an appearance of its own (or every field, when the form asks for
appearances anew) is drawn by the reader from the ``/AcroForm`` dictionary: its
default resources ``/DR`` (the fonts a ``/DA`` names), default appearance ``/DA``,
alignment ``/Q``, ``/NeedAppearances``, and an XFA form (``/XFA``) drawn instead by
the readers that read XFA; a FreeText annotation's ``/DA`` takes its fonts from
``/DR`` too. pyHanko's form rule lets ``/DR`` change after a signature (Acrobat
rewrites it) and lets the objects it reaches change at FORM_FILLING: atk39pdf F4, a
sealed form whose field "Amount" ("1000", no appearance) was drawn in Helvetica
verified VALID after ``/DR``'s ``/Helv`` became ZapfDingbats (PDFium drew pencils).
So every ``/AcroForm`` entry but ``/Fields`` (its fields are judged one by one) and
``/SigFlags`` (what signing sets) is compared, with everything it reaches, between
a signature's revision and the last (:func:`drawing_changed`); any difference makes
the signature modified, named by its key. ``/DR`` is compared resource by resource
(``/DR/Font/Helv``): one the signed revision has may not change or go, and one added
after it is no change unless a default appearance of the signed revision (the
form's ``/DA``, a field's or an annotation's) names it, which readers drew with a
fallback until then. A later signer's writer (Acrobat, iText) adds the fonts its
own field's appearance uses to ``/DR``, and that draws nothing sealed anew.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Collection, Iterable, Iterator
from typing import Any

from pyhanko.pdf_utils import generic
from pyhanko.sign.diff_analysis import (
    DEFAULT_DIFF_POLICY,
    FormUpdatingRule,
    SigFieldCreationRule,
    SigFieldModificationRule,
    StandardDiffPolicy,
    SuspiciousModification,
)

from services.seal.pdf import PdfNestingError
from services.seal.pdf_revisions import digest_of

#: /AcroForm entries that are no drawing input: the fields (each judged as a field)
#: and the signature flags every signer sets
_NOT_DRAWN = frozenset({"/Fields", "/SigFlags"})

#: what each drawing input is, in a clerk's words
_SAID = {
    "/DR": "the default resources: the fonts fields without an appearance of their "
    "own are drawn with",
    "/DA": "the default appearance: their font, size and colour",
    "/Q": "the default alignment of their text",
    "/NeedAppearances": "whether readers draw every field anew",
    "/XFA": "an XFA form, which XFA readers draw instead",
}

#: what a drawing input that could not be read, or reaches too much, is recorded as:
#: never equal to itself in another revision
_UNREAD = b"unread"


def _resolved(resolver: Any, value: Any) -> Any:
    """``value`` as ``resolver``'s revision has it (a reference read there)."""
    if isinstance(value, generic.IndirectObject):
        value = resolver.get_object(value.reference)
    return value.decrypted if isinstance(value, generic.DecryptedObjectProxy) else value


def drawing_inputs(resolver: Any) -> dict[str, bytes]:
    """The ``/AcroForm`` entries of ``resolver``'s revision that readers draw with,
    each as a digest of everything it reaches (:func:`digest_of`); /NeedAppearances
    as readers take it (only the boolean true asks: PDFium, poppler and pdf.js read
    nothing else). An entry, or the form, that does not read is :data:`_UNREAD`."""
    try:
        root = resolver.root
        form = _resolved(resolver, root.raw_get("/AcroForm"))
    except KeyError:
        return {}
    except PdfNestingError:
        raise
    except Exception:
        return {"/AcroForm": _UNREAD}
    if not isinstance(form, generic.DictionaryObject):
        return (
            {}
            if form is None or isinstance(form, generic.NullObject)
            else {"/AcroForm": _UNREAD}
        )
    found: dict[str, bytes] = {}
    for key in dict.keys(form):
        name = str(key)
        if name in _NOT_DRAWN:
            continue
        try:
            value = _resolved(resolver, form.raw_get(key))
            if name == "/NeedAppearances":
                if isinstance(value, generic.BooleanObject) and value.value:
                    found[name] = b"true"
                continue
            if name == "/DR" and isinstance(value, generic.DictionaryObject):
                found.update(_resources(resolver, value))
                continue
            found[name] = digest_of(value) or _UNREAD
        except PdfNestingError:
            raise
        except Exception:
            found[name] = _UNREAD
    return found


def _resources(resolver: Any, dr: generic.DictionaryObject) -> dict[str, bytes]:
    """``/DR`` resource by resource: ``/DR/<category>/<name>`` to its digest, a
    category that is no dictionary (``/ProcSet``) as ``/DR/<category>``."""
    found: dict[str, bytes] = {}
    for category in dict.keys(dr):
        kind = _resolved(resolver, dr.raw_get(category))
        if not isinstance(kind, generic.DictionaryObject):
            found[f"/DR{category}"] = digest_of(kind) or _UNREAD
            continue
        for name in dict.keys(kind):
            found[f"/DR{category}{name}"] = digest_of(kind.raw_get(name)) or _UNREAD
    return found


#: PDF white-space (ISO 32000-1 Table 1; PDFium's ``PDFCharIsWhitespace``, poppler's
#: ``Lexer::isSpace``): NUL, TAB, LF, FF, CR and SPACE; Python's ``\s`` has no NUL and
#: has VT, which is a regular character in PDF (atk40 P1: ``/Cour\000`` read as
#: ``/Cour\x00``)
_WHITE = b"\x00\t\n\x0c\r "

#: PDF delimiters (ISO 32000-1 Table 2)
_DELIMITERS = b"()<>[]{}/%"

#: a name in a default appearance string (ISO 32000-1 §12.7.3.3, §7.3.5), its ``#xx``
#: escapes read after: EVERY name in it counts as a font it may name, not only the
#: one a regular reading puts before ``Tf`` (atk39b_docs D1: PDFium skips comments,
#: reads a size that is no number as auto; pdf.js and poppler take the last ``Tf``)
_DA_NAME = re.compile(rb"/([^\x00\t\n\x0c\r /\[\]()<>{}%]+)")

#: fields and annotations a revision's default appearances are read from, at most
_MAX_APPEARANCE_HOLDERS = 100_000


def default_appearance_fonts(
    resolver: Any, unread: bool = False
) -> frozenset[str] | None:
    """The names (``/Helv``) any default appearance of ``resolver``'s revision may
    name a font by, read as the most permissive reader reads it
    (:func:`da_fonts`): the form's ``/DA``, each field's (``/Fields``, their
    ``/Kids``, and every node a widget's ``/Parent`` chain reaches, listed or not:
    PDFium loads a page's widgets and inherits their /DA so) and each page's
    annotations'; None (every font then counts as named) when that is more than
    :data:`_MAX_APPEARANCE_HOLDERS` objects, does not read, or ``unread``: an
    object in use in the revision gives a key twice
    (:mod:`services.seal.pdf_twice`), so a /DA, /Kids or /Parent viewers read may
    be one pyHanko dropped."""
    if unread:
        return None
    try:
        fonts: set[str] = set()
        read: dict[bytes, frozenset[str]] = {}  # a /DA many fields share: read once
        for holder in _appearance_holders(resolver):
            da = _resolved(resolver, holder.raw_get("/DA")) if "/DA" in holder else None
            for text in _da_texts(da):
                if text not in read:
                    read[text] = da_fonts(text)
                fonts |= read[text]
        return frozenset(fonts)
    except PdfNestingError:
        raise
    except Exception:
        return None


def _da_texts(da: Any) -> list[bytes]:
    """The text a reader turns a /DA value into: a string's bytes, a name's
    characters (PDFium's ``GetString``: atk40 P3, ``/DA /#2FCour#2040#20Tf``), in
    each encoding pyHanko may have decoded them from; nothing of another type (a
    number or boolean names no font)."""
    if isinstance(da, (generic.TextStringObject, generic.ByteStringObject)):
        return [da.original_bytes]
    if isinstance(da, generic.NameObject):
        text = str(da)[1:]
        found = [text.encode("utf-8")]
        if max(text, default="\0") <= "\xff":
            found.append(text.encode("latin-1"))
        return found
    return []


def da_fonts(text: bytes) -> frozenset[str]:
    """Every font name a reader may take from the default appearance ``text``
    (``/Helv``), the union of their readings (a name counted that no reader draws
    with only makes an added font a change): every name in it (:data:`_DA_NAME`:
    pdf.js and poppler read a name before ``Tf``), and, before each ``Tf``, the
    word two before it with its first character dropped, whatever it is
    (PDFium's ``CPDF_DefaultAppearance::GetFont``: ``csFontNameTag.Delete(0, 1)``;
    atk40 P2, ``XCour 40 Tf``) as PDFium's parser splits words and as poppler's
    ``tokenizeDA`` does (at PDF white-space only); each with its ``#xx`` escapes
    as written, read, and read as PDFium reads a bad one."""
    raws = [m.group(1) for m in _DA_NAME.finditer(text)]
    for words in (_pdfium_words(text), _white_split(text)):
        raws.extend(words[i - 2][1:] for i in range(2, len(words)) if words[i] == b"Tf")
    return frozenset("/" + name for raw in set(raws) for name in _decodings(raw))


def _white_split(text: bytes) -> list[bytes]:
    """``text``'s tokens split at PDF white-space only (poppler's ``tokenizeDA``)."""
    return re.split(b"[" + re.escape(_WHITE) + b"]+", text)


def _pdfium_words(text: bytes) -> list[bytes]:
    """``text``'s words as PDFium's ``CPDF_SimpleParser::GetWord`` splits them:
    comments skipped, a name up to a delimiter or white-space, ``<<``, ``>>``, a hex
    string, a literal string with its nesting and escapes, another delimiter
    alone, or a regular word."""
    words, i, end = [], 0, len(text)
    while i < end:
        c = text[i : i + 1]
        if c in _WHITE:
            i += 1
            continue
        if c == b"%":
            while i < end and text[i : i + 1] not in b"\r\n":
                i += 1
            continue
        start, i = i, i + 1
        if c == b"<" or c == b">":
            if text[i : i + 1] == c:
                i += 1
            elif c == b"<":
                close = text.find(b">", i)
                i = end if close < 0 else close + 1
        elif c == b"(":
            depth = 1
            while i < end and depth:
                ch, i = text[i : i + 1], i + 1
                if ch == b"\\":
                    i += 1
                depth += {b"(": 1, b")": -1}.get(ch, 0)
        elif c == b"/" or c not in _DELIMITERS:
            while i < end and text[i : i + 1] not in _WHITE + _DELIMITERS:
                i += 1
        words.append(text[start:i])
    return words


_ESCAPE = re.compile(rb"#(.)(.)", re.DOTALL)
_HEX_ESCAPE = re.compile(rb"#([0-9A-Fa-f]{2})")


def _hex(digit: bytes) -> int:
    """A hex digit's value; 0 for any other byte, as PDFium's ``HexCharToInt``."""
    return int(digit, 16) if digit and digit in b"0123456789abcdefABCDEF" else 0


def _decodings(raw: bytes) -> set[str]:
    """A name's characters (``raw``, after its ``/``) as a reader may key a font by
    them: as written, its valid ``#xx`` escapes read (as pyHanko keys /DR), and
    every ``#`` and two bytes read as PDFium's ``PDF_NameDecode`` reads them (a
    byte that is no hex digit counts 0); each in UTF-8 (pyHanko's first try) and
    Latin-1."""
    valid = _HEX_ESCAPE.sub(lambda m: bytes.fromhex(m[1].decode()), raw)
    lenient = _ESCAPE.sub(lambda m: bytes([_hex(m[1]) * 16 + _hex(m[2])]), raw)
    found = set()
    for form in {raw, valid, lenient}:
        found.add(form.decode("latin-1"))
        with contextlib.suppress(UnicodeDecodeError):
            found.add(form.decode("utf-8"))
    return found


def _appearance_holders(resolver: Any) -> Iterator[generic.DictionaryObject]:
    """The form, its fields, every page's annotations and every node a ``/Parent``
    names in ``resolver``'s revision, each once; ValueError past
    :data:`_MAX_APPEARANCE_HOLDERS`."""
    root = resolver.root
    stack: list[Any] = [root.raw_get("/AcroForm")] if "/AcroForm" in root else []
    stack.append(root.raw_get("/Pages"))
    seen: set[int] = set()
    left = _MAX_APPEARANCE_HOLDERS
    while stack:
        ref = stack.pop()
        if isinstance(ref, generic.IndirectObject):
            if ref.idnum in seen:
                continue
            seen.add(ref.idnum)
        node = _resolved(resolver, ref)
        if not isinstance(node, generic.DictionaryObject):
            continue
        left -= 1
        if left < 0:
            raise ValueError("too many fields and annotations")
        yield node
        for key in ("/Fields", "/Kids", "/Annots"):
            more = _resolved(resolver, node.raw_get(key)) if key in node else None
            if isinstance(more, generic.ArrayObject):
                stack.extend(more)
        if "/Parent" in node:  # a widget's field, a field's parent: their /DA inherited
            stack.append(node.raw_get("/Parent"))


def drawing_changed(
    then: dict[str, bytes],
    now: dict[str, bytes],
    named: frozenset[str] | None = None,
) -> str:
    """Why a signature whose revision's form drawing inputs were ``then`` is modified
    when they are ``now`` (:func:`drawing_inputs`), or "": a resource added to
    ``/DR`` is no change unless its name is in ``named``, the fonts the signed
    revision's default appearances name (:func:`default_appearance_fonts`; None:
    every name counts)."""
    changed = sorted(
        key
        for key in then.keys() | now.keys()
        if (then.get(key) != now.get(key) or then.get(key) == _UNREAD)
        and not _added_unnamed(key, then, named)
    )
    if not changed:
        return ""
    said = "; ".join(
        f"{key[:40]} ({_SAID[_entry(key)]})" if _entry(key) in _SAID else key[:40]
        for key in changed[:6]
    )
    return f"what the form's fields are drawn with changed after it: {said}"


def _entry(key: str) -> str:
    """The ``/AcroForm`` entry a drawing input's key is of (``/DR/Font/Helv``: /DR)."""
    return "/" + key.split("/")[1]


def _added_unnamed(
    key: str, then: dict[str, bytes], named: frozenset[str] | None
) -> bool:
    """Whether ``key`` is a ``/DR`` resource added after the signed revision whose
    name no default appearance of that revision names."""
    if key in then or named is None or not key.startswith("/DR/Font/"):
        return False  # only a font may be added: what else /DR holds, readers may use
    # a name may hold a '/' (#2F): any named font the key ends with counts
    return not any(key.endswith(font) for font in named)


def drawing_changes(
    reader: Any, signed: Iterable[int], unread: Collection[int] = ()
) -> dict[int, str]:
    """For each signed revision of ``reader``, why what the form's fields are drawn
    with changed from it to the last revision (:func:`drawing_changed`), or ""; the
    last revision's read once, and nothing read when no signed revision is before
    it."""
    last = reader.xrefs.total_revisions - 1
    revisions = set(signed)
    if not revisions or min(revisions) >= last:
        return dict.fromkeys(revisions, "")
    now = drawing_inputs(reader.get_historical_resolver(last))
    found: dict[int, str] = {}
    for revision in revisions:
        if revision >= last:
            found[revision] = ""
            continue
        resolver = reader.get_historical_resolver(revision)
        then = drawing_inputs(resolver)
        found[revision] = drawing_changed(
            then,
            now,
            default_appearance_fonts(resolver, revision in unread)
            if then.keys() != now.keys()
            else None,
        )
    return found


def _need_appearances(resolver: Any) -> bool:
    """Whether a revision's ``/AcroForm`` asks viewers to draw appearances anew."""
    form = resolver.root.get("/AcroForm")
    form = form.get_object() if form is not None else None
    return bool(
        isinstance(form, generic.DictionaryObject)
        and form.get("/NeedAppearances", False)
    )


class _FormRule(FormUpdatingRule):
    """pyHanko's form rule where ``/NeedAppearances`` may never be turned on: a
    viewer would then draw every field's appearance anew instead of the signed ones
    (its removal is judged by :func:`drawing_changed`)."""

    def apply(self, old: Any, new: Any) -> Any:
        if _need_appearances(new) and not _need_appearances(old):
            raise SuspiciousModification(
                "/NeedAppearances turned on after the signature"
            )
        return super().apply(old, new)


DIFF_POLICY = StandardDiffPolicy(
    global_rules=DEFAULT_DIFF_POLICY.global_rules,
    form_rule=_FormRule(
        field_rules=[SigFieldCreationRule(), SigFieldModificationRule()],
        ignored_acroform_keys=frozenset({"/Fields", "/DR", "/NeedAppearances"}),
    ),
)
"""pyHanko's standard diff policy less what lets a change after a seal pass as form
filling: no rule for fields other than signature fields (a text field's value or
appearance changed after the seal is unexplained, so at least ANNOTATIONS), the
``/AcroForm`` keys ``/DA`` and ``/Q`` may not change, nor may ``/NeedAppearances``
be turned on (:class:`_FormRule`); ``/DR`` and the rest are judged by
:func:`drawing_changed`, whatever pyHanko's level. What remains at FORM_FILLING is
signature fields created or filled; ``pdf_verify._modified`` tells a further
signature from the rest."""
