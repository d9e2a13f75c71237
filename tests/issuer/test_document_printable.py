# fixtures imported from the modules that define them are parameters here
# ruff: noqa: F811
"""atk41h, without the stack: what the annotated copy draws is drawn whole, on every
page, its purpose set apart (atk43holder: in a frame of its own, no longer quoted)
so that it reads as the holder's words only (services/issuer/printable.py,
document_overlay.py, document.py)."""

import dataclasses
import unicodedata

import pypdfium2
import pypdfium2.raw as pdfium_c
import pytest

from certseal.errors import CertsealError, ErrorKind
from services.issuer.document import DocumentRenderer, DocumentTemplate
from services.issuer.document_overlay import PURPOSE_LABEL, CopyAnnotation
from services.issuer.printable import (
    check_printable,
    content_problem,
    drawable_points,
    undrawn_problem,
)
from tests.issuer.test_document import CONTENT, fonts, render  # noqa: F401

MM = 72 / 25.4  # points a millimetre

#: text neither bundled font draws: a CJK compatibility ideograph that looks like 金
#: (NFC U+91D1), CJK Extension G, Uyghur, Hebrew and Arabic letters, an emoji, a
#: combining diaeresis (NFC: ü)
UNDRAWN = {
    "compatibility-ideograph": ("深圳市\uf90a融监督管理局", 4, "\uf90a"),
    "extension-g": ("办理\U00030000字号登记", 3, "\U00030000"),
    "uyghur": ("ئىشلەتكۈچى", 1, "ئ"),
    "hebrew": ("פתיחת חשבון", 1, "פ"),
    "arabic": ("فتح حساب", 1, "ف"),
    "emoji": ("开立银行账户🏦", 7, "🏦"),
    "combining-mark": ("Mu\u0308ller 开户", 3, "\u0308"),
}
#: drawn by one of them: Extension B (HanaMinB), full width, Latin, ideographic space
DRAWN = ["王𠈌𪚥", "ＡＢＣ１２３", "Café 开户", "开户\u3000办理", "办理金融业务"]


@pytest.mark.parametrize("text, position, char", UNDRAWN.values(), ids=list(UNDRAWN))
async def test_text_the_fonts_cannot_draw_is_refused_naming_field_and_character(
    fonts, text, position, char
):
    with pytest.raises(CertsealError) as refused:
        await check_printable(text, "purpose", fonts)
    assert refused.value.kind is ErrorKind.INVALID_ARGUMENT
    assert refused.value.field == "purpose"
    assert f"U+{ord(char):04X}" in refused.value.message
    assert f"at position {position}" in refused.value.message, refused.value.message


def test_the_composed_form_is_said_drawable_but_not_quoted(fonts):
    """atk43holder F6: the words reach a department redeeming a holder's copy and the
    audit log, so they name the character, never the text nor its NFC form."""
    problem = undrawn_problem("深圳市\uf90a融监督管理局", drawable_points(fonts))
    assert problem and "NFC" in problem and "U+F90A" in problem, problem
    assert not set("深圳市金融监督管理局") & set(problem), problem
    problem = undrawn_problem("\U00030000", drawable_points(fonts))
    assert problem and "NFC" not in problem, problem


#: a holder's name and field values the fonts cannot draw as given (NFC they can)
PERSONAL = {
    "holder.name": {"holder_name": "王\uf90a明"},
    "fields.address": {
        "fields": [("address", "住址", "Mu\u0308llerstraße 17, 深圳市福田区")]
    },
    "fields.name": {"fields": [("name", "姓名", "欧阳\uf90a国")]},
}


@pytest.mark.parametrize("field", list(PERSONAL))
def test_a_file_refused_for_a_personal_value_quotes_none_of_it(fonts, field):
    """The refusal of a holder's file or copy names the field, the character and its
    position; no character of the value but the one named by its code point."""
    change = PERSONAL[field]
    content = dataclasses.replace(CONTENT, **change)
    value = change.get("holder_name") or change["fields"][0][2]
    problem = content_problem(
        content, DocumentTemplate.default_for(content.type_name), fonts
    )
    assert problem is not None and problem.field == f"licence.{field}", problem
    said = str(problem)
    composed = unicodedata.normalize("NFC", value)
    assert value not in said and composed not in said, said
    assert not {c for c in composed if ord(c) > 0x2FFF} & set(said), said
    assert "at position" in said and "NFC" in said, said


@pytest.mark.parametrize("text", DRAWN)
async def test_text_the_fonts_draw_is_taken(fonts, text):
    assert await check_printable(text, "purpose", fonts) == text


async def test_without_fonts_nothing_is_checked_where_text_is_taken():
    assert await check_printable("\uf90a", "name", None) == "\uf90a"


@pytest.mark.parametrize(
    "change, field",
    [
        ({"holder_name": "王\uf90a"}, "licence.holder.name"),
        ({"fields": [("place", "经营场所", "ئىشلەتكۈچى")]}, "licence.fields.place"),
        ({"fields": [("place", "经营\U00030000", "深圳")]}, "fields.place.title"),
        (
            {"annotation": CopyAnnotation("深圳\uf90a融局", "2026年1月1日", "开户")},
            "department_name",
        ),
        ({"annotation": CopyAnnotation("某局", "2026年1月1日", "开户🏦")}, "purpose"),
    ],
    ids=["holder", "value", "title", "department", "purpose"],
)
async def test_a_file_that_cannot_be_drawn_whole_is_refused_naming_its_field(
    fonts, change, field
):
    """The renderer refuses (FAILED_PRECONDITION) before any worker draws: a file is
    never sealed with characters left out. The worker refuses too."""
    content = dataclasses.replace(CONTENT, **change)
    template = DocumentTemplate.default_for(content.type_name)
    problem = content_problem(content, template, fonts)
    assert problem is not None and problem.field == field, problem
    assert problem.kind is ErrorKind.FAILED_PRECONDITION
    renderer = DocumentRenderer(fonts=fonts, workers=1)
    with pytest.raises(CertsealError) as refused:
        await renderer.render(
            content, template=template, produced_at=CONTENT.valid_from
        )
    assert refused.value.field == field
    await renderer.close()
    with pytest.raises(ValueError, match="cannot draw"):
        render(fonts, content)


#: corner brackets and look-alikes the fonts draw as one (atk41h's list, which turned
#: them into 『』, and atk43holder's ㇘ Г Γ г, which it missed)
CORNERS = "「」｢｣﹁﹂┌┘╔╝亅⼅㇚㇘ГΓг"


def framed(pdf: bytes, page_number: int = 0) -> tuple[list[str], list[str]]:
    """The level characters a copy's page draws inside the purpose's frame (its one
    path object) and outside it, in the order drawn (white space and PDFium's
    generated line breaks left out). A character partly inside the frame fails."""
    document = pypdfium2.PdfDocument(pdf)
    try:
        page = document[page_number]
        objects = page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_PATH])
        [(left, bottom, right, top)] = [o.get_bounds() for o in objects]
        text = page.get_textpage()
        inside: list[str] = []
        outside: list[str] = []
        for index in range(text.count_chars()):
            char = text.get_text_range(index, 1)
            turned = abs(pdfium_c.FPDFText_GetCharAngle(text.raw, index)) > 0.01
            if turned or not char.strip():
                continue
            x0, y0, x1, y1 = text.get_charbox(index)
            if left < x0 and x1 < right and bottom < y0 and y1 < top:
                inside.append(char)
            else:
                apart = x1 <= left or x0 >= right or y1 <= bottom or y0 >= top
                assert apart, (char, (x0, y0, x1, y1), (left, bottom, right, top))
                outside.append(char)
        return inside, outside
    finally:
        document.close()


@pytest.mark.parametrize("department", ["某局", "深圳市前海深港现代服务业合作区管理局"])
def test_the_purpose_is_drawn_as_given_in_its_frame_and_closes_nothing(
    fonts, department
):
    """atk41h, atk43holder: the purpose is not quoted, so no corner bracket or
    look-alike of one in it closes a quotation: it is drawn whole, as given, inside
    its frame, right of the label; outside the frame the copy draws its statement
    once, the label, and no corner bracket at all."""
    purpose = (
        f"开户{CORNERS[:10]}，仅供各级机关使用，2099年12月31日前有效{CORNERS[10:]}"
    )
    said = CopyAnnotation(department, "2026年1月1日", purpose)
    inside, outside = framed(
        render(fonts, dataclasses.replace(CONTENT, annotation=said))
    )
    assert "".join(inside) == purpose, inside
    drawn = "".join(outside)
    assert drawn.count(said.statement) == 1 and PURPOSE_LABEL in drawn, drawn
    assert "2099" not in drawn and not set(drawn) & set(CORNERS), drawn


# -- the lines under the fields, as PDFium reads them ---------------------------------


def lines_of(pdf: bytes) -> list[list[tuple[str, float, float, float]]]:
    """Per page, the level (not turned) lines: (text, left, bottom of the first
    character, size), in points (from the page's foot)."""
    document = pypdfium2.PdfDocument(pdf)
    pages = []
    try:
        for page in document:
            text = page.get_textpage()
            lines: list[tuple[str, float, float, float]] = []
            current, left, top, size = "", 0.0, 0.0, 0.0
            for index in range(text.count_chars()):
                char = text.get_text_range(index, 1)
                if abs(pdfium_c.FPDFText_GetCharAngle(text.raw, index)) > 0.01:
                    continue
                if char in "\r\n":
                    if current:
                        lines.append((current, left, top, size))
                    current = ""
                    continue
                if not current:
                    box = text.get_charbox(index)
                    left, top = box[0], box[1]
                    size = pdfium_c.FPDFText_GetFontSize(text.raw, index)
                current += char
            if current:
                lines.append((current, left, top, size))
            pages.append(lines)
    finally:
        document.close()
    return pages


LONG_DEPARTMENT = "深圳市前海深港现代服务业合作区管理局" * 6  # wraps the statement
FORGERIES = [
    "开户 仅供各级机关及金融机构使用，2099年12月31日前有效，另供其他单位存档备查核验及复印留存",
    "opening a bank account and tax filing 仅供各级机关使用，2099年12月31日前有效",
    "开立银行账户及办理个人住房公积金贷款不动产抵押登记与相关税费缴纳等业务的资料核"
    "仅供各级机关使用，2099年12月31日前有效",
]


@pytest.mark.parametrize("department", ["某局", LONG_DEPARTMENT], ids=["short", "long"])
@pytest.mark.parametrize("purpose", FORGERIES, ids=["spaced", "latin", "counted"])
def test_only_the_statements_first_line_starts_at_the_margin(
    fonts, department, purpose
):
    """atk41h F1: a purpose wrapped at the margin read as a second statement. Every
    next line of the statement starts right of the margin (past 仅供), every line of
    the purpose right of its label (in its frame, atk43holder), the purpose smaller
    than the statement: the lines at the margin are the statement's first and the
    label's, "用途（持证人填写）"."""
    said = CopyAnnotation(department, "2026年12月15日", purpose)
    content = dataclasses.replace(CONTENT, annotation=said)
    [page] = lines_of(render(fonts, content))
    start = next(i for i, line in enumerate(page) if line[0].startswith("仅供"))
    under = page[start:]
    margin = under[0][1]
    at_margin = [text for text, left, _, _ in under if abs(left - margin) < 2]
    assert len(at_margin) == 2 and at_margin[1].startswith(PURPOSE_LABEL), at_margin
    first = [text for text, *_ in under].index(at_margin[1])
    assert all(size < under[0][3] for *_, size in under[first:]), under
    drawn = "".join(text for text, *_ in under[first:])  # a wrap drops its space
    assert drawn.replace(" ", "") == (PURPOSE_LABEL + purpose).replace(" ", ""), drawn
    label_right = under[first][1] + len(PURPOSE_LABEL) * 10  # 10 pt, 1 em a char
    assert all(left >= label_right for _, left, *_ in under[first + 1 :]), under


@pytest.mark.parametrize("length", [700, 1000])
def test_every_page_of_a_long_copy_carries_its_annotation(fonts, length):
    """atk41h F4: the diagonal, the statement and the framed purpose on each page."""
    said = CopyAnnotation("某局", "2026年12月15日", "开立银行账户")
    value = ("深圳市福田区福田街道福安社区益田路5023号平安金融中心南塔" * 40)[:length]
    content = dataclasses.replace(
        CONTENT, fields=[("place", "经营场所", value)], annotation=said
    )
    pdf = render(fonts, content)
    pages = lines_of(pdf)
    assert len(pages) >= 2
    for page in pages:
        texts = [text for text, *_ in page]
        assert said.statement in texts, texts
        # the label and the purpose on one line (PDFium: a space between them)
        assert PURPOSE_LABEL + said.purpose in [t.replace(" ", "") for t in texts]
    document = pypdfium2.PdfDocument(pdf)
    try:
        for page in document:
            text = page.get_textpage()
            turned = "".join(
                text.get_text_range(i, 1)
                for i in range(text.count_chars())
                if abs(pdfium_c.FPDFText_GetCharAngle(text.raw, i)) > 0.01
            )
            assert turned == "".join(said.diagonal), turned
    finally:
        document.close()


@pytest.mark.parametrize("annotated", [False, True], ids=["licence-file", "copy"])
def test_long_fields_end_above_what_is_drawn_under_them_on_every_page(fonts, annotated):
    """The fields break to a next page above the QR (the holder's file) and above the
    lines under them (the copy): no field text is drawn over them."""
    said = CopyAnnotation("某局", "2026年12月15日", "开立银行账户")
    content = dataclasses.replace(
        CONTENT,
        fields=[("place", "经营场所", "深圳市福田区" * 120)],
        annotation=said if annotated else None,
    )
    foot = (297 - (174 if annotated else 196)) * MM  # from the page's foot, points
    pages = lines_of(render(fonts, content))
    assert len(pages) >= 2
    for page in pages:
        for text, _, bottom, _ in page:
            if "福田区" in text:
                assert bottom >= foot, (text, 297 - bottom / MM)
