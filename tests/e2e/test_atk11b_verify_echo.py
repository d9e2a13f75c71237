"""atk11b: what a MALFORMED verdict echoes of a crafted code, on a real verifier.

Scanned text now reaches the codes' own normalisation unfiltered (certseal.requests
SCANNED_TEXT_FIELDS), and every text the kernel quotes from it is quoted with repr():
control characters, bidi overrides and line separators come back escaped, never raw
(what held). But the decode check's detail quotes what a code's CBOR holds in full (a
duplicate map key; the claims iss and licence.t beside the identifier's), escaped, so
at up to 4 characters per byte: a 460-character code anyone can sign with a key of
their own comes back as a 240,000-character detail (about 520 times), and VerifyCodes
with 500 of them (230 KB, within the 4 MiB request bound) makes the verifier build an
answer of about 120 MB, over gRPC's 64 MiB: the caller gets an error, not 500
MALFORMED verdicts.

Findings of the atk11b attack, fixed; the verifier is the real process of
tests/e2e/test_verifier_hostile.py.
"""

# fixtures imported from the modules that define them are parameters here
# ruff: noqa: F811

from __future__ import annotations

import grpc
import pytest

from certseal import codes
from certseal.crypto import SoftwareSigner, Suite, generate_key
from certseal.identifiers import LicenceId
from certseal.v1 import verifier_pb2
from services.verifier.domain import malformed, parse_code
from tests.e2e.test_verifier_hostile import (  # noqa: F401 (fixtures)
    allowed,
    verifier,
    victim,
)

MALFORMED = verifier_pb2.VERDICT_MALFORMED
_KEY = generate_key(Suite.ED25519)
SIGNER = SoftwareSigner(Suite.ED25519, _KEY.private_bytes, _KEY.public_key_der)
#: what a clerk could read, and more than any message needs
DETAIL_BOUND = 2_000


async def _echoing() -> str:
    """A code whose claims contradict its identifier, with 30,000 NULs as its iss
    and licence.t: 460 characters."""
    lid = LicenceId("1" * 21, "11440300MB2C90721E", "K11QDHIDKZDB431B", 1)
    claims = {
        codes.CWT_ISS: "\x00" * 30_000,
        codes.CWT_EXP: 2_000_000_000,
        codes.CWT_IAT: 1_700_000_000,
        codes.CLAIM_LICENCE: {"id": str(lid), "t": "\x00" * 30_000, "f": {}},
    }
    return await codes.encode_code(codes.LICENCE_CODE_PREFIX, claims, SIGNER)


async def test_atk11b_a_malformed_detail_is_bounded_whatever_the_code_holds():
    text = await _echoing()
    assert len(text) < 500
    with pytest.raises(codes.MalformedCode) as err:
        parse_code(text)
    detail = malformed(err.value).checks[0].detail
    assert "\x00" not in detail  # what held: escaped, never raw
    assert len(detail) <= DETAIL_BOUND, len(detail)


async def test_atk11b_a_batch_of_echoing_codes_gets_its_verdicts(verifier):
    text = await _echoing()
    request = verifier_pb2.VerifyCodesRequest(codes=[text] * 500, purpose="atk11b")
    assert request.ByteSize() < 4 * 1024 * 1024  # within the request bound
    try:
        reply = await verifier.stub.VerifyCodes(request, timeout=60)
    except grpc.aio.AioRpcError as exc:
        pytest.fail(f"{exc.code().name}: {exc.details()}")
    assert [r.verdict for r in reply.results] == [MALFORMED] * 500


async def test_a_scanned_text_with_controls_and_bidi_is_not_echoed_raw(verifier):
    """What held: a scan with ESC, a bidi override and a line separator inside gets
    MALFORMED whose detail holds none of them raw; the verifier keeps serving."""
    for text in (
        "LC1:\x1b[2J\x1b[31mFORGED",
        "LC1:ABC\u202eDEF\u2028GHI",
        "\x02LC1:6BFOX\nN3\x03",
        "AU-7K3M\x1b]0;pwned\x07",
    ):
        reply = await verifier.stub.VerifyCode(
            verifier_pb2.VerifyCodeRequest(code=text, purpose="atk11b"), timeout=10
        )
        detail = " ".join(c.detail for c in reply.result.checks)
        assert reply.result.verdict == MALFORMED, repr(text)
        assert not any(ch in detail for ch in "\x1b\u202e\u2028\n\x07"), detail
