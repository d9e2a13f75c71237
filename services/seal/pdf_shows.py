"""What a signature field's widgets draw on a page, as the common readers draw it:
PDFium (Chrome) with its forms, poppler on screen and in print, pdf.js.

A signature field that did not exist when a seal signed and that no reader draws is
no change after it (:func:`excused_fields`); a later signature whose widget some
reader draws (:func:`shows_on_a_page`) must be a seal VALID here
(:func:`services.seal.pdf_verify.painted_over`). Only what no reader draws counts as
drawing nothing: a widget flagged Hidden (an integer /F with bit 2, ISO 32000-1
§12.5.3), one whose /Rect has no area, or one with no appearance of its own and
nothing poppler draws in its place. NoView (bit 6) is no such flag: PDFium draws a
NoView widget with its forms, and poppler prints it when it is also flagged Print
(atk39pdf F2: a NoView empty field covering the sealed page left the seal VALID).
Anything unreadable counts as drawn.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pyhanko.pdf_utils import generic
from pyhanko.sign.fields import enumerate_sig_fields
from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature

from services.seal.pdf import PdfNestingError
from services.seal.pdf_entries import entry

_Ref = tuple[int, int]

#: an annotation's Hidden flag (ISO 32000-1 §12.5.3, bit 2)
_HIDDEN = 2

#: flags outside a 32-bit signed integer: poppler reads such a number as a real, and
#: a real /F as no flags at all (it draws the widget; PDFium saturates, pdf.js wraps)
_FLAGS_BOUND = 2**31


def _ref(value: Any) -> _Ref | None:
    if isinstance(value, generic.IndirectObject):
        return (value.idnum, value.generation)
    return None


def hidden(widget: Any) -> bool:
    """Whether every common reader leaves ``widget`` undrawn by its flags: /F a direct
    integer from 0 to 2**31 - 1 with the Hidden bit. Measured (PDFium with forms,
    poppler's Splash and Cairo on screen and printing, as ``pdftocairo -pdf``): NoView
    (/F 32) is drawn by PDFium, NoView with Print (/F 36) printed by poppler too;
    Hidden as a real (/F 2.0, 2.5) or past 2**31 is drawn by poppler, which reads
    either as no flags."""
    flags = dict.get(widget, "/F", generic.NumberObject(0))
    if type(flags) is not generic.NumberObject:  # a real, a reference, a name
        return False
    return 0 <= int(flags) < _FLAGS_BOUND and bool(int(flags) & _HIDDEN)


def _no_area(widget: Any) -> bool:
    """Whether ``widget``'s /Rect has no area: readers map its appearance onto it, so
    nothing shows (measured: a 100-wide stroke in a zero-width /Rect, in PDFium and
    poppler). A /Rect that does not read (not four numbers) raises."""
    x1, y1, x2, y2 = (float(v) for v in widget["/Rect"])
    return (x2 - x1) * (y2 - y1) == 0


def _drawn_in_its_place(widget: Any) -> bool:
    """Whether poppler draws something for ``widget`` beside its appearance: when it
    has no normal appearance it can use (none, or a state /AS does not name) or the
    form asks for appearances anew (/NeedAppearances), poppler draws the /MK
    background (/BG) and border (/BC) colours over the /Rect (measured: a signature
    widget with /MK /BG red and no /AP painted the page red, on screen and in print).
    Counted whatever the appearance: a genuine signature's widget has no /MK colour
    or shows already."""
    mk = entry(widget, "/MK")
    if not isinstance(mk, generic.DictionaryObject):
        return mk is not None  # an /MK that is no dictionary: unread, counted
    colours = (entry(mk, key) for key in ("/BG", "/BC"))
    return any(isinstance(c, generic.ArrayObject) and len(c) > 0 for c in colours)


def shows_on_a_page(field_ref: Any, on_pages: set[_Ref]) -> bool:
    """Whether a signature field paints something a reader sees: one of its widgets
    is listed in a page's /Annots (``on_pages``), is not Hidden (:func:`hidden`), has
    a /Rect of some area, and has an appearance (:func:`_appearances`: normal,
    rollover or down, a stream or any of its states) with content or /MK colours
    poppler draws (:func:`_drawn_in_its_place`). Anything unreadable counts as
    shown."""
    try:
        field_obj = field_ref.get_object()
        kids = dict.get(field_obj, "/Kids")
        widgets = list(kids.get_object()) if kids is not None else [field_ref]
        for widget_ref in widgets:
            if _ref(widget_ref) not in on_pages:
                continue
            widget = widget_ref.get_object()
            if hidden(widget) or _no_area(widget):
                continue
            if _drawn_in_its_place(widget) or any(
                isinstance(s, generic.StreamObject) and s.data.strip()
                for s in _appearances(widget)
            ):
                return True
        return False
    except PdfNestingError:
        raise
    except Exception:
        return True


def _appearances(widget: Any) -> list[Any]:
    """A widget's normal, rollover and down appearances (§12.5.5), states unfolded."""
    ap = entry(widget, "/AP") or {}
    values = [ap[key] for key in ("/N", "/R", "/D") if key in ap]
    return [v for v in values if isinstance(v, generic.StreamObject)] + [
        s.get_object()
        for v in values
        if isinstance(v, generic.DictionaryObject)
        for s in v.values()
    ]


def shows_nothing(field: Any) -> bool:
    """Whether no reader draws any widget of a signature field: each Hidden
    (:func:`hidden`) or with a /Rect of no area. Anything unreadable counts as
    shown."""
    try:
        field = field.get_object()
        kids = field.get("/Kids")
        widgets = [k.get_object() for k in kids] if kids else [field]
        for widget in widgets:
            if not (hidden(widget) or _no_area(widget)):
                return False
        return bool(widgets)
    except Exception:
        return False


def excused_fields(
    reader: Any, embedded: Sequence[EmbeddedPdfSignature]
) -> dict[int, frozenset[str]]:
    """Per signature (by ``id``), the signature fields that did not exist in its
    signed revision and show nothing now (:func:`shows_nothing`): adding one, even
    with a value that is no valid signature, changes nothing a reader sees, so it is
    not counted as a change after that signature (it is listed with its own verdict).
    A field that existed when it signed (its own, an earlier seal's) is never
    excused: hiding it is a change."""
    invisible = {
        str(name)
        for name, _value, field in enumerate_sig_fields(reader)
        if shows_nothing(field)
    }
    found = {}
    for signature in embedded:
        then = reader.get_historical_resolver(signature.signed_revision)
        existed = {str(name) for name, _v, _f in enumerate_sig_fields(then)}
        found[id(signature)] = frozenset(invisible - existed)
    return found
