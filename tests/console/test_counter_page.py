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

import os
import unicodedata
from importlib import resources

import pytest
from PIL import Image
from playwright.async_api import async_playwright, expect

from certseal.bounds import IMAGE_LIMIT, MAX_IMAGE_BYTES
from certseal.v1 import issuer_pb2 as pb
from certseal.v1 import verifier_pb2
from tests.conftest import issue_request
from tests.e2e.test_console import (  # noqa: F401  (fixtures)
    CHROMIUM,
    CHROMIUM_ARGS,
    banner,
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
    await scan(page, "ＬＣ１：ＡＢ·ＣＤ")  # · (the key `) stands for no Base45
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
        # a scanner gun types into the scan field, which the page focuses again
        # once the upload's verdict is shown (CI: keys typed before that were lost)
        await expect(page.locator("#scan")).to_be_focused()
        await scan(page, "LC1:X")  # a new attempt in between clears it
        await _cleared(page)
        await page.unroute("**/api/verify")


def _blank_png() -> bytes:
    import io

    out = io.BytesIO()
    Image.new("RGB", (200, 200), "white").save(out, "PNG")
    return out.getvalue()


RARE = "\U0002020c"  # 𠈌, CJK Extension B: outside the BMP, not in Noto Sans SC
NO_FONT = "\U0010fffd"  # a private-use character that no font draws
NOTO_SANS_SC = resources.files("pylopdf_fonts_zh_cn") / "NotoSansSC-Regular.otf"


@pytest.fixture(scope="module")
async def browser(tmp_path_factory):
    """Chromium seeing only the DejaVu and Liberation system fonts, as a counter
    terminal without CJK fonts would: a rare character renders only if the console
    serves a font for it (this machine has fonts-hanazono installed system-wide)."""
    home = tmp_path_factory.mktemp("fontconfig")
    conf = home / "fonts.conf"
    conf.write_text(
        '<?xml version="1.0"?><!DOCTYPE fontconfig SYSTEM "fonts.dtd"><fontconfig>'
        "<dir>/usr/share/fonts/truetype/dejavu</dir>"
        "<dir>/usr/share/fonts/truetype/liberation</dir>"
        f"<cachedir>{home}/cache</cachedir></fontconfig>"
    )
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=CHROMIUM_ARGS,
            env={**os.environ, "FONTCONFIG_FILE": str(conf)},
        )
        yield chromium
        await chromium.close()


# draws ``text`` as the receipt draws a value (saveReceipt in counter.js) and returns
# the pixels of the box where its first characters are
_DRAW = """([text, y, font]) => {
  const canvas = document.createElement("canvas");
  canvas.width = 1000; canvas.height = y + 20;
  const ctx = canvas.getContext("2d");
  ctx.fillStyle = "#ffffff"; ctx.fillRect(0, 0, canvas.width, canvas.height);
  ctx.fillStyle = "#111111"; ctx.font = font;
  ctx.fillText(text, 320, y, 640);
  return Array.from(ctx.getImageData(320, y - 30, 40, 40).data);
}"""


async def test_a_rare_character_outside_the_bmp_shows_in_the_page_and_receipt(
    page, platform, tmp_path
):
    dept = platform["open"]
    licence = (
        await dept.clients.issuer.IssueLicence(issue_request(dept, name=RARE + "小明"))
    ).licence
    code = (
        await dept.clients.issuer.GetLicenceCode(
            pb.GetLicenceCodeRequest(identifier=licence.identifier)
        )
    ).text
    await until_verdict(platform, code, verifier_pb2.VERDICT_VALID)
    await choose_purpose(page)
    await scan(page, code)
    await expect(banner(page)).to_have_attribute("data-verdict", "VALID")
    shown = RARE + "*明"  # masked by the verifier
    await expect(page.locator("#verdict-details")).to_contain_text(shown)
    # the @font-face for CJK Extensions B-F was fetched for the name on the page
    rare_face = """() => [...document.fonts].filter((f) =>
        f.family.replace(/"/g, "") === "CertsealSans" && f.unicodeRange.includes("U+20000"))
        .map((f) => f.status).join() === 'loaded'"""
    await page.wait_for_function(rare_face, timeout=20000)
    await shot(page, "15-rare-character")
    font = "48px CertsealSans, sans-serif"
    drawn = await page.evaluate(_DRAW, [RARE, 60, font])
    assert drawn != await page.evaluate(_DRAW, [NO_FONT, 60, font])  # not a box
    # the font the console serves draws it; the bundled Noto Sans SC does not
    reply = await page.request.get(platform["url"] + "/fonts/rare-han.ttf")
    assert reply.status == 200
    served = tmp_path / "rare.ttf"
    served.write_bytes(await reply.body())
    assert _has_glyph(str(served), RARE)
    assert not _has_glyph(str(NOTO_SANS_SC), RARE)
    # the receipt draws the holder's name with it, not as a box
    async with page.expect_download() as download_info:
        await page.click("#save-receipt")
    receipt = tmp_path / "receipt.png"
    await (await download_info.value).save_as(str(receipt))
    font = "24px CertsealSans, sans-serif"
    with Image.open(receipt) as image:
        lines = [
            list(image.convert("RGBA").crop((320, y - 30, 360, y + 10)).tobytes())
            for y in range(230, image.height, 40)
        ]
    rows = [y for y in range(230, 230 + 40 * len(lines), 40)]
    rare = [await page.evaluate(_DRAW, [shown, y, font]) for y in rows]
    boxed = [await page.evaluate(_DRAW, [NO_FONT + "*明", y, font]) for y in rows]
    matches = [i for i, pixels in enumerate(lines) if pixels == rare[i]]
    assert matches, "the holder's name is not on the receipt as the page draws it"
    assert all(lines[i] != boxed[i] for i in matches)


def _has_glyph(font_file: str, char: str) -> bool:
    """Whether the font draws ``char`` other than as its missing-glyph box."""
    from PIL import ImageFont

    font = ImageFont.truetype(font_file, 48)
    glyph, missing = font.getmask(char), font.getmask(NO_FONT)
    return glyph.size != missing.size or bytes(glyph) != bytes(missing)
