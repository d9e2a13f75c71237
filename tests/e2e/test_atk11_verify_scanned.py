"""atk11: a licence code framed as a scanner gun sends it, verified by a real verifier.

docs/codes.md says every path that takes a code, VerifyCode and the console included,
removes the control characters a scanner puts around a code (STX ... ETX, GS, RS,
EOT), and the kernel does (tests/kernel/test_codes_scanned.py). But the request check
every RPC passes first (certseal.requests, certseal.text.unfit_character) refuses any
C0 control character in any string field, ``code`` too: the verifier never gets to
normalise it, and a scanner set to frame its data answers INVALID_ARGUMENT
"code: contains U+0002, a control character, at position 1" instead of the verdict.
"""

# fixtures imported from the modules that define them are parameters here
# ruff: noqa: F811

from __future__ import annotations

import pytest

from certseal.v1 import verifier_pb2
from tests.e2e.test_verifier_hostile import (  # noqa: F401 (fixtures)
    allowed,
    valid_code,
    verifier,
    victim,
)

VALID = verifier_pb2.VERDICT_VALID


async def _verdict(verifier, text: str) -> int:
    reply = await verifier.stub.VerifyCode(
        verifier_pb2.VerifyCodeRequest(code=text, purpose="窗口办事")
    )
    return reply.result.verdict


async def test_atk11_what_the_request_check_lets_through_is_read(verifier, victim):
    """Held: the framings the request check allows (CR LF, TAB, ]Q1, case, full
    width, NBSP and a zero-width space around it) give the very verdict."""
    _, code, _ = await valid_code(victim, verifier)
    for text in (
        code + "\r\n",
        "\t" + code + "\t",
        "]Q1" + code + "\r",
        code.swapcase(),
        "\u00a0\u200b" + code + "\ufeff",
        "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in code),
    ):
        assert await _verdict(verifier, text) == VALID, repr(text[:8])


@pytest.mark.parametrize(
    "frame",
    [("\x02", "\x03"), ("\x02]Q1", "\r\n"), ("", "\x04"), ("\x1d", "\x1e\x04")],
    ids=["STX-ETX", "STX-AIM-CRLF", "EOT", "GS-RS-EOT"],
)
async def test_atk11_a_code_in_a_scanners_control_characters_is_verified(
    verifier, victim, frame
):
    _, code, _ = await valid_code(victim, verifier)
    before, after = frame
    assert await _verdict(verifier, before + code + after) == VALID
