"""OFDs sealed by other platforms with GM/T 0031 v1 and GB/T 38540 v4 SES_Signatures,
in any order: VerifyOfd reads both versions wherever it reads a signature (atk-docs F4),
so an unchanged document is VALID and intact, an altered one is MODIFIED, and a detail
naming a later entry says why it does not hold, never a verdict that says it does."""

from __future__ import annotations

import pytest

from certseal.v1 import seal_pb2 as pb
from tests.seal.ofd_samples import changed, flip_last_byte, make_ofd, unzip, zip_files
from tests.seal.ses_platforms import seal_files, v1_seal_maker, v4_seal_maker
from tests.seal.test_rpc_interop import stub_for, trusting_app  # noqa: F401

MAKERS = {"v1": v1_seal_maker, "v4": v4_seal_maker}


def _sealed(*versions: str) -> bytes:
    files = unzip(make_ofd())
    for version in versions:
        signed_value, seal = MAKERS[version]()
        files = seal_files(files, signed_value=signed_value, seal=seal)
    return zip_files(files)


async def _verify(stack, app, package: bytes) -> list[pb.OfdSignatureResult]:  # type: ignore[no-untyped-def]
    stub = stub_for(stack, app, "app:archive")
    return list((await stub.VerifyOfd(pb.VerifyOfdRequest(ofd=package))).signatures)


@pytest.mark.parametrize("versions", [("v1", "v4"), ("v1", "v1"), ("v4", "v1", "v4")])
async def test_unchanged_seals_of_either_version_are_valid_and_intact(
    stack,
    trusting_app,  # noqa: F811
    versions,
):
    results = await _verify(stack, trusting_app, _sealed(*versions))
    assert [(r.verdict, r.intact) for r in results] == [("VALID", True)] * len(
        versions
    ), [list(r.checks) for r in results]


@pytest.mark.parametrize(
    "name",
    ["Doc_0/Pages/Page_0/Content.xml", "Doc_0/Signs/Sign_0/Signature.xml"],
)
async def test_altering_a_v1_sealed_ofd_is_modified(stack, trusting_app, name):  # noqa: F811
    package = changed(_sealed("v1"), name, lambda old: old.replace(b"<", b"< ", 1))
    [result] = await _verify(stack, trusting_app, package)
    assert (result.verdict, result.intact) == ("MODIFIED", False), result.checks


async def test_a_later_v1_seal_that_does_not_verify_is_named_with_the_reason(
    stack,
    trusting_app,  # noqa: F811
):
    files = unzip(_sealed("v4", "v1"))
    value = "Doc_0/Signs/Sign_1/SignedValue.dat"
    files[value] = flip_last_byte(files[value])  # its signature no longer verifies
    first, second = await _verify(stack, trusting_app, zip_files(files))
    assert second.verdict == "BAD_SIGNATURE", second.checks
    assert first.verdict == "MODIFIED"
    [listing] = [r for r in first.references if r.file.endswith("Signatures.xml")]
    assert listing.status == "changed"
    [check] = [c for c in first.checks if c.name == "references"]
    assert "2 (BAD_SIGNATURE: its signature does not verify)" in check.detail
    assert "VALID)" not in check.detail
