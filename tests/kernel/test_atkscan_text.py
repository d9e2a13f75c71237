"""Scanner text a counter meets that the first scanned-text tests did not read (outside
attack "atk-scan"): a scanner gun typing into a Chinese input method left in Chinese
punctuation mode, which types 。 for '.', ￥ for '$' and 、 for '/' (and ： for ':',
which NFKC already maps). Each of those stands for exactly one Base45 character, so
the code is read; what is read is still the signed code or nothing.
"""

import pytest

from certseal import codes
from tests.kernel.test_atk11b_codes import SIGNER  # a fixed key: the same codes

CLAIMS = {1: "issuer", 2: "x" * 200, 4: 2_000_000_000}


@pytest.fixture(scope="module")
async def code() -> str:
    """A code whose Base45 has '.', '$', '/' and ':' (found by varying a claim)."""
    for n in range(500):
        text = await codes.encode_code("LC1:", {**CLAIMS, 5: n}, SIGNER)
        if all(c in text[4:] for c in ".$/:"):
            return text
    raise AssertionError("no code with all four")


def _chinese_punctuation(text: str, *, full_width_letters: bool = False) -> str:
    """``text`` as a scanner gun types it into a Chinese input method (Sogou, Microsoft
    Pinyin) in Chinese punctuation mode: upper-case letters and digits pass, ':' '.'
    '$' '/' come out as Chinese punctuation; ``full_width_letters``: in full-width
    mode too."""
    punctuation = str.maketrans({":": "：", ".": "。", "$": "￥", "/": "、"})
    typed = text.translate(punctuation)
    if full_width_letters:
        typed = "".join(
            chr(ord(c) + 0xFEE0) if c.isascii() and c.isalnum() else c for c in typed
        )
    return typed


def _same(code: str, typed: str) -> None:
    assert codes.normalise_code_text(typed) == code
    decoded = codes.decode_code(typed)
    assert decoded.claims == codes.decode_code(code).claims
    decoded.verify_signature(SIGNER.public_key_der)  # the very same signed bytes


@pytest.mark.parametrize("full_width_letters", [False, True])
async def test_atkscan_a_code_typed_in_chinese_punctuation_mode_is_read(
    code, full_width_letters
):
    typed = _chinese_punctuation(code, full_width_letters=full_width_letters)
    assert "。" in typed and "￥" in typed and "、" in typed
    _same(code, typed + "\r\n")
    _same(code, "]Q1" + typed)  # after a symbology identifier
    _same(code, typed.replace("￥", "¥"))  # the yen sign NFKC makes of ￥


async def test_atkscan_other_chinese_punctuation_is_still_malformed(code):
    """Punctuation that stands for no Base45 character is no code: — and · named
    with the hint, ， and … (NFKC: ',' and '...') refused as Base45 or zlib."""
    for mark in "—·，…":
        typed = _chinese_punctuation(code[:20]) + mark + code[20:]
        with pytest.raises(codes.MalformedCode) as err:
            codes.decode_code(typed)
        if mark in "—·":
            assert "Chinese punctuation mode" in err.value.message


async def test_atkscan_a_misplaced_mark_reads_as_no_code(code):
    """A 。 where the code has another character is another text: refused (its zlib
    check fails), never the code."""
    for at in (5, 40, len(code) - 3):
        assert code[at] != "."
        with pytest.raises(codes.MalformedCode):
            codes.decode_code(code[:at] + "。" + code[at + 1 :])
