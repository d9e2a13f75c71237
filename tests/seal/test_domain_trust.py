"""Certificate paths to trusted seal CAs, SM2 and ECDSA (services.seal.trust): every
way a path can be wrong, and what verify_sealed_document makes of it."""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass

import pytest
from asn1crypto import keys as asn1_keys
from asn1crypto import pem
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from certseal.crypto import SoftwareSigner, Suite, digest, generate_key
from certseal.errors import CertsealError, ErrorKind
from services.seal.certificates import (
    dev_sm2_ca,
    issue_certificate,
    make_sm2_ca,
    read_certificate,
    sign_certificate,
)
from services.seal.domain import SealVerdict, verify_sealed_document
from services.seal.makers import MakerRule
from services.seal.service import SealCa
from services.seal.ses import Picture, make_seal, seal_info, sign_document
from services.seal.trust import TrustStore, load_trust_files, validate_path

AT = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
DOCUMENT = "关于同意设立分支机构的批复".encode()


def _name(common_name: str) -> asn1_x509.Name:
    return asn1_x509.Name.build({"common_name": common_name})


def _time(value: dt.datetime) -> asn1_x509.Time:
    return asn1_x509.Time({"general_time": value})


@dataclass
class Ca:
    """A CA for these tests: its DER certificate and key."""

    cert: bytes
    key: object  # ec.EllipticCurvePrivateKey | SoftwareSigner

    @property
    def subject(self) -> asn1_x509.Name:
        return asn1_x509.Certificate.load(self.cert)["tbs_certificate"]["subject"]


def _new_key(suite: Suite) -> tuple[object, bytes]:
    if suite is Suite.SM2:
        key = generate_key(Suite.SM2)
        return SoftwareSigner(Suite.SM2, key.private_bytes, key.public_key_der), (
            key.public_key_der
        )
    private = ec.generate_private_key(ec.SECP256R1())
    return private, private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def root(suite: Suite, name: str) -> Ca:
    if suite is Suite.SM2:
        cert, key_pem = make_sm2_ca(
            name, not_before=AT - 400 * DAY, not_after=AT + 400 * DAY
        )
        public = read_certificate(cert).public_key_der
        from services.seal.certificates import load_sm2_key

        return Ca(cert, load_sm2_key(key_pem, public))
    key, public = _new_key(suite)
    cert = sign_certificate(
        key,  # type: ignore[arg-type]
        _fields(
            _name(name), name, public, ca=True, usage={"key_cert_sign", "crl_sign"}
        ),
    )
    return Ca(cert, key)


def _fields(
    issuer: asn1_x509.Name,
    subject: str,
    public: bytes,
    *,
    ca: bool,
    usage: set[str] | None,
    path_len: int | None = None,
    start: dt.datetime = AT - 300 * DAY,
    end: dt.datetime = AT + 300 * DAY,
    extra: list[dict] | None = None,
) -> dict:
    constraints: dict = {"ca": ca}
    if path_len is not None:
        constraints["path_len_constraint"] = path_len
    extensions = [
        {"extn_id": "basic_constraints", "critical": True, "extn_value": constraints}
    ]
    if usage is not None:
        extensions.append(
            {"extn_id": "key_usage", "critical": True, "extn_value": usage}
        )
    return {
        "version": "v3",
        "serial_number": secrets.randbits(64),
        "issuer": issuer,
        "validity": {"not_before": _time(start), "not_after": _time(end)},
        "subject": _name(subject),
        "subject_public_key_info": asn1_keys.PublicKeyInfo.load(public),
        "extensions": extensions + (extra or []),
    }


def intermediate(parent: Ca, suite: Suite, name: str, **kw) -> Ca:
    key, public = _new_key(suite)
    kw.setdefault("ca", True)
    kw.setdefault("usage", {"key_cert_sign", "crl_sign"})
    cert = sign_certificate(parent.key, _fields(parent.subject, name, public, **kw))  # type: ignore[arg-type]
    return Ca(cert, key)


def leaf(parent: Ca, suite: Suite, name: str, **kw) -> tuple[SoftwareSigner, bytes]:
    key = generate_key(suite)
    kw.setdefault("ca", False)
    kw.setdefault("usage", {"digital_signature", "non_repudiation"})
    cert = sign_certificate(
        parent.key,  # type: ignore[arg-type]
        _fields(parent.subject, name, key.public_key_der, **kw),
    )
    return SoftwareSigner(suite, key.private_bytes, key.public_key_der), cert


@pytest.fixture(scope="module", params=[Suite.SM2, Suite.ES256], ids=["sm2", "ecdsa"])
def chain(request):
    suite = request.param
    top = root(suite, f"{suite.value} provincial seal root")
    middle = intermediate(top, suite, f"{suite.value} city seal CA")
    return suite, top, middle


def test_a_path_through_a_trusted_intermediate_is_valid(chain):
    suite, top, middle = chain
    _signer, cert = leaf(middle, suite, "seal:1")
    result = validate_path(cert, TrustStore.of([top.cert, middle.cert]), AT)
    assert result.ok, result.detail
    assert result.path == (
        "seal:1",
        f"{suite.value} city seal CA",
        f"{suite.value} provincial seal root",
    )
    assert not result.own
    alone = validate_path(cert, TrustStore.of([top.cert]), AT)
    assert not alone.ok and "no trusted seal CA issued it" in alone.detail
    assert not validate_path(cert, TrustStore(), AT).ok


@pytest.mark.parametrize(
    ("kind", "problem"),
    [
        ("expired intermediate", "city CA was not valid at"),
        ("not yet valid intermediate", "city CA was not valid at"),
        ("CA:false intermediate", "is not a CA"),
        ("intermediate without basic constraints", "is not a CA"),
        ("intermediate without keyCertSign", "does not allow signing certificates"),
        ("path length exceeded", "allows 0 CA(s) below it"),
        ("unknown critical extension", "does not understand"),
    ],
)
def test_a_bad_intermediate_breaks_the_path(chain, kind, problem):
    suite, top, _middle = chain
    kw: dict = {}
    if kind == "expired intermediate":
        kw = {"start": AT - 300 * DAY, "end": AT - DAY}
    elif kind == "not yet valid intermediate":
        kw = {"start": AT + DAY, "end": AT + 300 * DAY}
    elif kind == "CA:false intermediate":
        kw = {"ca": False}
    elif kind == "intermediate without keyCertSign":
        kw = {"usage": {"digital_signature", "crl_sign"}}
    elif kind == "unknown critical extension":
        kw = {
            "extra": [
                {
                    "extn_id": "1.2.156.10197.6.1.4.2.99",
                    "critical": True,
                    "extn_value": b"\x05\x00",
                }
            ]
        }
    if kind == "intermediate without basic constraints":
        key, public = _new_key(suite)
        fields = _fields(
            top.subject, "city CA", public, ca=True, usage={"key_cert_sign"}
        )
        fields["extensions"] = fields["extensions"][1:]
        bad = Ca(sign_certificate(top.key, fields), key)  # type: ignore[arg-type]
        trusted = [top.cert, bad.cert]
        signer_ca = bad
    elif kind == "path length exceeded":
        upper = intermediate(top, suite, "upper CA", path_len=0)
        lower = intermediate(upper, suite, "city CA")
        trusted = [top.cert, upper.cert, lower.cert]
        signer_ca = lower
    else:
        bad = intermediate(top, suite, "city CA", **kw)
        trusted = [top.cert, bad.cert]
        signer_ca = bad
    _signer, cert = leaf(signer_ca, suite, "seal:2")
    result = validate_path(cert, TrustStore.of(trusted), AT)
    assert not result.ok
    assert problem in result.detail, result.detail


@pytest.mark.parametrize(
    ("kind", "problem"),
    [
        ("expired", "was not valid at"),
        ("not yet valid", "was not valid at"),
        (
            "key usage keyEncipherment only",
            "neither digitalSignature nor nonRepudiation",
        ),
        ("signature tampered", "signature on it is wrong"),
        ("algorithm of the other family", "issuer's key is not an"),
        ("outer and inner algorithms differ", "differs from tbsCertificate.signature"),
        ("unsupported algorithm", "neither SM2-with-SM3 nor ECDSA"),
    ],
)
def test_a_bad_leaf_is_not_valid(chain, kind, problem):
    suite, top, middle = chain
    kw: dict = {}
    if kind == "expired":
        kw = {"start": AT - 10 * DAY, "end": AT - DAY}
    elif kind == "not yet valid":
        kw = {"start": AT + DAY, "end": AT + 10 * DAY}
    elif kind == "key usage keyEncipherment only":
        kw = {"usage": {"key_encipherment"}}
    _signer, cert = leaf(middle, suite, "seal:3", **kw)
    parsed = asn1_x509.Certificate.load(cert)
    other = "1.2.840.10045.4.3.2" if suite is Suite.SM2 else "1.2.156.10197.1.501"
    if kind == "signature tampered":
        value = bytearray(parsed["signature_value"].native)
        value[-3] ^= 1
        cert = _rebuild(parsed, signature_value=bytes(value))
    elif kind == "algorithm of the other family":
        cert = _rebuild(parsed, algorithm=other, inner=other)
    elif kind == "outer and inner algorithms differ":
        cert = _rebuild(parsed, algorithm=other)
    elif kind == "unsupported algorithm":
        cert = _rebuild(
            parsed, algorithm="1.2.840.113549.1.1.11", inner="1.2.840.113549.1.1.11"
        )
    result = validate_path(cert, TrustStore.of([top.cert, middle.cert]), AT)
    assert not result.ok
    assert problem in result.detail, result.detail


def _rebuild(parsed, *, signature_value=None, algorithm=None, inner=None) -> bytes:
    tbs = parsed["tbs_certificate"]
    if inner:
        tbs = asn1_x509.TbsCertificate.load(tbs.dump())
        tbs["signature"] = {"algorithm": inner}
    return asn1_x509.Certificate(
        {
            "tbs_certificate": tbs,
            "signature_algorithm": {
                "algorithm": algorithm
                or parsed["signature_algorithm"]["algorithm"].dotted
            },
            "signature_value": signature_value or parsed["signature_value"].native,
        }
    ).dump(force=True)


def test_garbage_is_a_failed_result_not_an_exception():
    for data in (b"", b"\x30\x00", b"\x30\x03\x02\x01\x01", secrets.token_bytes(300)):
        result = validate_path(data, TrustStore(), AT, role="seal maker")
        assert not result.ok and result.detail.startswith("the seal maker")


async def _sealed(
    maker: tuple[SoftwareSigner, bytes], signer: tuple[SoftwareSigner, bytes]
) -> bytes:
    info = seal_info(
        es_id="OTHER-PLATFORM-0001",
        seal_type="official",
        name="某省某市税务局",
        signer_certs=[signer[1]],
        created=AT - 30 * DAY,
        valid_start=AT - 30 * DAY,
        valid_end=AT + 30 * DAY,
        picture=Picture("png", b"\x89PNG\r\n\x1a\n", 40, 40),
        vendor_id="other-platform",
    )
    seal = await make_seal(info, maker=maker[0], maker_cert=maker[1])
    return await sign_document(
        seal,
        data_hash=digest(signer[0].suite, DOCUMENT),
        signed_at=AT,
        property_info="a.ofd",
        signer=signer[0],
        signer_cert=signer[1],
    )


async def test_another_platforms_seal_verifies_through_its_chain(chain):
    suite, top, middle = chain
    maker = leaf(middle, suite, "maker")
    signature = await _sealed(maker, leaf(middle, suite, "seal:OTHER-PLATFORM-0001"))
    # its seal maker authorised for that platform (atk15 F13)
    makers = [MakerRule("other platform", frozenset({maker[1]}))]
    trusted = TrustStore.of([top.cert, middle.cert], makers=makers)
    result = verify_sealed_document(
        signature, document=DOCUMENT, trust=trusted, seal_status=None, now=AT
    )
    assert result.verdict is SealVerdict.VALID, result.checks
    assert result.checks[-1].name == "seal status"
    assert "another seal platform" in result.checks[-1].detail
    untrusted = verify_sealed_document(
        signature, document=DOCUMENT, trust=TrustStore(), seal_status=None, now=AT
    )
    assert untrusted.verdict is SealVerdict.UNTRUSTED_SEAL
    assert untrusted.checks[-1].name == "seal"


async def test_an_expired_intermediate_of_the_maker_or_signer(chain):
    suite, top, middle = chain
    old = intermediate(
        top, suite, "old city CA", start=AT - 300 * DAY, end=AT - 40 * DAY
    )
    maker, old_maker = leaf(middle, suite, "maker"), leaf(old, suite, "maker")
    makers = [MakerRule("other platform", frozenset({maker[1], old_maker[1]}))]
    trusted = TrustStore.of([top.cert, middle.cert, old.cert], makers=makers)
    # the maker's CA expired before the seal was made: the seal is not trusted
    bad_maker = await _sealed(old_maker, leaf(middle, suite, "seal:x"))
    result = verify_sealed_document(
        bad_maker, document=DOCUMENT, trust=trusted, seal_status=None, now=AT
    )
    assert result.verdict is SealVerdict.UNTRUSTED_SEAL
    assert "old city CA was not valid" in result.checks[-1].detail
    # the signer's CA expired before the signing time
    bad_signer = await _sealed(maker, leaf(old, suite, "seal:y"))
    result = verify_sealed_document(
        bad_signer, document=DOCUMENT, trust=trusted, seal_status=None, now=AT
    )
    assert result.verdict is SealVerdict.CERTIFICATE_NOT_VALID
    assert result.checks[-1].name == "signer certificate"


def test_trust_files_pem_bundles_and_der(tmp_path, chain):
    _suite, top, middle = chain
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(
        pem.armor("CERTIFICATE", top.cert) + pem.armor("CERTIFICATE", middle.cert)
    )
    single = tmp_path / "root.cer"
    single.write_bytes(top.cert)
    found = load_trust_files([str(bundle), str(single)])
    assert found == [top.cert, middle.cert, top.cert]
    store = TrustStore.of(found)
    assert {a.der for a in store.anchors} == {top.cert}
    assert [i.der for i in store.intermediates] == [middle.cert]


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"not a certificate", "not a DER X.509 certificate"),
        (
            b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
            "not a DER",
        ),
        (None, "cannot read"),
    ],
)
def test_a_bad_trust_file_is_named(tmp_path, content, problem):
    path = tmp_path / "ca.pem"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(CertsealError) as err:
        load_trust_files([str(path)])
    assert err.value.kind is ErrorKind.INVALID_ARGUMENT
    assert err.value.field == "seal.trusted_ca_files"
    assert problem in err.value.message and "ca.pem" in err.value.message


def test_a_device_is_not_a_trust_file():
    with pytest.raises(CertsealError) as err:
        load_trust_files(["/dev/zero"])
    assert "not a regular file" in err.value.message


def test_the_dev_sm2_seal_ca_loads_and_certifies(tmp_path):
    cert_file, key_file = dev_sm2_ca(tmp_path / "sm2")
    assert (tmp_path / "sm2" / "ca.key").stat().st_mode & 0o777 == 0o600
    again = dev_sm2_ca(tmp_path / "sm2")
    assert again == (cert_file, key_file)
    ca = SealCa.from_files(cert_file, key_file)
    assert isinstance(ca.key, SoftwareSigner) and ca.key.suite is Suite.SM2
    key = generate_key(Suite.SM2)
    cert = issue_certificate(
        ca_key=ca.key,
        ca_cert=ca.cert,
        common_name="seal:dev",
        public_key_der=key.public_key_der,
        not_before=AT - DAY,
        not_after=AT + DAY,
    )
    result = validate_path(cert, TrustStore().with_own(ca.cert), AT)
    assert result.ok and result.own
    parsed = asn1_x509.Certificate.load(cert)
    assert parsed["signature_algorithm"]["algorithm"].dotted == "1.2.156.10197.1.501"
    # a key that is not the certificate's is refused by name
    other_cert, _ = dev_sm2_ca(tmp_path / "other")
    with pytest.raises(CertsealError) as err:
        SealCa.from_files(other_cert, key_file)
    assert err.value.kind is ErrorKind.INVALID_ARGUMENT
    assert err.value.field == "seal.ca_key_file" and key_file in err.value.message


def test_a_kept_path_answers_only_inside_the_window_every_time_check_passed(chain):
    """Paths found valid are kept with the window of times their time checks passed
    in: inside it the answer is the same; outside it the path is validated again and
    fails naming the certificate; another store is never answered from the cache."""
    suite, top, _middle = chain
    city = intermediate(top, suite, "window CA", start=AT - 10 * DAY, end=AT + 5 * DAY)
    _signer, cert = leaf(city, suite, "seal:window", start=AT - 20 * DAY)
    trust = TrustStore.of([top.cert, city.cert])
    first = validate_path(cert, trust, AT)
    assert first.ok, first.detail
    assert validate_path(cert, trust, AT + 4 * DAY) is first  # kept: inside
    later = validate_path(cert, trust, AT + 6 * DAY)  # the CA expired at AT + 5 days
    assert not later.ok and "window CA was not valid at" in later.detail
    earlier = validate_path(cert, trust, AT - 15 * DAY)  # before the CA's start
    assert not earlier.ok and "window CA was not valid at" in earlier.detail
    assert validate_path(cert, trust, AT) is first
    other = validate_path(cert, TrustStore.of([top.cert]), AT)  # another store
    assert not other.ok and "no trusted seal CA issued it" in other.detail


def test_a_validation_with_a_failed_time_check_is_not_kept(chain):
    """One candidate issuer expired, another valid: the path found is right at that
    time, but it is not kept (another time could take the other candidate)."""
    suite, top, _middle = chain
    key, public = _new_key(suite)
    expired = Ca(
        sign_certificate(
            top.key,  # type: ignore[arg-type]
            _fields(
                top.subject,
                "twin CA",
                public,
                ca=True,
                usage={"key_cert_sign"},
                end=AT - DAY,
            ),
        ),
        key,
    )
    current = Ca(
        sign_certificate(
            top.key,  # type: ignore[arg-type]
            _fields(top.subject, "twin CA", public, ca=True, usage={"key_cert_sign"}),
        ),
        key,
    )
    _signer, cert = leaf(current, suite, "seal:twins")
    trust = TrustStore.of([top.cert, expired.cert, current.cert])
    found = validate_path(cert, trust, AT)
    assert found.ok, found.detail
    assert validate_path(cert, trust, AT) is not found  # validated again
    assert validate_path(cert, trust, AT).ok
