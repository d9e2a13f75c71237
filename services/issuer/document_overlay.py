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
(atk40 R1). Under the fields the statement is written again (11 pt, red), followed
by the purpose as a quotation on a line of its own, "用途：「<purpose>」", smaller
and dark grey (:func:`draw_under`). Both wrap with a hanging indent: only the
statement's first line starts at the margin, and a purpose's next lines start under
its first character, right of 「 (atk41h: a purpose wrapped at the margin started a
line "仅供各级机关…使用，2099年12月31日前有效" that read as a second statement). The
purpose's corner brackets and every look-alike the fonts draw become 『』
(:data:`QUOTE_OPENERS`, :data:`QUOTE_CLOSERS`: atk41h, the halfwidth ｣ closed the
quotation). Every page of a copy carries both (:func:`annotate_page`, drawn as fpdf2
finishes each page: atk41h, a copy of two pages carried them on its last only).

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


#: characters that look like (or are) the corner brackets the copy quotes the purpose
#: with, and what they become inside the quotation: 「 and its look-alikes 『, 」 and
#: its look-alikes 』 (a quotation within a quotation), so that no character of the
#: purpose closes the quotation to the eye and goes on as the copy's words (atk41h:
#: the halfwidth ｣ U+FF63 did). The halfwidth and vertical forms (NFKC: 「」), box
#: drawings and corners of that shape, half brackets, tone bars, ⅃, and the hooked
#: vertical 亅 (U+4E85, ⼅ U+2F05, ㇚ U+31DA) that Noto Sans SC draws as a 」. The
#: console's counter page turns the same set (docs/holder.md).
QUOTE_OPENERS = "「｢﹁┌┍┎┏╒╓╔╭⌜⌈⸢꜒"
QUOTE_CLOSERS = "」｣﹂┘┙┚┛╛╜╝╯⌟⌋⸥˩⅃亅⼅㇚"
_INNER_QUOTES = str.maketrans(
    dict.fromkeys(QUOTE_OPENERS, "『") | dict.fromkeys(QUOTE_CLOSERS, "』")
)
#: what starts the purpose's line; its next lines start under the purpose's first
#: character, right of the opening 「 (a hanging indent), never at the statement's
#: margin where they would read as a statement of the copy's own (atk41h)
PURPOSE_LABEL = "用途：「"
#: the statement's size and colour (the copy's words: red), and the purpose's, a
#: smaller dark grey (the holder's words, quoted)
STATEMENT_PT, STATEMENT_RGB = 11.0, (200, 0, 0)
PURPOSE_PT, PURPOSE_RGB = 10.0, (64, 64, 64)
#: on every page of a copy the fields end above FIELDS_BOTTOM (mm): the lines under
#: them start at UNDER_TOP on each page (the diagonal lies across the fields)
FIELDS_BOTTOM, UNDER_TOP = 174.0, 180.0


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
    def quoted_purpose(self) -> str:
        """The purpose as the copy quotes it: each character of
        :data:`QUOTE_OPENERS` becomes 『 and each of :data:`QUOTE_CLOSERS` 』."""
        return self.purpose.translate(_INNER_QUOTES)

    @property
    def purpose_line(self) -> str:
        """The purpose, quoted as the holder's: "用途：「<purpose>」" (its corner
        brackets and their look-alikes made 『』, :attr:`quoted_purpose`, as a
        quotation within a quotation is written, so a purpose cannot close the
        quotation and go on as the copy's words)."""
        return f"{PURPOSE_LABEL}{self.quoted_purpose}」"

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


def hanging_lines(
    pdf: FPDF, lead: str, rest: str, width: float
) -> list[tuple[float, str]]:
    """``lead`` + ``rest`` broken into lines ``width`` mm wide (in the current font),
    as (indent mm, line): the first line at 0, every next one indented by ``lead``'s
    width, so that only the first starts at the margin."""
    from fpdf.enums import MethodReturnValue

    indent = pdf.get_string_width(lead)
    lines = cast(
        "list[str]",
        pdf.multi_cell(
            width - indent, 6, rest, dry_run=True, output=MethodReturnValue.LINES
        ),
    )
    return [(0.0, lead + lines[0])] + [(indent, line) for line in lines[1:]]


def _under_lines(
    pdf: FPDF, annotation: CopyAnnotation, width: float
) -> list[tuple[float, float, tuple[int, int, int], float, str]]:
    """The lines under the fields at ``width`` mm: (size pt, line height mm, colour,
    indent mm, text): the statement's, its next lines indented past 仅供, then the
    purpose's, its next lines indented past 用途：「."""
    said = []
    pdf.set_font_size(STATEMENT_PT)
    for indent, line in hanging_lines(pdf, "仅供", annotation.statement[2:], width):
        said.append((STATEMENT_PT, 6.0, STATEMENT_RGB, indent, line))
    pdf.set_font_size(PURPOSE_PT)
    quoted = annotation.purpose_line[len(PURPOSE_LABEL) :]
    for indent, line in hanging_lines(pdf, PURPOSE_LABEL, quoted, width):
        said.append((PURPOSE_PT, 5.5, PURPOSE_RGB, indent, line))
    return said


def draw_under(pdf: FPDF, annotation: CopyAnnotation, y: float) -> None:
    """The statement (:data:`STATEMENT_PT`, red) and, from a line of its own, the
    quoted purpose (:data:`PURPOSE_PT`, dark grey), each wrapped with a hanging
    indent (:func:`hanging_lines`), from ``y`` mm down: 170 mm wide when that ends
    above the licence code's QR (drawn from (150, 200) mm), else 125 mm wide, left
    of it."""
    said = _under_lines(pdf, annotation, 170)
    if y + sum(line[1] for line in said) > 199:
        said = _under_lines(pdf, annotation, 125)
    for size, height, colour, indent, text in said:
        pdf.set_font_size(size)
        pdf.set_text_color(*colour)
        pdf.set_xy(20 + indent, y)
        pdf.cell(pdf.get_string_width(text) + 2 * pdf.c_margin, height, text)
        y += height


def annotate_page(pdf: FPDF, annotation: CopyAnnotation) -> None:
    """The page's annotation, drawn as fpdf2 finishes each page of a copy (its
    footer): the diagonal (:func:`draw_diagonal`, red) and the lines under the
    fields from :data:`UNDER_TOP` (:func:`draw_under`), every page alike, so that
    no page of a copy longer than one shows its fields without them (atk41h: they
    were drawn on the last page only). The fields end above :data:`FIELDS_BOTTOM`
    on every page. The page's font, colour and position are kept."""
    x, y, size, colour = pdf.get_x(), pdf.get_y(), pdf.font_size_pt, pdf.text_color
    pdf.set_font("main")
    pdf.set_text_color(*STATEMENT_RGB)
    draw_diagonal(pdf, annotation)
    draw_under(pdf, annotation, UNDER_TOP)
    pdf.set_font_size(size)
    pdf.text_color = colour
    pdf.set_xy(x, y)


def diagonal_extent() -> tuple[float, float, float, float]:
    """The page area (left, top, right, bottom mm) the diagonal's block may cover."""
    turn = math.radians(DIAGONAL_ANGLE)
    wide = DIAGONAL_LENGTH * math.cos(turn) + DIAGONAL_DEPTH * math.sin(turn)
    tall = DIAGONAL_LENGTH * math.sin(turn) + DIAGONAL_DEPTH * math.cos(turn)
    x, y = DIAGONAL_CENTRE
    return x - wide / 2, y - tall / 2, x + wide / 2, y + tall / 2
