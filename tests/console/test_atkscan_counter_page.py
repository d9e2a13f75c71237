# ruff: noqa: F811  (the fixtures imported below are parameters of the tests)
"""The counter page and a scanner gun whose data ends with a Tab (outside attack
"atk-scan").

Scanner guns are set to end what they type with Enter, or with a Tab (a common suffix
setting where forms are filled field by field). A Tab moved the focus from the scan
field to the upload button and left the code in the field, unverified; the next scan
typed into nothing. A Tab after text in the scan field now ends the scan as Enter
does; a Tab in the empty field moves on as before (tests/e2e/test_console.py,
test_keyboard_only). The platform, browser and page fixtures are
tests/e2e/test_console.py's.
"""

from __future__ import annotations

from playwright.async_api import expect

from certseal.v1 import verifier_pb2
from tests.e2e.test_console import (  # noqa: F401  (fixtures)
    banner,
    browser,
    choose_purpose,
    licence_and_code,
    page,
    platform,
    until_verdict,
)


async def test_atkscan_a_scan_ended_with_a_tab_is_verified(page, platform):
    identifier, code = await licence_and_code(platform["open"])
    await until_verdict(platform, code, verifier_pb2.VERDICT_VALID)
    await choose_purpose(page)
    for attempt in range(2):  # and the scanner's next code too
        await page.keyboard.type(code)
        await page.keyboard.press("Tab")
        await expect(banner(page)).to_have_attribute("data-verdict", "VALID")
        await expect(page.locator("#verdict-details")).to_contain_text(identifier)
        await expect(page.locator("#scan")).to_be_focused()
        await expect(page.locator("#scan")).to_have_value("")
        await expect(page.locator("#history li")).to_have_count(attempt + 1)
