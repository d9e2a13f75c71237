# ruff: noqa: F811  (the fixtures imported below are parameters of the tests)
"""words39 (new users' leftovers) in a sealed PDF's report.

3. An annotation (a comment, a stamp, a drawing) added after a seal was said as
   "objects added or replaced that no signing explains": it is said as what it is,
   and on which page (counted from 1), before pyHanko's own line.
"""

from __future__ import annotations

import io

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

from services.seal.pdf import Placement
from services.seal.pdf_verify import read_pdf_seals
from tests.seal.field_pdfs import Page, Tree, page_pdf
from tests.seal.test_field_pdfs import keys, seal, seal_ca  # noqa: F401

ANNOTATION_ADDED = (
    "an annotation (comment, stamp or drawing) was added to page 2 after it"
)


def _annotated(pdf: bytes, page: int, *, listed: bool = True) -> bytes:
    """``pdf`` with a comment (a /Text annotation) added by an incremental update:
    on page ``page`` (from 0), in its /Annots, or (``listed`` False) defined only."""
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    note = writer.add_object(
        generic.DictionaryObject(
            {
                generic.pdf_name("/Type"): generic.pdf_name("/Annot"),
                generic.pdf_name("/Subtype"): generic.pdf_name("/Text"),
                generic.pdf_name("/Rect"): generic.ArrayObject(
                    [generic.NumberObject(n) for n in (100, 100, 120, 120)]
                ),
                generic.pdf_name("/Contents"): generic.TextStringObject("VOID"),
            }
        )
    )
    if listed:
        page_ref = writer.root["/Pages"]["/Kids"][page]
        page_dict = page_ref.get_object()
        annots = page_dict.get("/Annots", generic.ArrayObject())
        page_dict["/Annots"] = generic.ArrayObject([*annots, note])
        writer.update_container(page_dict)
    else:
        writer.update_root()
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


async def test_an_annotation_added_after_a_seal_is_said_as_one_with_its_page(
    seal_ca, keys
):
    sealed = await seal(seal_ca, keys, page_pdf(Tree(pages=[Page(), Page()])))
    [found] = await read_pdf_seals(_annotated(sealed, 1), ca=seal_ca.cert)
    assert found.intact and found.modified, found.detail
    assert found.detail.startswith(
        f"{ANNOTATION_ADDED} (pyHanko: There are unexplained xrefs"
    ), found.detail
    assert "objects added or replaced" not in found.detail, found.detail


async def test_an_annotation_on_no_page_is_no_change(seal_ca, keys):
    """It shows nowhere; pyHanko takes it for an orphan."""
    sealed = await seal(seal_ca, keys, page_pdf())
    [found] = await read_pdf_seals(_annotated(sealed, 0, listed=False), ca=seal_ca.cert)
    assert found.intact and not found.modified, found.detail


async def test_annotations_on_several_pages_are_counted_and_their_pages_named(
    seal_ca, keys
):
    sealed = await seal(seal_ca, keys, page_pdf(Tree(pages=[Page()] * 3)))
    annotated = _annotated(_annotated(_annotated(sealed, 0), 2), 2)
    [found] = await read_pdf_seals(annotated, ca=seal_ca.cert)
    assert found.detail.startswith(
        "3 annotations (comments, stamps or drawings) were added to pages 1, 3 after "
        "it (pyHanko: "
    ), found.detail


async def test_a_later_seal_is_no_annotation_but_a_comment_after_it_is(seal_ca, keys):
    """A later seal's widget is an annotation too: it is no change; a comment added
    after both is, for both, said on its page."""
    sealed = await seal(seal_ca, keys, page_pdf(Tree(pages=[Page(), Page()])))
    twice = await seal(
        seal_ca, keys, sealed, placement=Placement(x_mm=100), new_field_name="Second"
    )
    first, second = await read_pdf_seals(twice, ca=seal_ca.cert)
    assert not first.modified and not second.modified, (first.detail, second.detail)
    found = await read_pdf_seals(_annotated(twice, 1), ca=seal_ca.cert)
    for one in found:
        assert one.modified and one.detail.startswith(ANNOTATION_ADDED), one.detail
