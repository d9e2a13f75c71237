"""Departments and licence types: onboarding, the catalogue, and who may issue."""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import time
from collections.abc import Callable, Iterable, Sequence
from typing import NamedTuple

from certseal.audit import recordable
from certseal.errors import CertsealError, ErrorKind, invalid, precondition
from certseal.events import OutboxRecord
from certseal.identifiers import validate_type_code, validate_uscc
from certseal.rpc import Caller
from certseal.text import check_display_name
from certseal.timestamps import Clock
from services.issuer import domain
from services.issuer.domain import ROLES, Department, LicenceType
from services.issuer.events import department_event, licence_type_event
from services.issuer.printable import FontPaths, check_printable
from services.issuer.service.common import Auditor, require_operator
from services.issuer.storage import IssuerStore
from services.issuer.storage.directory import DepartmentUse

#: how long a department or licence type read is used before it is read again
_CACHE_TTL_S = 5.0


class IssuersSet(NamedTuple):
    """A licence type whose issuers were replaced
    (:meth:`Directory.set_licence_type_issuers`)."""

    licence_type: LicenceType
    registered_at: dt.datetime
    #: the issuers it had
    previous: frozenset[str]


class Directory:
    """Departments and licence types, with their read caches."""

    def __init__(
        self,
        *,
        store: IssuerStore,
        auditor: Auditor,
        clock: Clock,
        platform_code: str,
        platform_name: str,
        fonts: FontPaths | None = None,
    ):
        self._store = store
        #: the licence files' fonts (None: files off): names they cannot draw whole
        #: are refused (services.issuer.printable)
        self._fonts = fonts
        self._auditor = auditor
        self._clock = clock
        self._platform_code = platform_code
        self._platform_name = platform_name
        self._types: dict[str, tuple[float, LicenceType]] = {}
        self._departments: dict[str, tuple[float, Department | None]] = {}
        #: departments and types changed in this process just now ("department:" or
        #: "licence-type:" and the code): looked up, not cached, for a while
        self._uncached_until: dict[str, float] = {}

    async def licence_type(
        self, type_code: str, field: str = "type_code"
    ) -> LicenceType:
        """A registered licence type, cached for :data:`_CACHE_TTL_S` (its issuers
        may change: other issuer processes see it within that time);
        INVALID_ARGUMENT on ``field`` when it is malformed (said as such: no type can
        have that code) or unknown (not cached)."""
        validate_type_code(type_code, field)
        cached = self._types.get(type_code)
        now = time.monotonic()
        if cached is None or cached[0] < now:
            row = await self._store.get_licence_type(type_code)
            if row is None:
                raise invalid(field, f"unknown licence type {type_code!r}")
            if self._changed_just_now(f"licence-type:{type_code}", now):
                return row[0]
            cached = self._types[type_code] = (now + _CACHE_TTL_S, row[0])
        return cached[1]

    def forget_type(self, type_code: str) -> None:
        """Drop licence type ``type_code``'s cached row: its issuers were found
        changed (a write read them under a lock), so the next lookup reads it."""
        self._types.pop(type_code, None)

    async def department(self, code: str) -> Department | None:
        """A department (cached for :data:`_CACHE_TTL_S`)."""
        cached = self._departments.get(code)
        now = time.monotonic()
        if cached is None or cached[0] < now:
            found = await self._store.get_department(code)
            if self._changed_just_now(f"department:{code}", now):
                return found
            cached = self._departments[code] = (now + _CACHE_TTL_S, found)
        return cached[1]

    def _changed_just_now(self, key: str, now: float) -> bool:
        """Whether ``key`` was changed in this process less than the cache's time
        ago (:meth:`_forget`): its row is then not cached, as the change may not
        have committed yet when it was read."""
        if self._uncached_until.get(key, 0.0) > now:
            return True
        self._uncached_until.pop(key, None)
        return False

    def _forget(self, key: str) -> None:
        """Drop ``key``'s cached row ("department:" or "licence-type:" and a code),
        and cache none of it for the cache's time: a change made in a request with
        an idempotency key commits with its answer, after this returns, and a
        lookup in between cached the row as it was for the cache's time in the very
        process that made the change (certseal.storage.idempotency)."""
        kind, _, code = key.partition(":")
        (self._departments if kind == "department" else self._types).pop(code, None)
        self._uncached_until[key] = time.monotonic() + _CACHE_TTL_S

    async def issuing_department(self, caller: Caller, action: str) -> Department:
        """The caller's department if it has the issuer role; else an audited
        PERMISSION_DENIED."""
        if caller.kind != "dept":
            raise await self._auditor.deny(
                caller, action, "-", f"{caller} is not a department"
            )
        dept = await self.department(caller.name)
        if dept is None or "issuer" not in dept.roles:
            raise await self._auditor.deny(
                caller,
                action,
                caller.name,
                f"department {caller.name} does not have the issuer role",
            )
        return dept

    async def ensure_platform_department(self) -> None:
        """The platform department exists (idempotent, also across replicas), with the
        seal_owner role: its official seal seals annotated copies (加注件)."""
        existing = await self._store.get_department(self._platform_code)
        if existing is not None:
            if "seal_owner" not in existing.roles:  # made before licence files
                await self._store.add_department_role(self._platform_code, "seal_owner")
            return
        try:
            await self._store.insert_department(
                self._platform_code,
                self._platform_name,
                ["seal_owner"],
                self._clock(),
                self._auditor.entry(
                    "service:issuer", "department.onboard", self._platform_code
                ),
                self._announce_department("service:issuer"),
            )
        except CertsealError as exc:
            if exc.kind is not ErrorKind.ALREADY_EXISTS:
                raise

    async def onboard_department(
        self, caller: Caller, code: str, name: str, roles: Sequence[str]
    ) -> Department:
        """Onboard a department (a USCC, GB 32100-2015) with roles from
        :data:`domain.ROLES`; INVALID_ARGUMENT, or PERMISSION_DENIED (not an
        operator) and ALREADY_EXISTS (the code is onboarded), both audited as a
        refused ``department.onboard`` with the roles asked for."""
        async with self._auditor.refusals(
            caller, "department.onboard", code, roles=recorded_roles(roles)
        ):
            require_operator(caller)
            validate_uscc(code, "code")
            domain.validate_text("name", name, required=True, limit=200)
            check_display_name(name, "name")  # shown at counters: no invisible ones
            await check_printable(name, "name", self._fonts)  # on sealed copies
            given = _checked_roles(roles)
            row = await self._store.insert_department(
                code,
                name.strip(),
                given,
                self._clock(),
                self._auditor.entry(caller, "department.onboard", code, roles=given),
                self._announce_department(str(caller)),
            )
        self._forget(f"department:{code}")
        return row

    async def set_department_roles(
        self, caller: Caller, code: str, roles: Sequence[str]
    ) -> Department:
        """Replace the roles of onboarded department ``code`` with ``roles`` (of
        :data:`domain.ROLES`, at least one), audited as ``department.roles`` with
        the roles it had; the department as it is now. Other issuer processes see
        the change within their cache's 5 s, the seal service at once.

        Raises PERMISSION_DENIED (not an operator), INVALID_ARGUMENT (``code`` not a
        USCC or not onboarded, ``roles`` empty or unknown), and
        FAILED_PRECONDITION for the platform department without ``seal_owner``
        (its official seal seals annotated copies: docs/holder.md) or a role taken
        while in use (:func:`_check_roles_taken`); PERMISSION_DENIED and
        FAILED_PRECONDITION are audited as a refused ``department.roles`` with the
        roles asked for (:func:`recorded_roles`)."""
        async with self._auditor.refusals(
            caller, "department.roles", code, roles=recorded_roles(roles)
        ):
            require_operator(caller)
            validate_uscc(code, "code")
            given = _checked_roles(roles)
            if code == self._platform_code and "seal_owner" not in given:
                raise precondition(
                    f"the platform department {code} keeps the seal_owner role: its "
                    "official seal seals the annotated copies of licence files",
                    field="roles",
                )
            row = await self._store.set_department_roles(
                code,
                given,
                self._clock(),
                lambda was, use: _check_roles_taken(code, use),
                lambda was: self._auditor.entry(
                    caller, "department.roles", code, roles=given, was=list(was.roles)
                ),
            )
        self._forget(f"department:{code}")
        return row

    def _announce_department(self, actor: str) -> Callable[[Department], OutboxRecord]:
        def announce(dept: Department) -> OutboxRecord:
            return department_event(
                dept, actor=actor, at=self._clock(), source=self._platform_code
            )

        return announce

    def _announce_type(self, actor: str) -> Callable[[LicenceType], OutboxRecord]:
        def announce(t: LicenceType) -> OutboxRecord:
            return licence_type_event(
                t, actor=actor, at=self._clock(), source=self._platform_code
            )

        return announce

    async def announce_directory(self) -> int:
        """Publish, once, the directory events of the departments and licence types
        registered before directory events existed (an upgraded database); the
        number announced now."""
        return await self._store.announce_unannounced(
            self._announce_department("service:issuer"),
            self._announce_type("service:issuer"),
        )

    async def list_departments(self) -> list[Department]:
        """All departments by code."""
        return await self._store.list_departments()

    async def register_licence_type(
        self, caller: Caller, t: LicenceType
    ) -> tuple[LicenceType, dt.datetime]:
        """Register a catalogue entry (validated by :func:`domain.validate_licence_type`)
        whose issuers are onboarded with the issuer role; returns it with when it was
        registered. INVALID_ARGUMENT, or PERMISSION_DENIED (not an operator) and
        ALREADY_EXISTS (the code is registered), both audited as a refused
        ``licence_type.register``."""
        async with self._auditor.refusals(caller, "licence_type.register", t.type_code):
            require_operator(caller)
            await check_printable(t.name, "name", self._fonts)  # drawn on files
            for i, spec in enumerate(t.fields):
                await check_printable(spec.title, f"fields[{i}].title", self._fonts)
            await self._store.insert_licence_type(
                t,
                self._clock(),
                self._auditor.entry(caller, "licence_type.register", t.type_code),
                self._announce_type(str(caller)),
            )
        found = await self._store.get_licence_type(t.type_code)
        assert found is not None
        return found

    async def set_licence_type_issuers(
        self, caller: Caller, type_code: str, issuer_codes: Sequence[str]
    ) -> IssuersSet:
        """Replace registered licence type ``type_code``'s issuers with
        ``issuer_codes`` (each onboarded with the issuer role, at least one: the
        whole new set), audited as ``licence_type.issuers`` with the issuers it had;
        the type as it is now, when it was registered and the issuers it had. A
        department taken out issues no new licence of the type, renews none and
        receives none by transfer, and keeps the licences it issued (their
        issuer). Other issuer processes see the change within their cache's
        :data:`_CACHE_TTL_S`.

        Raises INVALID_ARGUMENT (``type_code`` malformed or not registered,
        ``issuer_codes`` empty, more than :data:`domain.MAX_ISSUERS`, malformed, or
        naming a department not onboarded or without the issuer role) and
        PERMISSION_DENIED (not an operator), the latter audited as a refused
        ``licence_type.issuers`` with the issuers asked for
        (:func:`recorded_issuers`)."""
        async with self._auditor.refusals(
            caller,
            "licence_type.issuers",
            type_code,
            issuer_codes=recorded_issuers(issuer_codes),
        ):
            require_operator(caller)
            validate_type_code(type_code)
            codes = domain.validate_issuer_codes(issuer_codes)
            was, registered_at = await self._store.set_licence_type_issuers(
                type_code,
                codes,
                lambda was: self._auditor.entry(
                    caller,
                    "licence_type.issuers",
                    type_code,
                    issuer_codes=sorted(codes),
                    was=sorted(was.issuer_codes),
                ),
            )
        self._forget(f"licence-type:{type_code}")
        return IssuersSet(
            dataclasses.replace(was, issuer_codes=codes),
            registered_at,
            was.issuer_codes,
        )

    async def list_licence_types(self) -> list[tuple[LicenceType, dt.datetime]]:
        """All licence types, each with when it was registered, by code."""
        return await self._store.list_licence_types()


def recorded_roles(roles: Iterable[str]) -> list[str]:
    """The roles a refused change asked for, as its refusal records them: as the
    change's ok row does (once each, sorted), a name not of :data:`domain.ROLES`
    as ``-`` (a refused request may not have been checked: its text may be
    anything, personal data put where a role goes)."""
    return sorted({role if role in ROLES else "-" for role in roles})


def recorded_issuers(codes: Iterable[str]) -> list[str]:
    """The issuers a refused change asked for, as its refusal records them: once
    each, sorted, a text that is not a unified social credit code (or that could
    hold an identity number: :func:`certseal.audit.recordable`) as ``-``; of a
    list longer than :data:`domain.MAX_ISSUERS` (refused for it), the first
    ones."""
    first = itertools.islice(codes, domain.MAX_ISSUERS + 1)
    return sorted({recordable(code, validate_uscc) for code in first})


def _checked_roles(roles: Sequence[str]) -> list[str]:
    """``roles`` once each, sorted; INVALID_ARGUMENT (field ``roles``) when it is
    empty or names one not in :data:`domain.ROLES`."""
    if not roles:
        raise invalid("roles", f"give at least one role of {', '.join(ROLES)}")
    for role in roles:
        if role not in ROLES:
            raise invalid("roles", f"unknown role {role!r}; expected one of {ROLES}")
    return sorted(set(roles))


def _check_roles_taken(code: str, use: DepartmentUse) -> None:
    """FAILED_PRECONDITION (field ``roles``) naming every role taken from department
    ``code`` (``use.taken``) that is still in use, and why: ``issuer`` while
    licence types list it or its licences are in force (only an issuer may revoke,
    suspend, amend or transfer them: they would stay valid, out of anyone's reach,
    until they expire), and ``seal_owner`` while it has active seals (they would
    go on sealing, and only a seal owner may revoke its seals)."""
    kept = []
    issuer = []
    if "issuer" in use.taken and use.licence_types:
        issuer.append(
            f"licence types {', '.join(use.licence_types)} list it as an issuer: "
            "give each type its new issuers first ('certseal type issuers')"
        )
    if "issuer" in use.taken and use.licences_in_force:
        issuer.append(
            "it has licences in force, and only their issuer may revoke, suspend, "
            "amend or transfer them"
        )
    if issuer:
        kept.append(f"the issuer role: {'; '.join(issuer)}")
    if "seal_owner" in use.taken and use.active_seals:
        kept.append(
            f"the seal_owner role while it has active seals ({use.active_seals}): "
            "revoke them first ('certseal seal --as CODE revoke SEAL_ID'), then take the role"
        )
    if kept:
        raise precondition(
            f"department {code} keeps {'; and '.join(kept)}", field="roles"
        )
