# fixtures imported from the modules that define them are parameters here
# ruff: noqa: F811
"""Outside review atk43holder: the holder's side as an attacker sees it.

The annotated copy (加注件, services/issuer/document_overlay.py, document.py,
printable.py), refused redemptions in the holder's usage record
(services/issuer/service/redemption.py), the audit trail of holder attempts
(Auditor.attempt) and the error's trailing metadata (certseal/rpcerrors.py).

A test marked xfail (strict) asserts the correct behaviour of a fault found here and
fails until the product is fixed; the others cover attacks the product resists.
"""

from __future__ import annotations

import asyncio
import dataclasses
import unicodedata

import grpc
import pypdfium2
import pypdfium2.raw as pdfium_c
import pytest

from certseal.errors import CertsealError, ErrorKind
from certseal.identifiers import is_account_name
from certseal.rpc import Caller
from certseal.rpcerrors import ERROR_REASON_KEY, error_from_rpc, error_metadata
from certseal.text import display_name_problem
from services.issuer.document_overlay import CopyAnnotation
from services.issuer.domain import Action
from services.issuer.printable import check_printable
from tests.issuer.holder_world import make_holder_world
from tests.issuer.test_audit42_holder_audit import (
    authorise_request,
    new_rows,
    refused,
)
from tests.issuer.test_audit42_holder_audit import (  # noqa: F401 (fixture)
    world as holder_world,
)
from tests.issuer.test_document import CONTENT, fonts, render  # noqa: F401
from tests.issuer.test_usage_refused_redemptions import (  # noqa: F401 (fixture)
    authorise,
    denied,
    stored,
    world,
)

MM = 72 / 25.4  # points a millimetre
PAGE_WIDTH = 210 * MM


def _chars(pdf: bytes, page_number: int = 0) -> list[tuple[str, tuple, float]]:
    """The first page's characters as PDFium reads them: (char, box (left, bottom,
    right, top) in points, angle)."""
    document = pypdfium2.PdfDocument(pdf)
    try:
        text = document[page_number].get_textpage()
        return [
            (
                text.get_text_range(i, 1),
                text.get_charbox(i),
                pdfium_c.FPDFText_GetCharAngle(text.raw, i),
            )
            for i in range(text.count_chars())
        ]
    finally:
        document.close()


# -- the copy: the purpose's quotation -----------------------------------------------

#: characters the bundled fonts draw as 「 or 」 (Noto Sans SC, seen rendered at 8×:
#: ㇘ is a 」 sitting on the baseline; Г, Γ and г are a 「) that the quotation left
#: as they were, so "开户㇘，仅供各级机关使用，2099年12月31日前有效 Г备注" was drawn
#: "用途：「开户」，仅供各级机关使用，2099年12月31日前有效「备注」". The purpose is no
#: longer quoted but drawn in a frame of its own (document_overlay.draw_under)
UNTURNED_LOOK_ALIKES = {
    "cjk-stroke-swz-closes": "\u31d8",
    "cyrillic-ghe-opens": "\u0413",
    "greek-gamma-opens": "\u0393",
    "cyrillic-small-ghe-opens": "\u0433",
}


@pytest.mark.parametrize(
    "char", UNTURNED_LOOK_ALIKES.values(), ids=list(UNTURNED_LOOK_ALIKES)
)
async def test_a_look_alike_the_fonts_draw_as_a_corner_bracket_is_turned(fonts, char):
    """F1 (fixed by design): whatever the purpose holds is drawn inside its frame, so
    no character of it can end the purpose early to the eye: the purpose whole and
    only the purpose inside the frame; outside it the copy's statement once, and no
    corner bracket (the copy quotes nothing a look-alike could close), nor any of the
    purpose's "statement"."""
    from tests.issuer.test_document_printable import framed

    purpose = f"开户{char}，仅供各级机关使用，2099年12月31日前有效 {char}备注"
    # taken where the purpose is taken: printable, no display-name problem
    assert display_name_problem(purpose) is None
    assert await check_printable(purpose, "purpose", fonts) == purpose
    said = CopyAnnotation("某局", "2026年12月15日", purpose)
    content = dataclasses.replace(CONTENT, annotation=said)
    inside, outside = framed(render(fonts, content))
    assert "".join(inside) == purpose.replace(" ", ""), inside
    drawn = "".join(outside)
    assert drawn.count(said.statement) == 1, drawn
    assert not set(drawn) & {"「", "」", char} and "2099" not in drawn, drawn


# -- the copy: combining marks with no base ------------------------------------------


@pytest.mark.parametrize(
    "purpose",
    ["\u20de开立银行账户", "\u20dd开户", "开户" + "\u20dd" * 8],
    ids=["square-first", "circle-first", "eight-after-one-base"],
)
async def test_an_enclosing_mark_without_a_base_is_refused_in_a_purpose(fonts, purpose):
    for mark in set(purpose) - set("开立银行账户"):
        assert unicodedata.category(mark) == "Me"
    # drawable (Noto Sans SC maps both marks), so only the name rule can refuse it
    assert await check_printable(purpose, "purpose", fonts) == purpose
    assert display_name_problem(purpose) is not None


def test_a_combining_mark_of_a_nonzero_class_without_a_base_is_refused():
    """The rule the enclosing marks slip past holds for the marks it counts."""
    for purpose in ("\u0301开户", "\u3099开户", "a" + "\u0301" * 5):
        assert display_name_problem(purpose) is not None, purpose


# -- the copy: what escapes its place ---------------------------------------------------


#: a field title of ten CJK characters (wider than its 35 mm column at 12 pt) and one
#: of the 200 characters registration takes
LONG_TITLES = {
    "ten": "法定代表人（负责人）",
    "registered-most": ("经营范围及许可项目明细（含分支机构名称及其登记地址）" * 8)[
        :200
    ],
}
#: type names: over 23 CJK characters (wider than the page at 22 pt), and 200
LONG_NAMES = {
    "thirty-three": "中华人民共和国特种设备使用登记证（气瓶、压力管道及大型游乐设施）",
    "registered-most": ("中华人民共和国特种设备使用登记证（气瓶、压力管道）" * 9)[:200],
}


@pytest.mark.parametrize("annotated", [True, False], ids=["copy", "licence-file"])
@pytest.mark.parametrize("title", LONG_TITLES.values(), ids=list(LONG_TITLES))
def test_a_long_field_title_is_not_drawn_over_its_value(fonts, title, annotated):
    """F3 (fixed): a title shrinks, then wraps, in its column (document_fit): every
    character of it ends left of its value's first, on the page."""
    value = "深圳市福田区"
    said = CopyAnnotation("某局", "2026年12月15日", "开立银行账户")
    content = dataclasses.replace(
        CONTENT,
        fields=[("place", title, value)],
        annotation=said if annotated else None,
    )
    level = [
        (c, box)
        for c, box, angle in _chars(render(fonts, content))
        if not angle and c.strip()  # (PDFium's generated line breaks left out)
    ]
    chars = [c for c, _ in level]

    def start(text: str) -> int:
        return next(
            i for i in range(len(chars)) if "".join(chars[i : i + len(text)]) == text
        )

    start_title, start_value = start(title), start(value)
    boxes = [box for _, box in level[start_title : start_title + len(title)]]
    value_left = min(box[0] for _, box in level[start_value : start_value + len(value)])
    assert max(box[2] for box in boxes) <= value_left, (boxes, value_left)
    assert min(box[0] for box in boxes) >= 0 and min(box[1] for box in boxes) >= 0


@pytest.mark.parametrize("name", LONG_NAMES.values(), ids=list(LONG_NAMES))
def test_a_long_type_name_is_drawn_on_the_page(fonts, name):
    """F4 (fixed): the title shrinks from 22 pt to 14 pt, then wraps (document_fit):
    every character of the page between its edges, the name whole."""
    said = CopyAnnotation("某局", "2026年12月15日", "开立银行账户")
    content = dataclasses.replace(CONTENT, type_name=name, annotation=said)
    chars = [(c, box) for c, box, angle in _chars(render(fonts, content)) if c.strip()]
    assert min(box[0] for _, box in chars) >= 0
    assert max(box[2] for _, box in chars) <= PAGE_WIDTH
    assert name in "".join(c for c, _ in chars)


def _ofd_texts(ofd: bytes) -> list[tuple[float, float, float, str]]:
    """The OFD page's text objects: (left, top, right, text), in mm."""
    import io
    import zipfile

    from services.seal.ofd_package import parse_xml

    page = parse_xml(
        zipfile.ZipFile(io.BytesIO(ofd)).read("Doc_0/Pages/Page_0/Content.xml"), "page"
    )
    found = []
    for element in page.iter():
        if element.tag.endswith("TextObject"):
            left, top, wide = map(float, element.get("Boundary", "").split()[:3])
            text = "".join(c.text or "" for c in element)
            found.append((left, top, left + wide, text))
    return found


@pytest.mark.parametrize("long", ["title", "name"])
def test_a_long_title_or_type_name_stays_in_its_place_in_the_ofd(fonts, long):
    """F3, F4 in the OFD form of the file (document_ofd): the same rule."""
    from services.issuer.document import DocumentTemplate
    from services.issuer.document_ofd import render_licence_ofd

    title, name = LONG_TITLES["registered-most"], LONG_NAMES["registered-most"]
    content = dataclasses.replace(
        CONTENT,
        type_name=name if long == "name" else CONTENT.type_name,
        fields=[("place", title if long == "title" else "经营场所", "深圳市福田区")],
    )
    ofd = render_licence_ofd(
        content,
        template=DocumentTemplate.default_for(content.type_name),
        fonts=fonts,
        produced_at=CONTENT.valid_from,
    )
    texts = _ofd_texts(ofd)
    assert all(left >= 0 and right <= 210 for left, _, right, _ in texts), texts
    if long == "title":
        titled = [t for t in texts if t[0] < 50 and t[3] and t[3] in title]
        assert "".join(t[3] for t in titled) == title
        value_left = next(t[0] for t in texts if t[3] == "深圳市福田区")
        assert max(t[2] for t in titled) <= value_left
    else:
        assert "".join(t[3] for t in texts).startswith(name)


def test_a_purpose_of_the_widest_glyphs_stays_left_of_the_qr_and_on_the_page(fonts):
    """64 THREE-EM DASHes (2.46 em each, Noto Sans SC's widest glyph) and a
    200-character unbroken department name: every line under the fields is on the
    page, and those that reach the QR's height end left of it (150 mm)."""
    purpose = "\u2e3b" * 64
    department = "深圳市前海深港现代服务业合作区管理局" * 11
    department = department[:200]
    said = CopyAnnotation(department, "2026年12月15日", purpose)
    content = dataclasses.replace(CONTENT, annotation=said)
    chars = _chars(render(fonts, content))
    for char, (left, bottom, right, _), angle in chars:
        if angle or not char.strip():
            continue
        assert left >= 0 and right <= PAGE_WIDTH and bottom >= 0, char
        below_mm = 297 - bottom / MM
        if below_mm > 200 and char in purpose + department:
            assert right <= 150 * MM, (char, right / MM, below_mm)


# -- the error's trailing metadata ------------------------------------------------------


class _Rpc(grpc.aio.AioRpcError):
    def __init__(self, code, details, trailing):
        super().__init__(
            code,
            grpc.aio.Metadata(),
            grpc.aio.Metadata(*trailing),
            details=details,
        )


@pytest.mark.parametrize(
    "reason", ["withdrawn", "licence_changed", "原因 %41 \n\u202e", "a" * 300]
)
def test_a_reason_travels_as_printable_ascii_and_reads_back_unchanged(reason):
    error = CertsealError(
        ErrorKind.FAILED_PRECONDITION, "x", field="code", reason=reason
    )
    trailing = dict(error_metadata(error))
    assert all(0x20 <= ord(c) < 0x7F for c in trailing[ERROR_REASON_KEY])
    back = error_from_rpc(
        _Rpc(
            grpc.StatusCode.FAILED_PRECONDITION,
            "code: x",
            tuple(error_metadata(error)),
        )
    )
    assert (back.reason, back.field, back.message) == (reason, "code", "x")


def test_an_error_without_a_reason_sends_no_reason_key():
    error = CertsealError(ErrorKind.NOT_FOUND, "no", field="code")
    assert ERROR_REASON_KEY not in dict(error_metadata(error))


# -- a clerk's account name ---------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "clerk-a\n",
        "clerk\u0430",  # Cyrillic а
        "ｃｌｅｒｋ",  # full width
        "clerk\u200b",
        "١٢٣",  # Arabic-Indic digits (str.isdigit)
        "a" * 65,
        "-clerk",
        "",
        "clerk a",
        "clerk%41",
    ],
)
def test_a_clerk_name_of_another_shape_is_no_account_name(name):
    assert not is_account_name(name)


def test_an_account_name_of_the_documented_shape_is_one():
    assert is_account_name("a" * 64) and is_account_name("9.clerk_b@x-y")


# -- refused redemptions at once ----------------------------------------------------------


async def test_refusals_of_one_code_at_once_make_one_entry_and_a_row_each(
    world, issuer
):
    """Twelve redemptions of a withdrawn code at the same moment, from several
    clerks of the authorised department: one WITHDRAWN entry, twelve audit rows; a
    stranger's twelve at once: no entry."""
    w = world
    auth, code = await authorise(w)
    await w["service"].holder.revoke(
        w["app"], auth.authorisation_id, holder=w["holder"], reason=""
    )
    desk = w["service"].holder

    async def attempt(dept, clerk=""):
        with pytest.raises(CertsealError) as err:
            await desk.redeem(Caller("dept", dept.code), code, counter=clerk)
        return err.value

    stranger = [attempt(w["stranger"]) for _ in range(12)]
    assert {e.kind for e in await asyncio.gather(*stranger)} == {ErrorKind.NOT_FOUND}
    assert await stored(issuer, w["licence"]) == []
    refusals = [attempt(w["other"], f"clerk-{n % 3}") for n in range(12)]
    errors = await asyncio.gather(*refusals)
    assert {(e.kind, e.reason) for e in errors} == {
        (ErrorKind.FAILED_PRECONDITION, "withdrawn")
    }
    rows = await stored(issuer, w["licence"])
    assert [r["verdict"] for r in rows] == ["WITHDRAWN"]
    audited = await denied(issuer, auth.authorisation_id)
    assert [r["details"]["why"] for r in audited].count("withdrawn") == 12


# -- the audit trail: one row per attempt -------------------------------------------------


@pytest.mark.parametrize("char", ["\u202e", "\x00"], ids=["rlo", "nul"])
async def test_an_authorisation_refused_for_a_character_is_one_audit_row(
    holder_world, char
):
    w = holder_world
    await new_rows(w, w["app"])
    said = await refused(
        w["holder_stub"].AuthoriseUse(authorise_request(w, purpose=f"开户{char}")),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert said.startswith("purpose: "), said
    assert [r[:2] for r in await new_rows(w, w["app"])] == [
        ("licence.authorise", "denied")
    ]


async def test_a_redemption_that_cannot_be_decoded_is_one_audit_row(holder_world):
    w = holder_world
    dept = f"dept:{w['other'].code}"
    await new_rows(w, dept)
    raw = w["other"].clients.channel.unary_unary(
        "/certseal.v1.Redemption/RedeemAuthorisation",
        request_serializer=lambda b: b,
        response_deserializer=lambda b: b,
    )
    await refused(raw(b"\x0a\xff\xff\xff\x0f"), grpc.StatusCode.INVALID_ARGUMENT)
    assert [r[:2] for r in await new_rows(w, dept)] == [
        ("authorisation.redeem", "denied")
    ]


async def test_a_clerk_of_another_shape_is_one_audit_row_and_no_entry(
    holder_world, issuer, connect
):
    """The console naming a clerk that is no account name: INVALID_ARGUMENT on the
    clerk's metadata, one denied row, nothing in the holder's record."""
    from certseal.v1 import issuer_pb2 as pb
    from certseal.v1 import issuer_pb2_grpc

    w = holder_world
    made = await w["holder_stub"].AuthoriseUse(authorise_request(w))
    console = issuer_pb2_grpc.RedemptionStub(connect("service:console").channel)
    await new_rows(w, "service:console")
    for clerk in ("clerk%0Aforged", "%E5%BC%A0%E4%B8%89", "a" * 65):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await console.RedeemAuthorisation(
                pb.RedeemAuthorisationRequest(code=made.authorisation.code),
                metadata=(
                    ("x-certseal-counter", f"dept:{w['other'].code}"),
                    ("x-certseal-clerk", clerk),
                ),
            )
        assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert error_from_rpc(err.value).field == "x-certseal-clerk"
    rows = await new_rows(w, "service:console")
    assert [r[:2] for r in rows] == [("authorisation.redeem", "denied")] * 3
    assert not await issuer.pool.fetch(
        "select 1 from licence_usage where lineage = $1"
        " and kind in ('redemption_refused', 'redeemed')",
        w["licence"].lineage,
    )


# -- personal data in a refusal -------------------------------------------------------


async def test_a_copy_refused_for_a_value_says_no_value_to_the_department_or_audit(
    issuer, operator, connect
):
    w = await make_holder_world(issuer, operator, connect)
    service, dept, other, licence = w.service, w.dept, w.other, w.licence
    address = "Mu\u0308llerstraße 17, 深圳市福田区"  # NFD: as some keyboards type it
    code = await w.authorise(["address"])
    # authorised while the copy can be drawn (trial45: authorising a value the copy
    # cannot draw is refused), the address amended to one it cannot after that
    await service.new_version(
        Caller("dept", dept.code),
        licence.identifier,
        Action.AMEND,
        changes={"address": address},
        reason="更正",
    )
    caller = Caller("dept", other.code)
    for _ in range(2):
        with pytest.raises(CertsealError) as err:
            await w.redeem(code)
    said = str(err.value)
    assert err.value.kind is ErrorKind.FAILED_PRECONDITION
    assert err.value.reason == "not_drawable"
    rows = await issuer.pool.fetch(
        "select details from audit_log where actor = $1"
        " and action = 'authorisation.redeem'",
        str(caller),
    )
    whys = [r["details"].get("why", "") for r in rows]
    composed = unicodedata.normalize("NFC", address)
    assert not [why for why in whys if "straße" in why], whys
    assert composed not in said, said
    # each attempt one denied row saying why; the holder's record one entry of it
    # (a refusal left none: the holder never learnt the department had tried)
    assert whys == ["not_drawable", "not_drawable"], whys
    entries = await issuer.pool.fetch(
        "select kind, verdict, department_code, reference, purpose"
        " from licence_usage where lineage = $1 and kind = 'redemption_refused'",
        licence.lineage,
    )
    assert [tuple(e) for e in entries] == [
        ("redemption_refused", "COPY_NOT_DRAWABLE", other.code,
         entries[0]["reference"], "开立银行账户")
    ]  # fmt: skip
    assert entries[0]["reference"].startswith("au-")


async def test_a_usage_listing_refused_for_the_callers_kind_is_one_audit_row(
    holder_world, operator
):
    from certseal.v1 import issuer_pb2 as pb
    from certseal.v1 import issuer_pb2_grpc

    w = holder_world
    actor = "operator:admin"
    await new_rows(w, actor)
    stub = issuer_pb2_grpc.IssuerStub(operator.channel)
    await refused(
        stub.ListLicenceUsage(
            pb.ListLicenceUsageRequest(identifier=w["licence"].identifier)
        ),
        grpc.StatusCode.PERMISSION_DENIED,
    )
    assert [r[:2] for r in await new_rows(w, actor)] == [("licence.usage", "denied")]
