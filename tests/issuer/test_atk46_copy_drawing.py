"""atk46, without the stack: what a file or copy refused as undrawable is said to
be at fault (services/issuer/printable.py ``content_problem``) and where the
annotated copy draws its lines (services/issuer/document_overlay.py ``draw_under``,
``UNDER_WIDTHS``, ``COPY_STAMP``), measured with PDFium as atk40/atk45 do."""

# fixtures imported from the modules that define them are parameters here
# ruff: noqa: F811
from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from services.issuer.authorisation import copy_annotation
from services.issuer.document import DocumentTemplate
from services.issuer.printable import NOT_DRAWABLE, content_problem
from tests.issuer.test_atk40_redeem import LONGEST_PURPOSE, drawn
from tests.issuer.test_atk45_copy_end import DEPARTMENT, LATE, stamped
from tests.issuer.test_document import CONTENT, fonts  # noqa: F401

MM = 72 / 25.4
#: a value the fonts draw only in its NFC form (U+F90A looks like 金)
UNDRAWN = "王\uf90a明"
#: U+2E3B THREE-EM DASH: a punctuation mark (Pd) the main font draws 2.46 em wide,
#: taken in a department's name (display name, printable, 200 characters) and in
#: a holder's purpose
WIDE = "\u2e3b"


@pytest.mark.parametrize("name", ["title"])
def test_a_field_named_title_is_the_licence_s(fonts, name):
    content = dataclasses.replace(CONTENT, fields=[(name, "职称", UNDRAWN)])
    problem = content_problem(
        content, DocumentTemplate.default_for(content.type_name), fonts
    )
    assert problem is not None
    assert problem.field == f"licence.fields.{name}", problem.field
    assert problem.reason == NOT_DRAWABLE


@pytest.mark.parametrize("name", ["titles", "title_no", "subtitle", "job_title"])
def test_held_fields_named_near_title_are_the_licence_s(fonts, name):
    content = dataclasses.replace(CONTENT, fields=[(name, "职称", UNDRAWN)])
    problem = content_problem(
        content, DocumentTemplate.default_for(content.type_name), fonts
    )
    assert problem is not None and problem.field == f"licence.fields.{name}"
    assert problem.reason == NOT_DRAWABLE


def off_the_page(seen) -> str:
    width, height = seen.size
    return "".join(
        char
        for char, (left, bottom, right, top) in seen.level
        if char.strip()
        and not (left >= 0 and bottom >= 0 and right <= width and top <= height)
    )


@pytest.mark.parametrize(
    ("department", "purpose"),
    [(WIDE * 200, WIDE * 64), (WIDE * 185, LONGEST_PURPOSE)],
    ids=["200-wide-64-wide", "185-wide-longest"],
)
def test_the_lines_under_the_fields_stay_on_the_page(fonts, department, purpose):
    seen = drawn(copy_annotation(department, purpose, LATE), fonts)
    assert seen.pages == 1
    assert off_the_page(seen) == ""


@pytest.mark.parametrize(
    ("department", "purpose", "end"),
    [
        (WIDE * 200, "开户", LATE),
        (WIDE * 120, LONGEST_PURPOSE, LATE),
        (DEPARTMENT[:200], WIDE * 64, LATE),
        (
            DEPARTMENT[:200],
            WIDE * 64,
            dt.datetime(9999, 12, 31, 15, 59, 30, tzinfo=dt.UTC),
        ),
        ("W" * 200, "W" * 64, LATE),
        ("\u042e" * 200, "\u042e" * 64, LATE),  # Ю, 1.01 em
    ],
)
def test_held_wide_text_draws_nothing_under_the_stamp_nor_off_the_page(
    fonts, department, purpose, end
):
    seen = drawn(copy_annotation(department, purpose, end), fonts)
    assert stamped(seen) == ""
    assert off_the_page(seen) == "" and seen.off_the_page() == ""
    turned_under = [
        char for char, (_, bottom, _, _) in seen.turned if bottom < (297 - 180) * MM
    ]
    assert turned_under == []  # the diagonal is above the lines under the fields
