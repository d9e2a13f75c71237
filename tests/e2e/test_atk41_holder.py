# fixtures imported from the modules that define them are parameters here
# ruff: noqa: F811
"""Outside review atk41h: refused redemptions in the usage record, the annotated
copy's new overlay (services/issuer/document_overlay.py), the issuer's clerk header
check and the counter page's scope line, attacked.

Each test asserts the correct behaviour and is marked xfail (strict) until the product
is fixed. The stack is the session's (tests/conftest.py); the world is
test_holder_documents.py's (an issuing department with an official seal the issuer
may use, the platform's seal, a licence, a holder app granted its type, and a second
department, the one the holder authorises). Each test that could be fixed in more
than one place accepts any of them (a refusal where the input is taken, or a copy
that says it right).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import unicodedata

import grpc
import pypdfium2
import pypdfium2.raw as pdfium_c
import pytest
from playwright.async_api import expect

from certseal.v1 import issuer_pb2 as pb
from certseal.v1 import licence_pb2
from services.issuer.authorisation import BEIJING, copy_until_said
from services.issuer.document_overlay import PURPOSE_LABEL
from tests.conftest import fresh_uscc, issue_request
from tests.e2e.test_console import browser  # noqa: F401 (fixture)
from tests.e2e.test_console_redemption import REDEEM_MS, copy_bytes, counter_page
from tests.e2e.test_holder_documents import (  # noqa: F401 (fixtures)
    RARE_NAME,
    authorise_request,
    console,
    holder_stubs,
    verifier_group,
    world,
)

# -- what a copy draws, read as a PDF reader reads it --------------------------------


@dataclasses.dataclass
class Line:
    """One line of level (not turned) text PDFium reads on the copy's page: its text
    and the left edge of its first character (points)."""

    text: str
    left: float


def level_lines(pdf: bytes) -> list[Line]:
    """The lines of level text of the first page, in drawing order (the diagonal's
    turned characters left out)."""
    document = pypdfium2.PdfDocument(pdf)
    try:
        text = document[0].get_textpage()
        lines: list[Line] = []
        current: list[str] = []
        left = 0.0
        for index in range(text.count_chars()):
            char = text.get_text_range(index, 1)
            if abs(pdfium_c.FPDFText_GetCharAngle(text.raw, index)) > 0.01:
                continue
            if char in "\r\n":
                if current:
                    lines.append(Line("".join(current), left))
                current = []
                continue
            if not current:
                left = text.get_charbox(index)[0]
            current.append(char)
        if current:
            lines.append(Line("".join(current), left))
        return lines
    finally:
        document.close()


def page_text(pdf: bytes) -> str:
    """The whole page's text as a reader extracts it, lines joined."""
    document = pypdfium2.PdfDocument(pdf)
    try:
        text = document[0].get_textpage().get_text_range()
        return text.replace("\r", "").replace("\n", "")
    finally:
        document.close()


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


async def redeemed_copy(world, holder_stubs, purpose: str, department=None) -> bytes:
    """The annotated copy of the world's licence authorised for ``purpose`` to
    ``department`` (the world's second department), redeemed by it."""
    code = department or world["other"].code
    auth = (
        await world["app"].holder.AuthoriseUse(
            authorise_request(world, purpose=purpose, department_code=code)
        )
    ).authorisation
    reply = await holder_stubs(f"dept:{code}").redemption.RedeemAuthorisation(
        pb.RedeemAuthorisationRequest(code=auth.code)
    )
    return reply.annotated_copy


# -- 1. a purpose wrapped under the fields reads as a second statement -----------------

#: a purpose a holder app may give (visible characters, at most 64): a space, then a
#: validity statement of its own. The line under the fields wraps at the space, so
#: the statement starts a line of its own at the margin, no quotation mark on it
SPACED_FORGERY = "开户 仅供各级机关及金融机构使用，2099年12月31日前有效，另供其他单位存档备查核验及复印留存"
#: the same without a space: 39 characters fill the first line after "用途：「" at
#: 11 pt in 170 mm, so the statement starts the second
COUNTED_FORGERY = (
    "开立银行账户及办理个人住房公积金贷款不动产抵押登记与相关税费缴纳等业务的资料核"
    "仅供各级机关使用，2099年12月31日前有效"
)


#: more of the kind: a statement after Latin words, and one after a look-alike of
#: the closing quote (it becomes 』, the line stays the purpose's)
LATIN_FORGERY = (
    "for a bank account and tax filing 仅供各级机关使用，2099年12月31日前有效"
)
CLOSED_FORGERY = (
    "开户｣ 仅供各级机关及金融机构使用，2099年12月31日前有效，另供其他单位存档备查"
)


@pytest.mark.parametrize(
    "purpose",
    [SPACED_FORGERY, COUNTED_FORGERY, LATIN_FORGERY, CLOSED_FORGERY],
    ids=["at-a-space", "counted", "latin", "after-a-closer"],
)
async def test_a_wrapped_purpose_starts_no_line_that_reads_as_the_copys_statement(
    world, holder_stubs, purpose
):
    """docs/holder.md: under the fields the copy gives its statement, then the
    holder's purpose quoted on a line of its own ("用途：「…」"), so that a purpose
    holding a date of its own is not read as the copy's (atk40 R1). The quotation is
    drawn with ``multi_cell`` at the statement's margin, 170 mm wide: a purpose
    longer than a line wraps, and its next line starts at the margin with whatever
    the purpose says there, no 「 in front of it. With ``SPACED_FORGERY`` the
    platform-sealed copy reads, in the same red and size, line under line::

        仅供单位 XXXX使用，2026年12月15日前有效
        用途：「开户
        仅供各级机关及金融机构使用，2099年12月31日前有效，另供其他单位
        存档备查核验及复印留存」

    A reader checking the lines under the fields finds a second statement naming
    other users and a date 73 years on. Correct: no line under the fields other than
    the copy's statement begins at its margin with "仅供" (the purpose kept on its
    line, shrunk, its continuation indented or marked as the quotation's), or the
    holder's authorisation with such a purpose is refused (INVALID_ARGUMENT)."""
    try:
        copy = await redeemed_copy(world, holder_stubs, purpose)
    except grpc.aio.AioRpcError as exc:
        assert exc.code() is grpc.StatusCode.INVALID_ARGUMENT, exc.details()
        return
    lines = level_lines(copy)
    statements = [
        line for line in lines if line.text.startswith("仅供") and "前有效" in line.text
    ]
    assert statements, [line.text for line in lines]
    margin = statements[0].left
    at_margin = [
        line.text
        for line in lines
        if line.text.startswith("仅供") and abs(line.left - margin) < 2
    ]
    assert len(at_margin) == 1, at_margin
    # every line of the purpose starts in its frame, right of its label (atk43holder)
    texts = [line.text for line in lines]
    first = next(i for i, t in enumerate(texts) if t.startswith(PURPOSE_LABEL))
    assert all(line.left > margin + 10 for line in lines[first + 1 :]), lines


# -- 2. characters no bundled font has vanish from the copy -----------------------------

#: purposes a holder app may give (check_display_name takes them) holding characters
#: neither Noto Sans SC nor HanaMinB draws: a CJK compatibility ideograph that looks
#: like 金 (U+F90A, NFC: U+91D1), an Extension G ideograph, Uyghur in Arabic script
#: (right-to-left letters are not refused, only direction controls are), an emoji
UNDRAWN_PURPOSES = {
    "compatibility-ideograph": "办理\uf90a融业务",
    "extension-g": "办理\U00030000字号登记",
    "uyghur": "ئىشلەتكۈچى تىزىملىتىش",
    "emoji": "开立银行账户🏦",
    "hebrew": "פתיחת חשבון",
    "arabic": "فتح حساب بنكي",
    "combining-mark": "Mu\u0308ller 开户",
}


@pytest.mark.parametrize(
    "purpose", list(UNDRAWN_PURPOSES.values()), ids=list(UNDRAWN_PURPOSES)
)
async def test_a_purpose_the_copy_cannot_draw_is_refused_or_drawn_whole(
    world, holder_stubs, purpose
):
    """The copy quotes the holder's purpose (docs/holder.md). fpdf2 leaves out a
    character the main font lacks when the rare font lacks it too (a warning in the
    log, "Font … is missing the following glyphs"), so the platform-sealed copy
    quotes other words than the holder authorised: "办理金融业务" written with the
    compatibility ideograph becomes 用途：「办理融业务」, a Uyghur purpose 用途：「 」.
    Correct: the authorisation refuses a purpose the copy cannot draw
    (INVALID_ARGUMENT, before anything is stored), or the copy draws every character
    of it (the page's text holds the purpose, compared after NFC)."""
    try:
        copy = await redeemed_copy(world, holder_stubs, purpose)
    except grpc.aio.AioRpcError as exc:
        assert exc.code() is grpc.StatusCode.INVALID_ARGUMENT, exc.details()
        assert "purpose" in (exc.details() or "") and "U+" in (exc.details() or "")
        return
    drawn = nfc(page_text(copy)).replace(" ", "")  # a space after the label
    assert nfc(PURPOSE_LABEL + purpose).replace(" ", "") in drawn, page_text(copy)


@pytest.mark.parametrize(
    "written",
    [
        "深圳市\uf90a融监督管理局",
        "深圳市金融监督管理局🏦",
        "深圳市金融监督管理局\U00030000",
    ],
    ids=["compatibility-ideograph", "emoji", "extension-g"],
)
async def test_a_department_the_copy_cannot_name_whole_is_refused_or_named_whole(
    world, holder_stubs, operator, connect, written
):
    """The department's name is what the copy's reader checks by eye ("仅供<department>
    使用"). A name written with a CJK compatibility ideograph (U+F90A, which looks
    like 金 and is what a name converted from a legacy Korean or Big5 code page
    holds) is taken by OnboardDepartment (check_display_name: a letter), and the copy
    leaves the character out: "深圳市金融监督管理局" is drawn "仅供深圳市融监督管理局
    使用", another department's name, on the diagonal and under the fields. Correct:
    onboarding refuses a name the copy cannot draw (INVALID_ARGUMENT), or the copy
    draws it whole (compared after NFC)."""
    code = fresh_uscc()
    name = f"{written}{code[-4:]}"
    try:
        await operator.admin.OnboardDepartment(
            pb.OnboardDepartmentRequest(
                code=code, name=name, roles=[licence_pb2.DEPARTMENT_ROLE_COUNTER]
            )
        )
    except grpc.aio.AioRpcError as exc:
        assert exc.code() is grpc.StatusCode.INVALID_ARGUMENT, exc.details()
        assert (exc.details() or "").startswith("name: contains U+"), exc.details()
        return
    copy = await redeemed_copy(world, holder_stubs, "开立银行账户", department=code)
    text = nfc(page_text(copy))
    assert nfc(f"仅供{name}使用，") in text, text


# -- 3. the counter page's scope line and the copy disagree -----------------------------


def copy_date(copy: bytes) -> dt.date:
    """The day the copy's statement says it is valid before."""
    found = re.search(
        r"(\d{4})年(\d{1,2})月(\d{1,2})日(?:\d{1,2}时\d\d分)?前有效", page_text(copy)
    )
    assert found, page_text(copy)
    return dt.date(*(int(g) for g in found.groups()))


async def shortened_then_scanned(world, browser, console, change="renew"):
    """A licence valid 60 days, authorised for 30 days, renewed to end in 5 (the
    issuer may shorten a lineage: atk39b_holder 2), or (``change="amend"``) amended,
    its code scanned at the authorised department's counter page: (the page, the
    scope line's text, the lineage's new version)."""
    now = dt.datetime.now(dt.UTC)
    dept = world["dept"]
    request = issue_request(dept, name=RARE_NAME, id_number=world["holder"].id_number)
    request.valid_until.FromDatetime(now + dt.timedelta(days=60))
    licence = (await dept.clients.issuer.IssueLicence(request)).licence
    ask = authorise_request(world, identifier=licence.identifier)
    ask.expires_at.FromDatetime(now + dt.timedelta(days=30))
    auth = (await world["app"].holder.AuthoriseUse(ask)).authorisation
    if change == "amend":
        amendment = pb.AmendLicenceRequest(
            identifier=licence.identifier,
            fields={"address": licence_pb2.FieldValue(string_value="深圳市南山区")},
            reason="迁居",
        )
        renewed = (await dept.clients.issuer.AmendLicence(amendment)).licence
    else:
        renewal = pb.RenewLicenceRequest(identifier=licence.identifier)
        renewal.valid_until.FromDatetime(now + dt.timedelta(days=5))
        renewed = (await dept.clients.issuer.RenewLicence(renewal)).licence
    assert renewed.identifier != licence.identifier
    context, page, errors = await counter_page(browser, console, world["other"].code)
    await page.keyboard.type(auth.code)
    await page.keyboard.press("Enter")
    await expect(page.locator("#redemption")).to_be_visible(timeout=REDEEM_MS)
    scope = await page.locator("#redemption-scope").text_content() or ""
    return context, page, errors, scope, renewed


async def test_the_counter_page_says_the_copys_date(world, browser, console):
    """counter.js (ff1ee42): the page says a redemption's scope "as the copy does".
    The copy is valid before the earlier of the authorisation's expiry and the
    licence's end (copy_valid_until); the page says ``chinaTime(expires_at)前有效``,
    the authorisation's expiry, the only date the console's reply carries. After a
    shortening renewal the clerk reads on the page a date 25 days after the one on
    the sealed copy beside it. Correct: the page's "…前有效" is the copy's day."""
    context, page, errors, scope, renewed = await shortened_then_scanned(
        world, browser, console
    )
    try:
        copy = await copy_bytes(page)
    finally:
        await context.close()
    assert not errors, errors
    ends = renewed.valid_until.ToDatetime(tzinfo=dt.UTC).astimezone(BEIJING).date()
    assert copy_date(copy) == ends  # held: the copy says the licence's end
    said = re.search(r"(\d{4})年(\d{1,2})月(\d{1,2})日[^·]*前有效", scope)
    assert said, scope
    assert dt.date(*(int(g) for g in said.groups())) == copy_date(copy), scope


@pytest.mark.parametrize("change", ["renew", "amend"])
async def test_the_counter_page_names_the_version_the_copy_is_of(
    world, browser, console, change
):
    """The redemption's fields and copy are of the lineage's current version (after a
    renewal, the renewed one); the scope line starts with the authorisation's
    ``identifier``, the version authorised, superseded since: the page names another
    licence version than the sealed copy's 证照标识. Correct: the page names the
    version the copy is of, and so does the session's list of what was done (an
    amendment, a new version too, as well as a renewal)."""
    context, page, errors, scope, renewed = await shortened_then_scanned(
        world, browser, console, change
    )
    try:
        assert scope.startswith(f"{renewed.identifier} · "), scope
        await expect(page.locator("#history li").first).to_contain_text(
            renewed.identifier
        )
        rows = page.locator("#redemption-fields tr")
        if change == "amend":  # the fields are the amended version's
            await expect(rows.nth(0)).to_have_text("address深圳市南山区")
    finally:
        await context.close()
    assert not errors, errors


#: a purpose with quotation marks in it: the copy draws it as given, in its frame
QUOTING_PURPOSE = "办理「开户」业务"


@pytest.mark.parametrize("utc_hour", [16, 23, 3])
async def test_the_counter_page_says_the_copys_words(world, browser, console, utc_hour):
    """Another input of the same kind (the page says what the copy says): an
    authorisation expiring at ``utc_hour`` UTC, where the day in China (UTC+8) is the
    next (16, 23) or the same (3) day, for a purpose holding 「」 (drawn as given, in
    its frame: atk43holder). The page's statement and purpose are the copy's,
    character for character, and the day is China's."""
    now = dt.datetime.now(dt.UTC)
    expires = (now + dt.timedelta(days=3)).replace(
        hour=utc_hour, minute=30, second=0, microsecond=0
    )
    ask = authorise_request(world, purpose=QUOTING_PURPOSE)
    ask.expires_at.FromDatetime(expires)
    auth = (await world["app"].holder.AuthoriseUse(ask)).authorisation
    context, page, errors = await counter_page(browser, console, world["other"].code)
    try:
        await page.keyboard.type(auth.code)
        await page.keyboard.press("Enter")
        await expect(page.locator("#redemption")).to_be_visible(timeout=REDEEM_MS)
        scope = await page.locator("#redemption-scope").text_content() or ""
        purpose = await page.locator("#redemption-purpose").text_content() or ""
        copy = await copy_bytes(page)
    finally:
        await context.close()
    assert not errors, errors
    day = expires.astimezone(BEIJING).date()
    assert copy_date(copy) == day
    statement = scope.split(" · ")[-1]
    assert statement.endswith(f"使用，{copy_until_said(expires)}前有效")
    assert purpose == QUOTING_PURPOSE, (scope, purpose)
    text = nfc(page_text(copy))
    assert nfc(statement) in text, (statement, text)
    framed = text.replace(" ", "")  # PDFium: the label, a space, the purpose
    assert nfc(PURPOSE_LABEL + purpose) in framed, (purpose, text)


# -- 4. the clerk header from a caller that may not name one ---------------------------


@pytest.mark.parametrize(
    "clerk",
    # of no account's shape (encoded, too long, a control character, a space, an
    # encoding that does not decode), and one of the shape: all refused alike
    ["%E5%BC%A0", "a" * 65, "%00", "clerk%20a", "%ZZ", "clerk-a"],
)
async def test_a_department_naming_any_clerk_is_told_it_may_not(
    world, holder_stubs, clerk
):
    """Only service:console may name a counter or a clerk (atk-authz 1): a department
    sending ``x-certseal-clerk`` is PERMISSION_DENIED "only service:console may name a
    counter or a clerk". RedeemAuthorisation checks the clerk's shape (6cf2d15) before
    who the caller is, so a department that sends a clerk of another shape is told
    ``x-certseal-clerk: is no console account: … percent-encoded`` (INVALID_ARGUMENT),
    an answer that invites it to send one of the right shape. Correct: the caller's
    right first, PERMISSION_DENIED whatever clerk it names."""
    auth = (
        await world["app"].holder.AuthoriseUse(authorise_request(world))
    ).authorisation
    department = holder_stubs(f"dept:{world['other'].code}")
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await department.redemption.RedeemAuthorisation(
            pb.RedeemAuthorisationRequest(code=auth.code),
            metadata=(("x-certseal-clerk", clerk),),
        )
    assert refused.value.code() is grpc.StatusCode.PERMISSION_DENIED, (
        refused.value.details()
    )
    assert "only service:console may name" in (refused.value.details() or "")


# -- 5. a look-alike closing quote ends the quotation early -----------------------------


#: closing and opening look-alikes of 」 and 「 (halfwidth, vertical forms, box
#: drawings, the hooked vertical 亅 that Noto Sans SC draws as a 」, and corners no
#: bundled font draws, which are refused)
LOOK_ALIKES = {
    "halfwidth": ("｣", "｢"),
    "vertical-form": ("﹂", "﹁"),
    "box-drawing": ("┘", "┌"),
    "double-box-drawing": ("╝", "╔"),
    "hooked-vertical": ("亅", "⼅"),
    "corner": ("⌟", "⌜"),
}


@pytest.mark.parametrize("closer, opener", LOOK_ALIKES.values(), ids=list(LOOK_ALIKES))
async def test_a_look_alike_closing_quote_cannot_end_the_purposes_quotation(
    world, holder_stubs, closer, opener
):
    """The purpose "开户｣，仅供各级机关使用，2099年12月31日前有效｢" once gave the line
    用途：「开户｣，仅供各级机关使用，2099年12月31日前有效｢」: the quotation read as
    closed after 开户 and the statement after it as the copy's. atk41h turned a list of
    look-alikes into 『』, which atk43holder found incomplete (㇘, Г, Γ, г); the purpose
    is now drawn as given in a frame of its own, not quoted. Correct: the purpose whole
    and alone inside its frame, and outside it no corner bracket nor the purpose's
    date; or the authorisation is refused (a corner no bundled font draws)."""
    from tests.issuer.test_document_printable import framed

    purpose = f"开户{closer}，仅供各级机关使用，2099年12月31日前有效{opener}"
    try:
        copy = await redeemed_copy(world, holder_stubs, purpose)
    except grpc.aio.AioRpcError as exc:
        assert exc.code() is grpc.StatusCode.INVALID_ARGUMENT, exc.details()
        return
    inside, outside = framed(copy)
    assert "".join(inside) == purpose, inside
    drawn = "".join(outside)
    assert not set(drawn) & {"「", "」", closer, opener} and "2099" not in drawn, drawn


# -- 6. a copy longer than a page: its first page carries no annotation ---------------


@pytest.mark.parametrize("length", [700, 1000])
async def test_every_page_of_the_copy_carries_its_annotation(
    world, holder_stubs, length
):
    """A shared text field may hold 1000 characters (domain.MAX_TEXT; a business
    licence's 经营范围 often holds several hundred). The copy draws the fields with
    ``multi_cell`` (fpdf2 breaks the page when they pass its foot), then the diagonal
    and the lines under the fields where the cursor is: on the last page. A copy
    sharing an address of 700 characters is two pages; the first shows the title,
    the holder and the fields with no "仅供<department>使用", no date and no purpose,
    a plain licence copy once printed or cut off from page 2. Correct: every page of
    the copy that shows a field carries the diagonal (or the copy is one page)."""
    dept = world["dept"]
    request = issue_request(dept, name=RARE_NAME, id_number=world["holder"].id_number)
    long_address = ("深圳市福田区福田街道福安社区益田路5023号平安金融中心南塔" * 40)[
        :length
    ]
    request.fields["address"].CopyFrom(
        licence_pb2.FieldValue(string_value=long_address)
    )
    licence = (await dept.clients.issuer.IssueLicence(request)).licence
    auth = (
        await world["app"].holder.AuthoriseUse(
            authorise_request(world, identifier=licence.identifier)
        )
    ).authorisation
    reply = await holder_stubs(
        f"dept:{world['other'].code}"
    ).redemption.RedeemAuthorisation(pb.RedeemAuthorisationRequest(code=auth.code))
    document = pypdfium2.PdfDocument(reply.annotated_copy)
    try:
        turned, level = [], []
        for page in document:
            text = page.get_textpage()
            level.append(
                "".join(
                    text.get_text_range(i, 1)
                    for i in range(text.count_chars())
                    if abs(pdfium_c.FPDFText_GetCharAngle(text.raw, i)) <= 0.01
                )
            )
            turned.append(
                "".join(
                    text.get_text_range(i, 1)
                    for i in range(text.count_chars())
                    if abs(pdfium_c.FPDFText_GetCharAngle(text.raw, i)) > 0.01
                )
            )
    finally:
        document.close()
    name = f"仅供测试部门 {world['other'].code[-4:]}使用"
    assert len(turned) >= 2
    assert all(t.startswith(name) and t.endswith("前有效") for t in turned), turned
    # and under the fields, each page: the statement, then the framed purpose
    for text in level:
        text = text.replace("\r", "").replace("\n", "")
        framed = PURPOSE_LABEL + "开立银行账户"
        assert f"{name}，" in text and framed in text.replace(" ", ""), text


# -- 7. a licence file or copy the fonts cannot draw whole is not sealed ---------------


@pytest.mark.parametrize(
    "address", ["ئۈرۈمچى شەھىرى", "深圳市福田区\uf90a融街"], ids=["uyghur", "compat"]
)
async def test_a_file_the_fonts_cannot_draw_whole_is_refused_naming_its_field(
    world, address
):
    """Licence field values are taken as their issuer certifies them, so a value of a
    script neither bundled font draws is issued. Its file and its copy were sealed with
    the characters left out; now neither is drawn: FAILED_PRECONDITION naming the
    field as the licence's (licence.fields.address) and the character, for the
    holder's file; and a use whose copy would show it is not authorised (trial45: the
    code was refused at every counter)."""
    dept = world["dept"]
    request = issue_request(dept, name=RARE_NAME, id_number=world["holder"].id_number)
    request.fields["address"].CopyFrom(licence_pb2.FieldValue(string_value=address))
    licence = (await dept.clients.issuer.IssueLicence(request)).licence
    said = "licence.fields.address: contains U+"
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await world["app"].holder.GetLicenceDocument(
            pb.GetLicenceDocumentRequest(
                identifier=licence.identifier, holder=world["holder"]
            )
        )
    assert refused.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert (refused.value.details() or "").startswith(said)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await world["app"].holder.AuthoriseUse(
            authorise_request(world, identifier=licence.identifier)
        )
    assert refused.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert (refused.value.details() or "").startswith(said)
