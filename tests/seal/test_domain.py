"""SES v4 structures and the verification order of sealed documents, in every suite."""

import dataclasses
import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from certseal.crypto import SoftwareSigner, Suite, digest, generate_key
from certseal.devpki import DevCA
from services.seal.certificates import issue_certificate
from services.seal.domain import SealStatus, SealVerdict, verify_sealed_document
from services.seal.ses import (
    SIGNATURE_OIDS,
    Picture,
    SESeal,
    SESSignature,
    make_seal,
    seal_info,
    sign_document,
)

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
DAY = dt.timedelta(days=1)
DOCUMENT = "关于同意设立分支机构的批复".encode() * 40
ACTIVE = SealStatus("active")


@dataclasses.dataclass
class Pki:
    ca: bytes
    ca_key: object

    def signer(self, suite: Suite, name: str) -> tuple[SoftwareSigner, bytes]:
        key = generate_key(suite)
        cert = issue_certificate(
            ca_key=self.ca_key,
            ca_cert=self.ca,
            common_name=name,
            public_key_der=key.public_key_der,
            not_before=NOW - 30 * DAY,
            not_after=NOW + 365 * DAY,
        )
        return SoftwareSigner(suite, key.private_bytes, key.public_key_der), cert


def _ca(folder) -> Pki:
    ca = DevCA(folder)
    cert = x509.load_pem_x509_certificate(ca.ca_file.read_bytes())
    key = serialization.load_pem_private_key((folder / "ca.key").read_bytes(), None)
    return Pki(cert.public_bytes(serialization.Encoding.DER), key)


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Pki:
    return _ca(tmp_path_factory.mktemp("seal-ca"))


async def sealed(
    pki: Pki,
    suite: Suite,
    *,
    document: bytes = DOCUMENT,
    signed_at: dt.datetime = NOW,
    valid: tuple[dt.datetime, dt.datetime] = (NOW - DAY, NOW + 30 * DAY),
    signer=None,
    maker=None,
    seal_key=None,
) -> bytes:
    maker_signer, maker_cert = maker or pki.signer(Suite.ES256, "service:seal-maker")
    seal_signer, seal_cert = seal_key or pki.signer(
        suite, "seal:91350100M000100Y43-001"
    )
    info = seal_info(
        es_id="91350100M000100Y43-001",
        seal_type="official",
        name="示例市交通运输局",
        signer_certs=[seal_cert],
        created=NOW - 2 * DAY,
        valid_start=valid[0],
        valid_end=valid[1],
        picture=Picture("png", b"\x89PNG\r\n\x1a\n", 42, 42),
    )
    seal = await make_seal(info, maker=maker_signer, maker_cert=maker_cert)
    who, cert = signer or (seal_signer, seal_cert)
    return await sign_document(
        seal,
        data_hash=digest(who.suite, document),
        signed_at=signed_at,
        property_info="pifu-2026-118.ofd",
        signer=who,
        signer_cert=cert,
    )


def check(pki, signature, *, document=DOCUMENT, status=ACTIVE, now=NOW, **kw):
    return verify_sealed_document(
        signature,
        document=document,
        seal_ca=pki.ca,
        seal_status=status,
        now=now,
        **kw,
    )


@pytest.mark.parametrize("suite", list(Suite))
async def test_sealed_document_verifies_in_each_suite(pki, suite):
    signature = await sealed(pki, suite)
    result = check(pki, signature)
    assert result.verdict is SealVerdict.VALID, result.checks
    assert [c.name for c in result.checks] == [
        "decode",
        "signature",
        "signer",
        "seal",
        "signer certificate",
        "data hash",
        "seal status",
    ]
    assert result.seal_name == "示例市交通运输局" and result.signed_at == NOW
    # DER exactly: decoding and re-encoding gives the same bytes
    parsed = SESSignature.load(signature)
    assert parsed.dump(force=True) == signature
    seal = parsed["to_sign"]["eseal"]
    assert SESeal.load(seal.dump()).dump(force=True) == seal.dump()
    assert parsed["signature_alg_id"].dotted == SIGNATURE_OIDS[suite]
    assert parsed["to_sign"]["data_hash"].native == digest(suite, DOCUMENT)
    assert parsed["to_sign"]["eseal"]["e_seal_info"]["header"]["version"].native == 4
    # by hash alone, as for large files
    by_hash = verify_sealed_document(
        signature,
        document_hash=digest(suite, DOCUMENT),
        seal_ca=pki.ca,
        seal_status=ACTIVE,
        now=NOW,
    )
    assert by_hash.verdict is SealVerdict.VALID


def test_sm2_uses_the_national_oids():
    assert SIGNATURE_OIDS[Suite.SM2] == "1.2.156.10197.1.501"


async def test_one_changed_byte_is_modified(pki):
    signature = await sealed(pki, Suite.SM2)
    changed = bytearray(DOCUMENT)
    changed[100] ^= 1
    result = check(pki, signature, document=bytes(changed))
    assert result.verdict is SealVerdict.MODIFIED
    assert result.checks[-1].name == "data hash"
    # words39: the seal's name and status now, as a VALID answer shows them
    assert (result.seal_name, result.current_status) == ("示例市交通运输局", "active")


async def test_signer_not_in_the_cert_list(pki):
    outsider = pki.signer(Suite.ES256, "seal:someone-else")
    result = check(pki, await sealed(pki, Suite.ES256, signer=outsider))
    assert result.verdict is SealVerdict.SIGNER_NOT_AUTHORISED


async def test_seal_expired_or_revoked_before_signing_is_rejected(pki):
    expired = await sealed(pki, Suite.ED25519, valid=(NOW - 30 * DAY, NOW - DAY))
    assert check(pki, expired).verdict is SealVerdict.SEAL_NOT_VALID
    signature = await sealed(pki, Suite.ED25519)
    revoked_before = SealStatus("revoked", NOW - dt.timedelta(hours=1))
    assert check(pki, signature, status=revoked_before).verdict is (
        SealVerdict.SEAL_NOT_VALID
    )
    # revoked after signing: still sealed while valid, the current status shown
    revoked_after = SealStatus("revoked", NOW + dt.timedelta(hours=1))
    result = check(pki, signature, status=revoked_after, now=NOW + DAY)
    assert result.verdict is SealVerdict.VALID
    assert result.current_status == "revoked"
    assert result.revoked_at == revoked_after.revoked_at  # told, for the CLI's verdict
    assert result.checks[-1].detail.startswith("revoked since")
    assert check(pki, signature, status=None).verdict is SealVerdict.UNKNOWN_SEAL


async def test_seal_maker_must_be_of_the_seal_ca(pki, tmp_path):
    other = _ca(tmp_path / "other-ca")
    forged_maker = other.signer(Suite.ES256, "service:seal-maker")
    signature = await sealed(pki, Suite.ES256, maker=forged_maker)
    assert check(pki, signature).verdict is SealVerdict.UNTRUSTED_SEAL


async def test_a_seal_changed_after_the_maker_signed_it(pki):
    signer, cert = pki.signer(Suite.ES256, "seal:x")
    signature = await sealed(pki, Suite.ES256, seal_key=(signer, cert))
    parsed = SESSignature.load(signature)
    seal = parsed["to_sign"]["eseal"]
    info = seal["e_seal_info"]
    info["property"]["name"] = "伪造的名称"
    forged_seal = SESeal(
        {
            "e_seal_info": info,
            "cert": seal["cert"],
            "sign_alg_id": seal["sign_alg_id"],
            "signed_value": seal["signed_value"],
        }
    ).dump(force=True)
    # a holder of the seal's own key renames the seal and signs with it
    resigned = await sign_document(
        forged_seal,
        data_hash=digest(Suite.ES256, DOCUMENT),
        signed_at=NOW,
        property_info="x",
        signer=signer,
        signer_cert=cert,
    )
    result = check(pki, resigned)
    assert result.verdict in (
        SealVerdict.SIGNER_NOT_AUTHORISED,
        SealVerdict.UNTRUSTED_SEAL,
    )
    # the maker's checks are kept per seal: the genuine seal, verified between
    # the forged one twice, does not make the forged one pass, nor the reverse
    assert check(pki, signature).verdict is SealVerdict.VALID
    assert check(pki, resigned).verdict is result.verdict
    assert check(pki, signature).verdict is SealVerdict.VALID


async def test_malformed_and_wrong_algorithms(pki):
    signature = await sealed(pki, Suite.SM2)
    for bad in (b"", b"\x30\x03\x02\x01", signature[:-20], b"not DER at all"):
        result = check(pki, bad)
        assert result.verdict is SealVerdict.MALFORMED, bad[:10]
        assert not result.checks[0].passed
    parsed = SESSignature.load(signature)
    parsed["signature_alg_id"] = "1.2.840.113549.1.1.5"  # sha1WithRSAEncryption
    wrong_oid = parsed.dump(force=True)
    result = check(pki, wrong_oid)
    assert result.verdict is SealVerdict.BAD_SIGNATURE
    assert "not sm2, es256 or ed25519" in result.checks[-1].detail


async def test_property_info_must_be_ascii(pki):
    from certseal.errors import CertsealError

    signer, cert = pki.signer(Suite.ES256, "seal:x")
    seal = SESSignature.load(await sealed(pki, Suite.ES256))["to_sign"]["eseal"]
    with pytest.raises(CertsealError) as err:
        await sign_document(
            seal.dump(),
            data_hash=b"h" * 32,
            signed_at=NOW,
            property_info="批复.ofd",
            signer=signer,
            signer_cert=cert,
        )
    assert err.value.field == "property_info"


def test_generated_seal_picture():
    import io

    from PIL import Image

    from certseal.errors import CertsealError
    from services.seal.picture import load_picture, round_seal

    picture = round_seal("深圳市示例科技有限公司", "contract")
    assert (picture.kind, picture.width_mm, picture.height_mm) == ("png", 42, 42)
    image = Image.open(io.BytesIO(picture.data))
    # one colour at 256 opacities: a palette PNG with tRNS, read back as RGBA
    assert image.format == "PNG" and image.mode == "P"
    assert len(picture.data) < 25_000, len(picture.data)  # the RGBA PNG: 54.5 KB
    image = load_picture(picture.data)
    assert {p[:3] for p in image.get_flattened_data() if p[3]} == {(218, 37, 29)}
    w, h = image.size
    assert image.getpixel((w // 2, h // 2)) == (218, 37, 29, 255)  # the star
    assert image.getpixel((2, 2))[3] == 0  # transparent outside the ring
    assert image.getpixel((w // 2, 20))[3] > 0  # the ring
    with pytest.raises(CertsealError) as err:
        round_seal("")
    assert err.value.field == "name"


async def test_seal_inspect_prints_every_field(pki, tmp_path, capsys):
    from services import cli

    signature = await sealed(pki, Suite.SM2)
    path = tmp_path / "doc.ses"
    path.write_bytes(signature)
    assert cli.main(["seal", "inspect", str(path)]) == 0
    out = capsys.readouterr().out
    for expected in (
        "SES_Signature",
        "esID          91350100M000100Y43-001",
        "name        示例市交通运输局",
        "type        1 (organisation seal (单位印章))",
        "certList[0] CN=seal:91350100M000100Y43-001",
        "signatureAlgID  1.2.156.10197.1.501 (sm2)",
        f"dataHash      {digest(Suite.SM2, DOCUMENT).hex()}",
        "picture       png, 8 bytes, 42 × 42 mm",
    ):
        assert expected in out, expected
    seal = SESSignature.load(signature)["to_sign"]["eseal"].dump()
    path.write_bytes(seal)
    assert cli.main(["seal", "inspect", str(path)]) == 0
    assert capsys.readouterr().out.startswith("SESeal\n")
    path.write_bytes(signature[:-7])
    assert cli.main(["seal", "inspect", str(path)]) == 2
    said = capsys.readouterr().err
    assert said.startswith(f"error: file: {path} is not a seal or seal signature")
    path.write_text("# README\n\nNot a seal at all.\n")
    assert cli.main(["seal", "inspect", str(path)]) == 2
    assert capsys.readouterr().err == (
        f"error: file: {path} is not a seal or seal signature file (GB/T 38540 "
        "SESeal or SES_Signature): it looks like text\n"
    )


@pytest.mark.parametrize("suite", list(Suite))
@pytest.mark.parametrize("picture_bytes", [8, 300, 70_000])
@pytest.mark.parametrize("stamped", [False, True])
async def test_direct_der_equals_asn1crypto_encoding(
    pki, suite, picture_bytes, stamped
):
    """TBS_Sign and SES_Signature written directly are byte for byte what asn1crypto
    encodes (short and long lengths, with and without a timeStamp)."""
    from services.seal.ses import TBSSign, ses_signature_der, tbs_sign_der

    maker_signer, maker_cert = pki.signer(Suite.ES256, "service:seal-maker")
    _seal_signer, seal_cert = pki.signer(suite, "seal:91350100M000100Y43-001")
    info = seal_info(
        es_id="91350100M000100Y43-001",
        seal_type="official",
        name="示例市交通运输局",
        signer_certs=[seal_cert],
        created=NOW - 2 * DAY,
        valid_start=NOW - DAY,
        valid_end=NOW + DAY,
        picture=Picture("png", b"\x89" * picture_bytes, 42, 42),
    )
    seal = await make_seal(info, maker=maker_signer, maker_cert=maker_cert)
    signed_at = dt.datetime(2026, 3, 4, 5, 6, 7, 890, tzinfo=dt.UTC)
    data_hash = digest(suite, DOCUMENT)
    expected_tbs = TBSSign(
        {
            "version": 4,
            "eseal": SESeal.load(seal),
            "time_info": signed_at.replace(microsecond=0),
            "data_hash": data_hash,
            "property_info": "pifu-2026-118.ofd",
        }
    )
    tbs = tbs_sign_der(
        seal,
        signed_at=signed_at,
        data_hash=data_hash,
        property_info="pifu-2026-118.ofd",
    )
    assert tbs == expected_tbs.dump(force=True)
    signature = b"\x30" + b"\x07" * 70
    token = b"\x30\x82\x01\x00" + b"\x01" * 256 if stamped else None
    fields = {
        "to_sign": expected_tbs,
        "cert": seal_cert,
        "signature_alg_id": SIGNATURE_OIDS[suite],
        "signature": signature,
    }
    if token is not None:
        fields["time_stamp"] = token
    assert ses_signature_der(
        tbs, signer_cert=seal_cert, suite=suite, signature=signature, time_stamp=token
    ) == SESSignature(fields).dump(force=True)


def test_the_one_colour_picture_keeps_every_opacity_exactly():
    """The palette picture (services.seal.picture.one_colour_png) keeps the drawing's
    alpha byte for byte: its anti-aliased edges are as drawn."""
    from PIL import Image, ImageDraw

    from services.seal.picture import RED, load_picture, one_colour_png

    image = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
    ImageDraw.Draw(image).ellipse((4, 4, 60, 60), outline=RED, width=3)
    image.putpixel((1, 1), (*RED[:3], 7))  # a faint pixel: opacity 7 of 255
    back = load_picture(one_colour_png(image))
    assert back.getchannel("A").tobytes() == image.getchannel("A").tobytes()
    assert {back.getpixel((x, y))[:3] for x in range(64) for y in range(64)} == {
        RED[:3]
    }
