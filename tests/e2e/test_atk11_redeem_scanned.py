"""atk11: an authorisation code as a scanner gun or a phone's input method delivers it,
redeemed on the real stack (issuer, PostgreSQL, seal service).

The kernel reads a licence code typed in full width (certseal.codes.normalise_code_text,
NFKC); the issuer's normalise_code does not, so a code a clerk types with a Chinese
input method in full-width mode is NOT_FOUND, audited as a denied redemption. A
scanner's STX ... ETX or EOT is refused before either normalisation sees it, by the
request check every RPC passes (INVALID_ARGUMENT "code: contains U+0002 ..."), as for
VerifyCode (tests/e2e/test_atk11_verify_scanned.py).
"""

# fixtures imported from the modules that define them are parameters here
# ruff: noqa: F811

from __future__ import annotations

import grpc
import pytest

from certseal.v1 import issuer_pb2 as pb
from tests.e2e.test_holder_documents import (  # noqa: F401 (fixtures)
    HolderFromClients,
    authorise_request,
    holder_stubs,
    rpc_error,
    world,
)


def _full_width(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


@pytest.mark.parametrize(
    "deliver",
    [
        lambda code: "\x02" + code + "\x03",
        lambda code: code + "\x04",
        _full_width,
    ],
    ids=["STX-ETX", "EOT", "full-width"],
)
async def test_atk11_a_scanned_authorisation_code_is_redeemed(world, deliver):
    auth = (
        await world["app"].holder.AuthoriseUse(authorise_request(world))
    ).authorisation
    redeemer = HolderFromClients(world["other"].clients.channel)
    reply = await redeemer.redemption.RedeemAuthorisation(
        pb.RedeemAuthorisationRequest(code=deliver(auth.code))
    )
    assert reply.authorisation.authorisation_id == auth.authorisation_id
    assert reply.annotated_copy.startswith(b"%PDF")


@pytest.mark.parametrize(
    "deliver",
    [
        lambda code: code[:-1],
        lambda code: code + code,
        lambda code: code[:8] + code,
    ],
    ids=["cut", "double", "cut-then-rescan"],
)
async def test_atk11_a_misread_authorisation_code_says_scan_it_again(world, deliver):
    auth = (
        await world["app"].holder.AuthoriseUse(authorise_request(world))
    ).authorisation
    redeemer = HolderFromClients(world["other"].clients.channel)
    err = await rpc_error(
        redeemer.redemption.RedeemAuthorisation(
            pb.RedeemAuthorisationRequest(code=deliver(auth.code))
        )
    )
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, err.details()
    assert "scan it again" in err.details(), err.details()
