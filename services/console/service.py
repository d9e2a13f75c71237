"""The console's account use cases: manage accounts, sign in and out, find the session.

Every change to an account, every sign-in, sign-out and failed or refused sign-in leaves
an audit row in the store's transaction. Password hashing (Argon2id: about 60 ms of CPU
and 64 MiB each) runs in worker threads, at most ``hash_slots`` at once, never on the
event loop that serves the pages. Failed sign-ins are throttled per account and per
client address (:class:`~services.console.accounts.ThrottlePolicy`); a throttled attempt
is refused before its password is looked at.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass

from certseal.audit import AuditEntry
from certseal.errors import CertsealError, ErrorKind, not_found
from certseal.timestamps import Clock
from services.console.accounts import (
    Account,
    Role,
    SessionPolicy,
    Throttled,
    ThrottlePolicy,
    account_name,
    certificate_name,
    department_of,
    hash_password,
    new_account_name,
    new_password,
    new_session_token,
    password_matches,
    required_text,
    role_of,
    token_digest,
)
from services.console.config import ConsoleConfig
from services.console.storage import ConsoleStore

_WRONG = "wrong account name or password"


@dataclass(frozen=True, slots=True)
class SignedIn:
    """A new session: the cookie's token, whose account, until when at most."""

    token: str
    account: Account
    expires_at: dt.datetime

    def __repr__(self) -> str:
        return f"SignedIn({self.account.name}, until {self.expires_at.isoformat()})"


def unauthenticated(message: str, *, field: str = "session") -> CertsealError:
    """UNAUTHENTICATED naming what is missing or wrong (``field``: ``session`` for a
    request without a live session, ``password`` or ``certificate`` for a refused
    sign-in)."""
    return CertsealError(ErrorKind.UNAUTHENTICATED, message, field=field)


def _a(role: Role) -> str:
    return f"an {role.value}" if role is Role.OPERATOR else f"a {role.value}"


class ConsoleAccounts:
    """Accounts, sign-in and sessions of the counter console."""

    def __init__(
        self,
        *,
        store: ConsoleStore,
        clock: Clock,
        sessions: SessionPolicy,
        per_account: ThrottlePolicy,
        per_address: ThrottlePolicy,
        hash_slots: int = 2,
    ):
        self.store = store
        self.clock = clock
        self.sessions = sessions
        self.per_account = per_account
        self.per_address = per_address
        self._hashing = asyncio.Semaphore(hash_slots)
        self._dummy_hash = ""

    @classmethod
    def configured(
        cls, settings: ConsoleConfig, store: ConsoleStore, clock: Clock
    ) -> ConsoleAccounts:
        """The use cases with ``[console]``'s session and throttling settings."""
        window = dt.timedelta(seconds=settings.login_failure_window_s)
        return cls(
            store=store,
            clock=clock,
            sessions=SessionPolicy(
                idle=dt.timedelta(seconds=settings.session_idle_s),
                absolute=dt.timedelta(seconds=settings.session_absolute_s),
            ),
            per_account=ThrottlePolicy(settings.login_max_failures, window),
            per_address=ThrottlePolicy(settings.login_max_failures_per_address, window),
        )

    async def _hash(self, password: str) -> str:
        async with self._hashing:
            return await asyncio.to_thread(hash_password, password)

    async def _matches(self, stored_hash: str, password: str) -> bool:
        async with self._hashing:
            return await asyncio.to_thread(password_matches, stored_hash, password)

    def _audit(
        self,
        actor: str,
        action: str,
        name: str,
        outcome: str = "ok",
        **details: object,
    ) -> AuditEntry:
        return AuditEntry(
            occurred_at=self.clock(),
            actor=actor,
            action=action,
            subject=f"console-account:{name}",
            outcome=outcome,
            details=dict(details),
        )

    # -- what the operator manages --------------------------------------------------

    async def add(
        self,
        name: object,
        *,
        department: object,
        role: object,
        password: object = None,
        certificate: object = None,
        by: str,
    ) -> Account:
        """A new account; it signs in with ``password``, a client certificate whose
        common name is ``certificate``, or both. INVALID_ARGUMENT names a bad field."""
        account = Account(
            name=new_account_name(name),
            department=department_of(department),
            role=role_of(role),
            certificate=certificate_name(certificate),
        )
        if password in (None, "") and not account.certificate:
            raise CertsealError(
                ErrorKind.INVALID_ARGUMENT,
                "give a password or a client certificate name to sign in with",
                field="password",
            )
        stored = (
            "" if password in (None, "") else await self._hash(new_password(password))
        )
        return await self.store.add_account(
            account,
            stored,
            at=self.clock(),
            by=by,
            audit=self._audit(
                by,
                "console.account.add",
                account.name,
                department=account.department,
                role=account.role.value,
                password=bool(stored),
                certificate=account.certificate,
            ),
        )

    async def accounts(self) -> list[Account]:
        """Every account, by name."""
        return await self.store.accounts()

    async def set_disabled(self, name: object, disabled: bool, *, by: str) -> Account:
        """Disable (revoking its sessions) or enable an account."""
        checked = account_name(name)
        action = "console.account.disable" if disabled else "console.account.enable"
        return await self.store.update_account(
            checked,
            disabled=disabled,
            at=self.clock(),
            by=by,
            audit=self._audit(by, action, checked),
        )

    async def set_password(self, name: object, password: object, *, by: str) -> Account:
        """Set an account's password; its sessions are revoked."""
        checked = account_name(name)
        stored = await self._hash(new_password(password))
        return await self.store.update_account(
            checked,
            password_hash=stored,
            at=self.clock(),
            by=by,
            audit=self._audit(by, "console.account.password", checked),
        )

    # -- signing in and out ---------------------------------------------------------

    async def _throttle(self, name: str, address: str, method: str) -> None:
        """Refuse (and audit) an attempt while its account or address is throttled."""
        now = self.clock()
        window = max(self.per_account.window, self.per_address.window)
        subjects = [f"account:{name}", f"address:{address}"]
        found = await self.store.failures(subjects, now - window)
        for subject, policy, what in (
            (subjects[0], self.per_account, "account"),
            (subjects[1], self.per_address, "address"),
        ):
            wait = policy.retry_after(found[subject], now)
            if wait is not None:
                refusal = Throttled(wait, what)
                # a refused attempt is audited but counts no further failure
                await self._record_refusal(
                    name, address, method, f"throttled ({what})", counted=False
                )
                raise refusal

    async def _record_refusal(
        self, name: str, address: str, method: str, reason: str, *, counted: bool
    ) -> None:
        """Audit a refused sign-in; ``counted``: it also counts against the account
        and the address for throttling."""
        now = self.clock()
        window = max(self.per_account.window, self.per_address.window)
        await self.store.record_failure(
            [f"account:{name}", f"address:{address}"] if counted else [],
            at=now,
            forget_before=now - window,
            audit=self._audit(
                f"console:{name}",
                "console.login",
                name,
                "denied",
                address=address,
                method=method,
                reason=reason,
            ),
        )

    async def _session(self, account: Account, address: str, method: str) -> SignedIn:
        token, now = new_session_token(), self.clock()
        await self.store.create_session(
            token_digest(token),
            account,
            at=now,
            address=address,
            method=method,
            stale_before=now - self.sessions.idle,
            audit=self._audit(
                account.principal,
                "console.login",
                account.name,
                address=address,
                method=method,
                role=account.role.value,
                department=account.department,
            ),
        )
        return SignedIn(token, account, self.sessions.expires_at(now, now))

    async def login(self, name: object, password: object, *, address: str) -> SignedIn:
        """Sign in with a password.

        Order: the name's shape; the throttle (per account, per address); the password
        (an unknown account costs the same hashing as a known one); the account being
        enabled. UNAUTHENTICATED for a wrong name or password, RESOURCE_EXHAUSTED
        (:class:`Throttled`) while throttled, FAILED_PRECONDITION for a disabled account.
        """
        checked = account_name(name)
        password = required_text(password, "password", "is required")
        if len(password) > 1024:
            raise CertsealError(
                ErrorKind.INVALID_ARGUMENT,
                "is longer than any password an account has",
                field="password",
            )
        await self._throttle(checked, address, "password")
        stored = await self.store.account(checked)
        if not self._dummy_hash:
            self._dummy_hash = await self._hash("certseal console: no such account")
        known = stored is not None and bool(stored.password_hash)
        matches = await self._matches(
            stored.password_hash if stored is not None and known else self._dummy_hash,
            password,
        )
        if stored is None or not known or not matches:
            reason = "unknown account" if stored is None else "wrong password"
            await self._record_refusal(
                checked, address, "password", reason, counted=True
            )
            raise unauthenticated(_WRONG, field="password")
        if stored.account.disabled:
            await self._record_refusal(
                checked, address, "password", "account disabled", counted=True
            )
            raise CertsealError(
                ErrorKind.FAILED_PRECONDITION,
                "this account is disabled: ask an operator",
                field="name",
            )
        return await self._session(stored.account, address, "password")

    async def login_certificate(self, common_name: str, *, address: str) -> SignedIn:
        """Sign in with the browser's client certificate (already verified by TLS
        against the console's client CA)."""
        if not common_name:
            raise unauthenticated(
                "the browser presented no client certificate from the console's CA",
                field="certificate",
            )
        account = await self.store.account_by_certificate(common_name)
        name = account.name if account is not None else common_name[:64]
        await self._throttle(name, address, "certificate")
        if account is None or account.disabled:
            reason = "no such account" if account is None else "account disabled"
            await self._record_refusal(
                name, address, "certificate", reason, counted=True
            )
            raise unauthenticated(
                f"no enabled account signs in with the certificate {common_name!r}",
                field="certificate",
            )
        return await self._session(account, address, "certificate")

    async def session(self, token: str) -> Account:
        """The account of a signed-in session, which is now used again.

        UNAUTHENTICATED naming why not: no session, an unknown or revoked one, an
        expired one (idle or absolute), a disabled account.
        """
        if not token:
            raise unauthenticated("sign in first: this request carries no session")
        digest = token_digest(token)
        row = await self.store.session(digest)
        if row is None:
            raise unauthenticated(
                "the session is not known (signed out or revoked): sign in again"
            )
        now = self.clock()
        why = self.sessions.expired(row.created_at, row.last_seen_at, now)
        if why:
            await self.store.delete_session(digest, audit=None)
            raise unauthenticated(why)
        if row.account.disabled:
            raise unauthenticated("the account is disabled")
        await self.store.touch_session(digest, now)
        return row.account

    async def logout(self, token: str) -> bool:
        """Sign out: the session is revoked at once (audited)."""
        if not token:
            return False
        row = await self.store.session(token_digest(token))
        if row is None:
            return False
        return await self.store.delete_session(
            token_digest(token),
            audit=self._audit(
                row.account.principal, "console.logout", row.account.name
            ),
        )

    @staticmethod
    def need(account: Account, role: Role, what: str) -> None:
        """PERMISSION_DENIED unless ``account``'s role may open ``what``."""
        if not account.role.may_open(role):
            raise CertsealError(
                ErrorKind.PERMISSION_DENIED,
                f"{what} needs {_a(role)} account; {account.name} is {_a(account.role)}",
                field="role",
            )

    async def get(self, name: object) -> Account:
        """One account; NOT_FOUND when there is none."""
        stored = await self.store.account(account_name(name))
        if stored is None:
            raise not_found(f"console account {name}", field="name")
        return stored.account
