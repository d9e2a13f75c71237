"""A seal from another platform whose RFC 3161 token's TSA certificate carries a
general name ``cryptography`` does not model (an ediPartyName or x400Address in
subjectAltName or issuerAltName, RFC 5280 §4.2.1.6) is judged on its merits: the
key usage, the extended key usage timeStamping marked critical (RFC 3161 §2.3), the
chain and the signature, exactly as the same certificate without that name. A
malformed extension is still refused, naming the TSA certificate."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from asn1crypto import keys, tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID
from pyhanko.sign.general import as_signing_certificate, simple_cms_attribute

from certseal.crypto import Suite
from certseal.der import tlv
from certseal.errors import CertsealError
from services.seal.domain import SealVerdict
from services.seal.timestamp import TokenError, check_token, imprint
from services.seal.tsa import DEFAULT_TSA_POLICY, TsaServer
from services.seal.tsa_token import TokenParts, TsaBuilder
from tests.certificates import (
    EDI_PARTY_NAMES,
    MANGLED_KEY_USAGES,
    X400_ADDRESSES,
    extension,
    with_extensions,
)
from tests.seal.test_domain import _ca, check, sealed
from tests.seal.test_timestamps import INSIDE, VALID, Tsa, _value, with_token

SAN = ExtensionOID.SUBJECT_ALTERNATIVE_NAME.dotted_string
IAN = ExtensionOID.ISSUER_ALTERNATIVE_NAME.dotted_string
EKU = ExtensionOID.EXTENDED_KEY_USAGE.dotted_string
EDI = extension(SAN, EDI_PARTY_NAMES)
NAMES = {
    "an ediPartyName subjectAltName": [EDI],
    "an x400Address subjectAltName": [extension(SAN, X400_ADDRESSES)],
    "an ediPartyName issuerAltName": [extension(IAN, EDI_PARTY_NAMES)],
}


def _eku(*usages: x509.ObjectIdentifier, critical: bool = True) -> Any:
    value = x509.ExtendedKeyUsage(list(usages)).public_bytes()
    return extension(EKU, value, critical=critical)


@dataclass
class Authority:
    """A TSA CA the verification trusts, and a TSA certificate it issued (EC P-256,
    key usage and timeStamping critical, as the dev stack's) to vary."""

    tsa: Tsa
    ca_key: Any
    cert: x509.Certificate
    key: Any

    def varied(self, *, add=(), drop=()) -> bytes:
        """The TSA certificate (DER) with ``add`` and without ``drop`` (dotted
        OIDs), signed again by the TSA CA."""
        return with_extensions(self.cert, self.ca_key, add=add, drop=drop)

    def token(self, cert_der: bytes, stamped: bytes) -> bytes:
        """A token over ``stamped`` at INSIDE by a TSA presenting ``cert_der`` (the
        same key, issuer and serial), whatever the TSA room's start check says of
        it: the room's builder writes one with the certificate as issued, then the
        token's DER is written around ``cert_der`` (its ESS signingCertificate
        naming it), as the room's own requests are (TokenParts)."""
        varied = asn1_x509.Certificate.load(cert_der)
        issued = self.cert.public_bytes(serialization.Encoding.DER)
        pkcs8 = self.key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        builder = TsaBuilder(
            asn1_x509.Certificate.load(issued),
            keys.PrivateKeyInfo.load(pkcs8),
            INSIDE,
            DEFAULT_TSA_POLICY,
        )
        builder.signer = self.key
        builder.signing_certificate = simple_cms_attribute(
            "signing_certificate", as_signing_certificate(varied)
        ).dump()
        request = tsp.TimeStampReq(
            {
                "version": 1,
                "message_imprint": {
                    "hash_algorithm": {"algorithm": "sha256"},
                    "hashed_message": imprint(b""),
                },
                "cert_req": True,
            }
        )
        parts = TokenParts(
            builder.request_tsa_response(request)["time_stamp_token"].dump()
        )
        parts.certificates = tlv(0xA0, cert_der)  # certificates [0] IMPLICIT SET OF
        return parts.token(self.key, imprint(stamped), at=INSIDE, serial=7, nonce=7)


@pytest.fixture(scope="module")
def authority(tmp_path_factory) -> Authority:
    tsa = Tsa(tmp_path_factory.mktemp("tsa"))
    ident = tsa.ca.tsa_identity("test TSA")
    return Authority(
        tsa,
        serialization.load_pem_private_key(
            (tsa.ca.folder / "ca.key").read_bytes(), None
        ),
        x509.load_pem_x509_certificate(ident.cert_file.read_bytes()),
        serialization.load_pem_private_key(ident.key_file.read_bytes(), None),
    )


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return _ca(tmp_path_factory.mktemp("seal-ca"))


async def _verdict(pki, authority: Authority, cert_der: bytes):
    signature = await sealed(pki, Suite.ES256, signed_at=INSIDE, valid=VALID)
    token = authority.token(cert_der, _value(signature))
    return check(pki, with_token(signature, token), tsa_trust=authority.tsa.trust)


@pytest.mark.parametrize("names", list(NAMES))
async def test_a_tsa_certificate_with_a_name_cryptography_lacks_verifies(
    pki, authority, names
):
    cert = authority.varied(add=NAMES[names])
    with pytest.raises(x509.UnsupportedGeneralNameType):
        _ = x509.load_der_x509_certificate(cert).extensions  # what the fault was
    result = await _verdict(pki, authority, cert)
    assert result.verdict is SealVerdict.VALID, result.checks
    stamp = result.checks[2]
    assert (stamp.name, stamp.passed) == ("timestamp", True), result.checks
    assert "test TSA" in stamp.detail
    assert result.signed_at == INSIDE


@pytest.mark.parametrize(
    ("usage", "what"),
    [
        (_eku(ExtendedKeyUsageOID.SERVER_AUTH), "for TLS servers"),
        (_eku(ExtendedKeyUsageOID.TIME_STAMPING, critical=False), "not critical"),
        (None, "no extended key usage"),
    ],
)
@pytest.mark.parametrize("with_name", [True, False])
async def test_without_the_critical_timestamping_usage_it_is_refused(
    pki, authority, usage, what, with_name
):
    """As for the same certificate without the name (RFC 3161 §2.3)."""
    add = [*([EDI] if with_name else []), *([usage] if usage else [])]
    cert = authority.varied(add=add, drop=[EKU])
    result = await _verdict(pki, authority, cert)
    assert result.verdict is SealVerdict.UNTRUSTED_TIMESTAMP, (what, result.checks)
    assert result.checks[-1].name == "timestamp"
    assert "extended key usage must be only timeStamping" in result.checks[-1].detail


@pytest.mark.parametrize("with_name", [True, False])
async def test_a_mangled_extension_is_refused_naming_the_tsa_certificate(
    pki, authority, with_name
):
    mangled = extension(EKU, MANGLED_KEY_USAGES, critical=True)
    add = [*([EDI] if with_name else []), mangled]
    cert = authority.varied(add=add, drop=[EKU])
    result = await _verdict(pki, authority, cert)
    assert result.verdict is SealVerdict.BAD_TIMESTAMP, result.checks
    assert result.checks[-1].name == "timestamp"
    assert (
        "the TSA certificate (test TSA) has an extension malformed or given twice"
        in (result.checks[-1].detail)
    )
    signature = await sealed(pki, Suite.ES256, signed_at=INSIDE, valid=VALID)
    with pytest.raises(TokenError) as refused:
        check_token(
            authority.token(cert, _value(signature)),
            stamped=_value(signature),
            trust=authority.tsa.trust,
        )
    assert refused.value.check == "timestamp"


def test_the_tsa_room_starts_with_such_a_certificate_and_its_tokens_verify(
    authority, tmp_path
):
    """The TSA room's start check (services.seal.tsa.read_tsa_identity) reads the
    same certificate by the same rule: it serves, and what it stamps verifies."""
    cert_file, key_file = tmp_path / "tsa.pem", tmp_path / "tsa.key"
    key_file.write_bytes(
        authority.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )

    def server(cert_der: bytes) -> TsaServer:
        cert = x509.load_der_x509_certificate(cert_der)
        cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        return TsaServer(
            cert_file=str(cert_file), key_file=str(key_file), clock=lambda: INSIDE
        )

    room = server(authority.varied(add=[EDI]))
    token = room.token(b"stamped")
    stamp = check_token(token, stamped=b"stamped", trust=authority.tsa.trust)
    assert (stamp.gen_time, stamp.tsa) == (INSIDE, "test TSA")
    for add, said in (
        ([EDI, _eku(ExtendedKeyUsageOID.SERVER_AUTH)], "no time-stamping certificate"),
        ([EDI, extension(EKU, MANGLED_KEY_USAGES)], "malformed extensions"),
    ):
        with pytest.raises(CertsealError) as refused:
            server(authority.varied(add=add, drop=[EKU]))
        assert refused.value.field == "seal.tsa_cert_file"
        assert said in refused.value.message


async def test_a_seal_whose_maker_and_signer_certificates_have_such_names_verifies(
    pki, authority
):
    """The seal's own certificates from outside (the maker's in the SESeal, the
    signer's in the SES_Signature, read with asn1crypto by services.seal.trust)
    take the name as the TSA's does."""

    def named(who: str) -> tuple[Any, bytes]:
        signer, der = pki.signer(Suite.ES256, who)
        cert = x509.load_der_x509_certificate(der)
        return signer, with_extensions(cert, pki.ca_key, add=[EDI])

    signature = await sealed(
        pki,
        Suite.ES256,
        signed_at=INSIDE,
        valid=VALID,
        maker=named("service:seal-maker"),
        seal_key=named("seal:91350100M000100Y43-001"),
    )
    token = authority.token(authority.varied(add=[EDI]), _value(signature))
    result = check(pki, with_token(signature, token), tsa_trust=authority.tsa.trust)
    assert result.verdict is SealVerdict.VALID, result.checks
    assert [c.name for c in result.checks][:3] == ["decode", "signature", "timestamp"]


# atk28: an extended key usage that cryptography refuses as malformed (not DER) was
# taken once the certificate also carried an ediPartyName, read by the asn1crypto
# fallback: refused with or without the name, as is an alternative name whose
# general names do not read
GARBAGE_EDI = extension(SAN, bytes.fromhex("3005a503ffffff"))  # [5] holding junk

NOT_DER = {
    "timeStamping, the OID padded (2b 80 06 ...)": "300b06092b8006010505070308",
    "SEQUENCE long-form length": "30810a06082b06010505070308",
    "SEQUENCE indefinite length (BER)": "308006082b060105050703080000",
    "timeStamping then trailing bytes": "300a06082b060105050703080500",
}


@pytest.mark.parametrize(
    "name", [None, EDI, GARBAGE_EDI], ids=["none", "edi", "junk-edi"]
)
@pytest.mark.parametrize("value", list(NOT_DER))
async def test_a_malformed_eku_is_refused_with_or_without_the_name(
    pki, authority, value, name
):
    mangled = extension(EKU, bytes.fromhex(NOT_DER[value]), critical=True)
    cert = authority.varied(add=[*([name] if name else []), mangled], drop=[EKU])
    result = await _verdict(pki, authority, cert)
    assert result.verdict is SealVerdict.BAD_TIMESTAMP, result.checks


@pytest.mark.parametrize("name", [None, EDI], ids=["none", "edi"])
async def test_an_eku_naming_no_purpose_is_refused(pki, authority, name):
    empty = extension(EKU, bytes.fromhex("3000"), critical=True)
    cert = authority.varied(add=[*([name] if name else []), empty], drop=[EKU])
    result = await _verdict(pki, authority, cert)
    assert result.verdict is SealVerdict.BAD_TIMESTAMP, result.checks
