"""Text a licence file draws in a box of fixed width: shrunk, then wrapped, to fit it.

No text of a file is drawn into a width it may be wider than (atk43holder): a field's
title in its 35 mm column (a title of ten CJK characters at 12 pt, such as
法定代表人（负责人）, was drawn over the field's value; registration takes 200) and
the title, the licence type's name, across the page (more than about 23 CJK
characters at 22 pt ran off both edges; registration takes 200). Each is tried at
sizes from its own down to a floor (:data:`TITLE_SIZES`, :data:`FIELD_TITLE_SIZES`)
until it fits in at most so many lines, and below the floor wraps onto as many
lines as it needs: every line is measured in the font it is drawn in, so none is
wider than its box. The PDF (:mod:`services.issuer.document`) and the OFD
(:mod:`services.issuer.document_ofd`) lay out with the same rule (:func:`fitted`),
each measuring with its own fonts.

Nothing here imports fpdf2 at module level (the OFD renderer does not need it).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, cast

if TYPE_CHECKING:
    from fpdf import FPDF

#: a text broken into lines no wider than a width (mm) at a size (pt)
Wrap = Callable[[str, float, float], list[str]]

#: the file's title, the type's name: 22 pt on one line, else down to 14 pt, else
#: wrapped at 14 pt, each line centred on the page; :data:`TITLE_WIDTH` mm wide
TITLE_SIZES: tuple[float, ...] = tuple(float(s) for s in range(22, 13, -1))
TITLE_WIDTH = 170.0
#: a field's title: 12 pt (the values' size) on at most two lines, else down to 8 pt,
#: else wrapped at 8 pt, in its :data:`FIELD_TITLE_WIDTH` mm column
FIELD_TITLE_SIZES: tuple[float, ...] = (12.0, 11.0, 10.0, 9.0, 8.0)
FIELD_TITLE_WIDTH = 35.0
#: a line's height (mm) a point of the font's size: 9 mm at 12 pt, as the values';
#: a wrapped title's lines closer (7 mm at 14 pt)
LINE_MM_PER_PT, TITLE_LINE_MM_PER_PT = 0.75, 0.5


def fitted(
    wrap: Wrap, text: str, width: float, sizes: Sequence[float], most_lines: int
) -> tuple[float, list[str]]:
    """The largest of ``sizes`` at which ``text`` wrapped to ``width`` mm (``wrap``)
    takes at most ``most_lines`` lines, and those lines; else the smallest size and
    as many lines as ``text`` needs there."""
    lines: list[str] = []
    for size in sizes:
        lines = wrap(text, size, width)
        if len(lines) <= most_lines:
            return size, lines
    return sizes[-1], lines


def pdf_wrap(pdf: FPDF) -> Wrap:
    """``pdf``'s line breaking in its current font at a size, to a cell ``width`` mm
    wide (its cell margins included, as :meth:`FPDF.cell` draws the lines)."""
    from fpdf.enums import MethodReturnValue

    def wrap(text: str, size: float, width: float) -> list[str]:
        pdf.set_font_size(size)
        return cast(
            "list[str]",
            pdf.multi_cell(
                width, 5, text, dry_run=True, output=MethodReturnValue.LINES
            ),
        )

    return wrap


def draw_pdf_title(pdf: FPDF, title: str) -> None:
    """The file's title centred on the page from the current line (22 pt, 16 mm high,
    when it fits on one line, as before), shrunk, then wrapped
    (:data:`TITLE_SIZES`); the next line below it."""
    size, lines = fitted(pdf_wrap(pdf), title, TITLE_WIDTH, TITLE_SIZES, 1)
    pdf.set_font_size(size)
    height = 16.0 if len(lines) == 1 else size * TITLE_LINE_MM_PER_PT
    left = (pdf.w - TITLE_WIDTH) / 2
    for line in lines:
        pdf.set_x(left)
        pdf.cell(TITLE_WIDTH, height, line, align="C", new_x="LMARGIN", new_y="NEXT")


def draw_pdf_row(
    pdf: FPDF, title: str, value: str, *, left: float = 20.0, size: float = 12.0
) -> None:
    """A field: its title in the :data:`FIELD_TITLE_WIDTH` mm column from ``left``
    (shrunk, then wrapped: :data:`FIELD_TITLE_SIZES`), its value right of it, 120 mm
    wide at ``size`` pt, wrapped (onto more pages when it is long). The title's lines
    all stay on the page its value starts on; the next row starts below the lower of
    the two."""
    title_size, lines = fitted(
        pdf_wrap(pdf), title, FIELD_TITLE_WIDTH, FIELD_TITLE_SIZES, 2
    )
    height = size * LINE_MM_PER_PT
    title_height = title_size * LINE_MM_PER_PT
    need = max(len(lines) * title_height, height)
    if pdf.auto_page_break and pdf.get_y() + need > pdf.page_break_trigger:
        pdf.add_page()
    top, page = pdf.get_y(), pdf.page
    pdf.set_font_size(title_size)
    for number, line in enumerate(lines):
        pdf.set_xy(left, top + number * title_height)
        pdf.cell(FIELD_TITLE_WIDTH, title_height, line)
    pdf.set_font_size(size)
    pdf.set_xy(left + FIELD_TITLE_WIDTH, top)
    pdf.multi_cell(120, height, value, new_x="LMARGIN", new_y="NEXT")
    if pdf.page == page:
        pdf.set_y(max(pdf.get_y(), top + len(lines) * title_height))
