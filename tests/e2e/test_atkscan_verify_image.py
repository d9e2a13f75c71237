# ruff: noqa: F811  (the fixtures imported below are parameters of the tests)
"""VerifyImage and VerifyCode with an issued licence's code in the forms the outside
attack "atk-scan" found refused or misread (tests/kernel/test_atkscan_photos.py and
test_atkscan_text.py): the issuer's own QR symbol in a motion photo, on a licence page
beside a larger web-address QR code, as a 16-bit grey scan, as white modules on a
transparent background; its text typed through a Chinese input method in Chinese
punctuation mode. Each gives the code and the holder's verdict.
"""

import io

import pytest
from PIL import Image, ImageOps

from certseal.v1 import issuer_pb2 as pb
from certseal.v1 import verifier_pb2
from tests.conftest import issue_request
from tests.e2e.test_verifier import (  # noqa: F401  (fixtures)
    VALID,
    deployments,
    verdict_everywhere,
    verifiers,
)
from tests.kernel.test_atkscan_photos import _symbol, _video

PURPOSE = "窗口办事"


@pytest.fixture
async def issued(dept, verifiers) -> tuple[str, Image.Image]:
    """An issued licence's code text and the issuer's QR symbol of it (grey)."""
    licence = (await dept.clients.issuer.IssueLicence(issue_request(dept))).licence
    code = await dept.clients.issuer.GetLicenceCode(
        pb.GetLicenceCodeRequest(identifier=licence.identifier)
    )
    await verdict_everywhere(verifiers, code.text, VALID)
    return code.text, Image.open(io.BytesIO(code.png)).convert("L")


def _saved(image: Image.Image, kind: str, **params) -> bytes:
    out = io.BytesIO()
    image.save(out, kind, **params)
    return out.getvalue()


def _motion_photo(symbol: Image.Image) -> bytes:
    photo = Image.new("RGB", (1600, 1200), (205, 200, 190))
    photo.paste(symbol.resize((symbol.width * 2,) * 2).convert("RGB"), (300, 200))
    return _saved(photo, "JPEG", quality=90) + _video(3)


def _page_with_web_address(symbol: Image.Image) -> bytes:
    page = Image.new("L", (4032, 3024), 235)
    page.paste(_symbol("https://zwfw.gd.example/dept/licence", scale=30), (200, 200))
    small = symbol.resize((symbol.width * 3 // 4,) * 2, Image.Resampling.NEAREST)
    page.paste(small, (2800, 2000))
    return _saved(page.convert("RGB"), "JPEG", quality=92)


def _grey16(symbol: Image.Image) -> bytes:
    levels = symbol.point(lambda v: 23 if v < 128 else 203)  # 6,000 and 52,000
    wide = levels.convert("I").point(lambda v: v * 256 + 112).convert("I;16")
    return _saved(wide, "PNG")


def _white_on_transparent(symbol: Image.Image) -> bytes:
    image = Image.new("RGBA", symbol.size, (255, 255, 255, 0))
    image.putalpha(ImageOps.invert(symbol))
    return _saved(image, "PNG")


@pytest.mark.parametrize(
    "make",
    [_motion_photo, _page_with_web_address, _grey16, _white_on_transparent],
    ids=["motion-photo", "page-with-web-address", "grey16", "white-on-transparent"],
)
async def test_atkscan_an_issued_code_in_these_images_is_verified(
    verifiers, issued, make
):
    text, symbol = issued
    stub = next(iter(verifiers.values()))
    reply = await stub.VerifyImage(
        verifier_pb2.VerifyImageRequest(image=make(symbol), purpose=PURPOSE)
    )
    assert reply.code == text
    assert reply.result.verdict == VALID


async def test_atkscan_an_issued_code_typed_in_chinese_punctuation_is_verified(
    verifiers, issued
):
    text, _ = issued
    typed = text.translate(str.maketrans({":": "：", ".": "。", "$": "￥", "/": "、"}))
    assert {"。", "￥", "、"} & set(typed)  # a code of hundreds of Base45 characters
    stub = next(iter(verifiers.values()))
    reply = await stub.VerifyCode(
        verifier_pb2.VerifyCodeRequest(code=typed + "\r\n", purpose=PURPOSE)
    )
    assert reply.result.verdict == VALID
