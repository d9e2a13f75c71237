"""Signing keys: create, rotate, retire, revoke, and the keyring that signs with them.

A key change and its trust event (``key.activated``, ``key.retired``,
``key.revoked``) commit together; the keyring forgets the department's active key
afterwards, so the next signature uses the new state.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import time
from collections.abc import Sequence

from certseal.crypto import (
    KeyWrapper,
    Signer,
    Suite,
    generate_key,
    is_token_reference,
)
from certseal.errors import CertsealError, invalid, not_found, precondition
from certseal.events import OutboxRecord
from certseal.hsm import Pkcs11Token
from certseal.identifiers import validate_uscc
from certseal.rpc import Caller
from certseal.timestamps import Clock
from services.issuer.domain import SigningKey
from services.issuer.events import trust_event
from services.issuer.limits import DEFAULT_KEY_VALIDITY_DAYS, MAX_KEY_VALIDITY_DAYS
from services.issuer.published import validate_reason
from services.issuer.service.common import Auditor, require_operator
from services.issuer.storage import IssuerStore
from services.issuer.storage.rows import AlreadyStored, Records

_KID_RE = re.compile(r"[0-9a-f]{16}", re.ASCII)


def check_kid(kid: str) -> str:
    """``kid`` when it is a key id (16 lowercase hexadecimal characters);
    INVALID_ARGUMENT (``kid``) otherwise."""
    if not _KID_RE.fullmatch(kid):
        raise invalid("kid", "must be 16 lowercase hexadecimal characters")
    return kid


def asked_suite(text: str) -> str:
    """The suite a refused key creation asked for, as its ok row names it
    (``es256``), or ``-`` for text that names none (a refused request may not have
    been checked)."""
    try:
        return Suite.parse(text).value
    except CertsealError:
        return "-"


_DEFAULT_VALIDITY_DAYS = DEFAULT_KEY_VALIDITY_DAYS
_PRESENTATION_VALIDITY_DAYS = 730


class Keyring:
    """Signers for stored keys, cached by kid: software keys decrypted once from the
    database, token keys (``token``, the ``[pkcs11]`` token) used where they live."""

    def __init__(
        self,
        *,
        store: IssuerStore,
        wrapper: KeyWrapper,
        token: Pkcs11Token | None = None,
        ttl_s: float = 5.0,
    ):
        self._store = store
        self._wrapper = wrapper
        self._token = token
        self._ttl_s = ttl_s
        self._signers: dict[str, Signer] = {}
        self._active: dict[tuple[str, str], tuple[float, str | None]] = {}

    async def new_key(self, suite: Suite) -> tuple[str, bytes, bytes]:
        """A new key pair of ``suite``: (kid, SubjectPublicKeyInfo DER, what to store).

        In the token when one is configured for the suite (what is stored is then a
        reference to the token object), else generated here and stored wrapped.
        """
        if self._token is not None and self._token.holds(suite):
            public, reference = await self._token.generate(suite)
            signer = self._token.signer(suite, public, reference)
            return signer.kid, public, reference
        generated = generate_key(suite)
        wrapped = self._wrapper.wrap(generated.kid, generated.private_bytes)
        return generated.kid, generated.public_key_der, wrapped

    def signer_for(self, key: SigningKey) -> Signer:
        """The signer of a stored key; FAILED_PRECONDITION for a token key when this
        process has no ``[pkcs11]`` token."""
        signer = self._signers.get(key.kid)
        if signer is None:
            suite = Suite(key.suite)
            if is_token_reference(key.wrapped_private_key):
                if self._token is None:
                    raise precondition(
                        f"signing key {key.kid} lives in a PKCS#11 token and this "
                        "issuer has no [pkcs11] module configured",
                        field="kid",
                    )
                signer = self._token.signer(
                    suite, key.public_key, key.wrapped_private_key
                )
            else:
                signer = self._wrapper.unwrap_signer(
                    suite, key.public_key, key.wrapped_private_key, kept=True
                )
            self._signers[key.kid] = signer
        return signer

    async def active_signer(
        self, department: str, now: dt.datetime, suite: str = ""
    ) -> Signer | None:
        """The department's newest active key, of ``suite`` when one is given (cached
        for ``ttl_s`` seconds)."""
        cached = self._active.get((department, suite))
        if cached is None or cached[0] < time.monotonic():
            keys = await self._store.department_keys(department)
            active = next(
                (
                    k
                    for k in keys
                    if k.status == "active"
                    and k.not_before <= now < k.not_after
                    and not k.presentation
                    and (not suite or k.suite == suite)
                ),
                None,
            )
            if active is not None:
                self.signer_for(active)
            cached = (time.monotonic() + self._ttl_s, active.kid if active else None)
            self._active[(department, suite)] = cached
        return self._signers.get(cached[1]) if cached[1] else None

    def forget(self, department: str) -> None:
        """Drop the cached active keys of a department (after a key change)."""
        for cached in [k for k in self._active if k[0] == department]:
            self._active.pop(cached, None)


class Keys:
    """The signing keys of departments and the platform's presentation key."""

    def __init__(
        self,
        *,
        store: IssuerStore,
        keyring: Keyring,
        wrapper: KeyWrapper,
        auditor: Auditor,
        clock: Clock,
        platform_code: str,
        presentation_suite: Suite,
    ):
        self._store = store
        self._keyring = keyring
        self._wrapper = wrapper
        self._auditor = auditor
        self._clock = clock
        self._platform_code = platform_code
        self._presentation_suite = presentation_suite

    async def ensure_presentation_key(self) -> None:
        """The platform's active presentation key exists (idempotent)."""
        if await self._store.active_presentation_key() is None:
            with contextlib.suppress(AlreadyStored):
                # another replica may create it at the same moment
                await self._create(
                    Caller("service", "issuer"),
                    self._platform_code,
                    self._presentation_suite,
                    _PRESENTATION_VALIDITY_DAYS,
                    presentation=True,
                )

    async def create_key(
        self, caller: Caller, department_code: str, suite: str, validity_days: int
    ) -> SigningKey:
        """Create an active signing key for a department (``validity_days`` 1-3650,
        0 for two years); INVALID_ARGUMENT on a bad suite, department or validity,
        PERMISSION_DENIED (not an operator: audited as a refused ``key.create``
        with the suite asked for, :func:`asked_suite`)."""
        async with self._auditor.refusals(
            caller, "key.create", department_code, suite=asked_suite(suite)
        ):
            require_operator(caller)
            parsed = Suite.parse(suite)
            await self._check_department(department_code, validity_days)
            key, _ = await self._create(
                caller, department_code, parsed, validity_days or _DEFAULT_VALIDITY_DAYS
            )
        return key

    async def rotate_key(
        self, caller: Caller, department_code: str, suite: str, validity_days: int
    ) -> tuple[SigningKey, list[SigningKey]]:
        """A new active key; the department's other active keys of the suite retire.

        Returns (the new key, the retired keys); errors as :meth:`create_key`, a
        refusal audited as ``key.rotate``.
        """
        async with self._auditor.refusals(
            caller, "key.rotate", department_code, suite=asked_suite(suite)
        ):
            require_operator(caller)
            parsed = Suite.parse(suite)
            await self._check_department(department_code, validity_days)
            current = [
                k
                for k in await self._store.department_keys(department_code)
                if k.status == "active"
                and k.suite == parsed.value
                and not k.presentation
            ]
            rotated = await self._create(
                caller,
                department_code,
                parsed,
                validity_days or _DEFAULT_VALIDITY_DAYS,
                retire=current,
            )
        return rotated

    async def change_key_status(
        self,
        caller: Caller,
        kid: str,
        status: str,
        reason: str = "",
        revoked_at: dt.datetime | None = None,
    ) -> SigningKey:
        """Retire (``status`` "retired") an active key, or revoke ("revoked") an active
        or retired one; revocation needs a reason and may be back-dated to the
        compromise (``revoked_at``, not before the key's ``not_before`` nor in the
        future). A revoked key's revocation may be moved earlier, never later: a
        compromise found to be older than first thought (an operator who revoked
        without ``revoked_at``) makes every licence signed since then KEY_REVOKED, as a
        new ``key.revoked`` event of the next key version. INVALID_ARGUMENT,
        NOT_FOUND, or PERMISSION_DENIED (not an operator) and FAILED_PRECONDITION (the
        key's status does not allow it), both audited as a refused ``key.retired`` or
        ``key.revoked`` of ``kid``."""
        event = "key.retired" if status == "retired" else "key.revoked"
        # a refused revocation records the time asked, as its ok row records the
        # time it took effect (never the reason: free text, perhaps personal data)
        asked = {"revoked_at": revoked_at.isoformat()} if revoked_at else {}
        async with self._auditor.refusals(caller, event, kid, **asked):
            changed = await self._change_key_status(
                caller, kid, status, event, reason, revoked_at
            )
        return changed

    async def _change_key_status(
        self,
        caller: Caller,
        kid: str,
        status: str,
        event: str,
        reason: str,
        revoked_at: dt.datetime | None,
    ) -> SigningKey:
        require_operator(caller)
        check_kid(kid)
        now = self._clock()
        at = now
        if status == "revoked":
            validate_reason(reason, required=True)
            if revoked_at is not None:
                if revoked_at > now:
                    raise invalid("revoked_at", "must not be in the future")
                at = revoked_at

        def check(key: SigningKey) -> None:
            allowed = {"retired": {"active"}, "revoked": {"active", "retired"}}[status]
            if status == "revoked" and key.status == "revoked":
                _check_moved_earlier(key, revoked_at)
            elif key.status not in allowed:
                raise precondition(
                    f"key {kid} is {key.status}; cannot make it {status}",
                    field="kid",
                )
            if status == "revoked" and at < key.not_before:
                raise invalid(
                    "revoked_at",
                    f"is before the key became valid ({key.not_before.isoformat()}): "
                    "give that time to distrust all it signed",
                )

        def records(changed: SigningKey) -> Records:
            details = {"revoked_at": at.isoformat()} if status == "revoked" else {}
            return (
                [self._event(changed, event, caller, reason)],
                [self._auditor.entry(caller, event, kid, reason=reason, **details)],
            )

        changed = await self._store.change_key_status(
            kid, status=status, at=at, reason=reason, check=check, make_records=records
        )
        if changed is None:
            raise not_found(f"signing key {kid}", field="kid")
        self._keyring.forget(changed.department_code)
        return changed

    async def list_keys(self, department_code: str) -> list[SigningKey]:
        """A department's keys, newest first. INVALID_ARGUMENT (field
        ``department_code``) when it is no USCC or no department of it is onboarded
        (a mistyped code listed nothing, as if the department had no keys)."""
        await self._check_department(department_code, 0)
        return await self._store.department_keys(department_code)

    async def _check_department(self, code: str, validity_days: int) -> None:
        validate_uscc(code, "department_code")
        if await self._store.get_department(code) is None:
            raise invalid("department_code", f"department {code} is not onboarded")
        if validity_days and not 1 <= validity_days <= MAX_KEY_VALIDITY_DAYS:
            raise invalid(
                "validity_days", f"must be between 1 and {MAX_KEY_VALIDITY_DAYS} days"
            )

    async def _create(
        self,
        caller: Caller,
        department_code: str,
        suite: Suite,
        validity_days: int,
        *,
        presentation: bool = False,
        retire: Sequence[SigningKey] = (),
    ) -> tuple[SigningKey, list[SigningKey]]:
        now = self._clock()
        kid, public_key, stored = await self._keyring.new_key(suite)
        key = SigningKey(
            kid=kid,
            department_code=department_code,
            suite=suite.value,
            status="active",
            public_key=public_key,
            wrapped_private_key=stored,
            not_before=now,
            not_after=now + dt.timedelta(days=validity_days),
            created_at=now,
            retired_at=None,
            revoked_at=None,
            revocation_reason="",
            key_version=1,
            presentation=presentation,
        )

        def records(key: SigningKey, retired: Sequence[SigningKey]) -> Records:
            events = [self._event(key, "key.activated", caller, "")]
            audits = [
                self._auditor.entry(
                    caller,
                    "key.create",
                    key.kid,
                    suite=suite.value,
                    department=department_code,
                    # where the private key lives: "pkcs11" (a token) or "software"
                    key_store="pkcs11" if is_token_reference(stored) else "software",
                )
            ]
            for row in retired:
                events.append(self._event(row, "key.retired", caller, "rotated"))
                audits.append(
                    self._auditor.entry(caller, "key.retire", row.kid, reason="rotated")
                )
            return events, audits

        retired = await self._store.create_key(
            key, retire=[k.kid for k in retire], at=now, make_records=records
        )
        self._keyring.forget(department_code)
        return key, retired

    def _event(
        self, key: SigningKey, event_type: str, caller: Caller | str, reason: str
    ) -> OutboxRecord:
        return trust_event(
            key, event_type, actor=str(caller), reason=reason, at=self._clock()
        )


def _check_moved_earlier(key: SigningKey, revoked_at: dt.datetime | None) -> None:
    """A revoked ``key`` may be revoked again only from an earlier ``revoked_at``
    (FAILED_PRECONDITION otherwise, naming the revocation in force): a later one
    would make licences signed after the compromise valid again."""
    since = key.revoked_at or key.not_before  # a revoked key has the first
    if revoked_at is None or revoked_at >= since:
        raise precondition(
            f"key {key.kid} is revoked since {since.isoformat()}; a revocation can "
            "only be moved earlier: give a time before that",
            field="revoked_at",
        )
