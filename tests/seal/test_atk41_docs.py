"""atk41d: outside attacks on today's OFD "seal taken out of its list" report
(services/seal/ofd_unlisted.py) and the PDF title comparison (pdf_title.py,
pdf_strings.py). Each test asserts the correct behaviour; those the code does not
yet meet are xfail (strict)."""

from __future__ import annotations

import pytest

from certseal.v1 import seal_pb2 as pb
from tests.seal.ofd_samples import zip_files
from tests.seal.ses_platforms import seal_files, v4_seal_maker
from tests.seal.test_atk40_ofd import SIGN0, _sealed, _taken_out
from tests.seal.test_rpc_interop import stub_for, trusting_app  # noqa: F401


async def _verify(stack, app, files: dict[str, bytes]) -> pb.VerifyOfdResponse:  # type: ignore[no-untyped-def]
    stub = stub_for(stack, app, "app:archive")
    return await stub.VerifyOfd(pb.VerifyOfdRequest(ofd=zip_files(files)))


# --- OFD 1: a decoy file makes the taken-out seal's SignedValue "ambiguous" ------

# A's SignedValue is "/Doc_0/Signs/Sign_0/SignedValue.dat"; as ofd.js reads it (its
# first slash removed) it is "Doc_0/Signs/Sign_0/SignedValue.dat", which the
# verifier also reads from the signature's folder: a file there makes A's
# Signature.xml "ambiguous", read_signature_file raises, and _unlisted skips it as
# "no signature", though A's Signature.xml and SignedValue.dat are untouched.
DECOY = SIGN0 + "Doc_0/Signs/Sign_0/SignedValue.dat"


async def test_control_a_seal_taken_out_under_a_new_seal_is_reported(
    stack,
    trusting_app,  # noqa: F811
):
    files, _maker = _sealed()
    maker_b, seal_b = v4_seal_maker()
    files = seal_files(_taken_out(files), signed_value=maker_b, seal=seal_b)
    reply = await _verify(stack, trusting_app, files)
    assert reply.verdict == "MODIFIED", reply.detail


@pytest.mark.xfail(
    strict=True,
    reason="atk41d: a decoy file making an unlisted seal's SignedValue ambiguous "
    "hides its removal (VALID 'sealed by B')",
)
async def test_a_decoy_making_the_removed_seals_value_ambiguous_does_not_hide_it(
    stack,
    trusting_app,  # noqa: F811
):
    files, _maker = _sealed()
    files = _taken_out(files)
    files[DECOY] = b"anything"  # drawn by no reader: A is listed nowhere
    maker_b, seal_b = v4_seal_maker()
    files = seal_files(files, signed_value=maker_b, seal=seal_b)
    reply = await _verify(stack, trusting_app, files)
    # A's Signature.xml and SignedValue.dat are as A signed them: the removal is
    # as evident as without the decoy
    assert reply.verdict != "VALID", reply.detail
    assert "/" + SIGN0 + "Signature.xml" in [s.signature_path for s in reply.signatures]
