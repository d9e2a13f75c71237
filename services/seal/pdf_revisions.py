"""What the revisions of a PDF hold beyond pyHanko's difference analysis: their
active content, and which signature fields show on the last one's pages.

Active content (ISO 32000-1 §12.6) is every action a viewer may run: ``/A`` and
``/AA`` of every form field and of every annotation on a page (widgets included),
each page's ``/AA``, the catalog's ``/OpenAction`` and ``/AA``, and the document's
JavaScript (``/Names /JavaScript``, §12.6.4.16). pyHanko rates an invisible signature
field added after a seal as validation data (LTA_UPDATES) without looking at the
actions it carries (atk16 F6): a JavaScript-running viewer (Acrobat, Foxit) would run,
when the page opens, a script no seal covers. :func:`inventory` lists every action of
a revision by where it sits, with a digest of everything it reaches;
:func:`active_changes` names where two revisions differ.

What shows: :mod:`services.seal.pdf_shows`.
"""

from __future__ import annotations

import decimal
import hashlib
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pyhanko.pdf_utils import generic
from pyhanko.sign.fields import enumerate_sig_fields

from services.seal.pdf import PdfNestingError
from services.seal.pdf_shows import shows_on_a_page

MAX_ACTION_OBJECTS = 100_000
"""How many objects :func:`inventory` reads for one revision (page-tree nodes,
annotations, fields, actions and what they reach); more is a change (:data:`TOO_MUCH`)."""

TOO_MUCH = (
    f"more than {MAX_ACTION_OBJECTS:,} pages, annotations, fields and action objects "
    "to read (not compared)"
)

#: keys under which an action points back into the document's structure (the page,
#: the parent field): their targets are named by object number, never followed
_BACK_KEYS = frozenset({"/P", "/Parent"})

#: what an action may name but does not hold (a /Hide action's field, a GoTo's page):
#: named by object number, never followed (a later signature would change it)
_STRUCTURE_TYPES = frozenset({"/Page", "/Pages", "/Annot"})

_ACTION_KEYS = ("/A", "/AA")

_Ref = tuple[int, int]


class _TooMuch(Exception):
    """More than :data:`MAX_ACTION_OBJECTS` objects read for one revision."""


@dataclass
class Inventory:
    """One revision's active content and the annotations its pages list."""

    #: where each action sits (e.g. "field 'Quiet' /AA") → a digest of what it holds
    actions: dict[str, bytes] = field(default_factory=dict)
    #: the object numbers of the annotations listed in some page's /Annots
    on_pages: set[_Ref] = field(default_factory=set)
    #: more than :data:`MAX_ACTION_OBJECTS` objects: not read to the end
    too_much: bool = False


def active_changes(then: Inventory, now: Inventory) -> list[str]:
    """Where active content was added, changed or removed from ``then`` to ``now``
    (removing a field's format or validation script changes what a viewer shows)."""
    if then.too_much or now.too_much:
        return [TOO_MUCH]
    return sorted(
        where
        for where in then.actions.keys() | now.actions.keys()
        if then.actions.get(where) != now.actions.get(where)
    )


def inventory(resolver: Any) -> Inventory:
    """The active content of the revision ``resolver`` (a pyHanko
    ``HistoricalResolver``) reads and the annotations on its pages. An unreadable part
    is recorded as such where it sits (damage done after a seal is a change)."""
    found = Inventory()
    digests = _Digests()
    try:
        root = resolver.root
        for key in ("/OpenAction", "/AA"):
            _record(
                found, digests, f"the catalog's {key}", lambda k=key: root.raw_get(k)
            )
        _record(
            found,
            digests,
            "the document JavaScript (/Names /JavaScript)",
            lambda: root["/Names"].raw_get("/JavaScript"),
        )
        in_form = _fields(found, digests, root)
        _pages(found, digests, root, in_form)
    except _TooMuch:
        found.too_much = True
    return found


def _unreadable(exc: Exception) -> bytes:
    return f"unreadable: {type(exc).__name__}".encode()


def _put(found: Inventory, where: str, value: bytes) -> None:
    """Record ``value`` at ``where``; a second one there (two fields of one name)
    is folded in, so neither can stand in for the other."""
    if where in found.actions:
        value = hashlib.sha256(found.actions[where] + b"\0" + value).digest()
    found.actions[where] = value


def _record(found: Inventory, digests: _Digests, where: str, value: Any) -> None:
    """Record the action ``value()`` (None or absent: none) at ``where``."""
    try:
        action = value()
    except KeyError:
        return
    except (PdfNestingError, _TooMuch):
        raise
    except Exception as exc:
        _put(found, where, _unreadable(exc))
        return
    if action is None or isinstance(action, generic.NullObject):
        return
    try:
        _put(found, where, digests.of(action))
    except (PdfNestingError, _TooMuch):
        raise
    except Exception as exc:
        _put(found, where, _unreadable(exc))


def _actions_of(
    found: Inventory, digests: _Digests, where: str, holder: generic.DictionaryObject
) -> None:
    for key in _ACTION_KEYS:
        if key in holder:
            _record(found, digests, f"{where} {key}", lambda k=key: holder.raw_get(k))


def _pages(found: Inventory, digests: _Digests, root: Any, in_form: set[_Ref]) -> None:
    """Every page's /AA and the /A, /AA of every annotation not in the form
    (``in_form``: named by their field already) in page order; the page tree walked
    without recursion, each node once."""
    try:
        stack = [root.raw_get("/Pages")]
    except KeyError:
        return
    seen: set[_Ref] = set()
    number = 0
    while stack:
        digests.spend()
        node_ref = stack.pop()
        ref = _ref(node_ref)
        if ref is not None:
            if ref in seen:
                continue
            seen.add(ref)
        try:
            node = node_ref.get_object()
            if not isinstance(node, generic.DictionaryObject):
                continue
            kind = dict.get(node, "/Type")
            if kind == "/Pages" or ("/Kids" in node and kind != "/Page"):
                stack.extend(reversed(list(_value(node, "/Kids", []))))
                continue
        except (PdfNestingError, _TooMuch):
            raise
        except Exception as exc:
            _put(found, "the page tree", _unreadable(exc))
            continue
        number += 1
        _actions_of(found, digests, f"page {number}", node)
        _annotations(found, digests, number, node, in_form)


def _annotations(
    found: Inventory,
    digests: _Digests,
    number: int,
    page: generic.DictionaryObject,
    in_form: set[_Ref],
) -> None:
    try:
        annots = _value(page, "/Annots", [])
        listed = list(annots) if isinstance(annots, generic.ArrayObject) else []
    except (PdfNestingError, _TooMuch):
        raise
    except Exception as exc:
        _put(found, f"page {number}'s annotations", _unreadable(exc))
        return
    for at, annot_ref in enumerate(listed):
        digests.spend()
        ref = _ref(annot_ref)
        if ref is not None:
            found.on_pages.add(ref)
            if ref in in_form:
                continue
        name = f"object {ref[0]}" if ref is not None else f"#{at + 1}"
        try:
            annot = annot_ref.get_object()
        except (PdfNestingError, _TooMuch):
            raise
        except Exception as exc:
            _put(found, f"an annotation on page {number} ({name})", _unreadable(exc))
            continue
        if isinstance(annot, generic.DictionaryObject):
            _actions_of(
                found, digests, f"an annotation on page {number} ({name})", annot
            )


def _fields(found: Inventory, digests: _Digests, root: Any) -> set[_Ref]:
    """Every form field's and widget's /A, /AA by the field's full name (a widget
    without its own name by its object number), the tree walked without recursion;
    returns the object numbers of the fields and widgets read."""
    seen: set[_Ref] = set()
    try:
        listed = root["/AcroForm"]["/Fields"]
    except KeyError:
        return seen
    except (PdfNestingError, _TooMuch):
        raise
    except Exception as exc:
        _put(found, "the form's fields", _unreadable(exc))
        return seen
    if not isinstance(listed, generic.ArrayObject):
        return seen
    stack = [(kid, "") for kid in reversed(list(listed))]
    while stack:
        digests.spend()
        kid, parent = stack.pop()
        ref = _ref(kid)
        if ref is not None:
            if ref in seen:
                continue
            seen.add(ref)
        try:
            node = kid.get_object()
            if not isinstance(node, generic.DictionaryObject):
                continue
            own = str(node["/T"]) if "/T" in node else ""
        except (PdfNestingError, _TooMuch):
            raise
        except Exception as exc:
            where = f"a field under {parent!r}" if parent else "a field"
            _put(found, where, _unreadable(exc))
            continue
        name = f"{parent}.{own}" if parent and own else own or parent
        where = (
            f"field {name!r}"
            if own or ref is None
            else (f"field {name!r} widget (object {ref[0]})")
        )
        _actions_of(found, digests, where, node)
        kids = dict.get(node, "/Kids")
        if kids is not None:
            try:
                more = kids.get_object()
            except (PdfNestingError, _TooMuch):
                raise
            except Exception as exc:
                _put(found, f"{where} /Kids", _unreadable(exc))
                more = None
            if isinstance(more, generic.ArrayObject):
                stack.extend((k, name) for k in reversed(list(more)))
    return seen


def _scalar(value: Any) -> bytes:
    """A PDF scalar written out by value (not ``repr``: a null's names its address)."""
    if isinstance(value, generic.NullObject):
        return b"null"
    if isinstance(value, generic.BooleanObject):
        return b"true" if value.value else b"false"
    if isinstance(value, str | bytes | int | decimal.Decimal):
        return f"{type(value).__name__}:{value!r}".encode()
    raise TypeError(f"no PDF value: {type(value).__name__}")


def _value(holder: generic.DictionaryObject, key: str, default: Any) -> Any:
    """``holder[key]`` resolved (pyHanko's ``get`` is dict's: unresolved)."""
    try:
        return holder[key]
    except KeyError:
        return default


def _ref(value: Any) -> _Ref | None:
    if isinstance(value, generic.IndirectObject):
        return (value.idnum, value.generation)
    return None


def _is_structure(value: Any) -> bool:
    """A page, page-tree node, annotation or form field: named, never followed."""
    return isinstance(value, generic.DictionaryObject) and (
        dict.get(value, "/Type") in _STRUCTURE_TYPES
        or "/FT" in value
        or dict.get(value, "/Subtype") == "/Widget"
    )


def digest_of(value: Any) -> bytes | None:
    """SHA-256 over ``value`` and every object it reaches (:meth:`_Digests.of`: what
    it only names, a page, a field, an annotation, by number), or None when that is
    more than :data:`MAX_ACTION_OBJECTS` objects."""
    try:
        return _Digests().of(value)
    except _TooMuch:
        return None


class _Digests:
    """Digests of actions within one revision, each object read and written once,
    within :data:`MAX_ACTION_OBJECTS`."""

    def __init__(self) -> None:
        self.left = MAX_ACTION_OBJECTS
        #: object number → its own content written out, and what it refers to
        self._objects: dict[_Ref, tuple[bytes, list[generic.IndirectObject]]] = {}

    def spend(self) -> None:
        self.left -= 1
        if self.left < 0:
            raise _TooMuch

    def of(self, value: Any) -> bytes:
        """SHA-256 over ``value`` written out, then over every object it reaches
        (breadth first, each once, by object number and its own content): any object
        changed in, added to or taken from what the action holds changes it."""
        out = hashlib.sha256()
        refs: list[generic.IndirectObject] = []
        out.update(self._written(value, refs))
        queue = deque(refs)
        seen = {_ref(r) for r in refs}
        while queue:
            target = queue.popleft()
            ref = _ref(target)
            assert ref is not None
            if ref not in self._objects:
                reached: list[generic.IndirectObject] = []
                obj = target.get_object()
                text = b"(named)" if _is_structure(obj) else self._written(obj, reached)
                self._objects[ref] = (text, reached)
            text, reached = self._objects[ref]
            out.update(b" %d %d obj " % ref + text)
            for more in reached:
                if _ref(more) not in seen:
                    seen.add(_ref(more))
                    queue.append(more)
        return out.digest()

    def _written(
        self, value: Any, refs: list[generic.IndirectObject], key: str = ""
    ) -> bytes:
        """``value`` as bytes, a reference as its object number (kept in ``refs``
        to follow unless under a back key); its nesting is bounded by the reader."""
        self.spend()
        if isinstance(value, generic.DecryptedObjectProxy):
            value = value.decrypted
        if isinstance(value, generic.IndirectObject):
            if key not in _BACK_KEYS:
                refs.append(value)
            return b"%d %d R" % (value.idnum, value.generation)
        if isinstance(value, generic.DictionaryObject):
            items = sorted(dict.items(value), key=lambda kv: str(kv[0]))
            text = (
                b"<<"
                + b" ".join(
                    str(k).encode() + b" " + self._written(v, refs, str(k))
                    for k, v in items
                )
                + b">>"
            )
            if isinstance(value, generic.StreamObject):
                text += b" stream " + hashlib.sha256(value.encoded_data).digest()
            return text
        if isinstance(value, generic.ArrayObject):
            return b"[" + b" ".join(self._written(v, refs) for v in value) + b"]"
        return _scalar(value)


def read_revisions(
    reader: Any, signed: Iterable[int]
) -> tuple[dict[int, list[str]], frozenset[str]]:
    """For each signed revision, where active content changed from it to the last
    revision (:func:`active_changes`; none for the last one itself), and the names
    of the signature fields whose widgets show on a page in the last revision
    (:func:`shows_on_a_page`). Nothing is read when nothing came after the earliest
    signature (one seal, the last revision): the common case costs no page walk."""
    last = reader.xrefs.total_revisions - 1
    revisions = set(signed)
    if not revisions or min(revisions) >= last:
        return {revision: [] for revision in revisions}, frozenset()
    now = inventory(reader.get_historical_resolver(last))
    changes = {
        revision: (
            active_changes(inventory(reader.get_historical_resolver(revision)), now)
            if revision < last
            else []
        )
        for revision in revisions
    }
    shown = frozenset(
        str(name)
        for name, _value, field_ref in enumerate_sig_fields(reader)
        if shows_on_a_page(field_ref, now.on_pages)
    )
    return changes, shown
