"""services/seal/pdf_revisions.py on PDFs built here, no service: where active
content sits, that what an action only names (a page, a field) may change under it,
the bound on what is read, and which signature widgets show on a page."""

from __future__ import annotations

import io

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.generic import pdf_name, pdf_string
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import fields

from services.seal.pdf_revisions import (
    MAX_ACTION_OBJECTS,
    TOO_MUCH,
    active_changes,
    inventory,
    shows_on_a_page,
)
from tests.conftest import blank_pdf
from tests.seal.test_atk15_pdf import _appearance, _written, with_text_field


def _script(text: str) -> generic.DictionaryObject:
    return generic.DictionaryObject(
        {
            pdf_name("/S"): pdf_name("/JavaScript"),
            pdf_name("/JS"): generic.TextStringObject(text),
        }
    )


def _revisions(pdf: bytes):
    """The inventory of every revision of ``pdf``, oldest first, and the reader."""
    reader = PdfFileReader(io.BytesIO(pdf), strict=False)
    count = reader.xrefs.total_revisions
    return [inventory(reader.get_historical_resolver(i)) for i in range(count)], reader


def _scripted(pdf: bytes) -> bytes:
    """``pdf`` (a form with the text field "decision") with a script everywhere a
    viewer finds one, and a GoTo naming page 1 on the field."""
    w = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    page_ref, _ = w.find_page_for_modification(0)
    # a destination as licence files open at: direct in the catalog, rewritten with
    # it, its null read anew in each revision
    w.root[pdf_name("/OpenAction")] = generic.ArrayObject(
        [page_ref, pdf_name("/FitH"), generic.NullObject()]
    )
    w.root[pdf_name("/AA")] = generic.DictionaryObject(
        {pdf_name("/WC"): _script("b()")}
    )
    tree = generic.DictionaryObject(
        {pdf_name("/Names"): generic.ArrayObject([pdf_string("n"), _script("c()")])}
    )
    w.root[pdf_name("/Names")] = generic.DictionaryObject(
        {pdf_name("/JavaScript"): w.add_object(tree)}
    )
    w.update_root()
    page = page_ref.get_object()
    page[pdf_name("/AA")] = generic.DictionaryObject({pdf_name("/O"): _script("d()")})
    link = w.add_object(
        generic.DictionaryObject(
            {
                pdf_name("/Type"): pdf_name("/Annot"),
                pdf_name("/Subtype"): pdf_name("/Link"),
                pdf_name("/Rect"): generic.ArrayObject(
                    [generic.NumberObject(v) for v in (0, 0, 10, 10)]
                ),
                pdf_name("/A"): _script("e()"),
            }
        )
    )
    page["/Annots"].append(link)
    w.mark_update(page_ref)
    field = w.root["/AcroForm"]["/Fields"][0]
    field[pdf_name("/A")] = generic.DictionaryObject(
        {
            pdf_name("/S"): pdf_name("/GoTo"),
            # a null (its repr names an address) and a boolean: written by value
            pdf_name("/D"): generic.ArrayObject(
                [page_ref, pdf_name("/FitH"), generic.NullObject()]
            ),
            pdf_name("/NewWindow"): generic.BooleanObject(False),
        }
    )
    w.mark_update(w.root["/AcroForm"]["/Fields"].raw_get(0))
    return _written(w)


def test_every_place_a_viewer_runs_an_action_is_listed_once():
    (*_, now), _ = _revisions(_scripted(with_text_field(blank_pdf(), "x")))
    link = next(w for w in now.actions if w.startswith("an annotation"))
    assert sorted(now.actions) == sorted(
        [
            "the catalog's /OpenAction",
            "the catalog's /AA",
            "the document JavaScript (/Names /JavaScript)",
            "page 1 /AA",
            link,
            "field 'decision' /A",  # its widget is the field: not listed again
        ]
    )
    assert link.startswith("an annotation on page 1 (object ") and link.endswith("/A")
    assert not now.too_much


def test_what_an_action_only_names_may_change_under_it():
    """A later signature adds a widget to page 1 (the GoTo's target): no action
    changed; its script changed is one."""
    scripted = _scripted(with_text_field(blank_pdf(), "x"))
    w = IncrementalPdfFileWriter(io.BytesIO(scripted), strict=False)
    fields.append_signature_field(
        w, fields.SigFieldSpec("Later", on_page=0, box=(300, 300, 400, 400))
    )
    (*_, before, after), _ = _revisions(_written(w))
    assert active_changes(before, after) == []

    w = IncrementalPdfFileWriter(io.BytesIO(scripted), strict=False)
    w.root["/AA"]["/WC"][pdf_name("/JS")] = pdf_string("changed()")
    w.update_root()
    (*_, before, after), _ = _revisions(_written(w))
    assert active_changes(before, after) == ["the catalog's /AA"]


def test_more_action_objects_than_the_bound_are_a_change_not_read_on():
    w = IncrementalPdfFileWriter(io.BytesIO(blank_pdf()), strict=False)
    action = _script("f()")
    action[pdf_name("/Next")] = generic.ArrayObject(
        [generic.NumberObject(1)] * MAX_ACTION_OBJECTS
    )
    w.root[pdf_name("/OpenAction")] = w.add_object(action)
    w.update_root()
    (before, after), _ = _revisions(_written(w))
    assert after.too_much and not before.too_much
    assert active_changes(before, after) == [TOO_MUCH]
    assert active_changes(after, after) == [TOO_MUCH]  # never taken as unchanged


def _signature_field(pdf: bytes, box, *, appearance: bytes | None, flags: int = 4):
    w = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    fields.append_signature_field(w, fields.SigFieldSpec("S", on_page=0, box=box))
    for _name, _value, ref in fields.enumerate_sig_fields(w):
        widget = ref.get_object()
        widget[pdf_name("/F")] = generic.NumberObject(flags)
        if appearance is None:
            widget.pop(pdf_name("/AP"), None)
        else:
            ap = _appearance(w, (0, 0, 100, 100), appearance)
            widget[pdf_name("/AP")] = generic.DictionaryObject({pdf_name("/N"): ap})
        w.mark_update(ref)
    return _written(w)


def _shows(pdf: bytes, *, unlisted: bool = False) -> bool:
    (*_, now), reader = _revisions(pdf)
    [(_name, _value, ref)] = list(fields.enumerate_sig_fields(reader))
    return shows_on_a_page(ref, set() if unlisted else now.on_pages)


def test_a_signature_widget_shows_only_with_area_content_and_a_page():
    pdf = blank_pdf()
    box = (300, 300, 400, 400)
    assert _shows(_signature_field(pdf, box, appearance=b"0 g 0 0 100 100 re f"))
    assert not _shows(_signature_field(pdf, (0, 0, 0, 0), appearance=b"0 g"))
    assert not _shows(_signature_field(pdf, box, appearance=None))
    assert not _shows(_signature_field(pdf, box, appearance=b"  \n"))
    assert not _shows(_signature_field(pdf, box, appearance=b"0 g", flags=2))
    assert not _shows(_signature_field(pdf, box, appearance=b"0 g"), unlisted=True)


def test_a_long_chain_of_actions_is_followed_to_its_end_without_recursion():
    """/Next chains of 5,000 actions, the last pointing back to the first: read
    without recursion, each once; a change at the far end is found."""
    w = IncrementalPdfFileWriter(io.BytesIO(blank_pdf()), strict=False)
    chain = [w.add_object(_script(f"s{i}()")) for i in range(5000)]
    for here, there in zip(chain, [*chain[1:], chain[0]], strict=True):
        here.get_object()[pdf_name("/Next")] = there
    w.root[pdf_name("/OpenAction")] = chain[0]
    w.update_root()
    chained = _written(w)
    w = IncrementalPdfFileWriter(io.BytesIO(chained), strict=False)
    last = w.root.raw_get("/OpenAction")
    for _ in range(4999):
        last = last.get_object().raw_get("/Next")
    last.get_object()[pdf_name("/JS")] = pdf_string("app.alert('changed')")
    w.mark_update(last)
    (_, before, after), _ = _revisions(_written(w))
    assert not after.too_much
    assert active_changes(before, after) == ["the catalog's /OpenAction"]
