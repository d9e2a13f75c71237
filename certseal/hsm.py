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
import logging
import os
import queue
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import pkcs11
from pkcs11 import Attribute

from certseal import hsm_calls as calls
from certseal.config import Pkcs11Config
from certseal.crypto import TOKEN_KEY_MARK, KeyIdentity, Suite, token_reference
from certseal.errors import CertsealError, ErrorKind
from certseal.files import read_regular_file

_MAX_PIN_BYTES = 256
log = logging.getLogger("certseal.hsm")
# one lock per module library in this process (see Pkcs11Token.open)
_MODULE_LOCKS: dict[str, threading.Lock] = {}
T = TypeVar("T")


def _cka_id(blob: bytes) -> bytes:
    return bytes.fromhex(bytes(blob)[len(TOKEN_KEY_MARK) :].decode())


def read_pin_file(path: str, field: str = "pkcs11.pin_file") -> str:
    """The user PIN in the file at ``path`` (one line; a trailing newline is dropped).

    Raises CertsealError(INVALID_ARGUMENT) naming ``field`` when the file cannot be read,
    is not a regular file, is longer than 256 bytes, is empty or is not UTF-8 text.
    """
    if not path:
        raise CertsealError(ErrorKind.INVALID_ARGUMENT, "is not set", field=field)
    try:
        raw = read_regular_file(path, field, _MAX_PIN_BYTES)
        pin = raw.decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError:
        raise CertsealError(
            ErrorKind.INVALID_ARGUMENT, f"{path} is not UTF-8 text", field=field
        ) from None
    except CertsealError as exc:
        raise CertsealError(
            ErrorKind.INVALID_ARGUMENT, exc.message, field=field
        ) from None
    if not pin or "\n" in pin:
        raise CertsealError(
            ErrorKind.INVALID_ARGUMENT,
            f"{path} must hold one non-empty line",
            field=field,
        )
    return pin


class TokenSigner(KeyIdentity):
    """A signer whose private key is an object in the token; same shape as
    :class:`certseal.crypto.SoftwareSigner`. ``repr`` shows the kid only."""

    __slots__ = ("_cka_id", "_token")

    def __init__(
        self, token: Pkcs11Token, suite: Suite, public_key_der: bytes, cka_id: bytes
    ):
        super().__init__(suite, public_key_der)
        self._token = token
        self._cka_id = cka_id

    @property
    def cka_id(self) -> bytes:
        """The key pair's CKA_ID in the token."""
        return self._cka_id

    async def sign(self, data: bytes) -> bytes:
        """The raw signature of ``data`` (``r || s`` for es256), made in the token on
        the token's thread pool."""
        return await self._token.sign(self._suite, self._cka_id, data)

    def sign_now(self, data: bytes) -> bytes:
        """Sign from a thread that is not the event loop's (blocks on the token)."""
        return self._token.sign_blocking(self._suite, self._cka_id, data)

    def __repr__(self) -> str:
        return f"TokenSigner(kid={self._kid}, suite={self._suite.value})"


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
        self._pool: queue.Queue[calls.Session] = queue.Queue()
        self._all = [calls.Session(s) for s in sessions]
        for one in self._all:
            self._pool.put(one)
        self._executor = ThreadPoolExecutor(
            max_workers=len(sessions), thread_name_prefix="pkcs11"
        )
        self._closed = threading.Event()
        # opens a new, logged-in session in place of one the token lost
        self._reopen: Callable[[], Any] = _no_reopen

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

        Raises CertsealError(INVALID_ARGUMENT) naming the setting: ``pkcs11.module``
        (cannot be loaded), ``token_label`` (no such token), ``pin_file`` (unreadable or
        refused by the token), ``suites`` (unknown, or a suite whose mechanisms the
        token lacks, e.g. sm2 on SoftHSM2), ``sessions`` (out of range).
        """
        wanted, pin = check_token_settings(
            module=module,
            token_label=token_label,
            pin_file=pin_file,
            suites=suites,
            sessions=sessions,
        )
        lock = _MODULE_LOCKS.setdefault(os.path.realpath(module), threading.Lock())
        with lock:
            try:
                token, opened = calls.connect(
                    module, token_label, pin, pin_file, wanted, sessions
                )
            finally:  # whether the token opened or was refused
                calls.clear_openssl_errors()
        made = cls(token_label, opened, frozenset(wanted), None if parallel else lock)
        made._reopen = lambda: calls.log_in(token, pin)
        return made

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

    async def generate(self, suite: Suite, label: str = "") -> tuple[bytes, bytes]:
        """A new key pair of ``suite`` in the token: (its SubjectPublicKeyInfo DER, the
        reference to store). The private key is sensitive and not extractable;
        ``label`` names it (CKA_LABEL, default ``certseal <suite>``)."""
        return await self._run(lambda s: calls.generate(s, suite, label))

    def labelled_signer(self, label: str) -> TokenSigner | None:
        """The signer of the key pair whose private key is labelled ``label``
        (CKA_LABEL), None when the token has none; blocks (a process's start-up).
        Raises CertsealError (INVALID_ARGUMENT) for a label on several keys or a key
        of another kind than EC P-256 or Ed25519."""
        found = self._executor.submit(
            self._with_session, lambda s: calls.labelled(s, label)
        ).result()
        if found is None:
            return None
        suite, public_key_der, cka_id = found
        return TokenSigner(self, suite, public_key_der, cka_id)

    def reference_of(self, signer: TokenSigner) -> bytes:
        """The stored reference of ``signer``'s key (for :meth:`attributes`)."""
        return token_reference(signer.cka_id)

    def signer(
        self, suite: Suite, public_key_der: bytes, reference: bytes
    ) -> TokenSigner:
        """The signer of a stored token key."""
        return TokenSigner(self, suite, public_key_der, _cka_id(reference))

    async def sign(self, suite: Suite, cka_id: bytes, data: bytes) -> bytes:
        """The raw signature of ``data`` by the token key ``cka_id``."""
        return await self._run(lambda s: calls.sign(s, suite, cka_id, data))

    def sign_blocking(self, suite: Suite, cka_id: bytes, data: bytes) -> bytes:
        """As :meth:`sign`, blocking the calling thread (not the event loop's)."""
        return self._executor.submit(
            self._with_session, lambda s: calls.sign(s, suite, cka_id, data)
        ).result()

    def attributes(self, reference: bytes) -> dict[str, object]:
        """The private key's protection attributes (sensitive, extractable,
        never_extractable, always_sensitive), and whether reading CKA_VALUE is refused
        (``value_readable``): what an auditor checks, never the key itself."""

        def read(s: calls.Session) -> dict[str, object]:
            key = calls.private_key(s, _cka_id(reference))
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
            calls.close_sessions([one.session for one in self._all])

    async def _run(self, work: Callable[[calls.Session], T]) -> T:
        if self._closed.is_set():
            raise CertsealError(
                ErrorKind.UNAVAILABLE, f"PKCS#11 token {self._label!r} is closed"
            )
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._with_session, work)

    def _with_session(self, work: Callable[[calls.Session], T]) -> T:
        # as many threads as sessions: a thread never waits here for long
        one = self._pool.get()
        try:
            with self._lock or contextlib.nullcontext():
                try:
                    return work(one)
                except calls.LOST:
                    # the token restarted, or closed the session: a new one, once
                    self._renew(one)
                    return work(one)
        except pkcs11.exceptions.PKCS11Error as exc:
            raise CertsealError(
                ErrorKind.UNAVAILABLE,
                f"PKCS#11 token {self._label!r} failed: {calls.why(exc)}",
            ) from None
        finally:
            self._pool.put(one)

    def _renew(self, one: calls.Session) -> None:
        log.warning("PKCS#11 token %r lost a session; opening another", self._label)
        calls.close_sessions([one.session])
        one.keys.clear()
        one.session = self._reopen()

    def __repr__(self) -> str:
        return f"Pkcs11Token(label={self._label!r}, sessions={len(self._all)})"


def _no_reopen() -> Any:
    raise CertsealError(ErrorKind.UNAVAILABLE, "the PKCS#11 session cannot be reopened")


def check_token_settings(
    *, module: str, token_label: str, pin_file: str, suites: list[str], sessions: int
) -> tuple[set[Suite], str]:
    """What :meth:`Pkcs11Token.open` checks before it loads the module: the
    sessions in range, known suites, a token label, a readable PIN file and a module
    file that exists. Returns the suites wanted and the PIN; CertsealError
    (INVALID_ARGUMENT) naming the ``pkcs11.<setting>`` at fault."""
    if not 1 <= sessions <= 64:
        raise calls.bad("sessions", f"must be between 1 and 64, is {sessions}")
    wanted: set[Suite] = set()
    for name in suites:
        try:
            wanted.add(Suite(name.strip().lower()))
        except ValueError:
            raise calls.bad("suites", f"unknown key suite {name!r}") from None
    if not token_label:
        raise calls.bad("token_label", "is not set")
    pin = read_pin_file(pin_file)
    if not module or not os.path.isfile(module):
        raise calls.bad("module", f"no module library at {module!r}")
    return wanted, pin


def check_token_config(config: Pkcs11Config) -> None:
    """``[pkcs11]`` checked as :func:`token_from_config` checks it before it opens
    the token (:func:`check_token_settings`), without loading the module or logging
    in: for ``certseal config check``, which contacts nothing (a network HSM's
    module would). Nothing to check when ``module`` is empty."""
    if config.module:
        check_token_settings(
            module=config.module,
            token_label=config.token_label,
            pin_file=config.pin_file,
            suites=list(config.suites),
            sessions=config.sessions,
        )


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


def check_token_key_setting(config: Pkcs11Config, label: str, setting: str) -> None:
    """CertsealError(INVALID_ARGUMENT) naming ``setting`` when it names the token key
    ``label`` but ``[pkcs11]`` names no module (:func:`labelled_key`'s first check)."""
    if not config.module:
        raise CertsealError(
            ErrorKind.INVALID_ARGUMENT,
            f"names token key {label!r} but pkcs11.module is not set",
            field=setting,
        )


def labelled_key(config: Pkcs11Config, label: str, setting: str) -> TokenSigner:
    """The signer of the token key labelled ``label`` (CKA_LABEL) in the token
    ``config`` names, for a setting (``setting``, e.g. ``[verifier] bundle_key``)
    that names a key made in the token beforehand. The token stays open for the
    process's life.

    Raises CertsealError(INVALID_ARGUMENT) naming ``setting`` when ``[pkcs11]`` names
    no module or the token has no such key (or several, or one that is neither EC
    P-256 nor Ed25519), and naming the ``[pkcs11]`` setting at fault as
    :meth:`Pkcs11Token.open` does.
    """
    check_token_key_setting(config, label, setting)
    token = token_from_config(config)
    assert token is not None
    try:
        signer = token.labelled_signer(label)
    except CertsealError as exc:
        token.close()
        raise CertsealError(exc.kind, str(exc), field=setting) from None
    if signer is None:
        token.close()
        raise CertsealError(
            ErrorKind.INVALID_ARGUMENT,
            f"token {config.token_label!r} has no key labelled {label!r}",
            field=setting,
        )
    return signer
