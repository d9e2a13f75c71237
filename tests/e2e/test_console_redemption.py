# fixtures imported from the modules that define them are parameters here
# ruff: noqa: F811
"""Issue 16 at the counter, in a real headless Chromium (Debian's): a clerk scans an
authorisation code (授权码, ``AU-…``) as a scanner gun types it, and the page shows the
authorisation's scope, the shared fields and the annotated copy (加注件); refusals are
clear; nothing of one scan stays on screen for the next; a dropped sealed OFD licence
file shows its licence status. Screenshots land in test-artifacts/console/.

The world is test_holder_documents.py's: a department with an official seal the issuer
may use (``service:issuer`` a signer), the platform's seal, a licence, a holder app
granted its type, and a second department whose counter the holder authorises.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import secrets
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from certseal.licencefile import read_licence_metadata
from certseal.v1 import issuer_pb2 as pb
from certseal.v1 import seal_pb2 as seal_pb
from certseal.v1 import verifier_pb2
from services.issuer.authorisation import copy_until_said
from tests.conftest import verdict_everywhere
from tests.e2e.test_console import (  # noqa: F401 (fixture)
    browser,
    drop_file,
    scan,
    shot,
)
from tests.e2e.test_holder_documents import (  # noqa: F401 (fixtures)
    _platform_sealed,
    authorise_request,
    console,
    holder_stubs,
    verifier_group,
    world,
)

PASSWORD = "redeem-e2e-password"
PURPOSE = "窗口办事"
# markup in the holder's purpose is text on the page, never HTML
MARKUP_PURPOSE = "开立<b>银行</b>账户"
# a redemption seals the annotated copy (with a timestamp): more than a verification
REDEEM_MS = 30000


async def counter_page(browser, console, department: str):
    """A context and a counter page signed in as a new clerk of ``department``; the
    page's script errors are collected in ``page.errors``."""
    name = f"clerk-{secrets.token_hex(3)}"
    await console.accounts.add(
        name, department=department, role="clerk", password=PASSWORD, by="operator:e2e"
    )
    url = f"https://localhost:{console.port}"
    context = await browser.new_context(
        ignore_https_errors=True,
        viewport={"width": 1200, "height": 900},
        accept_downloads=True,
    )
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    await page.goto(url + "/")
    await expect(page).to_have_url(url + "/login?next=/")
    await expect(page.locator("body")).to_have_attribute("data-ready", "true")
    await page.fill("#name", name)
    await page.fill("#password", PASSWORD)
    await page.press("#password", "Enter")
    await expect(page).to_have_url(url + "/", timeout=15000)
    await expect(page.locator("body")).to_have_attribute("data-ready", "true")
    await expect(page.locator("#counter")).to_have_text(f"dept:{department}")
    await expect(page.locator("#scan")).to_be_focused()
    return context, page, errors


async def copy_bytes(page: Page) -> bytes:
    """The bytes behind the annotated copy's link, downloaded by clicking it as the
    clerk does (the page's CSP allows no fetch of a blob: URL, so a click it is)."""
    async with page.expect_download() as download:
        await page.click("#redemption-copy")
    got = await download.value
    assert got.suggested_filename == "加注件.pdf"
    path = await got.path()
    assert path is not None
    return await asyncio.to_thread(Path(path).read_bytes)


async def expect_no_redemption(page: Page) -> None:
    await expect(page.locator("#redemption")).to_be_hidden()
    await expect(page.locator("#redemption-fields tr")).to_have_count(0)
    await expect(page.locator("#redemption-scope")).to_have_text("")
    await expect(page.locator("#redemption-purpose")).to_have_text("")
    assert not (
        await page.locator("#redemption-copy").get_attribute("href") or ""
    ).startswith("blob:")


@pytest.fixture
async def clerk(browser, console, world):
    """The counter page of a clerk of the authorised (second) department."""
    context, page, errors = await counter_page(browser, console, world["other"].code)
    yield page
    await context.close()
    assert not errors, f"script errors: {errors}"


async def test_a_scanned_authorisation_code_shows_scope_fields_and_the_copy(
    clerk, world, seal_stub
):
    page = clerk
    auth = (
        await world["app"].holder.AuthoriseUse(
            authorise_request(world, purpose=MARKUP_PURPOSE)
        )
    ).authorisation
    # no purpose of use is chosen: an authorisation carries its own purpose
    await scan(page, auth.code)
    panel = page.locator("#redemption")
    answered = page.locator("#redemption:not([hidden]), #message:not([hidden])")
    await expect(answered).to_have_count(1, timeout=REDEEM_MS)
    await expect(page.locator("#message")).to_have_text("")  # no refusal
    await expect(panel).to_be_visible()
    await expect(page.locator("#verdict")).to_be_hidden()  # not a licence verification
    await expect(page.locator("#message")).to_be_hidden()
    scope = page.locator("#redemption-scope")
    department = re.escape(f"测试部门 {world['other'].code[-4:]}")
    # the copy's statement in its words: the earlier of the authorisation's expiry and
    # the licence's end, China time, to the minute unless it is midnight
    copy_day = copy_until_said(
        min(
            auth.expires_at.ToDatetime(tzinfo=dt.UTC),
            world["licence"].valid_until.ToDatetime(tzinfo=dt.UTC),
        )
    )
    await expect(scope).to_have_text(
        re.compile(
            rf"^{re.escape(world['licence'].identifier)} · 机动车驾驶证 "
            rf"\({re.escape(world['licence'].type_code)}\) · 持证人 \S+ · "
            rf"仅供{department}使用，{re.escape(copy_day)}前有效$"
        )
    )
    # the purpose as the copy draws it: as given, in a framed field of its own
    purpose = page.locator("#redemption-purpose")
    await expect(purpose).to_have_text(MARKUP_PURPOSE)
    await expect(purpose.locator("b")).to_have_count(0)  # the markup is text
    await expect(page.locator("#redemption-id")).to_contain_text(auth.authorisation_id)
    rows = page.locator("#redemption-fields tr")
    await expect(rows).to_have_count(2)
    await expect(rows.nth(0)).to_have_text("address深圳市福田区")
    await expect(rows.nth(1)).to_have_text("classC1")  # the type gives no titles
    # the header names the department; the session's list holds the redemption
    await expect(page.locator("#counter")).to_contain_text(
        f"测试部门 {world['other'].code[-4:]}"
    )
    await expect(page.locator("#history li")).to_have_count(1)
    await expect(page.locator("#history li")).to_contain_text("授权用证")
    await expect(page.locator("#history-empty")).to_be_hidden()
    link = page.locator("#redemption-copy")
    await expect(link).to_be_visible()
    await expect(link).to_have_attribute("href", re.compile(r"^blob:"))
    await expect(link).to_have_attribute("download", "加注件.pdf")
    await expect(page.locator("#scan")).to_be_focused()  # ready for the next scan
    await shot(page, "10-redeemed")
    pdf = await copy_bytes(page)
    await expect(page.locator("#scan")).to_be_focused()  # the gun's next code lands
    assert pdf.startswith(b"%PDF")
    verified = await seal_stub("operator:admin").VerifyPdf(
        seal_pb.VerifyPdfRequest(pdf=pdf)
    )
    assert [(s.seal_id, s.verdict) for s in verified.seals] == [
        (_platform_sealed[0], "VALID")
    ]

    # the holder withdraws: the next scan of the same code is refused, and the fields
    # of the scan before are gone
    await world["app"].holder.RevokeAuthorisation(
        pb.RevokeAuthorisationRequest(
            authorisation_id=auth.authorisation_id,
            holder=world["holder"],
            reason="办完了",
        )
    )
    # a gun set to send its symbology identifier, after a chat's zero-width space
    await scan(page, "\u200b]Q1" + auth.code)
    message = page.locator("#message")
    await expect(message).to_be_visible(timeout=REDEEM_MS)
    await expect(message).to_contain_text("无法使用授权：持证人已撤回该授权")
    await expect(message).to_contain_text("/ Could not redeem: The holder withdrew")
    await expect_no_redemption(page)
    await shot(page, "11-redeem-withdrawn")


async def test_a_code_for_another_department_is_refused_and_nothing_stays(
    clerk, world, console
):
    page = clerk
    mine = (
        await world["app"].holder.AuthoriseUse(authorise_request(world))
    ).authorisation
    theirs = (
        await world["app"].holder.AuthoriseUse(
            authorise_request(world, department_code=world["dept"].code)
        )
    ).authorisation
    await scan(page, mine.code)
    await expect(page.locator("#redemption-fields tr")).to_have_count(
        2, timeout=REDEEM_MS
    )
    # a code made out to another department: a clear message, no fields (and not the
    # fields of the scan before)
    await scan(page, theirs.code)
    message = page.locator("#message")
    await expect(message).to_be_visible(timeout=REDEEM_MS)
    # the reason in Chinese first, then English (a new user's trial, finding 2)
    await expect(message).to_contain_text("无法使用授权：没有发给本部门的此授权码")
    await expect(message).to_contain_text(
        "/ Could not redeem: There is no authorisation with this code for this "
        "department"
    )
    await expect_no_redemption(page)
    await shot(page, "12-redeem-other-department")

    # a redemption, then a licence code: the verdict alone is on screen ...
    await scan(page, mine.code)
    await expect(page.locator("#redemption")).to_be_visible(timeout=REDEEM_MS)
    await expect(page.locator("#message")).to_be_hidden()  # the refusal has gone
    document = (
        await world["app"].holder.GetLicenceDocument(
            pb.GetLicenceDocumentRequest(
                identifier=world["licence"].identifier, holder=world["holder"]
            )
        )
    ).document
    code = read_licence_metadata(document)["licence_code"]
    await page.select_option("#purpose", PURPOSE)
    await expect(page.locator("#scan")).to_be_focused()
    await scan(page, code)
    await expect(page.locator("#verdict")).to_be_visible()
    await expect(page.locator("#verdict-details")).to_contain_text(
        world["licence"].identifier
    )
    await expect_no_redemption(page)
    # ... and a redemption after a verdict: the redemption alone
    await scan(page, mine.code)
    await expect(page.locator("#redemption-fields tr")).to_have_count(
        2, timeout=REDEEM_MS
    )
    await expect(page.locator("#verdict")).to_be_hidden()
    await expect(page.locator("#verdict-details dd")).to_have_count(0)


async def test_a_withdrawn_code_is_refused_in_both_languages_and_in_the_history(
    clerk, world, console
):
    """A new user's trial, finding 2: the refusal was English only (``Could not
    redeem: authorisation au-… was withdrawn by the holder``) and left no trace in
    the session's history."""
    page = clerk
    auth = (
        await world["app"].holder.AuthoriseUse(authorise_request(world))
    ).authorisation
    await world["app"].holder.RevokeAuthorisation(
        pb.RevokeAuthorisationRequest(
            authorisation_id=auth.authorisation_id,
            holder=world["holder"],
            reason="不用了",
        )
    )
    await scan(page, auth.code)
    message = page.locator("#message")
    await expect(message).to_be_visible(timeout=REDEEM_MS)
    await expect(message).to_have_text(
        "无法使用授权：持证人已撤回该授权，不能使用；如需办理，请持证人重新授权。 / "
        "Could not redeem: The holder withdrew this authorisation: it cannot be "
        "used. The holder can authorise again."
    )
    # the issuer's own words on hover, for whoever reads the audit log
    assert "was withdrawn by the holder" in (await message.get_attribute("title") or "")
    await expect_no_redemption(page)
    history = page.locator("#history li")
    await expect(history).to_have_count(1)
    await expect(history.first).to_contain_text("授权未能使用 REFUSED")
    await expect(history.first.locator("button")).to_have_class(re.compile("tone-bad"))
    assert auth.code not in await history.first.inner_text()  # a prefix only
    await shot(page, "12b-redeem-withdrawn")
    # the entry shows the refusal again
    await page.locator("#scan").fill("")
    await history.first.locator("button").click()
    await expect(message).to_contain_text("持证人已撤回该授权")


async def test_a_dropped_ofd_licence_file_shows_its_licence_status(
    clerk, world, verifier_group
):
    page = clerk
    licence = world["licence"]
    ofd = (
        await world["app"].holder.GetLicenceDocument(
            pb.GetLicenceDocumentRequest(
                identifier=licence.identifier,
                holder=world["holder"],
                format=pb.DOCUMENT_FORMAT_OFD,
            )
        )
    ).document
    code = (
        await world["dept"].clients.issuer.GetLicenceCode(
            pb.GetLicenceCodeRequest(identifier=licence.identifier)
        )
    ).text

    await verdict_everywhere(
        {"g": verifier_group.stub}, code, verifier_pb2.VERDICT_VALID, within=30
    )
    # an empty file says so in both languages (a new user's trial, finding 12)
    await drop_file(page, b"", "empty.pdf")
    await expect(page.locator("#message")).to_have_text(
        "无法核验签章：文件为空（0字节），请重新选择文件。 / Could not verify the "
        "PDF: The file is empty (0 bytes): choose the file again."
    )
    # an OFD package saved as .pdf is verified as the OFD it is (the console names
    # /api/verify-ofd, the page goes there)
    await drop_file(page, ofd, "licence.pdf", "application/pdf")
    status = page.locator("#seals-licence")
    await expect(status).to_have_attribute("data-verdict", "VALID")
    await expect(page.locator("#message")).to_be_hidden()
    await drop_file(page, ofd, "licence.ofd")
    await expect(status).to_be_visible()
    await expect(status).to_have_attribute("data-verdict", "VALID")
    await expect(status).to_contain_text(licence.identifier)
    await expect(page.locator("#seals-body tr")).to_have_count(1)
    await expect(page.locator("#seals-body tr").first).to_have_attribute(
        "data-verdict", "VALID"
    )
    await world["dept"].clients.issuer.RevokeLicence(
        pb.RevokeLicenceRequest(
            identifier=licence.identifier,
            reason="测试撤销",
            kind=pb.REVOCATION_KIND_REVOKE,
        )
    )
    await verdict_everywhere(
        {"g": verifier_group.stub}, code, verifier_pb2.VERDICT_REVOKED, within=30
    )
    await drop_file(page, ofd, "licence.ofd")
    await expect(status).to_have_attribute("data-verdict", "REVOKED")
    await expect(status).to_contain_text(licence.identifier)
    # the seal is intact: the file is genuine, the licence is not valid any more
    await expect(page.locator("#seals-body tr").first).to_have_attribute(
        "data-verdict", "VALID"
    )
    await shot(page, "13-ofd-licence-revoked")
