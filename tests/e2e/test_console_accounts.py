"""The console account actions the operator page offers, through the API the page
calls and in the page, on a console of their own (no verifier groups); from the
outside review of the operator page (atk8)."""

from __future__ import annotations

import secrets
import ssl

import aiohttp
import pytest

from tests.conftest import console_alone, fresh_uscc
from tests.e2e.test_console import PASSWORD, api_session


@pytest.fixture(scope="module")
async def console(stack, config):
    async with console_alone(stack, config) as (app, cfg):
        yield app, f"https://localhost:{app.port}", cfg.tls.ca_file


async def account(app, role: str):
    return await app.accounts.add(
        f"atk8-{role}-{secrets.token_hex(3)}",
        department=fresh_uscc(),
        role=role,
        password=PASSWORD,
        by="operator:atk8",
    )


async def status_of_login(url, ca, name) -> int:
    ctx = ssl.create_default_context(cafile=ca)
    async with (
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ctx)) as s,
        s.post(url + "/api/login", json={"name": name, "password": PASSWORD}) as r,
    ):
        return r.status


async def test_a_clerk_reaches_no_account_action(console):
    app, url, ca = console
    clerk = await account(app, "clerk")
    session = await api_session(url, ca, clerk.name)
    try:
        async with session.get("/api/accounts") as reply:
            assert reply.status == 403, await reply.text()
        async with session.post(
            f"/api/accounts/{clerk.name}/password", json={"password": "x" * 20}
        ) as reply:
            assert reply.status == 403, await reply.text()
        async with session.post(
            "/api/accounts",
            json={
                "name": "atk8-x",
                "department": fresh_uscc(),
                "role": "operator",
                "password": "y" * 20,
            },
        ) as reply:
            assert reply.status == 403, await reply.text()
    finally:
        await session.close()


async def test_the_last_enabled_operator_cannot_be_disabled(console):
    """Disabling the console's last enabled operator would leave nobody to sign in
    to the operator page: refused (403, naming the account), and it still signs in.
    (Answered 200 before; the operator was locked out.)"""
    app, url, ca = console
    me = await account(app, "operator")
    others = [  # me made the console's only enabled operator (restored after)
        a.name
        for a in await app.accounts.accounts()
        if a.role.value == "operator" and not a.disabled and a.name != me.name
    ]
    for name in others:
        await app.accounts.set_disabled(name, True, by="operator:test")
    try:
        session = await api_session(url, ca, me.name)
        try:
            async with session.post(
                f"/api/accounts/{me.name}/disable",
                json={},
                headers={"Idempotency-Key": secrets.token_hex(16)},
            ) as reply:
                status, body = reply.status, await reply.text()
        finally:
            await session.close()
        after = await status_of_login(url, ca, me.name)
        enabled_operators = [
            a.name
            for a in await app.accounts.accounts()
            if a.role.value == "operator" and not a.disabled
        ]
    finally:
        for name in others:
            await app.accounts.set_disabled(name, False, by="operator:test")
    assert status == 403, (status, body, after, enabled_operators)
    assert "last enabled operator" in body and '"field": "name"' in body, body
    assert after == 200 and enabled_operators == [me.name]


async def test_a_double_click_on_save_changes_the_password_once(console, stack):
    """A double click on Save sends one change: the button is disabled while its
    request runs. (Sent two, with two Idempotency-Keys, before.)"""
    from playwright.async_api import async_playwright

    from tests.e2e.test_console import CHROMIUM, CHROMIUM_ARGS

    app, url, ca = console
    me = await account(app, "operator")
    target = await account(app, "clerk")
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS
        )
        try:
            context = await chromium.new_context(ignore_https_errors=True)
            page = await context.new_page()
            sent: list[tuple[str, str]] = []
            page.on(
                "request",
                lambda r: (
                    sent.append((r.url, r.headers.get("idempotency-key", "")))
                    if r.method == "POST" and "/password" in r.url
                    else None
                ),
            )
            await page.goto(url + "/operator")
            await page.fill("#name", me.name)
            await page.fill("#password", PASSWORD)
            await page.press("#password", "Enter")
            await page.wait_for_url(url + "/operator", timeout=15000)
            row = page.locator(f'tr[data-account="{target.name}"]')
            await row.locator('[data-action="password"]').click()
            await row.locator("input[type=password]").fill("a-brand-new-password")
            await row.get_by_role("button", name="保存 Save").dblclick()
            # the list is loaded again after the change: the editor is gone
            await row.locator('[data-action="password"]').wait_for()
        finally:
            await chromium.close()
    assert len(sent) == 1, sent
    assert await status_of_login(url, ca, target.name) == 401  # the old password
