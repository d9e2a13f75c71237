"""trial 2a, the seal service's words: a page past an OFD's last was said as a count
(``is 5; the document has 5 pages``) while ``--page`` counts from 0; a sealed PDF
with bytes appended after its ``%%EOF`` that are no PDF update verified VALID
(right: no reader shows them) but said "nothing added after it" (wrong)."""

from __future__ import annotations

import pytest

from certseal.crypto import Suite
from certseal.errors import CertsealError
from services.seal.ofd_sign import StampPlace, prepare_seal
from services.seal.pdf import Placement
from services.seal.pdf_after import SIGNED_BYTES_CHANGED, TRAILING_BYTES
from services.seal.pdf_verify import read_pdf_seals
from services.seal.values import no_such_page
from tests.seal.field_pdfs import Tree, page_pdf
from tests.seal.ofd_samples import make_ofd
from tests.seal.test_field_pdfs import keys, seal, seal_ca  # noqa: F401


@pytest.mark.parametrize(
    ("pages", "page", "said"),
    [
        (5, 5, "is 5; the OFD has pages 0 to 4"),
        (2, 7, "is 7; the OFD has pages 0 to 1"),
        (1, 1, "is 1; the OFD has one page, page 0"),
    ],
)
def test_a_page_past_an_ofd_s_last_says_the_pages_from_0(pages, page, said):
    with pytest.raises(CertsealError) as err:
        prepare_seal(
            make_ofd(tuple(f"page {i}" for i in range(pages))),
            seal=b"\x30\x00",
            suite=Suite.SM2,
            stamp_mm=(40.0, 40.0),
            place=StampPlace(page=page),
            signed_at_text="2026-11-30 12:00:00",
        )
    assert (err.value.field, err.value.message) == ("page", said)


def test_a_document_without_pages_says_so():
    assert no_such_page(0, 0, "the PDF") == "is 0; the PDF has no pages"


async def test_a_page_past_a_pdf_s_last_says_the_pages_from_0(seal_ca, keys):  # noqa: F811
    with pytest.raises(CertsealError) as err:
        await seal(seal_ca, keys, page_pdf(Tree()), placement=Placement(page=1))
    assert (err.value.field, err.value.message) == (
        "page",
        "is 1; the PDF has one page, page 0",
    )


@pytest.mark.parametrize(
    ("tail", "note"),
    [
        (b"", "nothing the document shows has changed since it was sealed"),
        (b"garbage that is no PDF update\n", TRAILING_BYTES),
        (b"\x00\xff" * 200, TRAILING_BYTES),
    ],
)
async def test_bytes_after_the_signed_revision_are_said_as_such(
    seal_ca,  # noqa: F811
    keys,  # noqa: F811
    tail,
    note,
):
    sealed = await seal(seal_ca, keys, page_pdf(Tree())) + tail
    [found] = await read_pdf_seals(sealed, ca=seal_ca.cert)
    assert found.intact and not found.modified
    assert f"{note}; pyHanko's own finding: " in found.detail
    assert found.detail.endswith("modification level NONE")
    if note != TRAILING_BYTES:
        assert TRAILING_BYTES not in found.detail


async def test_a_byte_changed_inside_the_signed_bytes_is_not_said_unmodified(
    seal_ca,  # noqa: F811
    keys,  # noqa: F811
):
    """trial41: a sealed PDF with one byte flipped inside what it signed said
    "…; pyHanko's own finding: coverage ENTIRE_FILE, modification level NONE",
    which reads as "nothing changed" beside the failed signature. The change is in
    the signed bytes, and the detail says so."""
    sealed = bytearray(await seal(seal_ca, keys, page_pdf(Tree())))
    at = sealed.index(b"/MediaBox")
    sealed[at + 1] ^= 0x20  # /mediaBox: inside the first byte range
    [found] = await read_pdf_seals(bytes(sealed), ca=seal_ca.cert)
    assert not found.intact and found.modified
    assert found.detail.startswith(SIGNED_BYTES_CHANGED), found.detail
    assert "the signed bytes do not match the signature's digest" in found.detail
    assert "nothing was added after them" in found.detail
    assert "modification level NONE" not in found.detail
