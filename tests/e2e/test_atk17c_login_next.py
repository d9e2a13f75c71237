"""atk17c: the sign-in page goes on to ``?next=`` (a query parameter like the
purpose of f007d3f, read by the page's script): only to a path of this console.
``next`` starting with one slash passed the check, but a browser reads ``/\\host``
and ``/<tab>/host`` as ``//host``: after signing in, the clerk was sent to another
site (an open redirect a phishing link could use: a real sign-in, then a page of
the attacker's that asks again)."""

# ruff: noqa: F811 (the fixtures imported below are test parameters)
from __future__ import annotations

import urllib.parse

import pytest
from playwright.async_api import expect

from tests.e2e import test_console
from tests.e2e.test_console import PASSWORD, browser  # noqa: F401 (fixtures)

platform = test_console.platform


@pytest.mark.parametrize(
    "next_page",
    [
        "/\\evil.invalid/x",
        "/\t/evil.invalid/x",
        "/\n/evil.invalid/x",
        "/.//evil.invalid/x",
    ],
)
async def test_signing_in_never_goes_to_another_site(browser, platform, next_page):
    context = await browser.new_context(ignore_https_errors=True)
    page = await context.new_page()
    elsewhere: list[str] = []

    async def refuse(route):
        elsewhere.append(route.request.url)
        await route.abort()

    await page.route("**/*", lambda route: _route(route, platform["url"], refuse))
    try:
        query = urllib.parse.quote(next_page, safe="")
        await page.goto(f"{platform['url']}/login?next={query}")
        await expect(page.locator("body")).to_have_attribute("data-ready", "true")
        await page.fill("#name", platform["accounts"]["clerk"].name)
        await page.fill("#password", PASSWORD)
        async with page.expect_response(platform["url"] + "/api/login") as login:
            await page.press("#password", "Enter")
        assert (await login.value).status == 200
        await page.wait_for_load_state("load")
        await expect(page).not_to_have_url("**/login**", timeout=15000)
        assert elsewhere == [], elsewhere
        assert page.url.startswith(platform["url"] + "/"), page.url
    finally:
        await context.close()


async def _route(route, origin: str, refuse) -> None:
    if route.request.url.startswith(origin + "/"):
        await route.continue_()
    else:
        await refuse(route)
