"""Signing offline trust bundles (:mod:`services.verifier.bundle`): a COSE_Sign1
(RFC 9052) whose protected header carries the signer's certificate (x5chain, RFC 9360).

The key is either the verifier's own mTLS key (:class:`BundleSigner`, the default) or a
key kept in a PKCS#11 token (:class:`TokenBundleSigner`, ``[verifier] bundle_key``)
signed with on the token's thread pool. Pure: no files, no token calls of its own.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Protocol

import cbor2
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import NameOID

from certseal import cose
from certseal.certificates import CERTIFICATE_ERRORS
from certseal.crypto import InvalidSignature, Suite, signature_from_der
from certseal.errors import invalid, precondition

SUITES = (Suite.ES256, Suite.ED25519)
"""What a bundle signing key may be."""
_SUITES = SUITES


VERIFIER_IDENTITY = "service:verifier"
"""The identity that signs bundles for every group; ``service:verifier-<group>`` signs
only its own group's."""


def issued_by(cert: x509.Certificate, ca: x509.Certificate) -> bool:
    """Whether ``ca`` issued ``cert`` directly (its signature and names; RFC 5280
    §6.1.3): the one rule for a bundle's signer certificate, applied by the counters
    that open bundles (:func:`services.verifier.bundle.open_bundle`) and by a
    verifier's start check of ``bundle_cert_file``."""
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def signer_name(cert: x509.Certificate) -> str:
    """The common name of a bundle signer's certificate ("" when it has none)."""
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else ""


def is_verifier_identity(name: str, group: str | None = None) -> bool:
    """Whether ``name`` may sign bundles: :data:`VERIFIER_IDENTITY`, or
    ``service:verifier-<group>`` (of ``group`` when given, of any group when None)."""
    if name == VERIFIER_IDENTITY:
        return True
    if group is None:
        return name.startswith(f"{VERIFIER_IDENTITY}-")
    return name == f"{VERIFIER_IDENTITY}-{group}"


def check_signable(cert: x509.Certificate, message: dict[str, Any]) -> None:
    """FAILED_PRECONDITION (field ``bundle``) when ``message``'s ``issued_at``
    (microseconds since 1970) is outside ``cert``'s validity: counters refuse such a
    bundle (:func:`services.verifier.bundle.open_bundle`), so none is signed; the
    start checks the certificate (``check_bundle_certificate``), this its expiry
    while the worker runs."""
    issued = dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(
        microseconds=int(message["issued_at"])
    )
    if not cert.not_valid_before_utc <= issued <= cert.not_valid_after_utc:
        raise precondition(
            f"the certificate that signs this group's bundles is valid from "
            f"{cert.not_valid_before_utc:%Y-%m-%d %H:%M} to "
            f"{cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC, not now: counters "
            "would refuse the bundle; the verifier needs a renewed certificate "
            "and a restart",
            field="bundle",
        )


class TokenKey(Protocol):
    """A signing key held in a PKCS#11 token (:class:`certseal.hsm.TokenSigner`)."""

    @property
    def suite(self) -> Suite: ...

    @property
    def public_key_der(self) -> bytes: ...

    async def sign(self, data: bytes) -> bytes: ...


class BundleSigning(Protocol):
    """What signs bundles: :class:`BundleSigner` or :class:`TokenBundleSigner`."""

    async def sign_bundle(self, message: dict[str, Any]) -> bytes: ...


def _protected(suite: Suite, cert_der: bytes) -> bytes:
    return cose.encode_protected(
        {cose.HEADER_ALG: suite.cose_alg, cose.HEADER_X5CHAIN: cert_der}
    )


class BundleSigner:
    """Signs bundles with a verifier's own mTLS key; the certificate goes along."""

    def __init__(self, cert_pem: bytes, key_pem: bytes):
        self._cert = x509.load_pem_x509_certificate(cert_pem)
        self._cert_der = self._cert.public_bytes(serialization.Encoding.DER)
        key = serialization.load_pem_private_key(key_pem, None)
        if isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(
            key.curve, ec.SECP256R1
        ):
            self._suite = Suite.ES256
        elif isinstance(key, ed25519.Ed25519PrivateKey):
            self._suite = Suite.ED25519
        else:
            raise precondition(
                "the verifier's TLS key must be EC P-256 or Ed25519 to sign bundles",
                field="key_file",
            )
        self._key = key

    def sign(self, message: dict[str, Any]) -> bytes:
        """The COSE_Sign1 of ``message`` (RFC 9052; ES256 signatures raw r || s);
        FAILED_PRECONDITION when the certificate is not valid at its ``issued_at``
        (:func:`check_signable`)."""
        check_signable(self._cert, message)
        protected = _protected(self._suite, self._cert_der)
        body = cbor2.dumps(message)
        tbs = cose.sig_structure(protected, body)
        if isinstance(self._key, ec.EllipticCurvePrivateKey):
            der = self._key.sign(tbs, ec.ECDSA(hashes.SHA256()))
            signature = signature_from_der(Suite.ES256, der)
        else:
            assert isinstance(self._key, ed25519.Ed25519PrivateKey)
            signature = self._key.sign(tbs)
        return cose.encode_sign1(protected, body, signature)

    async def sign_bundle(self, message: dict[str, Any]) -> bytes:
        """As :meth:`sign` (one signature in software: short enough for the loop)."""
        return self.sign(message)

    def __repr__(self) -> str:
        return "BundleSigner(<key withheld>)"


class TokenBundleSigner:
    """Signs bundles with a key kept in a PKCS#11 token (``[verifier] bundle_key``),
    on the token's thread pool; its certificate (``bundle_cert_file``), issued by the
    platform CA to a verifier identity, goes along as with :class:`BundleSigner`.

    Raises CertsealError(INVALID_ARGUMENT, field ``verifier.bundle_cert_file``) when
    the certificate is not PEM or does not certify the token key.
    """

    def __init__(self, cert_pem: bytes, key: TokenKey):
        field = "verifier.bundle_cert_file"
        try:
            cert = x509.load_pem_x509_certificate(cert_pem)
        except CERTIFICATE_ERRORS:
            raise invalid(field, "is not a PEM certificate") from None
        public_key_der = cert.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        if public_key_der != key.public_key_der:
            raise invalid(
                field,
                "certifies another public key than the token's verifier.bundle_key",
            )
        if key.suite not in _SUITES:
            raise invalid("verifier.bundle_key", "must be EC P-256 or Ed25519")
        self._cert = cert
        self._cert_der = cert.public_bytes(serialization.Encoding.DER)
        self._key = key

    async def sign_bundle(self, message: dict[str, Any]) -> bytes:
        """The COSE_Sign1 of ``message`` (RFC 9052), signed in the token (CKM_ECDSA
        raw r || s, or CKM_EDDSA) off the event loop; FAILED_PRECONDITION when the
        certificate is not valid at its ``issued_at`` (:func:`check_signable`)."""
        check_signable(self._cert, message)
        protected = _protected(self._key.suite, self._cert_der)
        body = cbor2.dumps(message)
        signature = await self._key.sign(cose.sig_structure(protected, body))
        return cose.encode_sign1(protected, body, signature)

    def __repr__(self) -> str:
        return f"TokenBundleSigner({self._key!r})"
