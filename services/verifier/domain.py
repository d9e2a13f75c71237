"""Verification verdicts: a pure function of (parsed code, trust entry, index entry,
whether the nonce was seen, now). No I/O: the Faust agents keep the index and the trust
list, the servicer looks them up and calls :func:`evaluate`.

The checks run in a fixed order (DCC-style stages) and the first failing one decides the
verdict; every check that ran is reported, so a counter sees why.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from certseal import cbor, codes
from certseal.crypto import InvalidSignature
from certseal.errors import CertsealError, invalid
from certseal.identifiers import LicenceId, parse_licence_id
from certseal.statuses import status_label


class Verdict(enum.Enum):
    """What is true about the code that was shown."""

    VALID = "VALID"
    REVOKED = "REVOKED"
    SUSPENDED = "SUSPENDED"
    CANCELLED = "CANCELLED"
    EXPIRED = "EXPIRED"
    NOT_YET_VALID = "NOT_YET_VALID"
    SUPERSEDED = "SUPERSEDED"
    BAD_SIGNATURE = "BAD_SIGNATURE"
    UNKNOWN_ISSUER = "UNKNOWN_ISSUER"
    KEY_REVOKED = "KEY_REVOKED"
    MALFORMED = "MALFORMED"
    CODE_EXPIRED = "CODE_EXPIRED"
    REPLAYED = "REPLAYED"
    UNKNOWN_LICENCE = "UNKNOWN_LICENCE"


class CodeKind(enum.Enum):
    """Which code was shown."""

    LICENCE = "licence"  # static, LC1:
    PRESENTATION = "presentation"  # dynamic, PC1:


class Outcome(enum.Enum):
    """The result of one check."""

    PASSED = "passed"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Check:
    """One stage of the verification and what it found."""

    name: str
    outcome: Outcome
    detail: str = ""


@dataclass(frozen=True, slots=True)
class ParsedCode:
    """A decoded code whose claims have the expected shape (not yet trusted)."""

    kind: CodeKind
    decoded: codes.DecodedCode
    identifier: str
    lineage: str
    version: int
    issued_at: dt.datetime
    expires_at: dt.datetime
    not_before: dt.datetime | None = None
    issuer_code: str = ""
    type_code: str = ""
    holder_display_name: str = ""
    fields: dict[str, Any] = field(default_factory=dict)
    nonce: bytes = b""

    @property
    def kid(self) -> str:
        """The signing key's id."""
        return self.decoded.kid

    @property
    def nonce_hash(self) -> str:
        """Hex SHA-256 of the nonce ('' for a licence code), as usage events record it."""
        return hashlib.sha256(self.nonce).hexdigest() if self.nonce else ""


@dataclass(frozen=True, slots=True)
class TrustEntry:
    """A signing key as the trust list knows it (from ``certseal.trust-events.v1``)."""

    kid: str
    department_code: str
    suite: str
    public_key: bytes
    status: str  # active | retired | revoked
    not_before: dt.datetime
    not_after: dt.datetime
    revoked_at: dt.datetime | None = None
    presentation_key: bool = False
    key_version: int = 0


@dataclass(frozen=True, slots=True)
class IndexEntry:
    """The current state of a lineage (from ``certseal.licence-events.v1``)."""

    lineage: str
    identifier: str  # the current version
    version: int
    status: str  # national status code, e.g. "01"
    valid_from: dt.datetime
    valid_until: dt.datetime
    issuer_code: str
    type_code: str
    lineage_version: int
    transferred_to: str = ""
    basis: str = ""  # where the entry comes from, when not this group's index
    #: the current version's restricted fields (never in a code): shown only to
    #: counters whose field rights grant them
    restricted_fields: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Verification:
    """The verdict, the checks that led to it and what the counter may see."""

    verdict: Verdict
    checks: tuple[Check, ...]
    kind: CodeKind | None = None
    identifier: str = ""
    lineage: str = ""
    issuer_code: str = ""
    type_code: str = ""
    holder_display_name: str = ""
    fields: dict[str, Any] = field(default_factory=dict)
    valid_from: dt.datetime | None = None
    valid_until: dt.datetime | None = None
    #: the index's restricted fields of the licence, for :meth:`FieldRights.shown`
    #: to narrow; empty once narrowed, and unless the code is the current version
    #: signed by a key trusted when it signed
    restricted_fields: Mapping[str, Any] = field(default_factory=dict)
    status: str = ""  # the index's national status code ("07"), when shown
    #: names from the group's directory (empty while it has none): the licence
    #: type's, the issuing department's, and each shown field's title
    type_name: str = ""
    issuer_name: str = ""
    field_titles: dict[str, str] = field(default_factory=dict)

    @property
    def signed_by_trusted_key(self) -> bool:
        """Whether the signature verified under a key trusted when it signed (the
        ``key`` check passed): only then is the code a licence's, not a forger's."""
        return any(c.name == "key" and c.outcome is Outcome.PASSED for c in self.checks)


@dataclass(frozen=True)
class FieldRights:
    """Which restricted fields of a licence each counter department sees, per type.

    A licence type's ``public`` fields are printed in every code, so every counter sees
    them and no rule can hide them; its ``restricted`` fields are never in a code, and
    the verifier shows one only to a counter a rule grants it (docs/codes.md). A rule is
    ``TYPE:DEPARTMENT:FIELD,FIELD,...``: the restricted fields of ``TYPE`` that
    ``DEPARTMENT``'s counters see; DEPARTMENT ``*`` covers every counter without a rule
    of its own (a department's own rule replaces ``*``, it does not add to it). Without
    a rule a counter sees no restricted field (least privilege).
    """

    rules: Mapping[tuple[str, str], frozenset[str]] = field(default_factory=dict)

    @classmethod
    def parse(cls, rules: Iterable[str]) -> FieldRights:
        """Rules from configuration; INVALID_ARGUMENT names a malformed one."""
        parsed: dict[tuple[str, str], frozenset[str]] = {}
        for rule in rules:
            parts = rule.split(":")
            if len(parts) != 3 or not parts[0] or not parts[1]:
                raise invalid(
                    "field_rights",
                    f"rule {rule!r} is not TYPE:DEPARTMENT:FIELD,FIELD "
                    "(DEPARTMENT may be *)",
                )
            type_code, department, names = parts
            if (type_code, department) in parsed:
                raise invalid("field_rights", f"rule {rule!r} repeats a rule")
            parsed[(type_code, department)] = frozenset(
                n.strip() for n in names.split(",") if n.strip()
            )
        return cls(parsed)

    def granted(self, type_code: str, department: str) -> frozenset[str]:
        """The restricted fields of ``type_code`` that ``department``'s counters see."""
        return self.rules.get(
            (type_code, department), self.rules.get((type_code, "*"), frozenset())
        )

    def shown(self, result: Verification, department: str) -> Verification:
        """``result`` as ``department``'s counters see it: the code's fields and the
        restricted fields a rule grants them; the other restricted fields dropped."""
        if not result.restricted_fields:
            return result
        allowed = self.granted(result.type_code, department)
        granted = {k: v for k, v in result.restricted_fields.items() if k in allowed}
        return replace(result, fields=result.fields | granted, restricted_fields={})


_STATUS_VERDICTS = {
    "02": Verdict.SUSPENDED,
    "03": Verdict.REVOKED,
    "04": Verdict.CANCELLED,
    "05": Verdict.EXPIRED,
    "06": Verdict.SUPERSEDED,
    "07": Verdict.REVOKED,
    "99": Verdict.CANCELLED,
}


def _second(value: dt.datetime) -> dt.datetime:
    return value.replace(microsecond=0)


def _time(value: object, claim: str) -> dt.datetime:
    if not isinstance(value, int) or isinstance(value, bool):
        raise codes.MalformedCode(
            codes.CodeStage.CLAIMS, f"claim {claim} is not a time"
        )
    try:
        return dt.datetime.fromtimestamp(value, dt.UTC)
    except (OverflowError, OSError, ValueError):
        raise codes.MalformedCode(
            codes.CodeStage.CLAIMS, f"claim {claim} is out of range"
        ) from None


def _text(part: dict[Any, Any], key: str, where: str) -> str:
    value = part.get(key)
    if not isinstance(value, str):
        raise codes.MalformedCode(codes.CodeStage.CLAIMS, f"{where}.{key} is not text")
    return value


def _part(claims: dict[Any, Any], key: int, name: str) -> dict[Any, Any]:
    part = claims.get(key)
    if not isinstance(part, dict):
        raise codes.MalformedCode(codes.CodeStage.CLAIMS, f"no {name} claim")
    return part


def _identifier(text: str) -> LicenceId:
    try:
        return parse_licence_id(text)
    except CertsealError as exc:
        raise codes.MalformedCode(
            codes.CodeStage.CLAIMS, f"licence identifier: {exc.message}"
        ) from None


def parse_code(text: str, *, limits: cbor.CborLimits = cbor.CODE_LIMITS) -> ParsedCode:
    """Decode a code, claims within ``limits``; raise :class:`codes.MalformedCode`."""
    decoded = codes.decode_code(text, limits)
    claims = decoded.claims
    issued_at = _time(claims.get(codes.CWT_IAT), "iat")
    expires_at = _time(claims.get(codes.CWT_EXP), "exp")
    if decoded.prefix == codes.LICENCE_CODE_PREFIX:
        part = _part(claims, codes.CLAIM_LICENCE, "licence")
        identifier = _text(part, "id", "licence")
        lid = _identifier(identifier)
        fields = part.get("f", {})
        issuer = claims.get(codes.CWT_ISS)
        if not isinstance(fields, dict):
            raise codes.MalformedCode(codes.CodeStage.CLAIMS, "licence.f is not a map")
        if not isinstance(issuer, str):
            raise codes.MalformedCode(codes.CodeStage.CLAIMS, "claim iss is not text")
        type_code = _text(part, "t", "licence")
        # the identifier names its issuing authority and type (GB/T 36904): a code whose
        # claims say otherwise would let one department's key vouch for another's
        # licence
        if (issuer, type_code) != (lid.authority_code, lid.type_code):
            raise codes.MalformedCode(
                codes.CodeStage.CLAIMS,
                f"claims iss {issuer!r} and licence.t {type_code!r} contradict the "
                f"identifier's issuing authority and type ({lid.authority_code}, "
                f"{lid.type_code})",
            )
        return ParsedCode(
            kind=CodeKind.LICENCE,
            decoded=decoded,
            identifier=identifier,
            lineage=lid.lineage,
            version=lid.version,
            issued_at=issued_at,
            expires_at=expires_at,
            not_before=_time(claims.get(codes.CWT_NBF), "nbf"),
            issuer_code=issuer,
            type_code=type_code,
            holder_display_name=_text(part, "n", "licence"),
            fields=dict(fields),
        )
    part = _part(claims, codes.CLAIM_PRESENTATION, "presentation")
    identifier = _text(part, "id", "presentation")
    lid = _identifier(identifier)
    if part.get("v") != lid.version:
        raise codes.MalformedCode(
            codes.CodeStage.CLAIMS, "claim v contradicts the identifier"
        )
    nonce = claims.get(codes.CWT_CTI)
    if not isinstance(nonce, bytes) or not 8 <= len(nonce) <= 64:
        raise codes.MalformedCode(codes.CodeStage.CLAIMS, "claim cti is not a nonce")
    return ParsedCode(
        kind=CodeKind.PRESENTATION,
        decoded=decoded,
        identifier=identifier,
        lineage=lid.lineage,
        version=lid.version,
        issued_at=issued_at,
        expires_at=expires_at,
        nonce=nonce,
    )


def malformed(error: codes.MalformedCode) -> Verification:
    """The result for a code that could not be decoded."""
    return Verification(
        Verdict.MALFORMED,
        (Check("decode", Outcome.FAILED, f"{error.stage.value}: {error.message}"),),
    )


def evaluate(
    code: ParsedCode,
    *,
    trust: TrustEntry | None,
    index: IndexEntry | None,
    nonce_seen: bool,
    now: dt.datetime,
    signature_known: bool = False,
) -> Verification:
    """The verdict for ``code``, given what the trust list and the index hold.

    ``signature_known``: this signature over these bytes verified under this public
    key before (services/verifier/caches.py): it passes without being recomputed.
    Order: decode, issuer (key known, of the right department or the presentation key),
    signature, key status at signing time, code lifetime and replay (presentation codes),
    licence known, version current, status, validity window. A retired key still
    verifies what it signed; a revoked key does not verify anything it signed at or after
    its revocation time (the signing time is the code's ``iat``).
    """
    checks = [Check("decode", Outcome.PASSED, code.kind.value)]
    trusted = False  # the signature verified under a key trusted when it signed

    def result(verdict: Verdict, failed: str = "", detail: str = "") -> Verification:
        if failed:
            checks.append(Check(failed, Outcome.FAILED, detail))
        shown = verdict not in (Verdict.BAD_SIGNATURE, Verdict.UNKNOWN_ISSUER)
        return Verification(
            verdict=verdict,
            checks=tuple(checks),
            kind=code.kind,
            identifier=code.identifier,
            lineage=code.lineage,
            issuer_code=(index.issuer_code if index else code.issuer_code)
            if shown
            else "",
            type_code=(index.type_code if index else code.type_code) if shown else "",
            holder_display_name=code.holder_display_name if shown else "",
            fields=dict(code.fields) if shown else {},
            valid_from=index.valid_from if index else code.not_before,
            valid_until=index.valid_until if index else None,
            restricted_fields=dict(index.restricted_fields)
            if index and code.version == index.version and trusted
            else {},
            status=index.status if index and shown else "",
        )

    # issuer
    if trust is None:
        return result(
            Verdict.UNKNOWN_ISSUER, "issuer", f"key {code.kid} is not trusted"
        )
    if code.kind is CodeKind.PRESENTATION and not trust.presentation_key:
        return result(
            Verdict.UNKNOWN_ISSUER,
            "issuer",
            f"key {code.kid} does not sign presentation codes",
        )
    if code.kind is CodeKind.LICENCE and trust.department_code != code.issuer_code:
        return result(
            Verdict.UNKNOWN_ISSUER,
            "issuer",
            f"key {code.kid} belongs to {trust.department_code}, not to the "
            f"issuer {code.issuer_code}",
        )
    checks.append(Check("issuer", Outcome.PASSED, trust.department_code))

    # signature
    try:
        if not signature_known:
            code.decoded.verify_signature(trust.public_key)
    except InvalidSignature:
        return result(
            Verdict.BAD_SIGNATURE, "signature", "the signature does not verify"
        )
    checks.append(Check("signature", Outcome.PASSED, f"{trust.suite} {code.kid}"))

    # key at signing time (iat has whole seconds: compare at that precision, and
    # count a code signed in the second of the revocation as after it: safe side)
    if trust.revoked_at is not None and code.issued_at >= _second(trust.revoked_at):
        return result(
            Verdict.KEY_REVOKED,
            "key",
            f"signed {code.issued_at.isoformat()}, at or after the key's "
            f"revocation {trust.revoked_at.isoformat()}",
        )
    if not _second(trust.not_before) <= code.issued_at < trust.not_after:
        return result(
            Verdict.BAD_SIGNATURE, "key", "signed outside the key's validity window"
        )
    at = trust.revoked_at  # signed before it: still trusted, and said so
    said = f"revoked from {at.isoformat()}, signed before" if at else trust.status
    checks.append(Check("key", Outcome.PASSED, said))
    trusted = True

    # the presentation code itself
    if code.kind is CodeKind.PRESENTATION:
        if now >= code.expires_at:
            return result(
                Verdict.CODE_EXPIRED,
                "code lifetime",
                f"expired at {code.expires_at.isoformat()}",
            )
        if nonce_seen:
            return result(Verdict.REPLAYED, "replay", "this presentation code was used")
        checks.append(
            Check(
                "code lifetime", Outcome.PASSED, f"until {code.expires_at.isoformat()}"
            )
        )

    # the licence as the index knows it now
    if index is None:
        return result(
            Verdict.UNKNOWN_LICENCE, "licence", f"{code.lineage} is not indexed"
        )
    if index.lineage != code.lineage or (
        code.kind is CodeKind.LICENCE
        and (index.issuer_code, index.type_code) != (code.issuer_code, code.type_code)
    ):
        return result(
            Verdict.UNKNOWN_LICENCE,
            "licence",
            f"the index's {index.lineage} ({index.issuer_code}, {index.type_code}) is "
            "not the licence the code names",
        )
    checks.append(
        Check(
            "licence",
            Outcome.PASSED,
            index.basis or f"lineage version {index.lineage_version}",
        )
    )
    if code.version < index.version:
        said = f"version {code.version:03d} was replaced by {index.identifier}"
        if index.status != "01":  # the newest is not valid either: asking leads nowhere
            said += f", which is itself {status_label(index.status)}"
        if index.status == "06":
            to = index.transferred_to or "the receiving department"
            said += f" to {to}: the licence now lives there"
        return result(Verdict.SUPERSEDED, "version", said)
    if code.version > index.version:
        said = f"version {code.version:03d} is newer than the index knows"
        return result(Verdict.UNKNOWN_LICENCE, "version", said)
    checks.append(Check("version", Outcome.PASSED, f"{code.version:03d} is current"))
    if index.status != "01":
        verdict = _STATUS_VERDICTS.get(index.status, Verdict.CANCELLED)
        moved = f" to {index.transferred_to}" if index.transferred_to else ""
        detail = status_label(index.status) + moved
        return result(verdict, "status", detail)
    checks.append(Check("status", Outcome.PASSED, status_label("01")))
    if now >= index.valid_until:
        return result(
            Verdict.EXPIRED, "validity", f"ended {index.valid_until.isoformat()}"
        )
    if now < index.valid_from:
        return result(
            Verdict.NOT_YET_VALID, "validity", f"starts {index.valid_from.isoformat()}"
        )
    checks.append(
        Check("validity", Outcome.PASSED, f"until {index.valid_until.isoformat()}")
    )
    return result(Verdict.VALID)
