"""X.509 certificates of the platform's seal CAs, for keys of any suite.

``cryptography`` cannot hold an SM2 key, so certificates are assembled with asn1crypto
around the key's DER SubjectPublicKeyInfo and signed by the CA key: ECDSA P-256 with
SHA-256, or SM2 with SM3 (GB/T 32918; the SM2 seal CA, so that sm2 seals chain to an
SM2 CA as the ecosystem's do). Reading works the same way for every suite. An SM2 CA
key is kept as a PEM ``EC PRIVATE KEY`` (SEC 1, RFC 5915) on the SM2 curve.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from asn1crypto import keys as asn1_keys
from asn1crypto import pem as asn1_pem
from asn1crypto import x509 as asn1_x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from certseal.bounds import MAX_SMALL_FILE_BYTES
from certseal.certificates import common_name, same_name
from certseal.crypto import (
    SM2_CURVE_OID,
    SoftwareSigner,
    Suite,
    generate_key,
    signature_to_der,
)
from certseal.der import check_outside as der_check
from certseal.errors import invalid
from certseal.files import read_regular_file, without_bom
from certseal.text import with_article

_P256_OID = "1.2.840.10045.3.1.7"
SM2_WITH_SM3 = "1.2.156.10197.1.501"

if SM2_CURVE_OID not in asn1_keys.NamedCurve._key_sizes:  # SEC 1 keys need its size
    asn1_keys.NamedCurve.register("sm2p256v1", SM2_CURVE_OID, 32)

CaKey = ec.EllipticCurvePrivateKey | SoftwareSigner
"""A seal CA's key: P-256 (``cryptography``) or SM2 (a :class:`SoftwareSigner`)."""


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
    ca_key: CaKey,
    ca_cert: bytes,
    common_name: str,
    public_key_der: bytes,
    not_before: dt.datetime,
    not_after: dt.datetime,
) -> bytes:
    """A DER end-entity certificate for a signing key, issued by the seal CA
    (CA:false; key usage digitalSignature and nonRepudiation)."""
    issuer = asn1_x509.Certificate.load(ca_cert)["tbs_certificate"]["subject"]
    return sign_certificate(
        ca_key,
        {
            "version": "v3",
            "serial_number": secrets.randbits(127),
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
        },
    )


def sign_certificate(ca_key: CaKey, fields: dict[str, object]) -> bytes:
    """The DER certificate of ``fields`` (asn1crypto ``TbsCertificate`` fields but
    ``signature``) signed by ``ca_key``: SM2-with-SM3 or ecdsa-with-SHA256."""
    if isinstance(ca_key, SoftwareSigner):
        if ca_key.suite is not Suite.SM2:
            raise ValueError("a seal CA key is P-256 or SM2")
        algorithm = {"algorithm": SM2_WITH_SM3}
    else:
        algorithm = {"algorithm": "sha256_ecdsa"}
    tbs = asn1_x509.TbsCertificate({**fields, "signature": algorithm})
    if isinstance(ca_key, SoftwareSigner):
        signature = signature_to_der(Suite.SM2, ca_key.sign_now(tbs.dump()))
    else:
        signature = ca_key.sign(tbs.dump(), ec.ECDSA(hashes.SHA256()))
    return asn1_x509.Certificate(
        {
            "tbs_certificate": tbs,
            "signature_algorithm": algorithm,
            "signature_value": signature,
        }
    ).dump()


def make_sm2_ca(
    common_name: str, *, not_before: dt.datetime, not_after: dt.datetime
) -> tuple[bytes, bytes]:
    """A self-signed SM2 seal CA: its DER certificate (CA:true, path length 0, key
    usage keyCertSign and cRLSign) and its PEM private key."""
    key = generate_key(Suite.SM2)
    signer = SoftwareSigner(Suite.SM2, key.private_bytes, key.public_key_der)
    name = asn1_x509.Name.build({"common_name": common_name})
    cert = sign_certificate(
        signer,
        {
            "version": "v3",
            "serial_number": secrets.randbits(127),
            "issuer": name,
            "validity": {
                "not_before": asn1_x509.Time({"general_time": _second(not_before)}),
                "not_after": asn1_x509.Time({"general_time": _second(not_after)}),
            },
            "subject": name,
            "subject_public_key_info": asn1_keys.PublicKeyInfo.load(key.public_key_der),
            "extensions": [
                {
                    "extn_id": "basic_constraints",
                    "critical": True,
                    "extn_value": {"ca": True, "path_len_constraint": 0},
                },
                {
                    "extn_id": "key_usage",
                    "critical": True,
                    "extn_value": {"key_cert_sign", "crl_sign"},
                },
            ],
        },
    )
    point = asn1_keys.PublicKeyInfo.load(key.public_key_der)["public_key"].native
    private = asn1_keys.ECPrivateKey(
        {
            "version": "ecPrivkeyVer1",
            "private_key": int.from_bytes(key.private_bytes, "big"),
            "parameters": asn1_keys.ECDomainParameters(
                name="named", value=SM2_CURVE_OID
            ),
            "public_key": point,
        }
    )
    return cert, asn1_pem.armor("EC PRIVATE KEY", private.dump())


class EncryptedKey(ValueError):
    """A private key file that is encrypted (a service reads its keys unencrypted)."""


class NoSm2Key(ValueError):
    """A private key file that holds no SM2 key: another curve, or no key at all."""


_EC_ALGORITHM = "1.2.840.10045.2.1"  # id-ecPublicKey (RFC 5480)


def _sm2_private_scalar(data: bytes) -> int:
    """The private scalar of the SM2 key in ``data``: SEC 1 (``EC PRIVATE KEY``) or
    PKCS#8 (``PRIVATE KEY``, as ``openssl genpkey -algorithm SM2`` and ``openssl
    pkey`` write it; its algorithm id-ecPublicKey with the SM2 curve, or the SM2 OID
    itself as older OpenSSL wrote), PEM or DER. In PEM, the first private key block
    is taken: ``openssl ecparam -name SM2 -genkey`` writes the curve's parameters
    first (``SM2 PARAMETERS`` then PKCS#8 in OpenSSL 3; ``EC PARAMETERS`` then SEC 1
    in OpenSSL 1.1.1 and GmSSL 2). :class:`EncryptedKey` for an encrypted one,
    :class:`NoSm2Key` for anything else."""
    label, headers = "", {}
    if asn1_pem.detect(data):
        try:
            blocks = list(asn1_pem.unarmor(data, multiple=True))
        except ValueError:
            raise NoSm2Key("no PEM private key") from None
        keys = [block for block in blocks if block[0].endswith("PRIVATE KEY")]
        if not keys:
            raise NoSm2Key("no PEM private key block") from None
        label, headers, data = keys[0]
    if label == "ENCRYPTED PRIVATE KEY" or "ENCRYPTED" in headers.get("Proc-Type", ""):
        raise EncryptedKey("encrypted")
    try:
        if label != "EC PRIVATE KEY" and _is_pkcs8(data):
            info = asn1_keys.PrivateKeyInfo.load(data)
            algorithm = info["private_key_algorithm"]["algorithm"].dotted
            if algorithm not in (_EC_ALGORITHM, SM2_CURVE_OID):
                raise NoSm2Key(f"a PKCS#8 key of another algorithm ({algorithm})")
            curve = (
                info["private_key_algorithm"]["parameters"].chosen
                if algorithm == _EC_ALGORITHM
                else None
            )
            inner = info["private_key"]
            private = asn1_keys.ECPrivateKey.load(
                inner.parsed.dump() if hasattr(inner, "parsed") else inner.native
            )
            if algorithm == SM2_CURVE_OID:  # the algorithm says the curve
                return int(private["private_key"].native)
        else:
            private = asn1_keys.ECPrivateKey.load(data)
            curve = private["parameters"].chosen
        if getattr(curve, "dotted", "") != SM2_CURVE_OID:
            raise NoSm2Key("an EC key on another curve than SM2")
        return int(private["private_key"].native)
    except NoSm2Key:
        raise
    except Exception:  # asn1crypto parses lazily: any error is a bad key (its
        # words are not repeated: they may quote the key's bytes)
        raise NoSm2Key("no SEC 1 or PKCS#8 EC private key") from None


def _is_pkcs8(der: bytes) -> bool:
    """Whether ``der`` is shaped as a PKCS#8 PrivateKeyInfo (its second element the
    algorithm, a SEQUENCE) rather than SEC 1's ECPrivateKey (an OCTET STRING)."""
    try:
        info = asn1_keys.PrivateKeyInfo.load(der)
        info["private_key_algorithm"]["algorithm"].dotted  # noqa: B018 (parses it)
    except Exception:  # asn1crypto parses lazily: any error is "not this shape"
        return False
    return True


def load_sm2_key(pem_data: bytes, public_key_der: bytes) -> SoftwareSigner:
    """The SM2 CA key in ``pem_data`` (:func:`_sm2_private_scalar`: SEC 1 or PKCS#8,
    PEM or DER) as a signer for the certificate's ``public_key_der``;
    :class:`EncryptedKey` or :class:`NoSm2Key` when it holds no unencrypted SM2
    key, ValueError (or InvalidSignature) when it is another certificate's key."""
    scalar = _sm2_private_scalar(pem_data)
    try:
        raw = scalar.to_bytes(32, "big")
    except OverflowError:
        raise NoSm2Key("a private scalar longer than SM2's 32 bytes") from None
    signer = SoftwareSigner(Suite.SM2, raw, public_key_der)
    probe = signer.sign_now(b"seal CA key check")
    from certseal.crypto import verify

    verify(Suite.SM2, public_key_der, b"seal CA key check", probe)
    return signer


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
    """Parse a DER certificate; ValueError when it is not one.

    What it finds is a function of the bytes alone: the last
    :data:`CERTIFICATE_CACHE` certificates read are kept (a verification reads the
    signer's certificate twice, and every document of a seal carries the same one;
    parsing was about 8 % of VerifySealedDocument's CPU, bench/seal_bench.py,
    BENCH_PROFILE=1). Failures are not kept, nor certificates longer than
    :data:`KEPT_CERTIFICATE_BYTES`."""
    der = bytes(der)
    if len(der) > KEPT_CERTIFICATE_BYTES:
        return _parse_certificate(der)
    return _read_certificate(der)


CERTIFICATE_CACHE = 4096
"""Certificates :func:`read_certificate` keeps read."""

KEPT_CERTIFICATE_BYTES = 8 * 1024
"""The longest certificate :func:`read_certificate` keeps (a seal maker's or signer's
is 0.5 to 2 KiB): a caller's SES_Signature carries any certificate it likes, padded as
it likes, so keeping longer ones would let callers fill memory (each kept entry holds
at most twice this: the bytes and the key read from them; 4,096 entries, 64 MiB)."""


def _parse_certificate(der: bytes) -> CertificateInfo:
    try:
        der_check(der)  # bounded headers before asn1crypto sees them
        cert = asn1_x509.Certificate.load(der)
        tbs = cert["tbs_certificate"]
        validity = tbs["validity"]
        if any(t.utcoffset() is None for t in validity.native.values()):
            raise ValueError("a validity time has no zone (RFC 5280 4.1.2.5: Z)")
        return CertificateInfo(
            common_name=common_name(tbs["subject"]),
            public_key_der=tbs["subject_public_key_info"].dump(),
            not_before=validity["not_before"].native,
            not_after=validity["not_after"].native,
        )
    except Exception as exc:
        raise ValueError(f"not a DER X.509 certificate ({exc})") from None


_read_certificate = functools.lru_cache(maxsize=CERTIFICATE_CACHE)(_parse_certificate)


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
        if not same_name(
            cert["tbs_certificate"]["issuer"],
            asn1_x509.Certificate.load(ca_cert)["tbs_certificate"]["subject"],
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


def dev_sm2_ca(folder: Path, name: str = "certseal dev SM2 seal CA") -> tuple[str, str]:
    """The development SM2 seal CA kept in ``folder`` (``ca.pem``, ``ca.key`` with
    mode 0600), made on first use: valid from a day ago for ten years. Returns the
    certificate's and the key's paths."""
    cert_file, key_file = folder / "ca.pem", folder / "ca.key"
    if not (cert_file.exists() and key_file.exists()):
        folder.mkdir(parents=True, exist_ok=True)
        now = dt.datetime.now(dt.UTC)
        cert, key = make_sm2_ca(
            name,
            not_before=now - dt.timedelta(days=1),
            not_after=now + dt.timedelta(days=3650),
        )
        descriptor = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "wb") as out:
            out.write(key)
        cert_file.write_bytes(asn1_pem.armor("CERTIFICATE", cert))
    return str(cert_file), str(key_file)


@dataclass(frozen=True)
class SealCa:
    """A platform seal CA: it certifies seal keys and seal makers (P-256, or SM2 for
    the sm2 suite's, :mod:`services.seal.certificates`)."""

    cert: bytes  # DER
    key: CaKey

    @property
    def fingerprint(self) -> str:
        """SHA-256 of the CA certificate, hex."""
        return hashlib.sha256(self.cert).hexdigest()

    @classmethod
    def from_files(
        cls,
        cert_file: str,
        key_file: str,
        fields: tuple[str, str] = ("seal.ca_cert_file", "seal.ca_key_file"),
    ) -> SealCa:
        """Load the CA's PEM (or DER) certificate and its EC P-256 or SM2 key
        (SEC 1 or PKCS#8, PEM or DER, unencrypted), ``fields`` naming the two
        settings.

        Raises CertsealError(INVALID_ARGUMENT) naming ``fields[0]`` for a file that
        cannot be read or holds no X.509 certificate, ``fields[1]`` for one that cannot
        be read, is encrypted, holds no key or another kind of key (each said as
        such), or another certificate's key."""
        cert_field, key_field = fields
        # a byte order mark dropped, as from every PEM file certseal reads
        data = without_bom(
            read_regular_file(cert_file, cert_field, MAX_SMALL_FILE_BYTES)
        )
        try:
            cert = _pem_certificate(data)
            public = read_certificate(cert).public_key_der
        except ValueError as exc:
            raise invalid(
                cert_field, f"{cert_file} holds no X.509 certificate ({exc})"
            ) from None
        data = without_bom(read_regular_file(key_file, key_field, MAX_SMALL_FILE_BYTES))
        load = (
            serialization.load_pem_private_key
            if asn1_pem.detect(data)
            else serialization.load_der_private_key
        )
        try:
            key = load(data, None)
        except TypeError:
            raise invalid(
                key_field,
                f"{key_file} is encrypted; a service reads its key unencrypted",
            ) from None
        except (ValueError, UnsupportedAlgorithm):
            key = None  # an SM2 key: cryptography has no SM2 curve
        other = f"{key_file} is not the key of the certificate in {cert_field} "
        other += f"({cert_file})"
        if key is not None:
            if not isinstance(key, ec.EllipticCurvePrivateKey):
                raise invalid(
                    key_field,
                    f"{key_file} holds {with_article(type(key).__name__.removeprefix('_'))} "
                    "key; the seal CA's key is EC P-256 or SM2",
                )
            spki = key.public_key().public_bytes(
                serialization.Encoding.DER,
                serialization.PublicFormat.SubjectPublicKeyInfo,
            )
            if spki != public:
                raise invalid(key_field, other)
            return cls(cert, key)
        try:
            return cls(cert, load_sm2_key(data, public))
        except EncryptedKey:
            raise invalid(
                key_field,
                f"{key_file} is encrypted; a service reads its key unencrypted",
            ) from None
        except NoSm2Key as exc:
            raise invalid(
                key_field,
                f"{key_file} holds no EC P-256 or SM2 private key ({exc}); give it "
                "unencrypted, SEC 1 (EC PRIVATE KEY) or PKCS#8 (PRIVATE KEY), PEM "
                "or DER",
            ) from None
        except (ValueError, InvalidSignature):
            raise invalid(key_field, other) from None

    def __repr__(self) -> str:
        return "SealCa(<key withheld>)"


def _pem_certificate(data: bytes) -> bytes:
    if asn1_pem.detect(data):
        return asn1_pem.unarmor(data)[2]
    return data
