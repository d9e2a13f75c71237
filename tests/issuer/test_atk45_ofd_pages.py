"""atk45: the licence file's OFD of many pages (services/issuer/document_ofd.py),
attacked without the stack. Held, each here so that it stays so: a licence of the
most fields (100) of the most characters (1,000) is about 180 pages the seal
service's reader opens, every value whole and in order, nothing off a page, over
the QR code (150-190 × 200-240 mm, last page) or the stamp (95-145 × 200-250 mm,
page 1), object and page IDs unique and at most MaxUnitID; a field title of the
most characters (200, wrapped at 8 pt) at a page break stays on the page of its
value's first line."""

from __future__ import annotations

import dataclasses

import pytest

from services.seal.ofd import open_document
from services.seal.ofd_package import read_package
from tests.issuer.test_document import CONTENT
from tests.issuer.test_document_ofd import (  # noqa: F401 (fixture)
    _drawn_pages,
    assert_ids_unique,
    fonts,
    render,
)


def _overlaps(box, left, top, right, bottom) -> bool:
    x, y, w, h = box
    return x < right and x + w > left and y < bottom and y + h > top


def check(ofd: bytes, fields) -> list:
    pages = _drawn_pages(ofd)
    assert len(open_document(read_package(ofd)).pages) == len(pages)
    for number, drawn in enumerate(pages):
        for kind, box, text in drawn:
            x, y, w, h = box
            assert x >= 0 and y >= 0 and x + w <= 210 and y + h <= 297, (kind, text)
            if kind == "TextObject" and text != "扫码核验":
                assert not _overlaps(box, 150, 200, 190, 240), (number, text)
                assert y + h <= 196, (number, text)
            if number == 0:
                assert not _overlaps(box, 95, 200, 145, 250), (kind, text)
    shown = "".join(
        t for drawn in pages for kind, (x, _, _, _), t in drawn
        if kind == "TextObject" and x == 55
    )  # fmt: skip
    at = 0
    for _, _, value in fields:
        at = shown.index(value, at) + len(value)  # whole, in order
    assert_ids_unique(ofd)
    return pages


@pytest.mark.parametrize(
    "chars", ["预包装食品销售（含冷藏冷冻食品）、散装食品销售；", "il"]
)
def test_held_the_most_fields_of_the_most_characters(fonts, chars):  # noqa: F811
    fields = [
        (f"f{i}", f"字段{i}", (f"{i:03d}" + chars * 1000)[:1000]) for i in range(100)
    ]
    pages = check(render(fonts, dataclasses.replace(CONTENT, fields=fields)), fields)
    assert len(pages) > 50


def test_held_the_longest_titles_across_page_breaks(fonts):  # noqa: F811
    fields = [
        (f"f{i}", ("很长的字段标题" * 30)[:200], "经营" * (i * 7 % 60 + 1))
        for i in range(12)
    ]
    pages = check(render(fonts, dataclasses.replace(CONTENT, fields=fields)), fields)
    for drawn in pages:  # a title's lines never below its page's fields' foot
        titles = [(y, h) for kind, (x, y, _, h), _ in drawn if x == 20]
        assert all(y + h <= 196 for y, h in titles), titles
