"""Holder apps: the operator grants each one (``app:<name>``) the licence types it may
read, holder-bound (:meth:`Reader.readable`); grants and withdrawals are audited."""

from __future__ import annotations

import re

from certseal.audit import recordable
from certseal.errors import CertsealError, invalid, not_found
from certseal.identifiers import validate_type_code
from certseal.rpc import Caller
from certseal.timestamps import Clock
from services.issuer.domain import HolderAppGrant
from services.issuer.service.common import Auditor, require_operator
from services.issuer.service.directory import Directory
from services.issuer.storage import IssuerStore

_APP_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def app_identity(text: str, field: str = "app") -> str:
    """``text`` as a holder-app identity ``app:<name>``; INVALID_ARGUMENT on ``field``
    for anything else (an integrator or a department is never a holder app)."""
    try:
        caller = Caller.parse(text)
    except CertsealError:
        caller = None
    if caller is None or caller.kind != "app" or not _APP_NAME.fullmatch(caller.name):
        raise invalid(
            field,
            "must be a holder app identity app:<name> (name: 1 to 64 of "
            "A-Z, a-z, 0-9, '.', '_', '-')",
        )
    return str(caller)


class HolderApps:
    """The operator's grants to holder apps."""

    def __init__(
        self,
        *,
        store: IssuerStore,
        directory: Directory,
        auditor: Auditor,
        clock: Clock,
    ):
        self._store = store
        self._directory = directory
        self._auditor = auditor
        self._clock = clock

    async def grant(self, caller: Caller, app: str, type_code: str) -> HolderAppGrant:
        """Let ``app`` read licences of ``type_code`` for the holder it names
        (idempotent); audited ``holder_app.grant``. INVALID_ARGUMENT for a bad app
        identity or an unknown type, PERMISSION_DENIED (not an operator: audited as
        a refused ``holder_app.grant`` of ``app``, with the ``type_code`` asked)."""
        async with self._auditor.refusals(
            caller,
            "holder_app.grant",
            app,
            type_code=recordable(type_code, validate_type_code),
        ):
            require_operator(caller)
            identity = app_identity(app)
            await self._directory.licence_type(type_code)
            grant = await self._store.grant_holder_app(
                identity,
                type_code,
                self._clock(),
                str(caller),
                self._auditor.entry(
                    caller, "holder_app.grant", identity, type_code=type_code
                ),
            )
        return grant

    async def revoke(self, caller: Caller, app: str, type_code: str) -> HolderAppGrant:
        """Withdraw a grant (effective from the next request); audited
        ``holder_app.revoke``. NOT_FOUND when ``app`` had no such grant,
        INVALID_ARGUMENT, PERMISSION_DENIED (not an operator: audited as a refused
        ``holder_app.revoke`` of ``app``)."""
        async with self._auditor.refusals(
            caller,
            "holder_app.revoke",
            app,
            type_code=recordable(type_code, validate_type_code),
        ):
            require_operator(caller)
            identity = app_identity(app)
            validate_type_code(type_code)  # text no type has is no grant to look for
            withdrawn = await self._store.revoke_holder_app(
                identity,
                type_code,
                self._auditor.entry(
                    caller, "holder_app.revoke", identity, type_code=type_code
                ),
            )
        if withdrawn is None:
            raise not_found(f"grant of {type_code} to {identity}", field="type_code")
        return withdrawn

    async def list(self, caller: Caller, app: str) -> list[HolderAppGrant]:
        """The grants of ``app`` ("": of every app), by app and type."""
        require_operator(caller)
        return await self._store.holder_app_grants(app_identity(app) if app else None)
