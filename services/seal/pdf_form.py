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

import re
from collections.abc import Iterable, Iterator
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


#: a name in a default appearance string (ISO 32000-1 §12.7.3.3, §7.3.5), its ``#xx``
#: escapes read: EVERY name in it counts as a font it may name, not only the one a
#: regular reading puts before ``Tf`` (atk39b_docs D1: PDFium skips comments, reads a
#: size that is no number as auto, and takes the two words before the first ``Tf``;
#: a name counted that no reader draws with only makes an added font a change)
_DA_NAME = re.compile(rb"/((?:[^\s/\[\]()<>{}%]|#[0-9A-Fa-f]{2})+)")

#: fields and annotations a revision's default appearances are read from, at most
_MAX_APPEARANCE_HOLDERS = 100_000


def default_appearance_fonts(resolver: Any) -> frozenset[str] | None:
    """The names (``/Helv``) any default appearance of ``resolver``'s revision holds:
    the form's ``/DA``, each field's (``/Fields``, their ``/Kids``, and every node
    a widget's ``/Parent`` chain reaches, listed or not: PDFium loads a page's
    widgets and inherits their /DA so) and each page's annotations'; None when that
    is more than :data:`_MAX_APPEARANCE_HOLDERS` objects or does not read (every
    font then counts as named)."""
    try:
        fonts: set[str] = set()
        for holder in _appearance_holders(resolver):
            da = _resolved(resolver, holder.raw_get("/DA")) if "/DA" in holder else None
            if isinstance(da, (generic.TextStringObject, generic.ByteStringObject)):
                raw = da.original_bytes
                for match in _DA_NAME.finditer(raw):
                    fonts.add("/" + _unescaped(match.group(1)))
        return frozenset(fonts)
    except PdfNestingError:
        raise
    except Exception:
        return None


def _unescaped(name: bytes) -> str:
    """A name's characters with its ``#xx`` escapes read, as pyHanko keys it."""
    return re.sub(
        rb"#([0-9A-Fa-f]{2})", lambda m: bytes.fromhex(m[1].decode()), name
    ).decode("latin-1")


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


def drawing_changes(reader: Any, signed: Iterable[int]) -> dict[int, str]:
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
            default_appearance_fonts(resolver) if then.keys() != now.keys() else None,
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
