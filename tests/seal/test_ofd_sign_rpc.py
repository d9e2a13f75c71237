"""VerifyOfd over OFDs with digital signatures (``Type="Sign"``, a GB/T 35275
SignedData, tests/seal/ofd_signs.py): a Sign is verified like a seal (its signer's
signature and certificate, then its references), a bare signature never holds, and a
VALID Sign appended after a seal leaves the seal intact while any other Sign still
leaves it MODIFIED.

Inputs: ofdrw's DigitalSign.ofd (tests/seal/data/ofdrw_field, README there) and
documents signed with ofdrw's test signer, whom ``trusting_app`` trusts.
"""

from __future__ import annotations

from pathlib import Path

from certseal.v1 import seal_pb2 as pb
from tests.seal.ofd_samples import make_ofd, unzip, zip_files
from tests.seal.ofd_signs import own_sm2_signer, sign_maker
from tests.seal.ses_platforms import seal_files, v4_seal_maker
from tests.seal.test_rpc_interop import stub_for, trusting_app  # noqa: F401

FIELD = Path(__file__).parent / "data" / "ofdrw_field"
PAGE = "Doc_0/Pages/Page_0/Content.xml"


async def _verify(stack, app, files: dict[str, bytes]) -> list[pb.OfdSignatureResult]:  # type: ignore[no-untyped-def]
    stub = stub_for(stack, app, "app:archive")
    reply = await stub.VerifyOfd(pb.VerifyOfdRequest(ofd=zip_files(files)))
    return list(reply.signatures)


def _signed(files: dict[str, bytes] | None = None, **options) -> dict[str, bytes]:  # type: ignore[no-untyped-def]
    return seal_files(
        files if files is not None else unzip(make_ofd()),
        signed_value=sign_maker(**options),
        seal=b"",
        kind="Sign",
        signed_at_text="2021-06-01 16:00:00",
    )


def _sealed() -> dict[str, bytes]:
    signed_value, seal = v4_seal_maker()
    return seal_files(unzip(make_ofd()), signed_value=signed_value, seal=seal)


def _check(result: pb.OfdSignatureResult, name: str) -> pb.SealCheck:
    [check] = [c for c in result.checks if c.name == name]
    return check


async def test_a_sign_by_a_trusted_signer_is_valid(stack, trusting_app):  # noqa: F811
    for form in ("attached", "pkcs9"):
        [result] = await _verify(stack, trusting_app, _signed(form=form))
        assert result.type == "Sign"
        assert result.verdict == "VALID", result.checks
        assert result.intact
        assert result.signer == "Test Certificate"
        assert not result.seal_id
        assert result.signed_at.ToDatetime().isoformat() == "2021-06-01T08:00:00"
        assert [c.name for c in result.checks][-2:] == ["data hash", "references"]
        assert {r.status for r in result.references} == {"ok"}


async def test_a_page_changed_after_a_sign_is_modified(stack, trusting_app):  # noqa: F811
    files = _signed()
    files[PAGE] = files[PAGE].replace("行政许可".encode(), "伪造".encode())
    [result] = await _verify(stack, trusting_app, files)
    assert result.verdict == "MODIFIED", result.checks
    assert not result.intact
    assert ("/" + PAGE, "changed") in [(r.file, r.status) for r in result.references]


async def test_a_changed_signature_xml_of_a_sign_is_modified(stack, trusting_app):  # noqa: F811
    files = _signed()
    xml = "Doc_0/Signs/Sign_0/Signature.xml"
    files[xml] = files[xml].replace(b"16:00:00", b"16:00:01")
    [result] = await _verify(stack, trusting_app, files)
    assert result.verdict == "MODIFIED", result.checks
    assert not _check(result, "data hash").passed


async def test_a_sign_of_an_untrusted_signer_is_not_valid(stack, trusting_app):  # noqa: F811
    signer, cert, _root = own_sm2_signer()
    [result] = await _verify(stack, trusting_app, _signed(signer=signer, cert=cert))
    assert result.verdict == "UNTRUSTED_SEAL", result.checks
    assert result.intact  # its files hold: nobody trusted vouches for its signer


async def test_ofdrw_digital_sign_without_a_certificate_is_never_valid(
    stack,
    trusting_app,  # noqa: F811
):
    [result] = await _verify(
        stack, trusting_app, unzip((FIELD / "DigitalSign.ofd").read_bytes())
    )
    assert result.type == "Sign"
    assert result.verdict == "UNTRUSTED_SEAL", result.checks
    assert "carries no certificate: who signed it cannot be told" in (
        _check(result, "signature").detail
    )
    assert not result.intact


async def test_a_valid_sign_after_a_seal_leaves_the_seal_intact(stack, trusting_app):  # noqa: F811
    seal, sign = await _verify(stack, trusting_app, _signed(_sealed()))
    assert sign.verdict == "VALID", sign.checks
    assert seal.verdict == "VALID", seal.checks
    assert seal.intact
    assert ("/Doc_0/Signs/Signatures.xml", "list grown") in [
        (r.file, r.status) for r in seal.references
    ]


async def test_an_untrusted_sign_after_a_seal_leaves_the_seal_modified(
    stack,
    trusting_app,  # noqa: F811
):
    signer, cert, _root = own_sm2_signer()
    seal, sign = await _verify(
        stack, trusting_app, _signed(_sealed(), signer=signer, cert=cert)
    )
    assert sign.verdict == "UNTRUSTED_SEAL"
    assert seal.verdict == "MODIFIED", seal.checks
    assert "lists seals not VALID here" in _check(seal, "references").detail


async def test_a_bare_or_forged_sign_after_a_seal_leaves_the_seal_modified(
    stack,
    trusting_app,  # noqa: F811
):
    for options in ({"carry": ()}, {"signed_over": b"other bytes"}):
        seal, sign = await _verify(stack, trusting_app, _signed(_sealed(), **options))
        assert sign.verdict != "VALID"
        assert seal.verdict == "MODIFIED", seal.checks
        assert not seal.intact
        detail = _check(seal, "references").detail
        assert "its signature does not verify" in detail, detail


async def test_a_damaged_signature_xml_of_a_sign_is_modified(stack, trusting_app):  # noqa: F811
    """As a seal's: a changed byte in any signed file is MODIFIED, never an error,
    even when Signature.xml no longer parses (its signing time then unknown)."""
    files = _signed()
    xml = "Doc_0/Signs/Sign_0/Signature.xml"
    files[xml] = files[xml][:-40]
    [result] = await _verify(stack, trusting_app, files)
    assert result.verdict == "MODIFIED", result.checks
    assert not result.intact
