"""atk45: the annotated copy's end said to the minute (authorisation.copy_until_said)
and what its longer words do to the page.

Held: for any aware end (any UTC offset, microseconds, UTC midnight, the last second
of a CST day) the moment said is never later than the end, and at most a minute
earlier unless the end is CST midnight (the day alone, "<day>前有效").

Found (F5, fixed: the copy's stamp now goes below the QR code, where no line under
the fields reaches): the lines under the fields (the statement, then the purpose's frame) fall
back to 125 mm wide when they do not end above 199 mm, and nothing bounds them
after that: they run down into the place the issuer's seal service puts the copy's
stamp (``services/issuer/app.py`` ``seal_pdf``: x_mm=110, y_mm=40 from the page's
lower left, 42 mm: 110-152 mm across, 215-257 mm from the top), so the holder's
purpose is drawn under the platform's seal. The minute-long date brings that on
with a shorter department name (72 characters, where a day alone needed 76)."""

from __future__ import annotations

import datetime as dt
import random
import re

import pytest

from services.issuer.authorisation import BEIJING, copy_annotation, copy_until_said
from services.issuer.document_overlay import COPY_STAMP
from tests.issuer.test_atk40_redeem import LONGEST_PURPOSE, drawn
from tests.issuer.test_document import fonts  # noqa: F401

MM = 72 / 25.4
#: the copy's stamp (SealPdf at COPY_STAMP, 42 mm; it was at x_mm=110, y_mm=40), in
#: points from the page's lower left: left, bottom, right, top
STAMP = (
    COPY_STAMP[0] * MM,
    COPY_STAMP[1] * MM,
    (COPY_STAMP[0] + 42) * MM,
    (COPY_STAMP[1] + 42) * MM,
)
#: where it was, which the lines under the fields ran into (atk45 F5)
OLD_STAMP = (110 * MM, 40 * MM, 152 * MM, 82 * MM)
MIDNIGHT = dt.datetime(2026, 12, 10, 16, tzinfo=dt.UTC)  # 2026-12-11 00:00 CST
LATE = dt.datetime(2026, 12, 11, 15, 59, 30, tzinfo=dt.UTC)  # 23:59:30 CST
DEPARTMENT = "深圳市南山区人力资源和社会保障局" * 13  # the directory takes 200


def said_back(said: str) -> dt.datetime:
    found = re.fullmatch(r"(\d+)年(\d+)月(\d+)日(?:(\d+)时(\d\d)分)?", said)
    assert found, said
    year, month, day, hour, minute = found.groups()
    return dt.datetime(
        int(year), int(month), int(day), int(hour or 0), int(minute or 0),
        tzinfo=BEIJING,
    )  # fmt: skip


def test_held_the_end_said_is_never_later_than_the_end():
    pick = random.Random(45)
    ends = [
        MIDNIGHT,
        LATE,
        MIDNIGHT + dt.timedelta(microseconds=1),
        MIDNIGHT - dt.timedelta(microseconds=1),
        dt.datetime(2026, 12, 11, tzinfo=dt.UTC),  # UTC midnight: 08:00 CST
        dt.datetime(9999, 12, 31, 15, 59, 59, 999999, tzinfo=dt.UTC),
    ]
    for _ in range(20_000):
        offset = dt.timezone(dt.timedelta(minutes=pick.randint(-1439, 1439)))
        moment = MIDNIGHT + dt.timedelta(microseconds=pick.randint(-(10**14), 10**14))
        ends.append(moment.astimezone(offset))
    for end in ends:
        said = copy_until_said(end)
        back = said_back(said)
        assert back <= end, (end, said)
        if end.astimezone(BEIJING).time() != dt.time(0):
            assert end - back < dt.timedelta(minutes=1), (end, said)
            assert "时" in said


def stamped(seen, box=STAMP) -> str:
    left, bottom, right, top = box
    return "".join(
        char
        for char, (x0, y0, x1, y1) in seen.level
        if x1 > left and x0 < right and y1 > bottom and y0 < top and char.strip()
    )


def test_premise_a_short_department_draws_nothing_under_the_stamp(fonts):  # noqa: F811
    said = copy_annotation("深圳市市场监督管理局", LONGEST_PURPOSE, LATE)
    assert stamped(drawn(said, fonts)) == ""
    # a 70-character name ending to the minute: still clear
    said = copy_annotation(DEPARTMENT[:70], LONGEST_PURPOSE, LATE)
    assert stamped(drawn(said, fonts)) == ""


@pytest.mark.parametrize(
    ("length", "ends"),
    [(72, LATE), (200, MIDNIGHT), (200, LATE)],
    ids=["72-to-the-minute", "200-midnight", "200-to-the-minute"],
)
def test_nothing_is_drawn_where_the_copy_s_stamp_goes(fonts, length, ends):  # noqa: F811
    said = copy_annotation(DEPARTMENT[:length], LONGEST_PURPOSE, ends)
    seen = drawn(said, fonts)
    assert seen.off_the_page() == ""
    assert stamped(seen) == ""
    assert stamped(seen, OLD_STAMP) != ""  # premise: where the stamp was, lines run
