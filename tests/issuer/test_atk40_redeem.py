"""atk40: an outside attacker's tries at the holder's 授权用证 redemption after
atk39b_holder (the redemption recorded under the authorisation's row lock and the
lineage's share lock, the copy dated the earlier of expiry and licence end).

Found:

* R1 (medium, fixed) the annotated copy's diagonal overlay (``document.render_licence_pdf``:
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
  its date the same way. Fixed (``services/issuer/document_overlay.py``): the diagonal
  says only "仅供<department>使用" (wrapped) and, on a line of its own, "<date>前有效",
  shrunk from 16 pt until every line is on the page; the purpose is drawn only
  under the fields, after the statement, on a line of its own (since atk43holder in
  a labelled frame, "用途（持证人填写）", no longer quoted "用途：「…」").

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
from services.issuer.authorisation import MAX_PURPOSE_CHARS, copy_annotation
from services.issuer.document_overlay import CopyAnnotation, diagonal_extent
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
#: the longest names the directory takes (``onboard_department``: 200 characters)
LONGEST_DEPARTMENT = (LONG_DEPARTMENT * 13)[:200]
LONGEST_LATIN_DEPARTMENT = (
    "Shenzhen Nanshan District Human Resources and Social Security Bureau " * 3
)[:200].strip()
LONGEST_PURPOSE = (LONG_PURPOSE * 2)[:MAX_PURPOSE_CHARS]
EXPIRES = dt.datetime(2026, 12, 10, 16, tzinfo=dt.UTC)  # 2026-12-11 00:00 CST
DATE = "2026年12月11日前有效"
#: the longest date a copy says: its end to the minute (trial44)
LATE = dt.datetime(2026, 12, 11, 15, 59, 30, tzinfo=dt.UTC)  # 2026-12-11 23:59:30 CST
LATE_DATE = "2026年12月11日23时59分前有效"


@dataclasses.dataclass
class Drawn:
    """What PDFium reads on the copy's page (boxes in points from the page's foot)."""

    pages: int
    size: tuple[float, float]
    #: the characters drawn turned (the diagonal), with their boxes
    turned: list[tuple[str, tuple[float, float, float, float]]]
    #: the characters drawn level, in drawing order, with their boxes
    level: list[tuple[str, tuple[float, float, float, float]]]

    @property
    def diagonal(self) -> str:
        return "".join(char for char, _ in self.turned)

    @property
    def level_text(self) -> str:
        return (
            "".join(char for char, _ in self.level).replace("\r", "").replace("\n", "")
        )

    def off_the_page(self) -> str:
        width, height = self.size
        return "".join(
            char
            for char, (left, bottom, right, top) in self.turned
            if not (left >= 0 and bottom >= 0 and right <= width and top <= height)
        )


def drawn(said: CopyAnnotation, fonts) -> Drawn:  # noqa: F811
    import pypdfium2
    import pypdfium2.raw as pdfium_c

    document = pypdfium2.PdfDocument(
        render(fonts, dataclasses.replace(CONTENT, annotation=said))
    )
    try:
        page = document[0]
        text = page.get_textpage()
        turned, level = [], []
        for index in range(text.count_chars()):
            char = text.get_text_range(index, 1)
            box = text.get_charbox(index)
            angle = pdfium_c.FPDFText_GetCharAngle(text.raw, index)
            (turned if abs(angle) > 0.01 else level).append((char, box))
        return Drawn(len(document), page.get_size(), turned, level)
    finally:
        document.close()


def test_premise_the_forged_purpose_is_one_a_holder_may_give():
    assert len(FORGED_PURPOSE) <= MAX_PURPOSE_CHARS
    assert display_name_problem(FORGED_PURPOSE) is None
    assert len(LONG_PURPOSE) <= MAX_PURPOSE_CHARS
    assert display_name_problem(LONG_PURPOSE) is None
    for name in (LONGEST_DEPARTMENT, LONGEST_LATIN_DEPARTMENT, LONGEST_PURPOSE):
        assert display_name_problem(name) is None
    assert len(LONGEST_DEPARTMENT) == 200 and len(LONGEST_PURPOSE) == 64


def test_premise_a_short_overlay_is_drawn_whole(fonts):  # noqa: F811
    said = copy_annotation("深圳市市场监督管理局", "开立银行账户", EXPIRES)
    seen = drawn(said, fonts)
    assert seen.diagonal == f"仅供深圳市市场监督管理局使用{DATE}"
    assert seen.off_the_page() == ""


def test_the_diagonal_s_block_is_on_the_page_and_above_the_lines_under_the_fields():
    left, top, right, bottom = diagonal_extent()
    assert left > 0 and right < 210 and top > 0 and bottom < 180


@pytest.mark.parametrize(
    ("department", "purpose"),
    [
        ("某局", FORGED_PURPOSE),
        (LONG_DEPARTMENT, LONG_PURPOSE),
        (LONGEST_DEPARTMENT, LONGEST_PURPOSE),
        (LONGEST_LATIN_DEPARTMENT, FORGED_PURPOSE),
    ],
    ids=[
        "forged-date-in-the-purpose",
        "long-department-and-purpose",
        "longest-department-and-purpose",
        "longest-latin-department",
    ],
)
@pytest.mark.parametrize(("ends", "date"), [(EXPIRES, DATE), (LATE, LATE_DATE)])
def test_the_copys_diagonal_overlay_draws_the_department_and_date(
    fonts,  # noqa: F811
    department,
    purpose,
    ends,
    date,
):
    """Every character of "仅供<department>使用" and "<date>前有效" is drawn on the
    diagonal inside the page's box (a line wrapped at a space loses the space),
    nothing of the purpose is, and the diagonal's foot is above the lines under the
    fields, which give the statement, then the purpose quoted."""
    said = copy_annotation(department, purpose, ends)
    seen = drawn(said, fonts)
    assert seen.pages == 1
    assert seen.off_the_page() == "", seen.diagonal
    squeezed = seen.diagonal.replace(" ", "")
    assert squeezed == f"仅供{department}使用{date}".replace(" ", ""), seen.diagonal
    assert squeezed.endswith(date)
    assert "2099" not in seen.diagonal
    assert "用途" not in seen.diagonal
    # under the fields: the statement, then the purpose's field (atk43holder: its
    # label, then the purpose as given, in a frame)
    statement = f"仅供{department}使用，{date}"
    quoted = f"用途（持证人填写）{purpose}"
    level = seen.level_text
    assert statement.replace(" ", "") in level.replace(" ", ""), level
    assert level.replace(" ", "").endswith(quoted.replace(" ", "")), level
    chars = [char for char, _ in seen.level]
    starts = [i for i in range(len(chars)) if chars[i : i + 2] == ["仅", "供"]]
    under_top = max(box[3] for _, box in seen.level[starts[-1] :])
    assert min(box[1] for _, box in seen.turned) > under_top
