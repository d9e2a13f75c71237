"""X.509 certificates of the platform's seal CA, for keys of any suite.

``cryptography`` cannot hold an SM2 public key, so certificates are assembled with
asn1crypto around the key's DER SubjectPublicKeyInfo and signed by the CA key
(ECDSA P-256 with SHA-256). Reading works the same way for every suite.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass

from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from certseal.crypto import SM2_CURVE_OID, Suite
from certseal.der import check as der_check

_P256_OID = "1.2.840.10045.3.1.7"


def suite_of(public_key_der: bytes) -> Suite:
    """The suite of a DER SubjectPublicKeyInfo; ValueError for any other key."""
    info = asn1_keys.PublicKeyInfo.load(public_key_der)
    algorithm = info["algorithm"]["algorithm"].dotted
    if algorithm == "1.3.101.112":
        return Suite.ED25519
    if algorithm == "1.2.840.10045.2.1":
        curve = info["algorithm"]["parameters"].chosen
        dotted = curve.dotted if hasattr(curve, "dotted") else ""
        if dotted == SM2_CURVE_OID:
            return Suite.SM2
        if dotted == _P256_OID:
            return Suite.ES256
    raise ValueError("not an sm2, P-256 or Ed25519 public key")


def issue_certificate(
    *,
    ca_key: ec.EllipticCurvePrivateKey,
    ca_cert: bytes,
    common_name: str,
    public_key_der: bytes,
    not_before: dt.datetime,
    not_after: dt.datetime,
) -> bytes:
    """A DER end-entity certificate for a signing key, issued by the seal CA."""
    issuer = asn1_x509.Certificate.load(ca_cert)["tbs_certificate"]["subject"]
    tbs = asn1_x509.TbsCertificate(
        {
            "version": "v3",
            "serial_number": secrets.randbits(127),
            "signature": {"algorithm": "sha256_ecdsa"},
            "issuer": issuer,
            "validity": {
                "not_before": asn1_x509.Time({"general_time": _second(not_before)}),
                "not_after": asn1_x509.Time({"general_time": _second(not_after)}),
            },
            "subject": asn1_x509.Name.build({"common_name": common_name}),
            "subject_public_key_info": asn1_keys.PublicKeyInfo.load(public_key_der),
            "extensions": [
                {
                    "extn_id": "basic_constraints",
                    "critical": True,
                    "extn_value": {"ca": False},
                },
                {
                    "extn_id": "key_usage",
                    "critical": True,
                    "extn_value": {"digital_signature", "non_repudiation"},
                },
            ],
        }
    )
    signature = ca_key.sign(tbs.dump(), ec.ECDSA(hashes.SHA256()))
    return asn1_x509.Certificate(
        {
            "tbs_certificate": tbs,
            "signature_algorithm": {"algorithm": "sha256_ecdsa"},
            "signature_value": signature,
        }
    ).dump()


@dataclass(frozen=True)
class CertificateInfo:
    """What a verification needs from a certificate."""

    common_name: str
    public_key_der: bytes
    not_before: dt.datetime
    not_after: dt.datetime

    def valid_at(self, when: dt.datetime) -> bool:
        """Whether ``when`` is inside the validity window."""
        return self.not_before <= when <= self.not_after


def read_certificate(der: bytes) -> CertificateInfo:
    """Parse a DER certificate; ValueError when it is not one."""
    try:
        der_check(der)  # bounded headers before asn1crypto sees them
        cert = asn1_x509.Certificate.load(der)
        tbs = cert["tbs_certificate"]
        validity = tbs["validity"]
        return CertificateInfo(
            common_name=str(tbs["subject"].native.get("common_name", "")),
            public_key_der=tbs["subject_public_key_info"].dump(),
            not_before=validity["not_before"].native,
            not_after=validity["not_after"].native,
        )
    except Exception as exc:
        raise ValueError(f"not a DER X.509 certificate ({exc})") from None


def issued_by(der: bytes, ca_cert: bytes) -> bool:
    """Whether the CA in ``ca_cert`` (ECDSA P-256) signed the certificate ``der``."""
    try:
        der_check(der)
        cert = asn1_x509.Certificate.load(der)
        ca_public = serialization.load_der_public_key(
            asn1_x509.Certificate.load(ca_cert)["tbs_certificate"][
                "subject_public_key_info"
            ].dump()
        )
        if not isinstance(ca_public, ec.EllipticCurvePublicKey):
            return False
        if (
            cert["tbs_certificate"]["issuer"]
            != asn1_x509.Certificate.load(ca_cert)["tbs_certificate"]["subject"]
        ):
            return False
        ca_public.verify(
            cert["signature_value"].native,
            cert["tbs_certificate"].dump(),
            ec.ECDSA(hashes.SHA256()),
        )
    except (InvalidSignature, ValueError, TypeError, KeyError):
        return False
    return True


def _second(value: dt.datetime) -> dt.datetime:
    return value.astimezone(dt.UTC).replace(microsecond=0)
