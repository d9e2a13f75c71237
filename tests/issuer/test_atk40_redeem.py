"""atk40: an outside attacker's tries at the holder's 授权用证 redemption after
atk39b_holder (the redemption recorded under the authorisation's row lock and the
lineage's share lock, the copy dated the earlier of expiry and licence end).

Found:

* R1 (medium) the annotated copy's diagonal overlay (``document.render_licence_pdf``:
  one 180 mm cell at 16 pt, centred on a 30° line through the page's middle, no
  wrapping or shrinking) runs off the page at both ends once "仅供<department>办理
  <purpose>使用，<date>前有效" is longer than the page's diagonal holds (about 45
  characters). The department's name and the date, what the copy's reader checks
  by eye (docs/holder.md), are then not drawn on the prominent diagonal; only the
  middle, the holder's purpose, is. A purpose is any 1 to 64 visible characters
  (``check_display_name``), so a holder can authorise with the purpose
  "开户使用，2099年12月31日前有效。另供各级机关查验以下证照用于各类业务办理及存档备查":
  the platform-sealed copy's diagonal then reads "，2099年12月31日前有效。另供各级机关
  查验…", the real department and date off the page (the line under the fields
  still says all of it). An honest long department name with a long purpose loses
  its date the same way.

Held (read in the code and the existing e2e tests): a withdrawal, revocation or
renewal committed while the copy is rendered (one transaction locks the
authorisation FOR UPDATE, then the lineage FOR SHARE; every lineage change updates
that row, no path locks them the other way round, so no deadlock); expiry at the
instant (``now >= expires_at`` both before the copy and in the transaction, with a
fresh clock); an expiry after the licence's end (refused at authorise, the copy
dated the earlier); another department (NOT_FOUND before anything else); another
counter (exact match; the console's clerk is an account name of at most 64 ASCII
characters, the same shape an authorisation's counter must have, so the issuer's
``unquote(...)[:64]`` cannot make two names meet); redeeming twice (each recorded,
as designed); the reply's fields and the copy's are both the authorised fields the
type shows (licence types cannot be re-registered); control, direction and
invisible characters in a purpose (refused).
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from certseal.text import display_name_problem
from services.issuer.authorisation import MAX_PURPOSE_CHARS, annotation_text
from tests.issuer.test_document import CONTENT, fonts, render  # noqa: F401

#: a purpose the holder app may give (visible characters, at most 64) that puts a
#: validity date of its own in the middle of the overlay
FORGED_PURPOSE = (
    "开户使用，2099年12月31日前有效。另供各级机关查验以下证照用于各类业务办理及存档备查"
)
#: an honest long department name and purpose
LONG_DEPARTMENT = "深圳市南山区人力资源和社会保障局"
LONG_PURPOSE = (
    "开立银行账户及办理个人住房公积金贷款、不动产抵押登记与相关税费缴纳等业务的资料核验"
)
EXPIRES = dt.datetime(2026, 12, 10, 16, tzinfo=dt.UTC)  # 2026-12-11 00:00 CST


def _diagonal_drawn(said: str, fonts) -> str:  # noqa: F811
    """The characters of the overlay ``said`` that PDFium draws on the page on the
    copy's diagonal line (the one whose characters do not share a baseline)."""
    import pypdfium2

    document = pypdfium2.PdfDocument(
        render(fonts, dataclasses.replace(CONTENT, annotation=said))
    )
    page = document[0]
    width, height = page.get_size()
    text = page.get_textpage()
    try:
        for start in range(text.count_chars()):
            if text.get_text_range(start, len(said)) != said:
                continue
            boxes = [text.get_charbox(start + i) for i in range(len(said))]
            if boxes[0][1] == boxes[-1][1]:
                continue  # a horizontal line
            return "".join(
                char
                for char, (left, bottom, right, top) in zip(said, boxes, strict=True)
                if left >= 0 and bottom >= 0 and right <= width and top <= height
            )
    finally:
        document.close()
    raise AssertionError("no diagonal overlay")


def test_premise_the_forged_purpose_is_one_a_holder_may_give():
    assert len(FORGED_PURPOSE) <= MAX_PURPOSE_CHARS
    assert display_name_problem(FORGED_PURPOSE) is None
    assert len(LONG_PURPOSE) <= MAX_PURPOSE_CHARS
    assert display_name_problem(LONG_PURPOSE) is None


def test_premise_a_short_overlay_is_drawn_whole(fonts):  # noqa: F811
    said = annotation_text("深圳市市场监督管理局", "开立银行账户", EXPIRES)
    assert _diagonal_drawn(said, fonts) == said


@pytest.mark.xfail(
    strict=True,
    reason="atk40: the copy's diagonal overlay runs off the page, its department "
    "and date undrawn, a purpose's own date in their place",
)
@pytest.mark.parametrize(
    ("department", "purpose"),
    [("某局", FORGED_PURPOSE), (LONG_DEPARTMENT, LONG_PURPOSE)],
    ids=["forged-date-in-the-purpose", "long-department-and-purpose"],
)
def test_the_copys_diagonal_overlay_draws_the_department_and_date(
    fonts,  # noqa: F811
    department,
    purpose,
):
    said = annotation_text(department, purpose, EXPIRES)
    drawn = _diagonal_drawn(said, fonts)
    assert drawn.startswith(f"仅供{department}"), drawn
    assert drawn.endswith("2026年12月11日前有效"), drawn
