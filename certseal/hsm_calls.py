"""The C calls into a PKCS#11 module (certseal/hsm.py), each made on a pool thread that
holds one session: connecting and logging in, generating a key pair, finding a private
key and signing with it. OASIS PKCS#11 v2.40 and v3.0 (EdDSA)."""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import os
from typing import Any

import pkcs11
from asn1crypto import keys as asn1_keys
from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass
from pkcs11.util.ec import encode_ec_public_key, encode_named_curve_parameters

from certseal.crypto import Suite, token_reference
from certseal.errors import CertsealError, ErrorKind

ED25519_OID = "1.3.101.112"  # RFC 8410 id-Ed25519, as EC_PARAMS of CKK_EC_EDWARDS
NEEDS = {
    Suite.ES256: (Mechanism.EC_KEY_PAIR_GEN, Mechanism.ECDSA),
    Suite.ED25519: (Mechanism.EC_EDWARDS_KEY_PAIR_GEN, Mechanism.EDDSA),
}
# what says the session is gone (a token or HSM restarted, a session closed under us)
LOST = (
    pkcs11.exceptions.SessionHandleInvalid,
    pkcs11.exceptions.SessionClosed,
    pkcs11.exceptions.UserNotLoggedIn,
    pkcs11.exceptions.DeviceRemoved,
    pkcs11.exceptions.TokenNotPresent,
)


class Session:
    """One PKCS#11 session of the pool and the private keys found in it (by CKA_ID):
    object handles belong to the session that found them."""

    __slots__ = ("keys", "session")

    def __init__(self, session: Any):
        self.session = session
        self.keys: dict[bytes, Any] = {}


def connect(
    module: str,
    token_label: str,
    pin: str,
    pin_file: str,
    wanted: set[Suite],
    sessions: int,
) -> tuple[Any, list[Any]]:
    """Load ``module``, find the token, check it has the mechanisms of ``wanted``, log
    in and open ``sessions`` sessions: (the token, the sessions). CertsealError
    (INVALID_ARGUMENT) naming the ``[pkcs11]`` setting at fault. The caller clears
    what the module left on this thread's OpenSSL error queue
    (:func:`clear_openssl_errors`)."""
    try:
        lib = pkcs11.lib(module)
    except Exception as exc:  # a C library that does not load: name the setting
        raise bad("module", f"cannot load {module}: {why(exc)}") from None
    try:
        token = lib.get_token(token_label=token_label)
    except pkcs11.exceptions.NoSuchToken:
        raise bad(
            "token_label", f"no token labelled {token_label!r} in {module}"
        ) from None
    except pkcs11.exceptions.MultipleTokensReturned:
        raise bad(
            "token_label", f"more than one token labelled {token_label!r}"
        ) from None
    except Exception as exc:
        raise bad("module", f"{module} fails to list tokens: {why(exc)}") from None
    mechanisms = set(token.slot.get_mechanisms())
    for suite in sorted(wanted, key=lambda s: s.value):
        needs = NEEDS.get(suite)
        if needs is None or not set(needs) <= mechanisms:
            raise bad(
                "suites",
                f"token {token_label!r} has no {suite.value} mechanisms; "
                f"keep {suite.value} keys in software (leave it out of suites)",
            )
    opened: list[Any] = []
    try:
        # PKCS#11 login is per application: the first session logs in, the others
        # share it
        opened.append(log_in(token, pin))
        opened.extend(token.open(rw=True) for _ in range(sessions - 1))
    except (pkcs11.exceptions.PinIncorrect, pkcs11.exceptions.PinLenRange):
        close_sessions(opened)
        raise bad(
            "pin_file", f"the PIN in {pin_file} is refused by token {token_label!r}"
        ) from None
    except pkcs11.exceptions.PinLocked:
        close_sessions(opened)
        raise bad("pin_file", f"the user PIN of {token_label!r} is locked") from None
    except Exception as exc:
        close_sessions(opened)
        raise bad(
            "token_label", f"cannot open token {token_label!r}: {why(exc)}"
        ) from None
    return token, opened


def clear_openssl_errors() -> None:
    """Empty the calling thread's error queue in the OpenSSL that Python's ``ssl``
    uses (``ERR_clear_error``). A PKCS#11 module built on OpenSSL leaves errors there
    as it initialises (SoftHSM2 asks OpenSSL 3 for engines it no longer has), and
    ``ssl`` reads that queue after loading CA certificates (``load_verify_locations``):
    the next CA bundle this thread loaded failed with "[ENGINE: NO_SUCH_ENGINE] no
    such engine" (the feed's webhook CA after a token was opened in the same process:
    tests/kernel/test_pkcs11_openssl_errors.py). The function is looked up through
    ``_ssl``'s own handle (``RTLD_NOLOAD``: nothing is loaded, the same copy is
    reached even if its file was replaced on disk since)."""
    import _ssl

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(_ssl.__file__, mode=os.RTLD_NOLOAD).ERR_clear_error()


def log_in(token: Any, pin: str) -> Any:
    """A read-write session on ``token``, logging in with ``pin`` unless this process
    is logged in already (PKCS#11 login is per application, not per session)."""
    try:
        return token.open(user_pin=pin, rw=True)
    except pkcs11.exceptions.UserAlreadyLoggedIn:
        return token.open(rw=True)


def generate(s: Session, suite: Suite, label: str = "") -> tuple[bytes, bytes]:
    """A key pair of ``suite`` made in the token, the private key sensitive and never
    extractable: (its SubjectPublicKeyInfo DER, the reference to store). ``label`` is
    both objects' CKA_LABEL (default ``certseal <suite>``)."""
    cka_id = os.urandom(16)
    private = {
        Attribute.TOKEN: True,
        Attribute.PRIVATE: True,
        Attribute.SENSITIVE: True,
        Attribute.EXTRACTABLE: False,
        Attribute.SIGN: True,
    }
    public = {Attribute.TOKEN: True, Attribute.VERIFY: True}
    label = label or f"certseal {suite.value}"
    if suite is Suite.ES256:
        params = s.session.create_domain_parameters(
            KeyType.EC,
            {Attribute.EC_PARAMS: encode_named_curve_parameters("secp256r1")},
            local=True,
        )
        pub, _ = params.generate_keypair(
            store=True,
            id=cka_id,
            label=label,
            public_template=public,
            private_template=private,
        )
        return encode_ec_public_key(pub), token_reference(cka_id)
    if suite is Suite.ED25519:
        params = s.session.create_domain_parameters(
            KeyType.EC_EDWARDS,
            {Attribute.EC_PARAMS: encode_named_curve_parameters(ED25519_OID)},
            local=True,
        )
        pub, _ = params.generate_keypair(
            store=True,
            id=cka_id,
            label=label,
            mechanism=Mechanism.EC_EDWARDS_KEY_PAIR_GEN,
            public_template=public,
            private_template=private,
        )
        return _ed25519_public_key(pub), token_reference(cka_id)
    raise CertsealError(
        ErrorKind.FAILED_PRECONDITION, f"{suite.value} keys are not kept in a token"
    )


def _ed25519_public_key(pub: Any) -> bytes:
    point = asn1_keys.OctetString.load(pub[Attribute.EC_POINT]).native
    info = asn1_keys.PublicKeyInfo(
        {"algorithm": {"algorithm": "ed25519"}, "public_key": bytes(point)}
    )
    return bytes(info.dump())


def labelled(s: Session, label: str) -> tuple[Suite, bytes, bytes] | None:
    """The key pair whose private key has CKA_LABEL ``label``: (its suite, its
    SubjectPublicKeyInfo DER, its CKA_ID), or None when the token has no such key.

    Raises CertsealError(INVALID_ARGUMENT) when several private keys carry the label,
    the key is neither P-256 nor Ed25519, or it has no public key object of its CKA_ID.
    """
    found = list(
        s.session.get_objects(
            {Attribute.CLASS: ObjectClass.PRIVATE_KEY, Attribute.LABEL: label}
        )
    )
    if not found:
        return None
    if len(found) > 1:
        raise CertsealError(
            ErrorKind.INVALID_ARGUMENT,
            f"{len(found)} private keys in the token are labelled {label!r}",
        )
    key = found[0]
    cka_id = bytes(key[Attribute.ID])
    try:
        pub = s.session.get_key(object_class=ObjectClass.PUBLIC_KEY, id=cka_id)
    except (pkcs11.exceptions.NoSuchKey, pkcs11.exceptions.MultipleObjectsReturned):
        raise CertsealError(
            ErrorKind.INVALID_ARGUMENT,
            f"the key labelled {label!r} has no single public key of its CKA_ID",
        ) from None
    if key.key_type == KeyType.EC_EDWARDS:
        return Suite.ED25519, _ed25519_public_key(pub), cka_id
    if key.key_type == KeyType.EC and bytes(
        pub[Attribute.EC_PARAMS]
    ) == encode_named_curve_parameters("secp256r1"):
        return Suite.ES256, bytes(encode_ec_public_key(pub)), cka_id
    raise CertsealError(
        ErrorKind.INVALID_ARGUMENT,
        f"the key labelled {label!r} is neither EC P-256 nor Ed25519",
    )


def private_key(s: Session, cka_id: bytes) -> Any:
    """The private key object ``cka_id`` in session ``s``; FAILED_PRECONDITION when the
    token has none."""
    key = s.keys.get(cka_id)
    if key is None:
        try:
            key = s.session.get_key(object_class=ObjectClass.PRIVATE_KEY, id=cka_id)
        except pkcs11.exceptions.NoSuchKey:
            raise CertsealError(
                ErrorKind.FAILED_PRECONDITION,
                f"the token has no private key with CKA_ID {cka_id.hex()}",
            ) from None
        s.keys[cka_id] = key
    return key


def sign(s: Session, suite: Suite, cka_id: bytes, data: bytes) -> bytes:
    """The raw signature of ``data`` by key ``cka_id``: ``r || s`` for es256 (CKM_ECDSA
    over SHA-256 of ``data``), the 64-byte Ed25519 signature (CKM_EDDSA)."""
    key = private_key(s, cka_id)
    if suite is Suite.ES256:
        # CKM_ECDSA signs a digest and answers r || s, each 32 bytes for P-256
        return bytes(key.sign(hashlib.sha256(data).digest(), mechanism=Mechanism.ECDSA))
    return bytes(key.sign(data, mechanism=Mechanism.EDDSA))


def close_sessions(sessions: list[Any]) -> None:
    """Close ``sessions``, ignoring ones already gone."""
    for one in sessions:
        with contextlib.suppress(Exception):
            one.close()


def why(exc: Exception) -> str:
    """A PKCS#11 failure in words (python-pkcs11's exception name when it has none)."""
    return str(exc) or type(exc).__name__


def bad(setting: str, problem: str) -> CertsealError:
    """INVALID_ARGUMENT about ``pkcs11.<setting>`` (the field, as every setting's)."""
    return CertsealError(ErrorKind.INVALID_ARGUMENT, problem, field=f"pkcs11.{setting}")
