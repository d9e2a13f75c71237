"""GB/T 38540 as the ecosystem writes it: ofdrw's real seals and signatures, GM/T 0031
v1, the explicit timeStamp, versions, exact element counts, the type integer and
escaped inspection; ``verify_sealed_document`` never raises.

The ofdrw files are in tests/seal/data/ofdrw (Apache-2.0, see its README)."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

import pytest
from asn1crypto import core

from certseal.crypto import (
    SoftwareSigner,
    Suite,
    digest,
    generate_key,
    signature_to_der,
)
from certseal.errors import CertsealError, ErrorKind
from services.seal.certificates import (
    issue_certificate,
    load_sm2_key,
    make_sm2_ca,
    read_certificate,
)
from services.seal.domain import SealStatus, SealVerdict, verify_sealed_document
from services.seal.inspect import describe, shown
from services.seal.makers import MakerRule
from services.seal.ses import (
    CERTSEAL_KINDS,
    Picture,
    SESSignature,
    make_seal,
    seal_info,
    sign_document,
)
from services.seal.ses_read import (
    SealData,
    SesFormatError,
    SignatureData,
    read_any,
    read_seal,
    read_signature,
)
from services.seal.ses_v1 import SESealV1, SESSignatureV1
from services.seal.trust import TrustStore

DATA = Path(__file__).parent / "data" / "ofdrw"
ROOT = (DATA / "ofdrw_ROOT.cer").read_bytes()
# ofdrw's seal-making system: the maker certificate of its every seal (atk15 F13)
MAKER = (DATA / "ofdrw_maker.cer").read_bytes()
OFDRW = TrustStore.of([ROOT], makers=[MakerRule("ofdrw", frozenset({MAKER}))])
NOW = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.UTC)


def vector(name: str) -> bytes:
    return (DATA / name).read_bytes()


# --- a minimal DER tree, to build structures the standard does not allow ----------


def tlv(tag: int, body: bytes) -> bytes:
    n = len(body)
    if n < 0x80:
        return bytes([tag, n]) + body
    size = (n.bit_length() + 7) // 8
    return bytes([tag, 0x80 | size]) + n.to_bytes(size, "big") + body


def children(data: bytes) -> list[bytes]:
    """The encoded elements inside a constructed value."""
    parsed = core.Asn1Value.load(data)
    body, out = parsed.contents, []
    while body:
        child = core.Asn1Value.load(body)
        encoded = child.dump()
        out.append(encoded)
        body = body[len(encoded) :]
    return out


def edit(data: bytes, path: tuple[int, ...], change) -> bytes:
    """``data`` with the SEQUENCE at ``path`` (child indexes) given ``change(kids)``."""
    kids = children(data)
    if path:
        kids[path[0]] = edit(kids[path[0]], path[1:], change)
    else:
        kids = change(kids)
    return tlv(data[0], b"".join(kids))


EXTRA = tlv(0x02, b"\x07")  # INTEGER 7, an element no SEQUENCE here defines


# --- every shared structure parses, through the reader and inspect -----------------


@pytest.mark.parametrize(
    ("name", "kind", "version"),
    [
        ("UserV4.esl", SealData, 4),
        ("UserV1.esl", SealData, 1),
        ("SignedValueV4.dat", SignatureData, 4),
        ("V4RideRight.SignedValue.dat", SignatureData, 4),
        ("SESV4SignDoc.SignedValue.dat", SignatureData, 4),
    ],
)
def test_every_ofdrw_structure_parses(name, kind, version):
    found = read_any(vector(name))
    assert isinstance(found, kind) and found.version == version
    seal = found.seal if isinstance(found, SignatureData) else found
    assert seal.vendor_id == "OFDR&WTest" and seal.picture.startswith(b"\x89PNG")
    assert read_certificate(seal.maker_cert).common_name == "Test Certificate"
    lines = "\n".join(describe(vector(name)))
    assert lines.startswith("SES_Signature" if kind is SignatureData else "SESeal")
    standard = "GB/T 38540-2020" if version == 4 else "GM/T 0031-2014"
    assert f"version={version} ({standard})" in lines
    assert f"esID          {seal.es_id}" in lines


def test_the_v1_seal_reads_field_by_field():
    seal = read_seal(vector("UserV1.esl"))
    assert (seal.es_id, seal.seal_type, seal.name) == (
        "40C8CDD24DEF43388B86E62CCE1D6832",
        1,
        "OFDRW测试用印章",
    )
    assert seal.valid_end == dt.datetime(2022, 4, 22, 2, 18, 7, tzinfo=dt.UTC)
    assert len(seal.certs) == 1 and seal.maker_algorithm == "1.2.156.10197.1.501"


@pytest.mark.parametrize("name", ["UserV4.esl", "UserV1.esl"])
def test_ofdrw_seal_makers_sign_and_chain_to_the_ofdrw_root(name):
    from services.seal.domain import _verify
    from services.seal.trust import validate_path

    seal = read_seal(vector(name))
    assert (
        _verify(
            seal.maker_algorithm,
            seal.maker_cert,
            seal.maker_signed,
            seal.maker_signature,
        )
        is Suite.SM2
    )
    path = validate_path(seal.maker_cert, OFDRW, seal.created, role="seal maker")
    assert path.ok and path.path[-1] == "OFD Reader and WriterROOT Certificate"
    assert not validate_path(seal.maker_cert, TrustStore(), seal.created).ok


# --- the verdicts the shared README gives -------------------------------------------


def test_v4_riding_seal_is_valid_with_the_ofdrw_root():
    result = verify_sealed_document(
        vector("V4RideRight.SignedValue.dat"),
        document=vector("V4RideRight.Signature.xml"),
        trust=OFDRW,
        seal_status=None,
        now=NOW,
    )
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
    assert result.signed_at == dt.datetime(2021, 5, 19, 12, 53, 44, tzinfo=dt.UTC)
    assert result.seal_name == "OFD R&W 测试用印章"
    assert result.checks[-2].detail == "SM3 matches"
    changed = bytearray(vector("V4RideRight.Signature.xml"))
    changed[100] ^= 1
    modified = verify_sealed_document(
        vector("V4RideRight.SignedValue.dat"),
        document=bytes(changed),
        trust=OFDRW,
        seal_status=None,
        now=NOW,
    )
    assert modified.verdict is SealVerdict.MODIFIED


def test_a_seal_used_after_it_expired_is_not_valid_and_says_so():
    result = verify_sealed_document(
        vector("SESV4SignDoc.SignedValue.dat"),
        document=vector("SESV4SignDoc.Signature.xml"),
        trust=OFDRW,
        seal_status=None,
        now=NOW,
    )
    assert result.verdict is SealVerdict.SEAL_NOT_VALID
    assert result.checks[-1].name == "seal" and not result.checks[-1].passed
    assert "outside the seal's validity" in result.checks[-1].detail


def test_the_detached_v4_signature_checks_out_but_for_the_document():
    result = verify_sealed_document(
        vector("SignedValueV4.dat"),
        document=b"not the signed document",
        trust=OFDRW,
        seal_status=None,
        now=NOW,
    )
    assert result.verdict is SealVerdict.MODIFIED
    assert [c.passed for c in result.checks] == [True] * 5 + [False]


@pytest.mark.parametrize(
    "name",
    [
        "V4RideRight.SignedValue.dat",
        "SESV4SignDoc.SignedValue.dat",
        "SignedValueV4.dat",
    ],
)
def test_ofdrw_seals_are_untrusted_without_its_root(name):
    document = (
        vector(name.replace("SignedValue.dat", "Signature.xml"))
        if "." in name[:-4]
        else b"x"
    )
    result = verify_sealed_document(
        vector(name), document=document, seal_status=None, now=NOW
    )
    assert result.verdict is SealVerdict.UNTRUSTED_SEAL
    assert result.checks[-1].name == "seal"
    assert "no trusted seal CA issued it" in result.checks[-1].detail


# --- timeStamp [0] EXPLICIT: the parser and the verifier agree ----------------------


def with_time_stamp(signature: bytes, tag: int) -> bytes:
    stamp = tlv(0x03, b"\x00" + b"TST" * 20)
    field = tlv(0xA0, stamp) if tag == 0xA0 else tlv(0x80 | 0x00, stamp[2:])
    return edit(signature, (), lambda kids: [*kids, field])


def test_an_explicit_time_stamp_is_read_by_inspect_and_the_verifier():
    stamped = with_time_stamp(vector("V4RideRight.SignedValue.dat"), 0xA0)
    assert read_signature(stamped).time_stamp == b"TST" * 20
    assert "  timeStamp       60 bytes" in describe(stamped)
    result = verify_sealed_document(
        stamped,
        document=vector("V4RideRight.Signature.xml"),
        trust=OFDRW,
        seal_status=None,
        now=NOW,
    )
    # the verifier reads the same field and checks it as an RFC 3161 token: these
    # bytes are none, so the verdict fails on it, after the signature held
    assert result.verdict is SealVerdict.BAD_TIMESTAMP, result.checks
    assert [(c.name, c.passed) for c in result.checks][1:] == [
        ("signature", True),
        ("timestamp", False),
    ]
    # and certseal writes it the same way: [0] EXPLICIT around the BIT STRING
    parsed = SESSignature.load(vector("V4RideRight.SignedValue.dat"))
    parsed["time_stamp"] = b"TST" * 20
    assert parsed.dump(force=True) == stamped


def test_an_implicit_time_stamp_is_refused_by_both():
    stamped = with_time_stamp(vector("V4RideRight.SignedValue.dat"), 0x80)
    with pytest.raises(SesFormatError):
        read_signature(stamped)
    with pytest.raises(CertsealError) as err:
        describe(stamped)
    assert err.value.kind is ErrorKind.INVALID_ARGUMENT
    result = verify_sealed_document(
        stamped, document=b"x", trust=OFDRW, seal_status=None, now=NOW
    )
    assert result.verdict is SealVerdict.MALFORMED


# --- versions and exact element counts ----------------------------------------------


def _set_int(value: int):
    return lambda kids: [kids[0], tlv(0x02, bytes([value])), *kids[2:]]


def _set_first_int(value: int):
    return lambda kids: [tlv(0x02, bytes([value])), *kids[1:]]


@pytest.mark.parametrize(
    ("name", "path", "change", "message"),
    [
        (
            "UserV4.esl",
            (0, 0),
            _set_int(5),
            "header.version is 5: the v5 form is not supported",
        ),
        ("UserV4.esl", (0, 0), _set_int(3), "header.version is 3: neither 4"),
        ("UserV1.esl", (0, 0), _set_int(2), "header.version is 2: neither 4"),
        (
            "SignedValueV4.dat",
            (0,),
            _set_first_int(5),
            "toSign.version is 5: the v5 form",
        ),
        ("SignedValueV4.dat", (0,), _set_first_int(1), "SES_Signature"),
        ("SignedValueV4.dat", (0, 1, 0, 0), _set_int(1), "eseal header.version is 1"),
        (
            "UserV4.esl",
            (0, 0),
            lambda k: [tlv(0x16, b"EZ"), *k[1:]],
            "header.id is 'EZ'",
        ),
    ],
)
def test_versions_are_checked(name, path, change, message):
    data = edit(vector(name), path, change)
    with pytest.raises(SesFormatError, match=message.replace("(", r"\(")):
        read_any(data) if name.endswith(".esl") else read_signature(data)
    with pytest.raises(CertsealError) as err:
        describe(data)
    assert message.split(":")[0] in err.value.message
    if not name.endswith(".esl"):
        result = verify_sealed_document(
            data, document=b"x", trust=OFDRW, seal_status=None, now=NOW
        )
        assert result.verdict is SealVerdict.MALFORMED
        assert message.split(":")[0] in result.checks[0].detail


@pytest.mark.parametrize(
    ("name", "path"),
    [
        ("SignedValueV4.dat", ()),  # SES_Signature: after signature (and timeStamp)
        ("SignedValueV4.dat", (0,)),  # TBS_Sign
        ("SignedValueV4.dat", (0, 1)),  # the seal inside
        ("SignedValueV4.dat", (0, 1, 0)),  # SES_SealInfo
        ("SignedValueV4.dat", (0, 1, 0, 0)),  # SES_Header
        ("SignedValueV4.dat", (0, 1, 0, 2)),  # SES_ESPropertyInfo
        ("SignedValueV4.dat", (0, 1, 0, 3)),  # SES_ESPictrueInfo
        ("UserV4.esl", ()),
        ("UserV4.esl", (0, 2, 3)),  # certList (a SEQUENCE OF: an INTEGER is no cert)
        ("UserV1.esl", ()),
        ("UserV1.esl", (1,)),  # SES_SignInfo
        ("UserV1.esl", (0, 2)),
    ],
)
def test_an_extra_element_is_malformed_never_dropped(name, path):
    data = edit(vector(name), path, lambda kids: [*kids, EXTRA])
    with pytest.raises(SesFormatError):
        read_any(data)
    with pytest.raises(CertsealError):
        describe(data)
    result = verify_sealed_document(
        data, document=b"x", trust=OFDRW, seal_status=None, now=NOW
    )
    assert result.verdict is SealVerdict.MALFORMED


def test_trailing_bytes_after_the_structure_are_malformed():
    for name in ("UserV4.esl", "SignedValueV4.dat", "UserV1.esl"):
        with pytest.raises(SesFormatError):
            read_any(vector(name) + EXTRA)


# --- GM/T 0031 v1 signatures, read and verified --------------------------------------


async def _v1_signed(time_info: bytes):
    start = NOW - dt.timedelta(days=400)
    ca_cert, ca_pem = make_sm2_ca(
        "v1 platform root", not_before=start, not_after=NOW + dt.timedelta(days=400)
    )
    ca = load_sm2_key(ca_pem, read_certificate(ca_cert).public_key_der)

    def person(name: str) -> tuple[SoftwareSigner, bytes]:
        key = generate_key(Suite.SM2)
        cert = issue_certificate(
            ca_key=ca,
            ca_cert=ca_cert,
            common_name=name,
            public_key_der=key.public_key_der,
            not_before=start,
            not_after=NOW + dt.timedelta(days=30),
        )
        return SoftwareSigner(Suite.SM2, key.private_bytes, key.public_key_der), cert

    maker, signer = person("v1 maker"), person("v1 signer")
    info = {
        "header": {"id": "ES", "version": 1, "vid": "v1-platform"},
        "es_id": "V1-SEAL-1",
        "property": {
            "type": 2,
            "name": "张三",
            "cert_list": [signer[1]],
            "create_date": start,
            "valid_start": start,
            "valid_end": NOW + dt.timedelta(days=10),
        },
        "picture": {"type": "PNG", "data": b"\x89PNG", "width": 20, "height": 20},
    }
    seal = SESealV1(
        {
            "e_seal_info": info,
            "sign_info": {
                "cert": maker[1],
                "signature_algorithm": "1.2.156.10197.1.501",
                "sign_data": b"",
            },
        }
    )
    body = (
        seal["e_seal_info"].dump()
        + seal["sign_info"]["cert"].dump()
        + seal["sign_info"]["signature_algorithm"].dump()
    )
    seal["sign_info"]["sign_data"] = signature_to_der(
        Suite.SM2, maker[0].sign_now(tlv(0x30, body))
    )
    tbs = {
        "version": 1,
        "eseal": SESealV1.load(seal.dump(force=True)),
        "time_info": time_info,
        "data_hash": digest(Suite.SM2, b"v1 document"),
        "property_info": "v1.ofd",
        "cert": signer[1],
        "signature_algorithm": "1.2.156.10197.1.501",
    }
    sig = SESSignatureV1({"to_sign": tbs, "signature": b""})
    sig["signature"] = signature_to_der(
        Suite.SM2, signer[0].sign_now(sig["to_sign"].dump())
    )
    return sig.dump(force=True), TrustStore.of(
        [ca_cert], makers=[MakerRule("v1 platform", frozenset({maker[1]}))]
    )


@pytest.mark.parametrize(
    "time_info",
    [
        core.UTCTime(NOW - dt.timedelta(days=1)).dump(),
        (NOW - dt.timedelta(days=1)).strftime("%y%m%d%H%M%SZ").encode(),
        core.GeneralizedTime(NOW - dt.timedelta(days=1)).dump(),
    ],
    ids=["der-utctime", "utctime-text", "der-generalizedtime"],
)
async def test_a_v1_signature_is_read_and_verified(time_info):
    signature, trust = await _v1_signed(time_info)
    parsed = read_signature(signature)
    assert parsed.version == 1 and parsed.signed_at == NOW - dt.timedelta(days=1)
    assert "    version       1 (GM/T 0031-2014)" in describe(signature)
    result = verify_sealed_document(
        signature, document=b"v1 document", trust=trust, seal_status=None, now=NOW
    )
    assert result.verdict is SealVerdict.VALID, result.checks
    assert result.seal_name == "张三"
    modified = verify_sealed_document(
        signature, document=b"v1 documenT", trust=trust, seal_status=None, now=NOW
    )
    assert modified.verdict is SealVerdict.MODIFIED


async def test_a_v1_time_that_is_no_time_is_named():
    signature, trust = await _v1_signed(b"\x30\x03\x02\x01\x01")
    with pytest.raises(SesFormatError, match=r"toSign\.timeInfo"):
        read_signature(signature)
    result = verify_sealed_document(
        signature, document=b"x", trust=trust, seal_status=None, now=NOW
    )
    assert (
        result.verdict is SealVerdict.MALFORMED
        and "timeInfo" in result.checks[0].detail
    )


# --- the type integer and escaped inspection -----------------------------------------


def test_another_platforms_type_is_not_relabelled():
    lines = describe(vector("UserV4.esl"))
    assert "      type        3 (not defined by the standard)" in lines
    assert not any("finance" in line for line in lines)
    assert "      type        1 (organisation seal (单位印章))" in describe(
        vector("UserV1.esl")
    )


@pytest.mark.parametrize(("kind", "value"), sorted(CERTSEAL_KINDS.items()))
def test_certseal_writes_the_standard_type_for_its_kinds(kind, value):
    info = seal_info(
        es_id="X",
        seal_type=kind,
        name="n",
        signer_certs=[],
        created=NOW,
        valid_start=NOW,
        valid_end=NOW,
        picture=Picture("png", b"p", 1, 1),
    )
    assert info["property"]["type"].native == value
    assert value == (2 if kind == "personal" else 1)


async def test_inspect_escapes_control_characters_in_every_string():
    key = generate_key(Suite.ES256)
    signer = SoftwareSigner(Suite.ES256, key.private_bytes, key.public_key_der)
    hostile = "示例\x1b[2J\u202eevil\nline\x00"
    info = seal_info(
        es_id="ID\x1b]0;title\x07",
        seal_type="official",
        name=hostile,
        signer_certs=[b"\x07not a cert"],
        created=NOW,
        valid_start=NOW,
        valid_end=NOW,
        picture=Picture("png\r", b"p", 1, 1),
        vendor_id="v\x1bid",
    )
    seal = await make_seal(info, maker=signer, maker_cert=b"\x1b")
    signature = await sign_document(
        seal,
        data_hash=b"\x00" * 32,
        signed_at=NOW,
        property_info="a\x1b[1mb\r\n",
        signer=signer,
        signer_cert=b"\x00",
    )
    for data in (seal, signature):
        text = "\n".join(describe(data))
        for char in ("\x1b", "\u202e", "\x00", "\x07", "\r"):
            assert char not in text
        assert "\\u001b[2J\\u202eevil\\u000aline\\u0000" in text
        assert "ID\\u001b]0;title\\u0007" in text and "v\\u001bid" in text
    assert "a\\u001b[1mb\\u000d\\u000a" in "\n".join(describe(signature))
    assert shown("a\\b") == "a\\\\b" and shown("\U000e0001") == "\\U000e0001"


# --- verify_sealed_document never raises ---------------------------------------------


def _mutations() -> list[bytes]:
    rng = random.Random(15)
    base = vector("V4RideRight.SignedValue.dat")
    found = [
        b"",
        b"\x00",
        b"\x30",
        b"\x30\x00",
        b"\x30\x84\xff\xff\xff\xff",
        b"\x05\x00",
    ]
    found += [base[:n] for n in range(0, len(base), 1301)]
    for _ in range(60):
        data = bytearray(base)
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        found.append(bytes(data))
    found += [vector("UserV4.esl"), vector("UserV1.esl"), ROOT, base + base]
    found += [
        bytes(rng.randrange(256) for _ in range(rng.randint(1, 400))) for _ in range(30)
    ]
    return found


def _is_seal(data: bytes) -> bool:
    try:
        read_seal(data)
    except SesFormatError:
        return False
    return True


async def test_a_signer_certificate_that_is_no_certificate_is_a_bad_signature():
    key = generate_key(Suite.SM2)
    signer = SoftwareSigner(Suite.SM2, key.private_bytes, key.public_key_der)
    info = seal_info(
        es_id="X",
        seal_type="official",
        name="n",
        signer_certs=[b"junk"],
        created=NOW,
        valid_start=NOW,
        valid_end=NOW,
        picture=Picture("png", b"p", 1, 1),
    )
    seal = await make_seal(info, maker=signer, maker_cert=b"junk")
    signature = await sign_document(
        seal,
        data_hash=b"\x00" * 32,
        signed_at=NOW,
        property_info="a",
        signer=signer,
        signer_cert=b"junk",
    )
    assert "  cert            4 bytes, not a certificate" in describe(signature)
    result = verify_sealed_document(signature, document=b"x", seal_status=None, now=NOW)
    assert result.verdict is SealVerdict.BAD_SIGNATURE
    assert [c.name for c in result.checks] == ["decode", "signature"]


def test_verify_sealed_document_never_raises():
    document = vector("V4RideRight.Signature.xml")
    for data in _mutations():
        for trust, seal_ca in ((OFDRW, b""), (None, b"\x30\x00"), (None, b"")):
            result = verify_sealed_document(
                data,
                document=document,
                trust=trust,
                seal_ca=seal_ca,
                seal_status=SealStatus("active"),
                now=NOW,
            )
            # every byte of an SES_Signature is signed or decides the decoding
            assert result.verdict is not SealVerdict.VALID, data.hex()[:80]
        # the parser and the verifier agree on what is well-formed
        try:
            describe(data)
            inspected = True
        except CertsealError as exc:
            assert exc.kind is ErrorKind.INVALID_ARGUMENT
            inspected = False
        decoded = result.checks[0].passed
        assert inspected == decoded or _is_seal(data), data.hex()[:80]


# --- the command ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "UserV4.esl",
        "UserV1.esl",
        "SignedValueV4.dat",
        "V4RideRight.SignedValue.dat",
        "SESV4SignDoc.SignedValue.dat",
    ],
)
def test_certseal_seal_inspect_reads_every_ofdrw_structure(name, capsys):
    from services import cli

    assert cli.main(["seal", "inspect", str(DATA / name)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines() == describe(vector(name))
    assert "vid=OFDR&WTest" in out


def test_certseal_seal_inspect_names_v5_and_exits_2(tmp_path, capsys):
    from services import cli

    path = tmp_path / "v5.esl"
    path.write_bytes(edit(vector("UserV4.esl"), (0, 0), _set_int(5)))
    assert cli.main(["seal", "inspect", str(path)]) == 2
    err = capsys.readouterr().err
    assert "error: file:" in err and "the v5 form is not supported" in err


def test_an_sm2_seal_ca_given_as_the_platforms_own_is_read_not_raised():
    """The issue's example: an SM2 CA certificate where the P-256-only check raised."""
    signature = vector("V4RideRight.SignedValue.dat")
    document = vector("V4RideRight.Signature.xml")
    unknown = verify_sealed_document(
        signature, document=document, seal_ca=ROOT, seal_status=None, now=NOW
    )
    assert unknown.verdict is SealVerdict.UNKNOWN_SEAL  # own CA: the registry decides
    known = verify_sealed_document(
        signature,
        document=document,
        seal_ca=ROOT,
        seal_status=SealStatus("active"),
        now=NOW,
    )
    assert known.verdict is SealVerdict.VALID and known.current_status == "active"
