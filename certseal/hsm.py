"""Signing keys generated and used inside a PKCS#11 token (an HSM; SoftHSM2 in dev).

The configuration's ``[pkcs11]`` section names the module library (``module``), the
token (``token_label``) and the file holding the user PIN (``pin_file``). New keys of
the suites in ``suites`` are then generated in the token (OASIS PKCS#11 v2.40/3.0):

- ``es256``: CKK_EC on P-256 (CKM_EC_KEY_PAIR_GEN); signing hashes with SHA-256 in the
  process and signs the digest with CKM_ECDSA, which returns the raw ``r || s`` form
  that :mod:`certseal.crypto` uses (``signature_to_der`` gives DER where a structure
  wants it);
- ``ed25519``: CKK_EC_EDWARDS (CKM_EC_EDWARDS_KEY_PAIR_GEN) signed with CKM_EDDSA
  (PKCS#11 3.0; SoftHSM2 2.6 has it);
- ``sm2`` has no standard PKCS#11 mechanism and SoftHSM2 has none: it stays in
  software unless a vendor module is configured that has one (see docs/operations.md).

A token private key is created with CKA_SENSITIVE true, CKA_EXTRACTABLE false and
CKA_TOKEN true: it never leaves the token. What the database keeps for it is a
*reference* (:func:`certseal.crypto.token_reference`: a marker and the object's CKA_ID), in the column
that holds a software key's wrapped bytes.

Calls into the module are blocking C calls: they run on a thread pool of ``sessions``
threads, each holding one session of a bounded pool, never on the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import queue
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import pkcs11
from asn1crypto import keys as asn1_keys
from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass
from pkcs11.util.ec import encode_ec_public_key, encode_named_curve_parameters

from certseal.config import Pkcs11Config
from certseal.crypto import TOKEN_KEY_MARK, Suite, key_id, token_reference
from certseal.errors import CertsealError, ErrorKind
from certseal.files import read_regular_file

_ED25519_OID = "1.3.101.112"  # RFC 8410 id-Ed25519, as EC_PARAMS of CKK_EC_EDWARDS
_MAX_PIN_BYTES = 256
log = logging.getLogger("certseal.hsm")
# one lock per module library in this process (see Pkcs11Token.open)
_MODULE_LOCKS: dict[str, threading.Lock] = {}
_NEEDS = {
    Suite.ES256: (Mechanism.EC_KEY_PAIR_GEN, Mechanism.ECDSA),
    Suite.ED25519: (Mechanism.EC_EDWARDS_KEY_PAIR_GEN, Mechanism.EDDSA),
}
T = TypeVar("T")


def _cka_id(blob: bytes) -> bytes:
    return bytes.fromhex(bytes(blob)[len(TOKEN_KEY_MARK) :].decode())


def read_pin_file(path: str, field: str = "[pkcs11] pin_file") -> str:
    """The user PIN in the file at ``path`` (one line; a trailing newline is dropped).

    Raises CertsealError(INVALID_ARGUMENT) naming ``field`` when the file cannot be read,
    is not a regular file, is longer than 256 bytes, is empty or is not UTF-8 text.
    """
    if not path:
        raise CertsealError(ErrorKind.INVALID_ARGUMENT, f"{field}: is not set")
    try:
        raw = read_regular_file(path, field, _MAX_PIN_BYTES)
        pin = raw.decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError:
        raise CertsealError(
            ErrorKind.INVALID_ARGUMENT, f"{field}: {path} is not UTF-8 text"
        ) from None
    except CertsealError as exc:
        raise CertsealError(
            ErrorKind.INVALID_ARGUMENT, f"{field}: {exc.message}"
        ) from None
    if not pin or "\n" in pin:
        raise CertsealError(
            ErrorKind.INVALID_ARGUMENT, f"{field}: {path} must hold one non-empty line"
        )
    return pin


class TokenSigner:
    """A signer whose private key is an object in the token; same shape as
    :class:`certseal.crypto.SoftwareSigner`. ``repr`` shows the kid only."""

    __slots__ = ("_cka_id", "_kid", "_public_key_der", "_suite", "_token")

    def __init__(
        self, token: Pkcs11Token, suite: Suite, public_key_der: bytes, cka_id: bytes
    ):
        self._token = token
        self._suite = suite
        self._public_key_der = public_key_der
        self._kid = key_id(public_key_der)
        self._cka_id = cka_id

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

    async def sign(self, data: bytes) -> bytes:
        """The raw signature of ``data`` (``r || s`` for es256), made in the token on
        the token's thread pool."""
        return await self._token.sign(self._suite, self._cka_id, data)

    def sign_now(self, data: bytes) -> bytes:
        """Sign from a thread that is not the event loop's (blocks on the token)."""
        return self._token.sign_blocking(self._suite, self._cka_id, data)

    def __repr__(self) -> str:
        return f"TokenSigner(kid={self._kid}, suite={self._suite.value})"


class _Session:
    __slots__ = ("keys", "session")

    def __init__(self, session: Any):
        self.session = session
        self.keys: dict[bytes, Any] = {}


class Pkcs11Token:
    """A logged-in PKCS#11 token with a bounded pool of sessions and threads.

    Open it with :meth:`open`; every failure to load the module, find the token or log
    in is a CertsealError naming the ``[pkcs11]`` setting at fault.
    """

    def __init__(
        self,
        label: str,
        sessions: list[Any],
        suites: frozenset[Suite],
        lock: threading.Lock | None,
    ):
        self._label = label
        self._suites = suites
        self._lock = lock
        self._pool: queue.Queue[_Session] = queue.Queue()
        self._all = [_Session(s) for s in sessions]
        for one in self._all:
            self._pool.put(one)
        self._executor = ThreadPoolExecutor(
            max_workers=len(sessions), thread_name_prefix="pkcs11"
        )
        self._closed = threading.Event()

    @classmethod
    def open(
        cls,
        *,
        module: str,
        token_label: str,
        pin_file: str,
        suites: list[str],
        sessions: int = 4,
        parallel: bool = False,
    ) -> Pkcs11Token:
        """Load ``module``, find the token labelled ``token_label``, log in with the
        PIN in ``pin_file`` and open ``sessions`` (1-64) sessions.

        python-pkcs11 initialises a module with ``C_Initialize(NULL_PTR)``, by which
        (PKCS#11 v2.40 §5.4) the application promises not to call it from several
        threads at once, and SoftHSM2 then takes no locks of its own. So every call
        into ``module`` holds one lock per module in this process unless ``parallel``
        says the module is thread-safe as initialised (a vendor's documentation says
        so); the pools then sign concurrently.

        Raises CertsealError(INVALID_ARGUMENT) naming the setting: ``[pkcs11] module``
        (cannot be loaded), ``token_label`` (no such token), ``pin_file`` (unreadable or
        refused by the token), ``suites`` (unknown, or a suite whose mechanisms the
        token lacks, e.g. sm2 on SoftHSM2), ``sessions`` (out of range).
        """
        if not 1 <= sessions <= 64:
            raise _bad("sessions", f"must be between 1 and 64, is {sessions}")
        wanted: set[Suite] = set()
        for name in suites:
            try:
                wanted.add(Suite(name.strip().lower()))
            except ValueError:
                raise _bad("suites", f"unknown key suite {name!r}") from None
        if not token_label:
            raise _bad("token_label", "is not set")
        pin = read_pin_file(pin_file)
        if not module or not os.path.isfile(module):
            raise _bad("module", f"no module library at {module!r}")
        lock = _MODULE_LOCKS.setdefault(os.path.realpath(module), threading.Lock())
        with lock:
            opened = _connect(module, token_label, pin, pin_file, wanted, sessions)
        return cls(token_label, opened, frozenset(wanted), None if parallel else lock)

    @property
    def label(self) -> str:
        """The token's label."""
        return self._label

    @property
    def sessions(self) -> int:
        """The size of the session pool (and of the thread pool)."""
        return len(self._all)

    def holds(self, suite: Suite) -> bool:
        """Whether new keys of ``suite`` are generated in this token."""
        return suite in self._suites

    async def generate(self, suite: Suite) -> tuple[bytes, bytes]:
        """A new key pair of ``suite`` in the token: (its SubjectPublicKeyInfo DER, the
        reference to store). The private key is sensitive and not extractable."""
        return await self._run(lambda s: _generate(s, suite))

    def signer(
        self, suite: Suite, public_key_der: bytes, reference: bytes
    ) -> TokenSigner:
        """The signer of a stored token key."""
        return TokenSigner(self, suite, public_key_der, _cka_id(reference))

    async def sign(self, suite: Suite, cka_id: bytes, data: bytes) -> bytes:
        """The raw signature of ``data`` by the token key ``cka_id``."""
        return await self._run(lambda s: _sign(s, suite, cka_id, data))

    def sign_blocking(self, suite: Suite, cka_id: bytes, data: bytes) -> bytes:
        """As :meth:`sign`, blocking the calling thread (not the event loop's)."""
        return self._executor.submit(
            self._with_session, lambda s: _sign(s, suite, cka_id, data)
        ).result()

    def attributes(self, reference: bytes) -> dict[str, object]:
        """The private key's protection attributes (sensitive, extractable,
        never_extractable, always_sensitive), and whether reading CKA_VALUE is refused
        (``value_readable``): what an auditor checks, never the key itself."""

        def read(s: _Session) -> dict[str, object]:
            key = _private_key(s, _cka_id(reference))
            try:
                key[Attribute.VALUE]
                readable = True
            except (
                pkcs11.exceptions.AttributeSensitive,
                pkcs11.exceptions.AttributeTypeInvalid,
            ):
                readable = False
            return {
                "sensitive": bool(key[Attribute.SENSITIVE]),
                "extractable": bool(key[Attribute.EXTRACTABLE]),
                "never_extractable": bool(key[Attribute.NEVER_EXTRACTABLE]),
                "always_sensitive": bool(key[Attribute.ALWAYS_SENSITIVE]),
                "value_readable": readable,
            }

        return self._executor.submit(self._with_session, read).result()

    def close(self) -> None:
        """Close every session (logging out) and stop the threads."""
        if self._closed.is_set():
            return
        self._closed.set()
        self._executor.shutdown(wait=True)
        with self._lock or contextlib.nullcontext():
            _close([one.session for one in self._all])

    async def _run(self, work: Callable[[_Session], T]) -> T:
        if self._closed.is_set():
            raise CertsealError(
                ErrorKind.UNAVAILABLE, f"PKCS#11 token {self._label!r} is closed"
            )
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._with_session, work)

    def _with_session(self, work: Callable[[_Session], T]) -> T:
        # as many threads as sessions: a thread never waits here for long
        one = self._pool.get()
        try:
            with self._lock or contextlib.nullcontext():
                return work(one)
        except pkcs11.exceptions.PKCS11Error as exc:
            raise CertsealError(
                ErrorKind.UNAVAILABLE,
                f"PKCS#11 token {self._label!r} failed: {_why(exc)}",
            ) from None
        finally:
            self._pool.put(one)

    def __repr__(self) -> str:
        return f"Pkcs11Token(label={self._label!r}, sessions={len(self._all)})"


def _connect(
    module: str,
    token_label: str,
    pin: str,
    pin_file: str,
    wanted: set[Suite],
    sessions: int,
) -> list[Any]:
    try:
        lib = pkcs11.lib(module)
    except Exception as exc:  # a C library that does not load: name the setting
        raise _bad("module", f"cannot load {module}: {_why(exc)}") from None
    try:
        token = lib.get_token(token_label=token_label)
    except pkcs11.exceptions.NoSuchToken:
        raise _bad(
            "token_label", f"no token labelled {token_label!r} in {module}"
        ) from None
    except pkcs11.exceptions.MultipleTokensReturned:
        raise _bad(
            "token_label", f"more than one token labelled {token_label!r}"
        ) from None
    except Exception as exc:
        raise _bad("module", f"{module} fails to list tokens: {_why(exc)}") from None
    mechanisms = set(token.slot.get_mechanisms())
    for suite in sorted(wanted, key=lambda s: s.value):
        needs = _NEEDS.get(suite)
        if needs is None or not set(needs) <= mechanisms:
            raise _bad(
                "suites",
                f"token {token_label!r} has no {suite.value} mechanisms; "
                f"keep {suite.value} keys in software (leave it out of suites)",
            )
    opened: list[Any] = []
    try:
        # PKCS#11 login is per application: the first session logs in, the others
        # share it
        try:
            opened.append(token.open(user_pin=pin, rw=True))
        except pkcs11.exceptions.UserAlreadyLoggedIn:
            # another part of this process logged in to the token already
            opened.append(token.open(rw=True))
        opened.extend(token.open(rw=True) for _ in range(sessions - 1))
    except (pkcs11.exceptions.PinIncorrect, pkcs11.exceptions.PinLenRange):
        _close(opened)
        raise _bad(
            "pin_file", f"the PIN in {pin_file} is refused by token {token_label!r}"
        ) from None
    except pkcs11.exceptions.PinLocked:
        _close(opened)
        raise _bad("pin_file", f"the user PIN of {token_label!r} is locked") from None
    except Exception as exc:
        _close(opened)
        raise _bad(
            "token_label", f"cannot open token {token_label!r}: {_why(exc)}"
        ) from None
    return opened


def _generate(s: _Session, suite: Suite) -> tuple[bytes, bytes]:
    cka_id = os.urandom(16)
    private = {
        Attribute.TOKEN: True,
        Attribute.PRIVATE: True,
        Attribute.SENSITIVE: True,
        Attribute.EXTRACTABLE: False,
        Attribute.SIGN: True,
    }
    public = {Attribute.TOKEN: True, Attribute.VERIFY: True}
    label = f"certseal {suite.value}"
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
            {Attribute.EC_PARAMS: encode_named_curve_parameters(_ED25519_OID)},
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
        point = asn1_keys.OctetString.load(pub[Attribute.EC_POINT]).native
        info = asn1_keys.PublicKeyInfo(
            {"algorithm": {"algorithm": "ed25519"}, "public_key": bytes(point)}
        )
        return info.dump(), token_reference(cka_id)
    raise CertsealError(
        ErrorKind.FAILED_PRECONDITION, f"{suite.value} keys are not kept in a token"
    )


def _private_key(s: _Session, cka_id: bytes) -> Any:
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


def _sign(s: _Session, suite: Suite, cka_id: bytes, data: bytes) -> bytes:
    key = _private_key(s, cka_id)
    if suite is Suite.ES256:
        # CKM_ECDSA signs a digest and answers r || s, each 32 bytes for P-256
        return bytes(key.sign(hashlib.sha256(data).digest(), mechanism=Mechanism.ECDSA))
    return bytes(key.sign(data, mechanism=Mechanism.EDDSA))


def _close(sessions: list[Any]) -> None:
    for one in sessions:
        with contextlib.suppress(Exception):
            one.close()


def _why(exc: Exception) -> str:
    return str(exc) or type(exc).__name__


def _bad(setting: str, problem: str) -> CertsealError:
    return CertsealError(ErrorKind.INVALID_ARGUMENT, f"[pkcs11] {setting}: {problem}")


def token_from_config(config: Pkcs11Config) -> Pkcs11Token | None:
    """The token ``[pkcs11]`` names, opened and logged in; None when ``module`` is
    empty (every key in software). Errors as :meth:`Pkcs11Token.open`."""
    if not config.module:
        return None
    token = Pkcs11Token.open(
        module=config.module,
        token_label=config.token_label,
        pin_file=config.pin_file,
        suites=list(config.suites),
        sessions=config.sessions,
        parallel=config.parallel,
    )
    log.info(
        "PKCS#11 token %r of %s: %d sessions; new %s keys are made in it",
        config.token_label,
        config.module,
        token.sessions,
        ", ".join(sorted(config.suites)) or "no",
    )
    return token
