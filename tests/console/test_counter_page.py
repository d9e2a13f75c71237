# ruff: noqa: F811  (the fixtures imported below are parameters of the tests)
"""The counter page in Debian's headless Chromium, against the real stack (issue 14).

The page never shows a verdict that is not for the last thing scanned: any new attempt
(scan, typed code, upload) clears the previous verdict before anything else. A scan made
before a purpose was chosen is kept and verified once it is chosen. Codes typed in
another case or in full width, and ordinary phone photos (a 12 MP JPEG, an iPhone
HEIC), give the holder's verdict. The platform, browser and page fixtures are
tests/e2e/test_console.py's.
"""

from __future__ import annotations

import unicodedata

from playwright.async_api import expect

from certseal.bounds import IMAGE_LIMIT, MAX_IMAGE_BYTES
from certseal.v1 import verifier_pb2
from tests.e2e.test_console import (  # noqa: F401  (fixtures)
    banner,
    browser,
    choose_purpose,
    licence_and_code,
    page,
    platform,
    scan,
    shot,
    until_verdict,
)
from tests.kernel.test_photos import phone_photo


def _full_width(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


async def _valid(page, platform) -> tuple[str, str]:
    identifier, code = await licence_and_code(platform["open"])
    await until_verdict(platform, code, verifier_pb2.VERDICT_VALID)
    await choose_purpose(page)
    await scan(page, code)
    await expect(banner(page)).to_have_attribute("data-verdict", "VALID")
    return identifier, code


async def _cleared(page) -> None:
    await expect(page.locator("#verdict")).to_be_hidden()
    await expect(banner(page)).not_to_have_attribute("data-verdict", "VALID")
    await expect(page.locator("#verdict-details")).to_be_empty()


async def test_a_failed_upload_after_a_valid_scan_clears_the_verdict(
    page, platform, tmp_path
):
    identifier, _ = await _valid(page, platform)
    await expect(page.locator("#verdict-details")).to_contain_text(identifier)
    blank = tmp_path / "blank.png"
    blank.write_bytes(_blank_png())
    await page.set_input_files("#upload", str(blank))
    await expect(page.locator("#message")).to_contain_text(
        "contains no readable QR code"
    )
    await _cleared(page)  # the previous holder's VALID is gone
    await shot(page, "14-error-without-the-previous-verdict")


async def test_an_upload_over_the_image_limit_names_it_and_clears(
    page, platform, tmp_path
):
    await _valid(page, platform)
    big = tmp_path / "big.jpg"
    big.write_bytes(b"\xff\xd8\xff" + b"\x00" * MAX_IMAGE_BYTES)
    await page.set_input_files("#upload", str(big))
    await expect(page.locator("#message")).to_contain_text(IMAGE_LIMIT)
    await _cleared(page)


async def test_a_typed_code_clears_the_previous_verdict_first(page, platform):
    _, code = await _valid(page, platform)
    await page.route("**/api/verify", lambda route: None)  # the answer never comes
    await scan(page, code)
    await _cleared(page)


async def test_a_scan_before_the_purpose_is_kept_and_verified_once_chosen(
    page, platform
):
    identifier, code = await licence_and_code(platform["open"])
    await until_verdict(platform, code, verifier_pb2.VERDICT_VALID)
    await scan(page, code)  # no purpose yet
    await expect(page.locator("#message")).to_contain_text("用证事由")
    await expect(page.locator("#verdict")).to_be_hidden()
    await expect(page.locator("#purpose")).to_be_focused()
    await choose_purpose(page)
    await expect(banner(page)).to_have_attribute("data-verdict", "VALID")
    await expect(page.locator("#verdict-details")).to_contain_text(identifier)
    await expect(page.locator("#message")).to_be_hidden()


async def test_codes_in_another_case_or_full_width_are_the_same_code(page, platform):
    identifier, code = await licence_and_code(platform["open"])
    await until_verdict(platform, code, verifier_pb2.VERDICT_VALID)
    await choose_purpose(page)
    for typed in (
        code.lower(),
        code.swapcase(),
        "LC1：" + code[4:],
        _full_width(code),
    ):
        assert unicodedata.normalize("NFKC", typed).upper() == code
        await scan(page, typed)
        await expect(banner(page)).to_have_attribute("data-verdict", "VALID")
        await expect(page.locator("#verdict-details")).to_contain_text(identifier)
    await expect(page.locator("#history li")).to_have_count(4)


async def test_a_full_width_code_with_chinese_punctuation_gets_a_hint(page, platform):
    await choose_purpose(page)
    await scan(page, "ＬＣ１：ＡＢ。ＣＤ")
    await expect(banner(page)).to_have_attribute("data-verdict", "MALFORMED")
    await expect(page.locator("#verdict-checks")).to_contain_text(
        "looks like a code typed with a full-width (Chinese) input method"
    )


async def test_phone_photos_are_verified(page, platform, tmp_path):
    identifier, code = await licence_and_code(platform["open"])
    await until_verdict(platform, code, verifier_pb2.VERDICT_VALID)
    await choose_purpose(page)
    for name, kind in (("IMG_0001.JPG", "JPEG"), ("IMG_0002.HEIC", "HEIF")):
        photo = tmp_path / name
        photo.write_bytes(phone_photo(code, kind))
        await page.set_input_files("#upload", str(photo))
        await expect(banner(page)).to_have_attribute(
            "data-verdict", "VALID", timeout=20000
        )
        await expect(page.locator("#verdict-details")).to_contain_text(identifier)
        await page.route("**/api/verify", lambda route: None)
        await scan(page, "LC1:X")  # a new attempt in between clears it
        await _cleared(page)
        await page.unroute("**/api/verify")


def _blank_png() -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (200, 200), "white").save(out, "PNG")
    return out.getvalue()
