"""Offline trust bundles: what a counter without network needs to verify licence codes.

A bundle is a signed snapshot of one verifier group's view: the whole trust list (every
key with its status history) and every lineage whose current state differs from what its
first code says (not valid, or replaced by a later version), the revocation-list model
of the EU DCC. A lineage that is not listed is taken as the code itself states it. A
delta carries the lineages that changed since an earlier version and the ones no longer
listed, plus the trust list (it is small).

Each message is a COSE_Sign1 (RFC 9052, framed by :mod:`certseal.cose`) whose protected
header holds the signing verifier's certificate (x5chain, label 33, RFC 9360); that
certificate must be issued by the platform CA to a verifier identity: ``service:verifier``
(every group), or ``service:verifier-<group>`` for the group the bundle names. No other
platform certificate (the event feed's, the console's, a department's) signs a bundle an
offline counter accepts. A bundle file is a CBOR array of such messages: one full
snapshot followed by the deltas applied to it, so every byte an offline counter relies on
is signed by a verifier. A bundle past its ``valid_until`` is refused.

A bundle names its group and the counter it was made for, and carries that counter's
field rights (licence type -> fields it may see); the offline verdict shows no other
field of those types.

Pure: no gRPC, no Faust, no files. The verifier's service scans the index and keeps
snapshots (:mod:`services.verifier.storage`), the CLI reads and writes the bundle file.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from dataclasses import field as dataclasses_field
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from certseal import cbor, codes, cose
from certseal.crypto import InvalidSignature, Suite, verify
from certseal.errors import CertsealError, invalid, precondition
from certseal.identifiers import LicenceId, parse_licence_id

# the signers live in bundle_sign; importable from here as before
from services.verifier.bundle_sign import SUITES as _SUITES
from services.verifier.bundle_sign import VERIFIER_IDENTITY as VERIFIER_IDENTITY
from services.verifier.bundle_sign import BundleSigner as BundleSigner
from services.verifier.bundle_sign import BundleSigning as BundleSigning
from services.verifier.bundle_sign import TokenBundleSigner as TokenBundleSigner
from services.verifier.bundle_sign import (
    is_verifier_identity,
    issued_by,
    signer_name,
)
from services.verifier.domain import (
    CodeKind,
    IndexEntry,
    TrustEntry,
    Verification,
    evaluate,
    malformed,
    parse_code,
)
from services.verifier.names import DirectoryEntry, named_by

FORMAT = "certseal-trust-bundle/1"


@dataclass(frozen=True, slots=True)
class ListedLicence:
    """A lineage an offline counter must not take at its code's word."""

    version: int
    status: str
    valid_from: dt.datetime
    valid_until: dt.datetime
    lineage_version: int


@dataclass(frozen=True)
class BundleContent:
    """What a bundle lists: keys by kid and lineages by lineage."""

    keys: dict[str, TrustEntry]
    licences: dict[str, ListedLicence]


# -- CBOR forms ---------------------------------------------------------------------


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def us(value: dt.datetime) -> int:
    """Microseconds since the epoch: how bundles write times. Exact integer arithmetic
    (through a float, 9999-12-31T23:59:59.999999 would come back as year 10000)."""
    return (value - _EPOCH) // dt.timedelta(microseconds=1)


def from_us(value: int) -> dt.datetime:
    """The UTC time ``value`` microseconds after the epoch.

    Raises OverflowError outside the years 1 to 9999, TypeError for a non-integer.
    """
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"a time in microseconds must be an integer, not {value!r}")
    return _EPOCH + dt.timedelta(microseconds=value)


def _key_row(key: TrustEntry) -> list[Any]:
    return [
        bytes.fromhex(key.kid),
        key.department_code,
        key.suite,
        key.public_key,
        key.status,
        us(key.not_before),
        us(key.not_after),
        us(key.revoked_at) if key.revoked_at else None,
        key.presentation_key,
        key.key_version,
    ]


def _key_from_row(row: list[Any]) -> TrustEntry:
    kid, dept, suite, public_key, status, nbf, naf, revoked, pres, version = row
    return TrustEntry(
        kid=kid.hex(),
        department_code=dept,
        suite=suite,
        public_key=public_key,
        status=status,
        not_before=from_us(nbf),
        not_after=from_us(naf),
        revoked_at=from_us(revoked) if revoked is not None else None,
        presentation_key=pres,
        key_version=version,
    )


def _licence_row(entry: ListedLicence) -> list[Any]:
    return [
        entry.version,
        entry.status,
        us(entry.valid_from),
        us(entry.valid_until),
        entry.lineage_version,
    ]


def _licence_from_row(row: list[Any]) -> ListedLicence:
    version, status, valid_from, valid_until, lineage_version = row
    return ListedLicence(
        version, status, from_us(valid_from), from_us(valid_until), lineage_version
    )


def encode_content(content: BundleContent) -> dict[str, Any]:
    """The CBOR-ready form of a snapshot (also how snapshots are kept on disk)."""
    return {
        "keys": [_key_row(k) for k in sorted(content.keys.values(), key=_kid)],
        "licences": {n: _licence_row(e) for n, e in sorted(content.licences.items())},
    }


def decode_content(data: Mapping[str, Any]) -> BundleContent:
    """The snapshot a CBOR form stands for."""
    keys = [_key_from_row(row) for row in data["keys"]]
    return BundleContent(
        {k.kid: k for k in keys},
        {n: _licence_from_row(row) for n, row in data["licences"].items()},
    )


def _kid(key: TrustEntry) -> str:
    return key.kid


@dataclass(frozen=True)
class Snapshot:
    """A versioned snapshot as one verifier group took it."""

    group: str
    version: int
    content: BundleContent
    index_time: dt.datetime | None


def payload(
    snapshot: Snapshot,
    *,
    issued_at: dt.datetime,
    valid_until: dt.datetime,
    base: Snapshot | None = None,
    counter: str = "",
    log_checkpoint: str = "",
    directory: Mapping[str, DirectoryEntry] | None = None,
) -> dict[str, Any]:
    """The signed payload: the full snapshot, or the delta from ``base``, made for
    ``counter``. It carries no field value, nor field rights: offline, a counter sees
    only the public fields the code carries (restricted fields are shown online).
    ``directory`` (``department:<code>`` / ``licence-type:<code>`` -> names): the
    departments' and licence types' names and the titles of the types' public fields
    (``titles``), so that an offline verdict names the issuer, the type and the
    fields a code carries as an online one does (no other field's title: that would
    name a type's restricted fields)."""
    body = encode_content(snapshot.content)
    message: dict[str, Any] = {
        "format": FORMAT,
        "group": snapshot.group,
        "counter": counter,
        "version": snapshot.version,
        "issued_at": us(issued_at),
        "valid_until": us(valid_until),
        "index_time": us(snapshot.index_time) if snapshot.index_time else None,
        "keys": body["keys"],
    }
    if log_checkpoint:  # the transparency log's latest checkpoint (signed note)
        message["log_checkpoint"] = log_checkpoint
    if directory:  # public names, small: in every message, full or delta
        # names only: a type's field titles would name its restricted fields too,
        # and a bundle names no field beyond the public ones a code carries
        message["directory"] = {
            key: entry.name for key, entry in sorted(directory.items())
        }
        titles = {
            key: entry.public_titles
            for key, entry in sorted(directory.items())
            if entry.public_titles
        }
        if titles:  # a separate map: a verifier before it reads the names alone
            message["titles"] = titles
    if base is None:
        message["licences"] = body["licences"]
        return message
    old = base.content.licences
    message["base"] = base.version
    message["licences"] = {
        name: row
        for name, row in body["licences"].items()
        if name not in old or _licence_row(old[name]) != row
    }
    message["removed"] = sorted(set(old) - set(snapshot.content.licences))
    return message


# -- reading ------------------------------------------------------------------------


@dataclass(frozen=True)
class OfflineBundle:
    """A verified bundle file, with its deltas applied."""

    group: str
    version: int
    issued_at: dt.datetime
    valid_until: dt.datetime
    index_time: dt.datetime | None
    signer: str
    content: BundleContent
    messages: tuple[bytes, ...]
    counter: str = ""
    #: the transparency log's latest checkpoint the group carried (signed note, or "")
    log_checkpoint: str = ""
    #: the names the latest message carried (``department:<code>``,
    #: ``licence-type:<code>`` -> name); empty from older verifiers
    directory: Mapping[str, DirectoryEntry] = dataclasses_field(default_factory=dict)


def bad_bundle(message: str) -> CertsealError:
    """The error for a bundle that cannot be used."""
    return invalid("bundle", message)


def is_bundle_message(message: bytes) -> bool:
    """Whether ``message`` is framed as a trust bundle's message: a COSE_Sign1 whose
    payload is a map of the :data:`FORMAT` format. Its signature is not checked: this
    tells a bundle (even one of another platform, altered or expired) from any other
    file, which ``bundle fetch --out`` must never replace."""
    try:
        data = cbor.loads(cose.parse_sign1(message).payload, cbor.BUNDLE_LIMITS)
    except Exception:
        return False
    return isinstance(data, dict) and data.get("format") == FORMAT


def _open_message(
    message: bytes, ca: x509.Certificate
) -> tuple[dict[str, Any], str, x509.Certificate]:
    try:
        sign1 = cose.parse_sign1(message)
        cert = x509.load_der_x509_certificate(sign1.header[cose.HEADER_X5CHAIN])
        suite = Suite.from_cose_alg(sign1.header[cose.HEADER_ALG])
    except Exception:
        raise bad_bundle("is not a certseal trust bundle (bad COSE framing)") from None
    if not issued_by(cert, ca):
        raise bad_bundle("is signed by a certificate the platform CA did not issue")
    signer = signer_name(cert)
    if not is_verifier_identity(signer):
        raise bad_bundle(
            f"is signed by {signer!r}, which is not a verifier identity "
            f"({VERIFIER_IDENTITY} or {VERIFIER_IDENTITY}-<group>)"
        )
    public_key_der = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    try:
        if suite is None or suite not in _SUITES:
            raise InvalidSignature
        verify(suite, public_key_der, sign1.to_be_signed(), sign1.signature)
    except InvalidSignature:
        raise bad_bundle("signature does not verify: the file was altered") from None
    # decoded only once a verifier of the platform is known to have signed it: an
    # altered file costs its reading, not the decoding of what it claims to hold
    try:
        data = cbor.loads(sign1.payload, cbor.BUNDLE_LIMITS)
    except Exception:
        raise bad_bundle("is not a certseal trust bundle (bad payload)") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise bad_bundle(f"is not in the {FORMAT} format")
    return data, signer, cert


def open_bundle(
    messages: Iterable[bytes], *, ca_pem: bytes, now: dt.datetime
) -> OfflineBundle:
    """Verify every message of a bundle file and apply the deltas in order.

    Raises INVALID_ARGUMENT (field ``bundle``) when a signature, the chain of versions
    or the format is wrong, and FAILED_PRECONDITION when the bundle is past its validity.
    """
    ca = x509.load_pem_x509_certificate(ca_pem)
    kept = tuple(messages)
    if not kept:
        raise bad_bundle("is empty")
    bundle: OfflineBundle | None = None
    for message in kept:
        data, signer, cert = _open_message(message, ca)
        try:
            issued_at = from_us(data["issued_at"])
            valid_until = from_us(data["valid_until"])
            index_time = data["index_time"]
            keys = decode_content({"keys": data["keys"], "licences": {}}).keys
            changed = decode_content({"keys": [], "licences": data["licences"]})
            version, group, base = data["version"], data["group"], data.get("base")
            removed = list(data.get("removed", []))
            # a bundle of an older verifier may also hold "fields" (field rights that
            # narrowed the code's public fields): ignored, the code shows them anyway
            counter = str(data.get("counter", ""))
            log_checkpoint = str(data.get("log_checkpoint", ""))
            directory = _directory_from(data.get("directory"), data.get("titles"))
        except (KeyError, TypeError, ValueError, AttributeError, OverflowError):
            raise bad_bundle("has a message with missing or mistyped fields") from None
        if not is_verifier_identity(signer, group):
            raise bad_bundle(
                f"is signed by {signer!r}, not a verifier of group {group}"
            )
        if not cert.not_valid_before_utc <= issued_at <= cert.not_valid_after_utc:
            raise bad_bundle("was signed outside its signer certificate's validity")
        if bundle is None:
            if base is not None:
                raise bad_bundle("starts with a delta; fetch a full bundle")
            licences = changed.licences
        else:
            if base != bundle.version or group != bundle.group:
                raise bad_bundle(
                    f"has a delta from {group} version {base}, which does not follow "
                    f"{bundle.group} version {bundle.version}"
                )
            licences = dict(bundle.content.licences)
            for name in removed:
                licences.pop(name, None)
            licences.update(changed.licences)
        bundle = OfflineBundle(
            group=group,
            version=version,
            issued_at=issued_at,
            valid_until=valid_until,
            index_time=from_us(index_time) if index_time is not None else None,
            signer=signer,
            content=BundleContent(keys, licences),
            messages=(*bundle.messages, message) if bundle else (message,),
            counter=counter,
            log_checkpoint=log_checkpoint
            or (bundle.log_checkpoint if bundle is not None else ""),
            directory=directory or (bundle.directory if bundle is not None else {}),
        )
    assert bundle is not None
    if now >= bundle.valid_until:
        raise precondition(
            f"the trust bundle expired at {bundle.valid_until.isoformat()}; "
            "fetch a fresh one (certseal bundle fetch)",
            field="bundle",
        )
    return bundle


def _directory_from(data: Any, titles: Any = None) -> dict[str, DirectoryEntry]:
    """The names a message carries (``{}`` when it has none), with the public
    fields' titles (``titles``: key -> field -> title); ValueError when they are not
    text."""
    if data is None:
        return {}
    shown = dict(titles or {})
    found = {}
    for key, name in dict(data).items():
        if not isinstance(key, str) or not isinstance(name, str):
            raise ValueError("directory")
        fields = dict(shown.get(key) or {})
        if not all(isinstance(v, str) for pair in fields.items() for v in pair):
            raise ValueError("titles")
        found[key] = DirectoryEntry(name, fields, frozenset(fields))
    return found


# -- offline verification -----------------------------------------------------------


def verify_offline(text: str, bundle: OfflineBundle, now: dt.datetime) -> Verification:
    """The verdict for a licence code from a bundle alone.

    A presentation code is refused (it needs the online replay guard); a lineage the
    bundle does not list is taken as its code states it. The fields shown are the
    public ones the code carries: a bundle holds no restricted field value.
    """
    try:
        code = parse_code(text)
    except codes.MalformedCode as exc:
        return malformed(exc)
    if code.kind is CodeKind.PRESENTATION:
        raise invalid(
            "code",
            "is a presentation code (PC1:); those are verified online only. "
            "Ask for the licence code (LC1:) or go online",
        )
    when = bundle.index_time.isoformat() if bundle.index_time else "the start"
    entry = bundle.content.licences.get(code.lineage)
    if entry is None:
        index = IndexEntry(
            lineage=code.lineage,
            identifier=code.identifier,
            version=code.version,
            status="01",
            valid_from=code.not_before or code.issued_at,
            valid_until=code.expires_at,
            issuer_code=code.issuer_code,
            type_code=code.type_code,
            lineage_version=0,
            basis=f"not listed in bundle {bundle.version} (events up to {when})",
        )
    else:
        lid: LicenceId = parse_licence_id(code.identifier)
        index = IndexEntry(
            lineage=code.lineage,
            identifier=str(replace(lid, version=entry.version)),
            version=entry.version,
            status=entry.status,
            valid_from=entry.valid_from,
            valid_until=entry.valid_until,
            issuer_code=code.issuer_code,
            type_code=code.type_code,
            lineage_version=entry.lineage_version,
            basis=f"listed in bundle {bundle.version} (events up to {when})",
        )
    result = evaluate(
        code,
        trust=bundle.content.keys.get(code.kid),
        index=index,
        nonce_seen=False,
        now=now,
    )
    return named_by(  # the names the bundle carries, as the online verdict has them
        result,
        issuer=bundle.directory.get(f"department:{code.issuer_code}"),
        licence_type=bundle.directory.get(f"licence-type:{code.type_code}"),
    )
