"""Idempotency keys: what makes every mutating RPC safe to retry (pure: no I/O).

A client sends an idempotency key with a mutating request, as the gRPC metadata
``idempotency-key`` (every mutating RPC) or as the request's ``idempotency_key`` field
(where the message has one; both given and different is INVALID_ARGUMENT). The
server keeps, per caller identity and key, the request's fingerprint and the bytes of
the answer it first sent, written in the SAME transaction as the change
(``certseal.storage.idempotency``). Then:

- a retry with the same key and the same request gets the original answer, byte for
  byte, even if the licence or seal changed since, and changes nothing;
- the same key with another request (other fields, or another RPC) is ALREADY_EXISTS
  naming the key;
- a key is kept for ``[idempotency] retention_hours`` (default 72) and then purged.

A servicer method adopts this with one line, the :func:`idempotent` decorator; the
common interceptor (``certseal.rpc``) does the rest. docs/operations.md, "Retries and
idempotency keys", is the contract for clients.
"""

from __future__ import annotations

import contextvars
import hashlib
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from google.protobuf.message import Message

from certseal.errors import CertsealError, ErrorKind, invalid

#: the gRPC metadata key that carries an idempotency key
METADATA_KEY = "idempotency-key"
#: the request field that carries it in messages that have one
FIELD = "idempotency_key"
#: the trailing metadata key (value ``"1"``) of an answer that is the one kept for
#: the call's key: an earlier call with that key made the change, this one changed
#: nothing (a client says so: a clerk's retry must not read as a second change)
KEPT_ANSWER_KEY = "certseal-kept-answer"

#: the longest key accepted, in characters
MAX_KEY_LENGTH = 128
#: what a transient failure's message tells the client
RETRY_SAFE = "safe to retry with the same idempotency key"

#: every RPC that honours an idempotency key (its servicer method is marked
#: :func:`idempotent`), by full gRPC method name: what a client keys and, when a call of
#: one gets no answer, says it may have been done (:mod:`certseal.cli_keys`); a test
#: keeps it equal to the servers' marks (tests/kernel/test_cli_keys.py)
KEYED_METHODS = frozenset(
    f"/certseal.v1.{service}/{method}"
    for service, methods in {
        "Issuer": (
            "IssueLicence IssueLicences AmendLicence RenewLicence TransferLicence "
            "SuspendLicence UnsuspendLicence RevokeLicence CancelLicence"
        ),
        "LicenceHolder": "AuthoriseUse",
        "IssuerAdmin": (
            "OnboardDepartment SetDepartmentRoles RegisterLicenceType "
            "SetLicenceTypeIssuers CreateSigningKey RotateSigningKey RetireSigningKey "
            "RevokeSigningKey GrantHolderApp RevokeHolderApp"
        ),
        "EventFeedAdmin": (
            "SetEntitlement RemoveEntitlement RegisterWebhook RemoveWebhook "
            "ReplayParkedDeliveries"
        ),
        "Seal": "RegisterSeal RevokeSeal SealDocument SealPdf SealOfd",
    }.items()
    for method in methods.split()
)


class Earlier:
    """Whether a keyed call's answer is an earlier call's (:func:`earlier_answer`)."""

    said = False


#: the running keyed call's :class:`Earlier` (set by the server's interceptor)
_EARLIER: contextvars.ContextVar[Earlier | None] = contextvars.ContextVar(
    "certseal_earlier_answer", default=None
)


def watch_earlier() -> tuple[Earlier, contextvars.Token[Earlier | None]]:
    """The interceptor's side: an :class:`Earlier` the call's handler may mark; reset
    the token when the call ends."""
    earlier = Earlier()
    return earlier, _EARLIER.set(earlier)


def earlier_answer() -> None:
    """Say, from a keyed call's handler, that its answer is what an earlier call with
    the same key made, found in a store of the service's own (the issuer's licence
    keys, kept as long as the licence), so the client is told (:data:`KEPT_ANSWER_KEY`)
    as when the interceptor's store answers. Nothing outside a keyed call."""
    earlier = _EARLIER.get()
    if earlier is not None:
        earlier.said = True


_MARK = "__certseal_idempotent__"
F = TypeVar("F", bound=Callable[..., Any])


def idempotent(method: F) -> F:
    """Mark a servicer method as a mutation that honours idempotency keys."""
    setattr(method, _MARK, True)
    return method


def is_idempotent(handler: Any) -> bool:
    """Whether ``handler`` (a servicer method) was marked :func:`idempotent`."""
    return bool(getattr(handler, _MARK, False))


@dataclass(frozen=True, slots=True)
class Claim:
    """One caller's use of one key for one request."""

    caller: str  # the caller identity, e.g. dept:<code>: keys are scoped per caller
    key: str
    method: str  # the full gRPC method name
    fingerprint: bytes  # SHA-256, see :func:`fingerprint`

    def conflict(self) -> CertsealError:
        """ALREADY_EXISTS: this key was used by this caller for another request."""
        return CertsealError(
            ErrorKind.ALREADY_EXISTS,
            f"idempotency key {self.key!r} was already used for a different request "
            "(another RPC or other fields); use a new key for a new request",
            field=FIELD,
        )


def check_key(key: str) -> str:
    """``key`` if usable: 1 to 128 printable ASCII characters; INVALID_ARGUMENT else."""
    if len(key) > MAX_KEY_LENGTH:
        raise invalid(FIELD, f"at most {MAX_KEY_LENGTH} characters")
    if not all(0x21 <= ord(c) <= 0x7E for c in key):
        raise invalid(FIELD, "printable ASCII without spaces only")
    return key


def fingerprint(method: str, request: Message) -> bytes:
    """SHA-256 over the method name and the request's deterministic serialisation,
    with its ``idempotency_key`` field (if any) cleared: what a retry must repeat."""
    if FIELD in request.DESCRIPTOR.fields_by_name and getattr(request, FIELD):
        copy = type(request)()
        copy.CopyFrom(request)
        copy.ClearField(FIELD)
        request = copy
    digest = hashlib.sha256(method.encode())
    digest.update(b"\0")
    digest.update(request.SerializeToString(deterministic=True))
    return digest.digest()


def fingerprint_bytes(method: str, payload: bytes) -> bytes:
    """SHA-256 over a method name (for HTTP: ``POST /api/accounts``) and a request's
    bytes, for requests that are not protobuf messages."""
    digest = hashlib.sha256(method.encode())
    digest.update(b"\0")
    digest.update(payload)
    return digest.digest()


class AnswerStore(Protocol):
    """Where answers are kept with their changes (``certseal.storage.idempotency.
    IdempotencyStore``), as the HTTP console's access layer sees it."""

    async def lookup(self, claim: Claim) -> bytes | None:
        """The stored answer, None for a new key; ALREADY_EXISTS for another request."""

    def scope(self, claim: Claim) -> AbstractAsyncContextManager[Any]:
        """Run a handler whose store transactions carry the answer."""

    async def answer(self, scope: Any, response: bytes) -> bytes:
        """Store ``response`` with the change and commit; what the client gets."""


def claim_for(
    caller: str, method: str, request: Message, metadata_key: str | None
) -> Claim | None:
    """The claim a request makes, or None when it carries no key.

    Raises INVALID_ARGUMENT for a malformed key, or a metadata key and a field key
    that differ.
    """
    field_key = ""
    if FIELD in request.DESCRIPTOR.fields_by_name:
        field_key = getattr(request, FIELD)
    meta = metadata_key or ""
    if field_key and meta and field_key != meta:
        raise invalid(FIELD, f"differs from the {METADATA_KEY} metadata; send one key")
    key = field_key or meta
    if not key:
        return None
    return Claim(caller, check_key(key), method, fingerprint(method, request))
