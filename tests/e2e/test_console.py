"""The counter console in a real headless Chromium (Debian's), against the real stack.

Two verifier groups, the seal service and a second issuer process with its metrics run
for this module; the console calls them over mTLS as ``service:console`` and names the
signed-in clerk's counter and name in the call's metadata. Clerks and an operator sign
in with console accounts. Screenshots of every state land in test-artifacts/console/
(CI keeps them).
"""

from __future__ import annotations

import asyncio
import base64
import copy
import io
import os
import re
import secrets
import ssl
import time
from pathlib import Path

import aiohttp
import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from PIL import Image
from playwright.async_api import Page, async_playwright, expect

from certseal.config import dump_config
from certseal.events import LICENCE_USAGE
from certseal.qr import qr_png
from certseal.rpc import secure_channel
from certseal.v1 import (
    events_pb2,
    seal_pb2,
    seal_pb2_grpc,
    verifier_pb2,
    verifier_pb2_grpc,
)
from certseal.v1 import issuer_pb2 as pb
from services.console.access import COOKIE
from services.console.app import ConsoleApp
from services.devstack import free_port
from services.issuer.app import IssuerApp
from services.seal.app import SealApp
from tests.conftest import (
    EventWatcher,
    VerifierProcess,
    blank_pdf,
    console_identity,
    fresh_uscc,
    issue_request,
    make_department,
    seal_owner,
    verdict_everywhere,
)

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "console"
# as root, without the sandbox; no calls home on a closed network
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PURPOSE = "窗口办事"
PASSWORD = "counter-e2e-password"


async def shot(page: Page, name: str) -> None:
    """Save a screenshot as a test artefact, once the fonts are in."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.evaluate("document.fonts.ready.then(() => true)")
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


@pytest.fixture(scope="module")
async def platform(stack, config, issuer, operator, connect, tmp_path_factory):
    """Departments, two verifier groups, the seal service and an issuer with metrics."""
    home = tmp_path_factory.mktemp("console")
    counter_code = fresh_uscc()
    open_dept = await make_department(operator, connect)
    # a licence type with a restricted field this counter may not see
    narrow_dept = await make_department(operator, connect, restricted=True)
    cfg = copy.deepcopy(config)
    cfg.verifier.data_dir = str(home / "verifiers")
    cfg.verifier.field_rights = [
        f"{narrow_dept.type_code}:{counter_code}:",
        f"{narrow_dept.type_code}:*:grade",
    ]
    cfg.issuer.metrics_listen = f"127.0.0.1:{free_port()}"
    cfg.seal.metrics_listen = f"127.0.0.1:{free_port()}"
    config_file = home / "config.toml"
    config_file.write_text(dump_config(cfg))
    probes = {"verifier": free_port(), "seal": free_port()}
    verifier_metrics = free_port()
    groups = [
        VerifierProcess(
            stack,
            config_file,
            home,
            f"counter-{secrets.token_hex(3)}",
            *("--probe-listen", f"127.0.0.1:{probes['verifier']}"),
            *("--metrics-listen", f"127.0.0.1:{verifier_metrics}"),
        ),
        VerifierProcess(stack, config_file, home, f"region-{secrets.token_hex(3)}"),
    ]
    for group in groups:
        await group.start()
    # a second issuer process (the session's relays its events), for its metrics
    issuer_with_metrics = IssuerApp(cfg, listen="127.0.0.1:0", background=False)
    seal_config = copy.deepcopy(cfg)
    seal_config.seal.probe_listen = f"127.0.0.1:{probes['seal']}"
    seal_app = SealApp(seal_config, listen="127.0.0.1:0")
    await issuer_with_metrics.start()
    await seal_app.start()
    for group in groups:
        await group.wait_serving()

    # the console calls as itself; each clerk's department is the counter
    console_identity(stack, cfg)
    cfg.console.verifier_targets = [f"127.0.0.1:{g.port}" for g in groups]
    cfg.console.seal_target = f"127.0.0.1:{seal_app.port}"
    # its own issuer, never the default address (another stack's issuer may be there)
    cfg.console.issuer_target = f"127.0.0.1:{issuer_with_metrics.port}"
    cfg.console.metrics_sources = [
        f"issuer=http://{cfg.issuer.metrics_listen}/metrics",
        f"seal=http://{cfg.seal.metrics_listen}/metrics",
    ]
    cfg.console.refresh_s = 0.5
    console = ConsoleApp(cfg, listen="127.0.0.1:0")
    await console.start()
    # a clerk at the narrow counter, a clerk at another counter, an operator
    suffix = secrets.token_hex(3)
    other_code = fresh_uscc()
    accounts = {}
    for key, department, role in (
        ("clerk", counter_code, "clerk"),
        ("other", other_code, "clerk"),
        ("operator", fresh_uscc(), "operator"),
    ):
        accounts[key] = await console.accounts.add(
            f"{key}-{suffix}",
            department=department,
            role=role,
            password=PASSWORD,
            by="operator:e2e",
        )
    yield {
        "url": f"https://localhost:{console.port}",
        "groups": groups,
        "open": open_dept,
        "narrow": narrow_dept,
        "counter": f"dept:{counter_code}",
        "other_counter": f"dept:{other_code}",
        "accounts": accounts,
        "stack": stack,
        "seal_port": seal_app.port,
        "config": cfg,
        "probes": probes,
        "verifier_metrics": f"http://127.0.0.1:{verifier_metrics}/metrics",
    }
    await console.stop()
    await seal_app.stop(grace=1)
    await issuer_with_metrics.stop(grace=1)
    for group in groups:
        await group.stop()


@pytest.fixture(scope="module")
async def browser():
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS
        )
        yield chromium
        await chromium.close()


async def sign_in(page: Page, platform, who: str = "clerk", path: str = "/") -> None:
    """Open ``path``: the console sends the browser to sign in first, then back."""
    await page.goto(platform["url"] + path)
    await expect(page).to_have_url(platform["url"] + "/login?next=" + path)
    await expect(page.locator("body")).to_have_attribute("data-ready", "true")
    await page.fill("#name", platform["accounts"][who].name)
    await page.fill("#password", PASSWORD)
    async with page.expect_response(platform["url"] + "/api/login") as login:
        await page.press("#password", "Enter")
    assert (await login.value).status == 200
    await expect(page).to_have_url(platform["url"] + path, timeout=15000)


@pytest.fixture
async def page(browser, platform):
    """A fresh counter page, signed in as the clerk (no purpose chosen yet); fails on
    any request elsewhere."""
    context = await browser.new_context(
        ignore_https_errors=True,  # the dev CA is checked by test_https_and_headers
        viewport={"width": 1200, "height": 900},
        accept_downloads=True,
    )
    page = await context.new_page()
    requests: list[str] = []
    errors: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.on("pageerror", lambda error: errors.append(str(error)))
    await sign_in(page, platform)
    await expect(page.locator("body")).to_have_attribute("data-ready", "true")
    yield page
    await context.close()
    elsewhere = [u for u in requests if not u.startswith(platform["url"] + "/")]
    assert not elsewhere, f"the page fetched from elsewhere: {elsewhere}"
    assert not errors, f"script errors: {errors}"


async def licence_and_code(dept) -> tuple[str, str]:
    licence = (await dept.clients.issuer.IssueLicence(issue_request(dept))).licence
    code = (
        await dept.clients.issuer.GetLicenceCode(
            pb.GetLicenceCodeRequest(identifier=licence.identifier)
        )
    ).text
    return licence.identifier, code


async def until_verdict(platform, code: str, wanted: int) -> None:
    """Wait until the counter's group answers ``wanted`` (an event is being applied)."""
    await verdict_everywhere({"counter": platform["groups"][0].stub}, code, wanted, 15)


async def drop_file(page: Page, data: bytes, name: str, kind: str = "") -> None:
    """What dropping a file on the page does: ``data`` as the file ``name`` of
    type ``kind`` (browsers know no type for .ofd: the page goes by the name)."""
    await page.evaluate(
        """([b64, name, kind]) => {
            const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
            const dt = new DataTransfer();
            dt.items.add(new File([bytes], name, {type: kind}));
            document.dispatchEvent(new DragEvent("dragenter", {dataTransfer: dt}));
            document.dispatchEvent(new DragEvent("drop", {dataTransfer: dt}));
        }""",
        [base64.b64encode(data).decode(), name, kind],
    )


async def scan(page: Page, code: str) -> None:
    """What a scanner gun does: type into the focused field, then Enter."""
    await page.keyboard.type(code)
    await page.keyboard.press("Enter")


async def choose_purpose(page: Page) -> None:
    await page.select_option("#purpose", PURPOSE)
    await expect(page.locator("#scan")).to_be_focused()


def banner(page: Page):
    return page.locator("#verdict-banner")


async def test_scan_valid_then_revoked_after_the_issuer_revokes(page, platform):
    identifier, code = await licence_and_code(platform["open"])
    await until_verdict(platform, code, verifier_pb2.VERDICT_VALID)
    await expect(page.locator("#counter")).to_have_text(platform["counter"])
    await expect(page.locator("#clerk")).to_have_text(
        platform["accounts"]["clerk"].name
    )
    await choose_purpose(page)
    await scan(page, code)
    await expect(banner(page)).to_have_attribute("data-verdict", "VALID")
    await expect(page.locator("#verdict-zh")).to_have_text("有效")
    details = page.locator("#verdict-details")
    await expect(details).to_contain_text(identifier)
    await expect(details).to_contain_text("C1")  # the public field 'class'
    # names, not only codes: the type's and the issuing department's, from the index
    await expect(details).to_contain_text(
        f"机动车驾驶证 ({platform['open'].type_code})"
    )
    await expect(details).to_contain_text(f"测试部门 {platform['open'].code[-4:]}")
    await expect(details).to_contain_text("张*丰")  # masked, as the verifier gave it
    await expect(details).not_to_contain_text("深圳")  # personal: never in a code
    await expect(page.locator("#scan")).to_be_focused()  # ready for the next scan
    await shot(page, "01-valid")

    await platform["open"].clients.issuer.RevokeLicence(
        pb.RevokeLicenceRequest(
            identifier=identifier, reason="伪造", kind=pb.REVOCATION_KIND_REVOKE
        )
    )
    await until_verdict(platform, code, verifier_pb2.VERDICT_REVOKED)
    await scan(page, code)
    await expect(banner(page)).to_have_attribute("data-verdict", "REVOKED")
    await expect(page.locator("#reason-zh")).to_have_text(
        "发证部门已撤销该证照，不能受理。"
    )
    await expect(page.locator("#history li")).to_have_count(2)
    await shot(page, "02-revoked")


async def test_revoked_as_a_sanction_has_its_own_words(http, platform):
    """吊销 (07) and 撤销 (03) are both the verdict REVOKED; the console words each."""
    shown = {}
    for kind in (pb.REVOCATION_KIND_SANCTION, pb.REVOCATION_KIND_REVOKE):
        identifier, code = await licence_and_code(platform["open"])
        await platform["open"].clients.issuer.RevokeLicence(
            pb.RevokeLicenceRequest(identifier=identifier, reason="处罚", kind=kind)
        )
        await until_verdict(platform, code, verifier_pb2.VERDICT_REVOKED)
        async with http.post(
            "/api/verify", json={"code": code, "purpose": PURPOSE}
        ) as reply:
            assert reply.status == 200, await reply.text()
            shown[kind] = await reply.json()
    sanctioned = shown[pb.REVOCATION_KIND_SANCTION]
    revoked = shown[pb.REVOCATION_KIND_REVOKE]
    assert sanctioned["verdict"] == revoked["verdict"] == "REVOKED"
    assert (sanctioned["status"], sanctioned["title_zh"]) == ("07", "已吊销")
    assert (revoked["status"], revoked["title_zh"]) == ("03", "已撤销")
    assert sanctioned["reason_zh"] != revoked["reason_zh"]


async def test_an_uploaded_qr_image_is_verified(page, platform, tmp_path):
    identifier, code = await licence_and_code(platform["open"])
    await until_verdict(platform, code, verifier_pb2.VERDICT_VALID)
    image = tmp_path / "code.png"
    image.write_bytes(qr_png(code))
    await choose_purpose(page)
    await page.set_input_files("#upload", str(image))
    await expect(banner(page)).to_have_attribute("data-verdict", "VALID")
    await expect(page.locator("#verdict-details")).to_contain_text(identifier)
    await shot(page, "03-uploaded-image")

    blank = tmp_path / "blank.png"
    Image.new("RGB", (200, 200), "white").save(blank)
    await page.set_input_files("#upload", str(blank))
    await expect(page.locator("#message")).to_contain_text(
        "contains no readable QR code"
    )


async def test_a_garbage_scan_says_malformed_without_a_stack_trace(page, platform):
    await choose_purpose(page)
    await scan(page, "hello, I am not a licence")
    await expect(banner(page)).to_have_attribute("data-verdict", "MALFORMED")
    await expect(page.locator("#reason-zh")).to_have_text(
        "扫描的内容不是证照二维码，请重新扫描。"
    )
    await expect(page.locator("#reason-en")).to_contain_text("not a licence code")
    assert "Traceback" not in await page.content()
    await shot(page, "04-malformed")

    # 9,004 characters put in at once, then Enter (typed a key at a time, this one
    # step took half a minute of the suite; the short scan above is typed)
    await page.keyboard.insert_text("LC1:" + "A" * 9000)
    await page.keyboard.press("Enter")
    await expect(page.locator("#message")).to_contain_text("at most 8192")
    assert "Traceback" not in await page.content()


async def test_no_scan_before_a_purpose_is_chosen(page, platform):
    await scan(page, "LC1:anything")
    await expect(page.locator("#message")).to_contain_text("用证事由")
    await expect(page.locator("#verdict")).to_be_hidden()
    await expect(page.locator("#purpose")).to_be_focused()


async def test_the_page_shows_no_field_the_verifier_withheld(page, platform):
    identifier, code = await licence_and_code(platform["narrow"])
    await until_verdict(platform, code, verifier_pb2.VERDICT_VALID)
    # another counter may see the restricted 'grade' on this licence type ...
    other = await platform["groups"][0].stub.VerifyCode(
        verifier_pb2.VerifyCodeRequest(code=code, purpose=PURPOSE)
    )
    assert dict(other.result.fields) == {"class": "C1", "grade": "等级G7"}
    # ... this console's counter may not: the page shows the public field only
    await choose_purpose(page)
    await scan(page, code)
    await expect(banner(page)).to_have_attribute("data-verdict", "VALID")
    details = page.locator("#verdict-details")
    await expect(details).to_contain_text(identifier)
    await expect(details.locator("dd.field")).to_have_count(1)
    await expect(details.locator("dd", has_text=re.compile(r"^C1$"))).to_have_count(1)
    # neither the withheld field's name nor its value
    await expect(details).not_to_contain_text("grade")
    await expect(details.locator("dd", has_text=re.compile(r"^等级G7$"))).to_have_count(
        0
    )


async def test_each_verification_runs_as_the_signed_in_clerks_counter(http, platform):
    """The verifier applies the clerk's department's field rights and records the use
    under that counter and clerk, via the console."""
    identifier, code = await licence_and_code(platform["narrow"])
    await until_verdict(platform, code, verifier_pb2.VERDICT_VALID)
    other = await api_session(
        platform["url"],
        platform["config"].tls.ca_file,
        platform["accounts"]["other"].name,
    )
    async with EventWatcher(platform["stack"], LICENCE_USAGE) as watcher:
        answers = {}
        for who, session in (("clerk", http), ("other", other)):
            async with session.post(
                "/api/verify", json={"code": code, "purpose": PURPOSE}
            ) as reply:
                assert reply.status == 200, await reply.text()
                answers[who] = await reply.json()
        await other.close()

        def used(records):
            events = [events_pb2.LicenceUsedEvent.FromString(r.value) for r in records]
            return [e for e in events if e.identifier == identifier and e.via]

        records = await watcher.wait_for(lambda r: len(used(r)) >= 2, within=30)
    # this counter sees the public field only; the other counter also 'grade'
    assert answers["clerk"]["verdict"] == answers["other"]["verdict"] == "VALID"
    assert answers["clerk"]["fields"] == {"class": "C1"}
    assert answers["other"]["fields"] == {"class": "C1", "grade": "等级G7"}
    assert answers["clerk"]["counter"] == platform["counter"]
    assert answers["other"]["counter"] == platform["other_counter"]
    assert answers["other"]["clerk"] == platform["accounts"]["other"].name
    attributed = {(e.counter, e.clerk, e.via) for e in used(records)}
    assert attributed == {
        (platform["counter"], platform["accounts"]["clerk"].name, "service:console"),
        (
            platform["other_counter"],
            platform["accounts"]["other"].name,
            "service:console",
        ),
    }


async def test_a_receipt_is_saved_as_png(page, platform):
    _, code = await licence_and_code(platform["open"])
    await until_verdict(platform, code, verifier_pb2.VERDICT_VALID)
    await choose_purpose(page)
    await scan(page, code)
    await expect(banner(page)).to_have_attribute("data-verdict", "VALID")
    async with page.expect_download() as download_info:
        await page.click("#save-receipt")
    download = await download_info.value
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    receipt = ARTIFACTS / "05-receipt.png"
    await download.save_as(str(receipt))
    assert download.suggested_filename.startswith("receipt-1.2.156.3005.2.")
    with Image.open(receipt) as image:
        assert image.format == "PNG" and image.width == 1000
    # printing shows the receipt alone
    await page.emulate_media(media="print")
    await expect(page.locator(".scan-area")).to_be_hidden()
    await expect(page.locator(".receipt-title")).to_be_visible()


async def test_keyboard_only(page, platform):
    chooser: asyncio.Future = asyncio.get_running_loop().create_future()
    # listening early: Playwright starts intercepting file choosers asynchronously
    page.once("filechooser", lambda opened: chooser.set_result(opened))
    _, code = await licence_and_code(platform["open"])
    await until_verdict(platform, code, verifier_pb2.VERDICT_VALID)
    await expect(page.locator("#scan")).to_be_focused()
    # back to the purpose list, choose with the arrow key, straight back to scanning
    await page.keyboard.press("Shift+Tab")
    await page.keyboard.press("Shift+Tab")
    await expect(page.locator("#purpose")).to_be_focused()
    await page.keyboard.press("ArrowDown")
    await expect(page.locator("#scan")).to_be_focused()
    await scan(page, code)
    await expect(banner(page)).to_have_attribute("data-verdict", "VALID")
    await page.keyboard.press("Tab")
    await expect(page.locator("#upload-button")).to_be_focused()
    await page.keyboard.press("Enter")
    assert await (await asyncio.wait_for(chooser, 10)).element.get_attribute("id") == (
        "upload"
    )


async def test_a_dropped_sealed_pdf_lists_its_seals(page, platform, operator):
    stack = platform["stack"]
    owner = await seal_owner(operator)  # registering seals needs the seal_owner role
    ident = stack.ca.identity(f"dept:{owner}")
    channel = secure_channel(
        f"localhost:{platform['seal_port']}",
        str(stack.ca.ca_file),
        str(ident.cert_file),
        str(ident.key_file),
    )
    seal = seal_pb2_grpc.SealStub(channel)
    seals = [
        (await seal.RegisterSeal(seal_pb2.RegisterSealRequest(name=n, suite=s))).seal
        for n, s in (
            ("示例市市场监督管理局", "es256"),
            ("示例公司合同专用章", "ed25519"),
        )
    ]
    pdf = blank_pdf()
    for n, info in enumerate(seals):
        pdf = (
            await seal.SealPdf(
                seal_pb2.SealPdfRequest(seal_id=info.seal_id, pdf=pdf, x_mm=20 + 60 * n)
            )
        ).pdf
    await channel.close()

    await drop_file(page, pdf, "sealed.pdf", "application/pdf")
    rows = page.locator("#seals-body tr")
    await expect(rows).to_have_count(2)
    await expect(rows.nth(0)).to_have_attribute("data-verdict", "VALID")
    await expect(rows.nth(0)).to_contain_text("示例市市场监督管理局")
    await expect(rows.nth(1)).to_contain_text("示例公司合同专用章")
    await expect(page.locator("#drop-overlay")).to_be_hidden()
    await shot(page, "06-sealed-pdf")

    i = pdf.index(b"/MediaBox")
    await drop_file(
        page, pdf[:i] + b"/MediaBoy" + pdf[i + 9 :], "tampered.pdf", "application/pdf"
    )
    await expect(rows.nth(0)).to_have_attribute("data-verdict", "BAD_SIGNATURE")
    await expect(rows.nth(1)).to_have_attribute("data-verdict", "BAD_SIGNATURE")
    await shot(page, "07-tampered-pdf")


async def test_a_dropped_sealed_ofd_lists_its_seals(page, platform, operator):
    from tests.seal.ofd_samples import changed, flip_last_byte, make_ofd

    stack = platform["stack"]
    owner = await seal_owner(operator)
    ident = stack.ca.identity(f"dept:{owner}")
    channel = secure_channel(
        f"localhost:{platform['seal_port']}",
        str(stack.ca.ca_file),
        str(ident.cert_file),
        str(ident.key_file),
    )
    seal = seal_pb2_grpc.SealStub(channel)
    ofd = make_ofd()
    for name, suite in (
        ("示例市市场监督管理局", "sm2"),
        ("示例公司合同专用章", "es256"),
    ):
        info = (
            await seal.RegisterSeal(
                seal_pb2.RegisterSealRequest(name=name, suite=suite)
            )
        ).seal
        ofd = (
            await seal.SealOfd(seal_pb2.SealOfdRequest(seal_id=info.seal_id, ofd=ofd))
        ).ofd
    await channel.close()

    await drop_file(page, ofd, "licence.ofd")
    rows = page.locator("#seals-body tr")
    await expect(rows).to_have_count(2)
    await expect(rows.nth(0)).to_have_attribute("data-verdict", "VALID")
    await expect(rows.nth(0)).to_contain_text("示例市市场监督管理局")
    await expect(rows.nth(1)).to_contain_text("示例公司合同专用章")
    await shot(page, "08-sealed-ofd")
    await drop_file(
        page, changed(ofd, "Doc_0/Document.xml", flip_last_byte), "tampered.ofd"
    )
    await expect(rows.nth(0)).to_have_attribute("data-verdict", "MODIFIED")
    await expect(rows.nth(1)).to_have_attribute("data-verdict", "MODIFIED")
    await expect(rows.nth(0)).to_contain_text("/Doc_0/Document.xml changed")


async def test_the_login_page_then_signing_out(browser, platform):
    context = await browser.new_context(
        ignore_https_errors=True, viewport={"width": 1200, "height": 900}
    )
    page = await context.new_page()
    await page.goto(platform["url"] + "/")
    await expect(page).to_have_url(platform["url"] + "/login?next=/")
    await page.fill("#name", platform["accounts"]["clerk"].name)
    await page.fill("#password", "not the password")
    await page.press("#password", "Enter")
    await expect(page.locator("#message")).to_have_text(
        "账号或密码错误 / Wrong account name or password"
    )
    await shot(page, "00-login")
    await page.fill("#password", PASSWORD)
    await page.press("#password", "Enter")
    await expect(page).to_have_url(platform["url"] + "/")
    await expect(page.locator("body")).to_have_attribute("data-ready", "true")
    cookies = {c["name"]: c for c in await context.cookies()}
    cookie = cookies[COOKIE]
    assert cookie["httpOnly"] and cookie["secure"] and cookie["sameSite"] == "Strict"
    assert await page.evaluate("document.cookie") == ""  # scripts never see it
    await expect(page.locator("#operator-link")).to_be_hidden()  # a clerk's page
    await page.click("#logout-button")
    await expect(page).to_have_url(platform["url"] + "/login")
    await page.goto(platform["url"] + "/")
    await expect(page).to_have_url(platform["url"] + "/login?next=/")
    await context.close()


async def test_the_operator_page_shows_both_groups_with_their_lag(browser, platform):
    _, code = await licence_and_code(platform["open"])  # something to relay and apply
    await until_verdict(platform, code, verifier_pb2.VERDICT_VALID)
    context = await browser.new_context(
        ignore_https_errors=True, viewport={"width": 1200, "height": 900}
    )
    page = await context.new_page()
    await sign_in(page, platform, "operator", "/operator")
    for group in platform["groups"]:
        card = page.locator(f'article[data-group="{group.group}"]')
        await expect(card).to_contain_text("SERVING")
        await expect(card.locator('[data-figure="lag-events"] .figure')).to_have_text(
            "0"
        )
        await expect(card.locator('[data-figure="lag-seconds"]')).to_be_visible()
        await expect(card.locator("details.partitions tbody tr")).not_to_have_count(0)
        # licences, each lineage once (not RocksDB's count of stored entries)
        await expect(card.locator('[data-figure="licences"] .figure')).to_have_text(
            re.compile(r"^[1-9][0-9]*$")
        )
    # whether its relay is the one publishing (another process may lead); this
    # issuer runs no relay (background=False: the session's issuer relays)
    for name, role in (("issuer", "^—$"), ("seal", "^(主 leading|备用 standing by)$")):
        card = page.locator(f'article[data-outbox="{name}"]')
        await expect(card).to_contain_text("UP")
        relay = card.locator('[data-figure="relay"] .figure')
        await expect(relay).to_have_text(re.compile(role))
    await expect(
        page.locator('article[data-topic="certseal.licence-events.v1"]')
    ).to_be_visible()
    await expect(page.locator("svg.spark polyline").first).to_be_attached()
    await shot(page, "08-operator")
    await context.close()


async def test_the_operator_chart_shows_a_lag_not_known_as_a_gap(browser, platform):
    """A group cut off from its broker (or not answering) has a lag nobody knows: its
    chart breaks there and marks it, never drawing it as 0 (caught up). The console's
    own snapshot, with one group's lag made unknown and a history around it."""
    group = platform["groups"][0].group
    missing = object()  # a sample without the group: not sampled, not unknown
    lags = [0, 3, None, 5, None, 2, 1, missing, 4]

    async def unknown_lag(route):
        snapshot = await (await route.fetch()).json()
        for status in snapshot["groups"]:
            if status["group"] == group:
                status["lag_unknown"] = True
        at = snapshot["at"]
        snapshot["history"] = [
            {
                "at": at,
                "lag": {} if lag is missing else {group: lag},
                "backlog": {},
                "rates": {},
            }
            for lag in lags
        ]
        await route.fulfill(json=snapshot)

    context = await browser.new_context(
        ignore_https_errors=True, viewport={"width": 1200, "height": 900}
    )
    await context.route("**/api/status", unknown_lag)
    page = await context.new_page()
    await sign_in(page, platform, "operator", "/operator")
    card = page.locator(f'article[data-group="{group}"]')
    await expect(card.locator('[data-figure="lag-events"] .figure')).to_have_text(
        "未知 unknown"
    )
    chart = card.locator("svg.spark")
    await expect(chart.locator("rect.unknown")).to_have_count(2)  # the two nulls
    await expect(chart.locator("polyline")).to_have_count(2)  # 0, 3 | 2, 1
    await expect(chart.locator("circle")).to_have_count(2)  # 5 and 4, alone
    await expect(chart).to_have_attribute("aria-label", re.compile("2 not known"))
    points = await chart.locator("polyline").evaluate_all(
        "lines => lines.map(l => l.getAttribute('points').split(' ').length)"
    )
    assert points == [2, 2]
    # the page polls /api/status: a fetch in flight when the context closes fails,
    # and playwright raised it in the next test's new_context
    await context.unroute_all(behavior="ignoreErrors")
    await context.close()


async def _signs_in(platform, name: str, password: str) -> int:
    """The status of ``POST /api/login`` for ``name`` with ``password``."""
    context = ssl.create_default_context(cafile=platform["config"].tls.ca_file)
    async with (
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context)) as session,
        session.post(
            platform["url"] + "/api/login", json={"name": name, "password": password}
        ) as reply,
    ):
        return reply.status


async def test_the_operator_adds_disables_and_resets_an_account_from_the_page(
    browser, platform
):
    context = await browser.new_context(
        ignore_https_errors=True, viewport={"width": 1200, "height": 900}
    )
    page = await context.new_page()
    await sign_in(page, platform, "operator", "/operator")
    operator_row = page.locator(
        f'tr[data-account="{platform["accounts"]["operator"].name}"]'
    )
    await expect(operator_row).to_contain_text("operator")
    name, department = f"new-clerk-{secrets.token_hex(3)}", fresh_uscc()

    # a bad field is named on the page, and nothing is added
    await page.fill("#account-name", name)
    await page.fill("#account-department", "not-a-uscc")
    await page.fill("#account-password", PASSWORD)
    await page.click("#account-add")
    await expect(page.locator("#accounts-message")).to_contain_text("department")
    await expect(page.locator(f'tr[data-account="{name}"]')).to_have_count(0)
    assert await _signs_in(platform, name, PASSWORD) == 401

    # a good account is listed and signs in
    await page.fill("#account-department", department)
    await page.fill("#account-password", PASSWORD)
    await page.click("#account-add")
    row = page.locator(f'tr[data-account="{name}"]')
    await expect(row).to_contain_text(department)
    await expect(row).to_contain_text("clerk")
    await expect(page.locator("#accounts-message")).to_be_hidden()
    await expect(page.locator("#account-name")).to_have_value("")  # the form is reset
    assert await _signs_in(platform, name, PASSWORD) == 200

    # disabled from the page, it cannot sign in; enabled, it can again
    await row.locator('[data-action="disable"]').click()
    await expect(row).to_contain_text("disabled")
    assert await _signs_in(platform, name, PASSWORD) == 403
    await row.locator('[data-action="enable"]').click()
    await expect(row).to_contain_text("enabled")

    # a new password: a short one is refused by name, a good one replaces the old
    new_password = "a-new-counter-password"
    await row.locator('[data-action="password"]').click()
    await row.locator("input[type=password]").fill("short")
    await row.get_by_role("button", name="保存 Save").click()
    await expect(page.locator("#accounts-message")).to_contain_text("password")
    await row.locator("input[type=password]").fill(new_password)
    await row.get_by_role("button", name="保存 Save").click()
    await expect(page.locator("#accounts-message")).to_be_hidden()
    await expect(row.locator('[data-action="password"]')).to_be_visible()
    assert await _signs_in(platform, name, PASSWORD) == 401
    assert await _signs_in(platform, name, new_password) == 200
    await shot(page, "09-operator-accounts")
    await context.close()


def y4m(png: bytes, width: int = 640, height: int = 480, frames: int = 10) -> bytes:
    """A raw video (YUV4MPEG2, 4:2:0) showing the image, for Chromium's fake camera."""
    with Image.open(io.BytesIO(png)) as qr:
        frame = Image.new("RGB", (width, height), "white")
        side = min(width, height) - 40
        frame.paste(qr.convert("RGB").resize((side, side)), ((width - side) // 2, 20))
    y, u, v = frame.convert("YCbCr").split()
    half = (width // 2, height // 2)
    planes = y.tobytes() + u.resize(half).tobytes() + v.resize(half).tobytes()
    header = f"YUV4MPEG2 W{width} H{height} F10:1 Ip A1:1 C420jpeg\n".encode()
    return header + (b"FRAME\n" + planes) * frames


async def test_the_camera_scans_a_code(platform, tmp_path):
    identifier, code = await licence_and_code(platform["open"])
    await until_verdict(platform, code, verifier_pb2.VERDICT_VALID)
    video = tmp_path / "camera.y4m"
    video.write_bytes(y4m(qr_png(code, scale=6)))
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                *CHROMIUM_ARGS,
                "--use-fake-ui-for-media-stream",
                "--use-fake-device-for-media-stream",
                f"--use-file-for-fake-video-capture={video}",
            ],
        )
        context = await chromium.new_context(ignore_https_errors=True)
        await context.grant_permissions(["camera"], origin=platform["url"])
        page = await context.new_page()
        await sign_in(page, platform)
        await expect(page.locator("body")).to_have_attribute("data-ready", "true")
        await choose_purpose(page)
        await page.click("#camera-button")
        await expect(banner(page)).to_have_attribute(
            "data-verdict", "VALID", timeout=15000
        )
        await expect(page.locator("#verdict-details")).to_contain_text(identifier)
        await expect(page.locator("#camera")).to_be_hidden()  # stopped after the scan
        await chromium.close()


# -- the HTTP API, without a browser ------------------------------------------------


async def api_session(url: str, ca_file: str, name: str) -> aiohttp.ClientSession:
    """An HTTPS client signed in as the console account ``name``."""
    context = ssl.create_default_context(cafile=ca_file)
    session = aiohttp.ClientSession(
        base_url=url,
        connector=aiohttp.TCPConnector(ssl=context),
        cookie_jar=aiohttp.DummyCookieJar(),
    )
    async with session.post(
        "/api/login", json={"name": name, "password": PASSWORD}
    ) as reply:
        assert reply.status == 200, await reply.text()
        token = reply.cookies[COOKIE].value
    session.headers["Cookie"] = f"{COOKIE}={token}"
    return session


@pytest.fixture
async def http(platform):
    """The HTTP API, signed in as the clerk."""
    session = await api_session(
        platform["url"],
        platform["config"].tls.ca_file,
        platform["accounts"]["clerk"].name,
    )
    yield session
    await session.close()


async def test_https_and_headers(http):
    async with http.get("/") as reply:
        assert reply.status == 200
        csp = reply.headers["Content-Security-Policy"]
        assert "default-src 'self'" in csp and "unsafe-inline" not in csp
        assert "frame-ancestors 'none'" in csp
        assert reply.headers["Cache-Control"] == "no-store"
        assert reply.headers["X-Content-Type-Options"] == "nosniff"
        assert reply.headers["X-Frame-Options"] == "DENY"
        assert reply.headers["Strict-Transport-Security"].startswith("max-age=")
        assert reply.headers["Server"] == "certseal-console"  # no version
    async with http.get("/fonts/noto-sans-sc.otf") as reply:
        assert reply.status == 200 and (await reply.read())[:4] == b"OTTO"


async def test_bad_requests_name_what_is_wrong(http):
    cases = [
        ({"json": {"code": "LC1:x"}}, 400, "purpose"),
        ({"json": {"purpose": PURPOSE}}, 400, "code"),
        ({"json": ["LC1:x"]}, 400, "body"),
        ({"data": "code=LC1:x"}, 415, "body"),
    ]
    for kwargs, status, field in cases:
        async with http.post("/api/verify", **kwargs) as reply:
            body = await reply.json()
            assert (reply.status, body["field"]) == (status, field), body
            assert body["error"]
    async with http.post(
        "/api/verify",
        json={"code": "LC1:x", "purpose": PURPOSE},
        headers={"Origin": "https://evil.example"},
    ) as reply:
        assert reply.status == 403
        assert (await reply.json())["field"] == "origin"
    async with http.post(
        f"/api/verify-image?purpose={PURPOSE}",
        data=b"GIF89a",
        headers={"Content-Type": "image/gif"},
    ) as reply:
        assert reply.status == 415
        assert (await reply.json())["field"] == "image"
    async with http.post(
        f"/api/verify-image?purpose={PURPOSE}",
        data=b"\x89PNG not really",
        headers={"Content-Type": "image/png"},
    ) as reply:
        body = await reply.json()
        assert (reply.status, body["field"]) == (400, "image")
        assert "not a readable PNG, JPEG or HEIC image" in body["error"]
    async with http.post(
        "/api/verify-pdf", data=b"hello", headers={"Content-Type": "application/pdf"}
    ) as reply:
        assert reply.status == 400 and (await reply.json())["field"] == "pdf"
    async with http.post(
        "/api/verify-ofd", data=b"hello", headers={"Content-Type": "application/ofd"}
    ) as reply:
        assert reply.status == 400 and (await reply.json())["field"] == "ofd"
    async with http.post(
        "/api/verify-ofd", data=b"PK\x03\x04", headers={"Content-Type": "text/plain"}
    ) as reply:
        assert reply.status == 415 and (await reply.json())["field"] == "ofd"
    async with http.post(
        "/api/verify-ofd",
        data=b"PK\x03\x04 not a zip",
        headers={"Content-Type": "application/ofd"},
    ) as reply:
        body = await reply.json()
        assert reply.status == 400 and body["field"] == "ofd", body


async def test_status_lists_every_group(http, platform):
    async with http.get("/api/status") as reply:  # a clerk may not
        assert reply.status == 403
        assert "needs an operator account" in (await reply.json())["error"]
    operator = await api_session(
        platform["url"],
        platform["config"].tls.ca_file,
        platform["accounts"]["operator"].name,
    )
    async with operator, operator.get("/api/status") as reply:
        assert reply.status == 200
        status = await reply.json()
    assert {g["group"] for g in status["groups"]} == {
        g.group for g in platform["groups"]
    }
    assert all(g["serving"] for g in status["groups"])
    assert {o["name"] for o in status["outboxes"] if o["up"]} == {"issuer", "seal"}


async def test_an_unreachable_verifier_is_a_clear_503(platform):
    cfg = copy.deepcopy(platform["config"])
    cfg.console.verifier_targets = [f"127.0.0.1:{free_port()}"]
    cfg.console.metrics_sources = []
    cfg.console.max_upload_bytes = 4096
    cfg.console.operator_page = False
    console = ConsoleApp(cfg, listen="127.0.0.1:0")
    await console.start()
    try:
        session = await api_session(
            f"https://localhost:{console.port}",
            cfg.tls.ca_file,
            platform["accounts"]["operator"].name,
        )
        async with session:
            async with session.post(
                "/api/verify",
                json={"code": "LC1:x", "purpose": PURPOSE},
            ) as reply:
                body = await reply.json()
            assert reply.status == 503
            assert "verifier service is not reachable" in body["error"]
            async with session.post(
                "/api/verify-image?purpose=x",
                data=b"\x89PNG" + bytes(8192),
                headers={"Content-Type": "image/png"},
            ) as reply:
                body = await reply.json()
            assert reply.status == 413 and body["field"] == "body"
            assert "the limit is 4 KiB, the largest document" in body["error"]
            status = await console.collector.collect(session)
            assert status["groups"][0]["serving"] is False
            assert status["groups"][0]["error"].startswith("UNAVAILABLE")
            # a console for clerks only: no operator page
            for path in ("/operator", "/api/status"):
                async with session.get(path) as r:
                    assert r.status == 404
    finally:
        await console.stop()


async def test_plaintext_probes_and_verifier_metrics_for_kubernetes(platform):
    """The kubelet's gRPC probes present no certificate: a health-only port answers."""
    for port in platform["probes"].values():
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            reply = await health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=5
            )
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
            alive = await health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service="liveness"), timeout=5
            )
            assert alive.status == health_pb2.HealthCheckResponse.SERVING
            with pytest.raises(grpc.aio.AioRpcError) as err:  # nothing else is there
                await verifier_pb2_grpc.VerifierStub(channel).GetIndexStatus(
                    verifier_pb2.GetIndexStatusRequest(), timeout=5
                )
            assert err.value.code() is grpc.StatusCode.UNIMPLEMENTED
    # caught up with the topic: a verifier counts what it has still to read as lag
    # from its start, so poll until it has read it (an outcome, not a delay)
    deadline = time.monotonic() + 60
    async with aiohttp.ClientSession() as session:
        while True:
            async with session.get(platform["verifier_metrics"]) as reply:
                text = await reply.text()
            if "certseal_verifier_index_lag_events 0.0" in text:
                break
            assert time.monotonic() < deadline, text
            await asyncio.sleep(0.2)
    assert "certseal_verifier_index_last_event_timestamp_seconds" in text
    # its own figures only: a verifier runs no outbox relay or audit sealer
    assert "certseal_outbox" not in text and "certseal_audit" not in text
    async with (
        aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(
                ssl=ssl.create_default_context(cafile=platform["config"].tls.ca_file)
            )
        ) as session,
        session.get(platform["url"] + "/healthz") as reply,
    ):
        assert reply.status == 200
