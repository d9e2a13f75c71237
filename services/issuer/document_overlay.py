"""What an annotated copy (加注件) says over and under its fields, and how the PDF
draws it.

The copy's validity statement, "仅供<department>使用，<date>前有效", is what its
reader checks by eye (docs/holder.md). The diagonal across the fields says only
that: "仅供<department>使用" (wrapped onto as many lines as the department's name
needs) and, on a line of its own, "<date>前有效", the font shrunk from 16 pt until
every line fits the page (:func:`draw_diagonal`). The holder's purpose is never on
the diagonal: it is free text of up to 64 characters and once held a validity date
of its own, which the old one-line diagonal (180 mm at 16 pt, no wrapping) drew
where the reader looks while the department and the real date ran off the page
(atk40 R1). Under the fields the statement is written again, followed by the purpose
as a quotation on a line of its own, "用途：「<purpose>」" (:func:`draw_under`).

Nothing here imports fpdf2 at module level: :mod:`services.issuer.authorisation`
builds a :class:`CopyAnnotation` and is imported by services that never render.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

if TYPE_CHECKING:
    from fpdf import FPDF

#: the diagonal's angle (degrees, counter-clockwise) and the point it turns around
DIAGONAL_ANGLE = 30
DIAGONAL_CENTRE = (105.0, 105.0)
#: the length of a diagonal line and the depth of all its lines together (mm): a
#: 170 × 48 mm block turned 30° about (105, 105) spans x 19.4–190.6 mm and y
#: 41.7–168.3 mm of the 210 × 297 mm page, across the fields and clear of the text
#: under them, which starts at y 180 mm or lower
DIAGONAL_LENGTH = 170.0
DIAGONAL_DEPTH = 48.0
#: font sizes the diagonal is tried at, largest first (pt)
DIAGONAL_SIZES = tuple(s / 2 for s in range(32, 11, -1))  # 16 to 6 pt
#: a line's height as a multiple of its font size
LINE_SPACING = 1.35
PT_MM = 25.4 / 72


@dataclass(frozen=True)
class CopyAnnotation:
    """An annotated copy's 加注: for whom, until when, and the holder's purpose."""

    department: str  # the authorised department's name, in full
    date: str  # the day before which the copy is valid, as drawn: 2026年12月11日
    purpose: str  # the holder's purpose, free text (at most 64 characters)

    @property
    def statement(self) -> str:
        """The copy's validity statement: "仅供<department>使用，<date>前有效"."""
        return f"仅供{self.department}使用，{self.date}前有效"

    @property
    def diagonal(self) -> tuple[str, str]:
        """The diagonal's two parts: the department's, then the date's (each starts
        a line)."""
        return f"仅供{self.department}使用", f"{self.date}前有效"

    @property
    def purpose_line(self) -> str:
        """The purpose, quoted as the holder's: "用途：「<purpose>」" (quotation
        marks inside it become 『』, as a quotation within a quotation is written,
        so a purpose cannot close the quotation and go on as the copy's words)."""
        quoted = self.purpose.replace("「", "『").replace("」", "』")
        return f"用途：「{quoted}」"

    @property
    def text(self) -> str:
        """Every character the copy draws of it (for the fonts' subsets)."""
        return self.statement + self.purpose_line


def diagonal_layout(pdf: FPDF, annotation: CopyAnnotation) -> tuple[float, list[str]]:
    """The font size (pt) and the lines of the diagonal: the largest size of
    :data:`DIAGONAL_SIZES` at which the department's part, wrapped, and the date's
    line are each at most :data:`DIAGONAL_LENGTH` long and all of them together at
    most :data:`DIAGONAL_DEPTH` deep (the smallest size when none is: a name within
    the directory's 200 characters always fits by 14 pt)."""
    from fpdf.enums import MethodReturnValue, WrapMode

    lines: list[str] = []
    for size in DIAGONAL_SIZES:
        pdf.set_font_size(size)
        height = size * PT_MM * LINE_SPACING
        lines = [
            line
            for part in annotation.diagonal
            for line in cast(
                "list[str]",
                pdf.multi_cell(
                    DIAGONAL_LENGTH,
                    height,
                    part,
                    dry_run=True,
                    output=MethodReturnValue.LINES,
                    wrapmode=WrapMode.WORD,
                ),
            )
        ]
        if len(lines) * height <= DIAGONAL_DEPTH and all(
            pdf.get_string_width(line) <= DIAGONAL_LENGTH for line in lines
        ):
            return size, lines
    return DIAGONAL_SIZES[-1], lines


def draw_diagonal(pdf: FPDF, annotation: CopyAnnotation) -> None:
    """The diagonal across the fields (in the current font and colour), its lines
    centred on :data:`DIAGONAL_CENTRE`, each centred along its length."""
    size, lines = diagonal_layout(pdf, annotation)
    pdf.set_font_size(size)
    height = size * PT_MM * LINE_SPACING
    x, y = DIAGONAL_CENTRE
    top = y - height * len(lines) / 2
    with pdf.rotation(DIAGONAL_ANGLE, x=x, y=y):
        for number, line in enumerate(lines):
            pdf.set_xy(x - DIAGONAL_LENGTH / 2, top + number * height)
            pdf.cell(DIAGONAL_LENGTH, height, line, align="C")


def draw_under(pdf: FPDF, annotation: CopyAnnotation, y: float) -> None:
    """The statement and, on a line of its own, the quoted purpose, from ``y`` mm
    down (11 pt, in the current colour): 170 mm wide when that ends above the
    licence code's QR (drawn from (150, 200) mm), else 125 mm wide, left of it."""
    from fpdf.enums import MethodReturnValue

    pdf.set_font_size(11)
    said = (annotation.statement, annotation.purpose_line)
    width = 170
    lines = sum(
        len(
            cast(
                "list[str]",
                pdf.multi_cell(
                    width, 6, text, dry_run=True, output=MethodReturnValue.LINES
                ),
            )
        )
        for text in said
    )
    if y + lines * 6 > 199:
        width = 125
    for text in said:
        pdf.set_xy(20, y)
        pdf.multi_cell(width, 6, text, align="L", new_x="LMARGIN", new_y="NEXT")
        y = pdf.get_y()


def diagonal_extent() -> tuple[float, float, float, float]:
    """The page area (left, top, right, bottom mm) the diagonal's block may cover."""
    turn = math.radians(DIAGONAL_ANGLE)
    wide = DIAGONAL_LENGTH * math.cos(turn) + DIAGONAL_DEPTH * math.sin(turn)
    tall = DIAGONAL_LENGTH * math.sin(turn) + DIAGONAL_DEPTH * math.cos(turn)
    x, y = DIAGONAL_CENTRE
    return x - wide / 2, y - tall / 2, x + wide / 2, y + tall / 2
