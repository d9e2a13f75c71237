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
(atk40 R1). Under the fields the statement is written again (11 pt, red), and below
it the holder's purpose as a field of its own (:func:`draw_under`): the label
"用途（持证人填写）" in the copy's red, and right of it a frame, its right edge at the
statement's, holding the purpose as the holder gave it, smaller and dark grey, wrapped
inside the frame. The statement wraps with a hanging indent: only its first line
starts at the margin (atk41h: a purpose wrapped at the margin started a line
"仅供各级机关…使用，2099年12月31日前有效" that read as a second statement). The
purpose is not quoted: quoted with 「」, any character the fonts draw as a corner
bracket closed the quotation to the eye and went on as the copy's words (atk41h: the
halfwidth ｣; atk43holder: ㇘ drawn as 」, Г Γ г drawn as 「, after a list of
look-alikes turned into 『』 had missed them), and no list of look-alikes is ever
whole. In a frame nothing of the purpose closes anything: whatever it holds is drawn
inside the frame, whose edges are lines the copy draws, and the copy says nothing
after it. Every page of a copy carries both (:func:`annotate_page`, drawn as fpdf2
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


#: the label of the purpose's field, the copy's words (red, as the statement), left of
#: the frame the purpose is drawn in. The purpose is not quoted: the holder's words
#: are set apart by layout, a frame of its own whose right edge is fixed and under
#: which the copy says nothing more, so no character of the purpose (a corner bracket
#: or any of the look-alikes the fonts draw: ｣, 亅, ㇘, Г, Γ, г ...) closes anything
#: and goes on as the copy's words (atk41h, atk43holder: a list of look-alikes turned
#: into 『』 always missed some)
PURPOSE_LABEL = "用途（持证人填写）"
#: the frame around the purpose: the room between the label and it, between it and
#: the purpose's lines, across (mm) and up and down (mm), and its line's width (mm)
LABEL_GAP, FRAME_PAD_X, FRAME_PAD_Y, FRAME_LINE = 3.0, 1.5, 0.75, 0.3
#: the height of a statement line and of a purpose line (mm), the room between them
STATEMENT_LINE_MM, PURPOSE_LINE_MM, FRAME_GAP = 6.0, 5.5, 1.0
#: the statement's size and colour (the copy's words: red), and the purpose's, a
#: smaller dark grey (the holder's words, in a frame of their own)
STATEMENT_PT, STATEMENT_RGB = 11.0, (200, 0, 0)
PURPOSE_PT, PURPOSE_RGB = 10.0, (64, 64, 64)
#: on every page of a copy the fields end above FIELDS_BOTTOM (mm): the lines under
#: them start at UNDER_TOP on each page (the diagonal lies across the fields)
FIELDS_BOTTOM, UNDER_TOP = 174.0, 180.0
#: the licence code's QR from (150, 200) mm (from the page's top left), its caption
#: to 246 mm; and the copy's stamp, the platform's seal, below them at the page's
#: lower right: the issuer asks the seal service for its lower left corner at
#: COPY_STAMP mm from the page's lower left (services/issuer/app.py), so a 42 mm
#: seal covers 148-190 mm across, 249-291 mm down. Every line under the fields is
#: left of 145 mm below the QR's top (UNDER_WIDTHS): none is ever under the stamp
#: (atk45 F5: at (110, 40) mm, the 125 mm lines of a long department's name ran
#: under it, and the holder's purpose under the platform's seal)
QR_TOP, COPY_STAMP = 200.0, (148.0, 6.0)
#: the widths the lines under the fields are tried at (from x 20 mm) and the foot each
#: must end above: across the page above the QR code, else left of the QR and the
#: stamp to the page's margin
UNDER_WIDTHS = ((170.0, QR_TOP), (125.0, 287.0))
#: the sizes, of STATEMENT_PT and PURPOSE_PT and their lines' heights, the lines
#: are tried at left of the QR when they do not end above the margin at full size
#: (atk46 F9: 200 characters of U+2E3B THREE-EM DASH, a department's name the
#: directory takes, ran the holder's purpose off the page)
UNDER_SCALES = (1.0, 0.85, 0.7, 0.55)


def under_tries() -> list[tuple[float, float, float]]:
    """(width mm, foot mm, scale) in the order the lines under the fields are tried:
    each width at full size, then the last at each smaller scale."""
    width, foot = UNDER_WIDTHS[-1]
    return [(w, f, 1.0) for w, f in UNDER_WIDTHS] + [
        (width, foot, scale) for scale in UNDER_SCALES[1:]
    ]


@dataclass(frozen=True)
class CopyAnnotation:
    """An annotated copy's 加注: for whom, until when, and the holder's purpose."""

    department: str  # the authorised department's name, in full
    date: str  # the moment before which the copy is valid, as drawn: 2026年12月11日
    # (midnight) or 2026年12月13日16时33分 (authorisation.copy_annotation)
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
    def text(self) -> str:
        """Every character the copy draws of it (for the fonts' subsets)."""
        return self.statement + PURPOSE_LABEL + self.purpose


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


@dataclass(frozen=True)
class UnderLayout:
    """The lines under the fields at a width: the statement's (indent mm, line), the
    label's width (mm) and the purpose's lines in its frame."""

    width: float
    statement: list[tuple[float, str]]
    label_width: float
    purpose: list[str]
    scale: float = 1.0  # of the fonts' sizes and the lines' heights (UNDER_SCALES)

    @property
    def frame(self) -> tuple[float, float]:
        """The frame's left edge, from the statement's margin, and its width (mm)."""
        left = self.label_width + LABEL_GAP
        return left, self.width - left

    @property
    def frame_height(self) -> float:
        return len(self.purpose) * PURPOSE_LINE_MM * self.scale + 2 * FRAME_PAD_Y

    @property
    def height(self) -> float:
        statement = len(self.statement) * STATEMENT_LINE_MM * self.scale
        return statement + FRAME_GAP + self.frame_height


def under_layout(
    pdf: FPDF, annotation: CopyAnnotation, width: float, scale: float = 1.0
) -> UnderLayout:
    """The lines under the fields at ``width`` mm and ``scale`` (in the current
    font): the statement's, its next lines indented past 仅供, then the purpose's,
    wrapped inside its frame, right of :data:`PURPOSE_LABEL`, to the width's right
    edge."""
    from fpdf.enums import MethodReturnValue

    pdf.set_font_size(STATEMENT_PT * scale)
    statement = hanging_lines(pdf, "仅供", annotation.statement[2:], width)
    pdf.set_font_size(PURPOSE_PT * scale)
    label = pdf.get_string_width(PURPOSE_LABEL)
    layout = UnderLayout(width, statement, label, [], scale)
    inside = layout.frame[1] - 2 * FRAME_PAD_X + 2 * pdf.c_margin
    lines = pdf.multi_cell(
        inside, 6, annotation.purpose, dry_run=True, output=MethodReturnValue.LINES
    )
    return UnderLayout(width, statement, label, cast("list[str]", lines), scale)


def draw_under(pdf: FPDF, annotation: CopyAnnotation, y: float) -> None:
    """The statement (:data:`STATEMENT_PT`, red), wrapped with a hanging indent
    (:func:`hanging_lines`), and below it the purpose's field: the label
    (:data:`PURPOSE_LABEL`, red) and, right of it, a frame (dark grey) to the
    width's right edge holding the purpose (:data:`PURPOSE_PT`, dark grey, wrapped
    inside it), from ``y`` mm down, at the first of :func:`under_tries` at which it
    ends above that width's foot: never under the QR code nor the copy's stamp, nor
    off the page."""
    for width, foot, scale in under_tries():
        layout = under_layout(pdf, annotation, width, scale)
        if y + layout.height < foot:
            break
    statement_mm, purpose_mm = (
        STATEMENT_LINE_MM * layout.scale,
        PURPOSE_LINE_MM * layout.scale,
    )
    pdf.set_font_size(STATEMENT_PT * layout.scale)
    pdf.set_text_color(*STATEMENT_RGB)
    for indent, text in layout.statement:
        pdf.set_xy(20 + indent, y)
        pdf.cell(pdf.get_string_width(text) + 2 * pdf.c_margin, statement_mm, text)
        y += statement_mm
    y += FRAME_GAP
    pdf.set_font_size(PURPOSE_PT * layout.scale)
    pdf.set_xy(20, y + FRAME_PAD_Y)
    pdf.cell(layout.label_width + 2 * pdf.c_margin, purpose_mm, PURPOSE_LABEL)
    left, wide = layout.frame
    with pdf.local_context(draw_color=PURPOSE_RGB, line_width=FRAME_LINE):
        pdf.rect(20 + left, y, wide, layout.frame_height)
    pdf.set_text_color(*PURPOSE_RGB)
    y += FRAME_PAD_Y
    for text in layout.purpose:
        pdf.set_xy(20 + left + FRAME_PAD_X - pdf.c_margin, y)
        pdf.cell(pdf.get_string_width(text) + 2 * pdf.c_margin, purpose_mm, text)
        y += purpose_mm


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
