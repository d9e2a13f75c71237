"""Signature suites, the signer abstraction and at-rest protection of secrets.

Suites: ``sm2`` (SM2 with SM3, GB/T 32918 / GB/T 35276, via the GmSSL binding
``gmssl-pyx``), ``es256`` (ECDSA P-256 with SHA-256) and ``ed25519``. Signatures are the
raw forms COSE uses (r||s for the ECDSA-style suites); :func:`signature_to_der` gives the
DER form that X.509 and GB/T 38540 structures carry.

Private keys exist in clear only inside a :class:`SoftwareSigner`, which never returns or
prints them. At rest they are AES-256-GCM encrypted under a key-encryption key (KEK) read
from a file, bound to their key id.
"""

from __future__ import annotations

import enum
import functools
import hashlib
import os
from dataclasses import dataclass
from typing import Any, Protocol

import gmssl_pyx
from asn1crypto import keys as asn1_keys
from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from certseal import sm2sign
from certseal.errors import CertsealError, ErrorKind, invalid

SM2_CURVE_OID = "1.2.156.10197.1.301"
# GB/T 35276 default signer identity, used when none is agreed.
SM2_DEFAULT_ID = b"1234567812345678"

_SM2_A = bytes.fromhex(
    "FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC"
)
_SM2_B = bytes.fromhex(
    "28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93"
)
_SM2_GX = bytes.fromhex(
    "32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7"
)
_SM2_GY = bytes.fromhex(
    "BC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0"
)


#: ECDSA with SHA-256 (FIPS 186-5), built once: it holds no key or state
_ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())


class Suite(enum.Enum):
    """An algorithm suite a signing key belongs to."""

    SM2 = "sm2"
    ES256 = "es256"
    ED25519 = "ed25519"

    @classmethod
    def parse(cls, text: str, field: str = "suite") -> Suite:
        """The suite named ``text``, or INVALID_ARGUMENT listing the known ones."""
        try:
            return cls(text.strip().lower())
        except ValueError:
            known = ", ".join(s.value for s in cls)
            raise invalid(
                field, f"unknown key suite {text!r}; expected one of {known}"
            ) from None

    @property
    def cose_alg(self) -> int:
        """The COSE ``alg`` value (SM2-SM3 has none registered: a private-use value)."""
        return _COSE_ALG[self]

    @classmethod
    def from_cose_alg(cls, alg: object) -> Suite | None:
        """The suite for a COSE ``alg`` value, or None when unknown."""
        return _COSE_ALG_REVERSE.get(alg) if isinstance(alg, int) else None


_COSE_ALG = {Suite.ES256: -7, Suite.ED25519: -8, Suite.SM2: -65600}
_COSE_ALG_REVERSE = {v: k for k, v in _COSE_ALG.items()}


def key_id(public_key_der: bytes) -> str:
    """``kid``: the first 8 bytes of SHA-256 of the DER SubjectPublicKeyInfo, in hex."""
    return hashlib.sha256(public_key_der).digest()[:8].hex()


def _sm2_public_key_der(point64: bytes) -> bytes:
    info = asn1_keys.PublicKeyInfo(
        {
            "algorithm": {
                "algorithm": "ec",
                "parameters": asn1_keys.ECDomainParameters(
                    name="named", value=SM2_CURVE_OID
                ),
            },
            "public_key": b"\x04" + point64,
        }
    )
    return info.dump()


def _sm2_point_from_der(public_key_der: bytes) -> bytes:
    info = asn1_keys.PublicKeyInfo.load(public_key_der)
    params = info["algorithm"]["parameters"]
    if info["algorithm"]["algorithm"].native != "ec" or params.chosen.dotted != (
        SM2_CURVE_OID
    ):
        raise ValueError("not an SM2 public key")
    point = info["public_key"].native
    if len(point) != 65 or point[0] != 4:
        raise ValueError("SM2 public key must be an uncompressed point")
    return bytes(point[1:])


def sm2_z(point64: bytes, signer_id: bytes = SM2_DEFAULT_ID) -> bytes:
    """Z_A of GB/T 32918.2: SM3 over the signer identity, the curve and the public key."""
    entl = (len(signer_id) * 8).to_bytes(2, "big")
    return gmssl_pyx.sm3_hash(
        entl + signer_id + _SM2_A + _SM2_B + _SM2_GX + _SM2_GY + point64
    )


def _raw_to_der(signature: bytes) -> bytes:
    if len(signature) != 64:
        raise InvalidSignature("signature must be 64 bytes")
    return encode_dss_signature(
        int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    )


def _der_to_raw(signature: bytes) -> bytes:
    r, s = decode_dss_signature(signature)
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def signature_to_der(suite: Suite, signature: bytes) -> bytes:
    """The DER form of a raw signature (ed25519 signatures have no other form)."""
    return signature if suite is Suite.ED25519 else _raw_to_der(signature)


def signature_from_der(suite: Suite, signature: bytes) -> bytes:
    """The raw form of a DER signature; InvalidSignature when it is not one."""
    if suite is Suite.ED25519:
        return signature
    try:
        return _der_to_raw(signature)
    except (ValueError, OverflowError):
        raise InvalidSignature("not a DER ECDSA/SM2 signature") from None


def digest(suite: Suite, data: bytes) -> bytes:
    """The suite's hash of ``data``: SM3 for sm2, SHA-256 otherwise."""
    if suite is Suite.SM2:
        return bytes(gmssl_pyx.sm3_hash(data))
    return hashlib.sha256(data).digest()


VERIFYING_KEYS = 1024
"""Public keys read for :func:`verify`, kept per DER (a function of the bytes alone:
every document of a seal, and every token of a TSA, names the same key). Reading an
SM2 key's point through asn1crypto took about 60 µs of each SM2 verification, a
P-256 key about 13 µs (under load). A key that cannot be read is not kept, nor one
whose DER is longer than :data:`KEPT_KEY_BYTES`."""

KEPT_KEY_BYTES = 1024
"""The longest key DER :func:`verify` keeps (an EC or SM2 SubjectPublicKeyInfo is 91
bytes, Ed25519's 44, RSA-4096's 550): asn1crypto reads a key with content appended to
it as the key, and a caller's certificate names any key it likes, so keeping longer
ones would let callers fill memory (at most 1,024 kept keys of 1 KiB)."""


def _read_key(public_key_der: bytes) -> PublicKeyTypes:
    return serialization.load_der_public_key(public_key_der)


def _read_sm2_key(public_key_der: bytes) -> tuple[bytes, bytes]:
    """An SM2 key's point and its Z_A with the default signer id."""
    point = _sm2_point_from_der(public_key_der)
    return point, sm2_z(point)


_kept_key = functools.lru_cache(maxsize=VERIFYING_KEYS)(_read_key)
_kept_sm2_key = functools.lru_cache(maxsize=VERIFYING_KEYS)(_read_sm2_key)


def _verifying_key(public_key_der: bytes) -> PublicKeyTypes:
    if len(public_key_der) > KEPT_KEY_BYTES:
        return _read_key(public_key_der)
    return _kept_key(public_key_der)


def _sm2_verifying_key(public_key_der: bytes) -> tuple[bytes, bytes]:
    if len(public_key_der) > KEPT_KEY_BYTES:
        return _read_sm2_key(public_key_der)
    return _kept_sm2_key(public_key_der)


def verify(suite: Suite, public_key_der: bytes, data: bytes, signature: bytes) -> None:
    """Verify a raw signature; raise :class:`InvalidSignature` on any failure.

    A malformed key or signature is reported as InvalidSignature too, so callers get one
    failure and no oracle.
    """
    try:
        if suite is Suite.SM2:
            point, z = _sm2_verifying_key(public_key_der)
            digest = gmssl_pyx.sm3_hash(z + data)
            if not gmssl_pyx.sm2_verify_sm3_digest(
                point, digest, _raw_to_der(signature)
            ):
                raise InvalidSignature("SM2 signature mismatch")
            return
        public = _verifying_key(public_key_der)
        if suite is Suite.ES256:
            if not isinstance(public, ec.EllipticCurvePublicKey) or not isinstance(
                public.curve, ec.SECP256R1
            ):
                raise InvalidSignature("key is not a P-256 key")
            public.verify(_raw_to_der(signature), data, _ECDSA_SHA256)
        else:
            if not isinstance(public, ed25519.Ed25519PublicKey):
                raise InvalidSignature("key is not an Ed25519 key")
            public.verify(signature, data)
    except InvalidSignature:
        raise
    except Exception as exc:  # malformed key or signature bytes
        raise InvalidSignature(f"cannot verify: {type(exc).__name__}") from None


class Signer(Protocol):
    """Signs with a key it never reveals; an HSM-backed signer has the same shape."""

    @property
    def kid(self) -> str:
        """The key id."""
        ...

    @property
    def suite(self) -> Suite:
        """The algorithm suite."""
        ...

    @property
    def public_key_der(self) -> bytes:
        """The DER SubjectPublicKeyInfo."""
        ...

    async def sign(self, data: bytes) -> bytes:
        """The raw signature of ``data``."""
        ...


class KeyIdentity:
    """What every :class:`Signer` shows of its key: the key id, the suite and the DER
    SubjectPublicKeyInfo (the private key stays wherever the signer keeps it)."""

    __slots__ = ("_kid", "_public_key_der", "_suite")

    def __init__(self, suite: Suite, public_key_der: bytes):
        self._suite = suite
        self._public_key_der = public_key_der
        self._kid = key_id(public_key_der)

    @property
    def kid(self) -> str:
        """The key id."""
        return self._kid

    @property
    def suite(self) -> Suite:
        """The algorithm suite."""
        return self._suite

    @property
    def public_key_der(self) -> bytes:
        """The DER SubjectPublicKeyInfo."""
        return self._public_key_der


class SoftwareSigner(KeyIdentity):
    """A signer holding its private key in process memory, for keys kept in the database.

    The private key is reachable only through :meth:`sign`; ``repr`` shows the key id.
    """

    __slots__ = ("_key", "_z")

    def __init__(
        self,
        suite: Suite,
        private_bytes: bytes,
        public_key_der: bytes,
        *,
        kept: bool = False,
    ):
        """``kept``: the signer is kept for many signatures (a cache of signers). An
        SM2 one then signs through GmSSL's signing context
        (:class:`certseal.sm2sign.Sm2SignContext`: about 70 instead of 215 µs a
        signature, after about 2.3 ms to make it). A kept signer of any suite is
        checked when made: ValueError when its key does not match
        ``public_key_der`` (a signer kept for many signatures would otherwise make
        every one of them unverifiable)."""
        super().__init__(suite, public_key_der)
        self._z = b""
        if suite is Suite.SM2:
            point = _sm2_point_from_der(public_key_der)
            self._key: object = private_bytes
            if kept and sm2sign.available():
                self._key = sm2sign.Sm2SignContext(private_bytes, point)
            self._z = sm2_z(point)
        else:
            key = serialization.load_der_private_key(private_bytes, password=None)
            if kept and _public_der(key) != public_key_der:
                raise ValueError("the private key does not match its public key")
            self._key = key

    def sign_now(self, data: bytes) -> bytes:
        """Sign synchronously: every suite takes well under a millisecond."""
        key = self._key
        if self._suite is Suite.SM2:
            if isinstance(key, sm2sign.Sm2SignContext):
                return _der_to_raw(key.sign(data))
            assert isinstance(key, bytes)
            digest = gmssl_pyx.sm3_hash(self._z + data)
            return _der_to_raw(gmssl_pyx.sm2_sign_sm3_digest(key, digest))
        if isinstance(key, ec.EllipticCurvePrivateKey):
            return _der_to_raw(key.sign(data, _ECDSA_SHA256))
        assert isinstance(key, ed25519.Ed25519PrivateKey)
        return key.sign(data)

    async def sign(self, data: bytes) -> bytes:
        """The raw signature of ``data``."""
        return self.sign_now(data)

    def __repr__(self) -> str:
        return f"SoftwareSigner(kid={self._kid}, suite={self._suite.value})"


@dataclass(frozen=True, slots=True, repr=False)
class GeneratedKey:
    """A fresh key pair: the private part only as bytes to be wrapped, never shown."""

    suite: Suite
    private_bytes: bytes
    public_key_der: bytes

    @property
    def kid(self) -> str:
        """The key id."""
        return key_id(self.public_key_der)

    def __repr__(self) -> str:
        return f"GeneratedKey(kid={self.kid}, suite={self.suite.value})"


def generate_key(suite: Suite) -> GeneratedKey:
    """Generate a key pair in ``suite``."""
    if suite is Suite.SM2:
        public64, private = gmssl_pyx.sm2_key_generate()
        return GeneratedKey(suite, private, _sm2_public_key_der(public64))
    private_key: ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
    if suite is Suite.ES256:
        private_key = ec.generate_private_key(ec.SECP256R1())
    else:
        private_key = ed25519.Ed25519PrivateKey.generate()
    return GeneratedKey(
        suite,
        private_key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
        _public_der(private_key),
    )


def _public_der(key: Any) -> bytes:
    """The DER SubjectPublicKeyInfo of a private key's public key (ES256, Ed25519)."""
    der: bytes = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return der


#: What a key column holds for a key kept in a PKCS#11 token (certseal/hsm.py): this
#: marker, then the token object's CKA_ID in hex. A wrapped software key starts with a
#: random 12-byte nonce instead, so the two are never confused (odds 2**-96).
TOKEN_KEY_MARK = b"certseal-pkcs11-key:v1:"


def token_reference(cka_id: bytes) -> bytes:
    """The stored reference of the token key whose CKA_ID is ``cka_id``."""
    return TOKEN_KEY_MARK + cka_id.hex().encode()


def is_token_reference(blob: bytes) -> bool:
    """Whether a stored key column refers to a token key (not wrapped key bytes):
    such a key is never unwrapped, re-wrapped or exported."""
    return bytes(blob).startswith(TOKEN_KEY_MARK)


class KeyWrapper:
    """Encrypts private keys at rest under the key-encryption key, bound to their kid."""

    def __init__(self, kek: bytes):
        self._aead = AESGCM(kek)

    def wrap(self, kid: str, private_bytes: bytes) -> bytes:
        """nonce || AES-256-GCM(private key) with the kid as associated data."""
        nonce = os.urandom(12)
        return nonce + self._aead.encrypt(
            nonce, private_bytes, b"certseal-key:" + kid.encode()
        )

    def unwrap_signer(
        self, suite: Suite, public_key_der: bytes, blob: bytes, *, kept: bool = False
    ) -> SoftwareSigner:
        """Decrypt a wrapped key straight into a signer, so the bytes never escape
        (``kept``: see :class:`SoftwareSigner`)."""
        kid = key_id(public_key_der)
        try:
            private = self._aead.decrypt(
                blob[:12], blob[12:], b"certseal-key:" + kid.encode()
            )
        except InvalidTag:
            raise CertsealError(
                ErrorKind.INTERNAL,
                f"private key {kid} does not decrypt under the configured KEK",
            ) from None
        return SoftwareSigner(suite, private, public_key_der, kept=kept)

    def unwrap_secret(self, name: str, blob: bytes) -> bytes:
        """A wrapped shared secret (a webhook's HMAC key), for the one that uses it."""
        try:
            return self._aead.decrypt(
                blob[:12], blob[12:], b"certseal-key:" + name.encode()
            )
        except InvalidTag:
            raise CertsealError(
                ErrorKind.INTERNAL, f"secret {name} does not decrypt under the KEK"
            ) from None

    def rewrap(self, name: str, blob: bytes, into: KeyWrapper) -> bytes:
        """``blob`` wrapped under ``into``'s KEK instead (KEK rotation).

        The key exists unwrapped only inside this call.
        """
        return into.wrap(name, self.unwrap_secret(name, blob))

    def __repr__(self) -> str:
        return "KeyWrapper(<kek>)"
