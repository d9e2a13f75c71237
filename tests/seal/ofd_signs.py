"""OFD digital signatures (``Type="Sign"``) as the field writes them: a GB/T 35275
SignedData (or its PKCS#7 form) over ``Signature.xml``, written field by field with
ofdrw's test signer (tests/seal/data/ofdrw_field, trusted by ``trusting_app``) or with
a signer of the test's own CA (trusted by no one).

Two forms, as oesplugin's Sign in ofdrw's keyword.ofd and ofdrw's PKCS#9 container
write them: ``attached`` (the content is the SM3 digest of Signature.xml, signed as
it is) and ``pkcs9`` (no content; signed attributes whose messageDigest is that
digest, signed as a DER SET).
"""

from __future__ import annotations

import datetime as dt
import secrets

from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509

from certseal.crypto import SoftwareSigner, Suite, digest, generate_key
from services.seal.certificates import (
    CaKey,
    sign_certificate,
)
from tests.seal.ses_platforms import (
    SM2_SM3,
    SM3,
    USER,
    USER_CERT,
    integer,
    octets,
    oid,
    own_root,
    raw_to_der,
    seq,
    tlv,
)

GBT35275_SIGNED_DATA = "1.2.156.10197.6.1.4.2.2"
GBT35275_DATA = "1.2.156.10197.6.1.4.2.1"
PKCS7_SIGNED_DATA = "1.2.840.113549.1.7.2"
PKCS7_DATA = "1.2.840.113549.1.7.1"
SHA256 = "2.16.840.1.101.3.4.2.1"
ECDSA_SHA256 = "1.2.840.10045.4.3.2"
_NULL = b"\x05\x00"
_START = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
_END = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)


def _set(*parts: bytes) -> bytes:
    return tlv(0x31, b"".join(parts))


def _issuer_and_serial(cert: bytes) -> bytes:
    tbs = asn1_x509.Certificate.load(cert)["tbs_certificate"]
    return seq(tbs["issuer"].dump(), integer(tbs["serial_number"].native))


def signed_data(
    xml: bytes,
    *,
    signer: SoftwareSigner = USER,
    cert: bytes = USER_CERT,
    form: str = "attached",
    carry: tuple[bytes, ...] | None = None,
    signed_over: bytes | None = None,
) -> bytes:
    """A SignedData of ``signer`` over ``xml`` (see the module): GB/T 35275's OIDs,
    SM3 and SM2-with-SM3 (the signature the raw 64 bytes r‖s, as the field's) for an
    SM2 signer; PKCS#7's, SHA-256 and ECDSA (DER) for a P-256 one. ``carry``: the
    certificates it holds (default: ``cert``); ``signed_over``: what the signer signs
    instead (a forgery)."""
    sm2 = signer.suite is Suite.SM2
    data_oid, signed_oid = (
        (GBT35275_DATA, GBT35275_SIGNED_DATA)
        if sm2
        else (PKCS7_DATA, PKCS7_SIGNED_DATA)
    )
    digest_alg = seq(oid(SM3 if sm2 else SHA256), _NULL)
    hashed = digest(signer.suite, xml)
    attributes = b""
    if form == "attached":
        encap = seq(oid(data_oid), tlv(0xA0, octets(hashed)))
        to_sign = hashed
    else:
        encap = seq(oid(data_oid))
        attrs = seq(oid("1.2.840.113549.1.9.3"), _set(oid(data_oid))) + seq(
            oid("1.2.840.113549.1.9.4"), _set(octets(hashed))
        )
        attributes = tlv(0xA0, attrs)
        to_sign = _set(attrs)
    raw = signer.sign_now(signed_over if signed_over is not None else to_sign)
    signature = raw if sm2 else raw_to_der(raw)
    signer_info = seq(
        integer(1),
        _issuer_and_serial(cert),
        digest_alg,
        attributes,
        seq(oid(SM2_SM3 if sm2 else ECDSA_SHA256)),
        octets(signature),
    )
    held = (cert,) if carry is None else carry
    certificates = tlv(0xA0, b"".join(held)) if held else b""
    body = seq(integer(1), _set(digest_alg), encap, certificates, _set(signer_info))
    return seq(oid(signed_oid), tlv(0xA0, body))


def sign_maker(**options: object):  # type: ignore[no-untyped-def]
    """A ``signed_value`` for :func:`tests.seal.ses_platforms.seal_files`."""
    return lambda xml, _prop: signed_data(xml, **options)  # type: ignore[arg-type]


def _leaf(ca_key: CaKey, ca_cert: bytes, name: str, public_key_der: bytes) -> bytes:
    issuer = asn1_x509.Certificate.load(ca_cert)["tbs_certificate"]["subject"]
    return sign_certificate(
        ca_key,
        {
            "version": "v3",
            "serial_number": secrets.randbits(64),
            "issuer": issuer,
            "validity": {
                "not_before": asn1_x509.Time({"general_time": _START}),
                "not_after": asn1_x509.Time({"general_time": _END}),
            },
            "subject": asn1_x509.Name.build({"common_name": name}),
            "subject_public_key_info": asn1_keys.PublicKeyInfo.load(public_key_der),
            "extensions": [
                {
                    "extn_id": "key_usage",
                    "critical": True,
                    "extn_value": {"digital_signature", "non_repudiation"},
                }
            ],
        },
    )


def own_sm2_signer(
    name: str = "a signer of no trusted CA",
) -> tuple[SoftwareSigner, bytes, bytes]:
    """An SM2 signer under a CA of the test's own: (its key, its certificate, the
    CA's certificate), valid 2020 to 2030."""
    return _own_signer(Suite.SM2, "sign test SM2 root", name)


def own_p256_signer() -> tuple[SoftwareSigner, bytes, bytes]:
    """A P-256 signer under a P-256 root of the test's own, valid 2020 to 2030."""
    return _own_signer(Suite.ES256, "sign test P-256 root", "a P-256 signer")


def _own_signer(
    suite: Suite, root_name: str, name: str
) -> tuple[SoftwareSigner, bytes, bytes]:
    root, ca = own_root(suite, root_name, _START, _END)
    key = generate_key(suite)
    signer = SoftwareSigner(suite, key.private_bytes, key.public_key_der)
    return signer, _leaf(ca, root, name, key.public_key_der), root
