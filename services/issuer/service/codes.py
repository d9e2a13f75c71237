"""Licence codes: the static code signed at issuance, and short-lived presentation
codes signed with the platform's presentation key."""

from __future__ import annotations

import datetime as dt
import os

from certseal import codes
from certseal.errors import CertsealError, ErrorKind, invalid, precondition
from certseal.rpc import Caller
from services.issuer.authorisation import licence_refusal
from services.issuer.claims import presentation_claims
from services.issuer.domain import Status
from services.issuer.service.licensing import LicenceCases, Licensing
from services.issuer.service.reading import HolderId

_MIN_TTL_S = 5
_NONCE_BYTES = 16


class Codes(LicenceCases):
    """The codes of a licence, for those entitled to read it."""

    def __init__(
        self,
        parts: Licensing,
        *,
        presentation_ttl_s: int = 60,
        presentation_max_ttl_s: int = 600,
    ):
        super().__init__(parts)
        self._presentation_ttl_s = presentation_ttl_s
        self._presentation_max_ttl_s = presentation_max_ttl_s

    async def licence_code(
        self, caller: Caller, text: str, holder: HolderId | None = None
    ) -> tuple[str, str]:
        """The static licence code of a version (its text form), for those who may
        read it (a holder app names the holder), and, when that version was
        superseded, its lineage's current version ("" when it is current); errors as
        :meth:`Reader.readable`."""
        record = await self._reader.readable(
            caller, text, "licence.code", holder=holder
        )
        stored = await self._store.get_licence(record.identifier)
        assert stored is not None
        current = ""
        if record.superseded_by:
            found = await self._store.current_identifier(record.lineage)
            current = found or record.superseded_by
        return stored.code, current

    async def presentation_code(
        self, caller: Caller, text: str, ttl_s: int, holder: HolderId | None = None
    ) -> tuple[str, dt.datetime]:
        """A presentation code for a current, valid licence, and when it expires.

        ``ttl_s`` seconds (0: the configured default) must lie between 5 and the
        configured maximum; a holder app names the holder (:meth:`Reader.readable`).
        Raises INVALID_ARGUMENT, NOT_FOUND, PERMISSION_DENIED, FAILED_PRECONDITION
        (superseded, not valid, not yet valid or no longer valid) or UNAVAILABLE (no
        active presentation key).
        """
        ttl = ttl_s or self._presentation_ttl_s
        if not _MIN_TTL_S <= ttl <= self._presentation_max_ttl_s:
            raise invalid(
                "ttl_seconds",
                f"must be between {_MIN_TTL_S} and {self._presentation_max_ttl_s}",
            )
        record = await self._reader.readable(
            caller, text, "licence.present", holder=holder
        )
        now = self._clock()
        if record.superseded_by:
            raise precondition(
                f"{record.identifier} was superseded by {record.superseded_by}",
                field="identifier",
            )
        if record.status is not Status.VALID:
            raise precondition(
                f"{record.identifier} is {record.status.label}", field="identifier"
            )
        outside = licence_refusal(record, now)  # not yet valid, or no longer
        if outside is not None:
            raise precondition(outside[1], field="identifier")
        key = await self._store.active_presentation_key()
        if key is None:
            raise CertsealError(ErrorKind.UNAVAILABLE, "no active presentation key")
        claims = presentation_claims(
            identifier=record.identifier,
            version=record.version,
            nonce=os.urandom(_NONCE_BYTES),
            issued_at=now,
            ttl_s=ttl,
        )
        text_code = await codes.encode_code(
            codes.PRESENTATION_CODE_PREFIX, claims, self._keyring.signer_for(key)
        )
        return text_code, now + dt.timedelta(seconds=ttl)
