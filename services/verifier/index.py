"""Applying events to the verification index: pure, version-gated functions.

The Faust agents store, per lineage, the last applied ``LicenceEvent`` and, per kid, the
last applied ``TrustEvent`` (protobuf bytes, so nothing is lost in translation) and call
these functions for every delivered event. An event is applied only if its
``lineage_version`` / ``key_version`` is newer than the stored one, so duplicates,
replays from the beginning and late deliveries leave the index unchanged.
:class:`Freshness` records how far the index has applied each partition.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from google.protobuf.message import DecodeError
from google.protobuf.timestamp_pb2 import Timestamp

from certseal.events import (
    DIRECTORY_EVENTS,
    LICENCE_EVENTS,
    LICENCE_USAGE,
    TRUST_EVENTS,
    uses_of,
)
from certseal.indexkeys import CannotOpen, IndexKeys, Sealed
from certseal.text import display_name_problem
from certseal.timestamps import holds_time
from certseal.v1 import events_pb2, licence_pb2
from services.verifier.bundle import ListedLicence
from services.verifier.domain import IndexEntry, TrustEntry, Verification
from services.verifier.names import DirectoryEntry, named_by

#: the topics a group's index is built from (its status reports each partition)
INDEX_TOPICS = frozenset(
    {LICENCE_EVENTS, TRUST_EVENTS, DIRECTORY_EVENTS, LICENCE_USAGE}
)


class BadEvent(Exception):
    """An event that cannot be applied (it goes to the dead-letter topic)."""


def _time(value: Timestamp) -> dt.datetime:
    return value.ToDatetime(tzinfo=dt.UTC)


def _licence_event(data: bytes) -> events_pb2.LicenceEvent:
    try:
        event = events_pb2.LicenceEvent.FromString(data)
    except DecodeError as exc:
        raise BadEvent(f"not a LicenceEvent: {exc}") from None
    if not event.lineage or not event.identifier or event.lineage_version < 1:
        raise BadEvent("LicenceEvent without lineage, identifier or lineage_version")
    return event


def _trust_event(data: bytes) -> events_pb2.TrustEvent:
    try:
        event = events_pb2.TrustEvent.FromString(data)
    except DecodeError as exc:
        raise BadEvent(f"not a TrustEvent: {exc}") from None
    if not event.kid or not event.public_key or event.key_version < 1:
        raise BadEvent("TrustEvent without kid, public key or key_version")
    return event


def apply_licence_event(
    stored: bytes | None, incoming: bytes, *, key: bytes | None = None
) -> bytes | None:
    """The new stored value for the lineage, or None when ``incoming`` is not newer.

    ``key``, when given, is the record's key on the topic (keyed by lineage): a
    record keyed as another lineage than its event's is a BadEvent, never stored
    under that key (it would replace that lineage's entry and gate away its real
    revocations with its ``lineage_version``)."""
    event = _licence_event(incoming)
    if key is not None and key != event.lineage.encode():
        raise BadEvent(
            f"record key {key[:64]!r} is not the event's lineage {event.lineage[:64]!r}"
        )
    if (
        stored is not None
        and _licence_event(stored).lineage_version >= event.lineage_version
    ):
        return None
    return incoming


def apply_trust_event(stored: bytes | None, incoming: bytes) -> bytes | None:
    """The new stored value for the key, or None when ``incoming`` is not newer."""
    event = _trust_event(incoming)
    if stored is not None and _trust_event(stored).key_version >= event.key_version:
        return None
    return incoming


def _values(fields: Mapping[str, licence_pb2.FieldValue]) -> dict[str, Any]:
    # a date as its ISO 8601 text, as a code carries it
    return {
        name: getattr(value, value.WhichOneof("value") or "string_value")
        for name, value in fields.items()
    }


def restricted_values(
    event: events_pb2.LicenceEvent, keys: IndexKeys | None
) -> dict[str, Any]:
    """The restricted field values of a licence event: its ``restricted_sealed``
    opened with ``keys`` (bound to the event's lineage and ``lineage_version``), or,
    from an event written before values were sealed, its ``restricted_fields`` in
    clear. An event with a sealed blob is never read in clear.

    Raises CannotOpen when no key opens the blob (or ``keys`` is None), BadEvent when
    the opened plaintext is not a RestrictedFields.
    """
    if not event.HasField("restricted_sealed"):
        return _values(event.restricted_fields)
    blob = event.restricted_sealed
    if keys is None:
        raise CannotOpen("unknown_kid", blob.kid)
    plaintext = keys.open(
        Sealed(blob.kid, blob.nonce, blob.ciphertext),
        lineage=event.lineage,
        lineage_version=event.lineage_version,
    )
    try:
        return _values(events_pb2.RestrictedFields.FromString(plaintext).values)
    except DecodeError as exc:
        raise BadEvent(
            f"sealed restricted fields are not RestrictedFields: {exc}"
        ) from None


def _no_report(lineage: str, problem: Exception) -> None:
    pass


def index_entry(
    stored: bytes,
    *,
    keys: IndexKeys | None = None,
    unopened: Callable[[str, Exception], None] = _no_report,
) -> IndexEntry:
    """The index entry a stored licence event stands for, with its restricted field
    values (:func:`restricted_values`, opened with ``keys``).

    A blob that cannot be opened (unknown key id, tampered, moved from another
    licence) gives an entry without restricted values, and ``unopened(lineage,
    problem)`` is called (to log and count it); it never raises for it.
    """
    event = _licence_event(stored)
    try:
        restricted = restricted_values(event, keys)
    except (CannotOpen, BadEvent) as problem:
        unopened(event.lineage, problem)
        restricted = {}
    return IndexEntry(
        lineage=event.lineage,
        identifier=event.identifier,
        version=event.version,
        status=f"{event.status:02d}",
        valid_from=_time(event.valid_from),
        valid_until=_time(event.valid_until),
        issuer_code=event.issuer_code,
        type_code=event.type_code,
        lineage_version=event.lineage_version,
        transferred_to=event.transferred_to,
        restricted_fields=restricted,
    )


def listed_licence(stored: bytes) -> ListedLicence | None:
    """The offline-bundle entry of a lineage, or None when its code says it all.

    Cheaper than :func:`index_entry` for the many lineages that are valid at version 1,
    which is what a bundle export scans.
    """
    event = _licence_event(stored)
    if event.status == 1 and event.version == 1:
        return None
    return ListedLicence(
        event.version,
        f"{event.status:02d}",
        _time(event.valid_from),
        _time(event.valid_until),
        event.lineage_version,
    )


_KEY_STATUS = {
    licence_pb2.KEY_STATUS_ACTIVE: "active",
    licence_pb2.KEY_STATUS_RETIRED: "retired",
    licence_pb2.KEY_STATUS_REVOKED: "revoked",
}


def trust_entry(stored: bytes) -> TrustEntry:
    """The trust entry a stored trust event stands for."""
    event = _trust_event(stored)
    return TrustEntry(
        kid=event.kid,
        department_code=event.department_code,
        suite=event.suite,
        public_key=event.public_key,
        status=_KEY_STATUS.get(event.status, "revoked"),
        not_before=_time(event.not_before),
        not_after=_time(event.not_after),
        revoked_at=_time(event.revoked_at) if event.HasField("revoked_at") else None,
        presentation_key=event.presentation_key,
        key_version=event.key_version,
    )


def _directory_event(data: bytes) -> events_pb2.DirectoryEvent:
    try:
        event = events_pb2.DirectoryEvent.FromString(data)
    except DecodeError as exc:
        raise BadEvent(f"not a DirectoryEvent: {exc}") from None
    if not event.code or event.kind not in ("department", "licence_type"):
        raise BadEvent("DirectoryEvent without code or a known kind")
    if event.entry_version < 1:
        raise BadEvent("DirectoryEvent without entry_version")
    return event


def apply_directory_event(stored: bytes | None, incoming: bytes) -> bytes | None:
    """The new stored value for a directory entry, or None when ``incoming`` is not
    newer (``entry_version``).

    Raises BadEvent (logged and counted, not applied) for an event whose name or a
    field title breaks the display-name rule (:func:`certseal.text.display_name_problem`:
    no format, separator or control character, not blank-looking): a writer of the
    directory topic cannot show counters a spoofed name."""
    event = _directory_event(incoming)
    names = [("name", event.name)] + [
        (f"fields[{i}].title", f.title) for i, f in enumerate(event.fields) if f.title
    ]
    for where, text in names:
        problem = display_name_problem(text)
        if problem is not None:
            raise BadEvent(f"DirectoryEvent {event.code}: {where} {problem}")
    if (
        stored is not None
        and _directory_event(stored).entry_version >= event.entry_version
    ):
        return None
    return incoming


def directory_key(kind: str, code: str) -> bytes:
    """The directory table's key of a department (``kind`` "department") or a licence
    type ("licence_type"), as the issuer keys its directory events."""
    prefix = "department" if kind == "department" else "licence-type"
    return f"{prefix}:{code}".encode()


def directory_entry(stored: bytes) -> DirectoryEntry:
    """The names a stored directory event gives."""
    event = _directory_event(stored)
    return DirectoryEntry(
        event.name,
        {f.name: f.title for f in event.fields if f.title},
        frozenset(f.name for f in event.fields if f.public),
    )


def named(
    result: Verification, *, issuer: bytes | None, licence_type: bytes | None
) -> Verification:
    """``result`` with the names the stored directory events of its issuing department
    and licence type give (each may be None: not known yet), and the titles of the
    fields it shows."""
    return named_by(
        result,
        issuer=directory_entry(issuer) if issuer else None,
        licence_type=directory_entry(licence_type) if licence_type else None,
    )


def _usage_event(data: bytes) -> events_pb2.LicenceUsedEvent:
    try:
        event = events_pb2.LicenceUsedEvent.FromString(data)
    except DecodeError as exc:
        raise BadEvent(f"not a LicenceUsedEvent: {exc}") from None
    if not event.lineage and not event.uses:
        raise BadEvent("LicenceUsedEvent without lineage or uses")
    return event


def accepted_nonces(
    incoming: bytes, bad_uses: list[BadEvent] | None = None
) -> list[tuple[str, int]]:
    """:func:`accepted_claims` without the record's event id."""
    return accepted_claims(incoming, bad_uses)[1]


def accepted_claims(
    incoming: bytes, bad_uses: list[BadEvent] | None = None
) -> tuple[str, list[tuple[str, int]]]:
    """The record's event id, and the accepted presentation nonces it names (its
    claims, docs/architecture.md §2c): (nonce hash, the code's expiry in epoch
    seconds) of each use with a nonce hash and verdict VALID, of any lineage (one-code
    records and batches alike, by :func:`certseal.events.uses_of`).

    Raises :class:`BadEvent` for a value that is not a usage record. An accepted use
    whose ``code_expires_at`` is not a valid Timestamp (seconds outside
    0001-01-01..9999-12-31, nanos outside 0..999 999 999:
    google/protobuf/timestamp.proto) is left out and its :class:`BadEvent` appended
    to ``bad_uses``, so the record's other nonces still count; without ``bad_uses``
    it raises.
    """
    event = _usage_event(incoming)
    nonces: list[tuple[str, int]] = []
    for use in uses_of(event):
        if not use.nonce_hash or use.verdict != "VALID":
            continue
        try:
            nonces.append((use.nonce_hash, _expiry_s(use.code_expires_at)))
        except BadEvent as exc:
            if bad_uses is None:
                raise
            bad_uses.append(BadEvent(f"use of nonce {use.nonce_hash[:64]}: {exc}"))
    return event.event_id, nonces


def _expiry_s(value: Timestamp) -> int:
    """A code's expiry in whole epoch seconds; BadEvent if it is not a time a
    Timestamp holds (:func:`certseal.timestamps.holds_time`)."""
    if not holds_time(value):
        raise BadEvent(
            f"code_expires_at out of range: {value.seconds} s, {value.nanos} ns"
        )
    return int(value.seconds)


class NonceGuard:
    """Presentation nonces this process accepted, until their codes expire.

    The shared, persistent guard is :class:`services.verifier.replay.AcceptedNonces`,
    filled from the usage records of every verifier group; this one closes the window
    until this worker's own usage record comes back through the topic.
    """

    def __init__(self) -> None:
        self._seen: dict[bytes, dt.datetime] = {}

    def seen(self, nonce: bytes) -> bool:
        """Whether this process accepted ``nonce``."""
        return nonce in self._seen

    def add(self, nonce: bytes, expires_at: dt.datetime, now: dt.datetime) -> None:
        """Remember an accepted nonce."""
        if len(self._seen) > 100_000:
            self._seen = {n: e for n, e in self._seen.items() if e > now}
        self._seen[nonce] = expires_at

    def forget(self, *nonces: bytes) -> None:
        """Forget ``nonces``: their acceptance was not decided (their claim failed,
        or their request was refused part-way), so a retry is decided by the log
        again, not refused by this process."""
        for nonce in nonces:
            self._seen.pop(nonce, None)


@dataclass
class Freshness:
    """What the index has applied, per topic partition (offsets, as Kafka counts them)."""

    applied: dict[tuple[str, int], int] = field(default_factory=dict)
    last_event_time: dt.datetime | None = None
    lag_events: int = 0
    recovered: asyncio.Event = field(default_factory=asyncio.Event)
    #: the trust and directory tables recovered and applied what their topics held
    #: at the start (services.verifier.tables)
    tables_read: asyncio.Event = field(default_factory=asyncio.Event)
    #: set at every :meth:`note` (whoever waits for an offset clears it first)
    noted: asyncio.Event = field(default_factory=asyncio.Event)
    #: the end offsets the broker last gave for every partition the worker reads
    #: (:func:`services.verifier.ends.confirm_ends`), and when (UTC)
    ends: dict[tuple[str, int], int] = field(default_factory=dict)
    lag_measured_at: dt.datetime | None = None
    #: the broker has not confirmed the end offsets for longer than the bound
    #: (:meth:`judge_lag`): ``lag_events`` is what was behind then, not now
    lag_unknown: bool = False
    #: set at the first :meth:`confirm_ends` (the start gate waits for it)
    lag_confirmed: asyncio.Event = field(default_factory=asyncio.Event)
    #: monotonic seconds of the last :meth:`confirm_ends` (its age is judged on
    #: them: a wall clock stepped back kept a cut-off worker's lag "known", atk21)
    confirmed_monotonic_s: float | None = None
    #: of ``lag_events``, those of the trust and directory topics (a partitioned
    #: group's answer from a peer's entry rests on this worker's tables too)
    table_lag_events: int = 0
    #: the last :meth:`snapshot`, given again while it says what this says (one is
    #: asked for per lookup on the serving path)
    _kept: Freshness | None = field(default=None, init=False, repr=False, compare=False)

    def marks(
        self, high_waters: dict[tuple[str, int], int]
    ) -> dict[tuple[str, int], int]:
        """The end offset of each partition: ``high_waters`` (from the latest fetch
        responses) or the confirmed :attr:`ends`, whichever is further."""
        marks = dict(self.ends)
        for tp, high_water in high_waters.items():
            marks[tp] = max(high_water, marks.get(tp, high_water))
        return marks

    def measure_lag(self, high_waters: dict[tuple[str, int], int]) -> None:
        """Events published to these partitions (as far as :meth:`marks` says) but
        not applied yet (a partition with no applied offset counts none: every one
        read is seeded where its reading starts, by the feed and
        :func:`services.verifier.tables.read_through_start`)."""
        lags = {
            tp: max(0, hw - self.applied.get(tp, hw - 1) - 1)
            for tp, hw in self.marks(high_waters).items()
        }
        self.lag_events = sum(lags.values())
        self.table_lag_events = sum(
            lag for (topic, _), lag in lags.items() if topic != LICENCE_EVENTS
        )

    def confirm_ends(
        self, ends: dict[tuple[str, int], int], at: dt.datetime, monotonic_s: float
    ) -> None:
        """The broker answered, at ``at`` (UTC; ``monotonic_s`` on the monotonic
        clock), with the end offsets ``ends`` of every partition this worker reads."""
        self.ends = dict(ends)
        self.lag_measured_at = at
        self.confirmed_monotonic_s = monotonic_s
        self.lag_unknown = False
        self.lag_confirmed.set()

    def judge_lag(self, monotonic_s: float, within_s: float) -> bool:
        """Set and return :attr:`lag_unknown`: whether the broker has not confirmed
        the end offsets for more than ``within_s`` seconds before ``monotonic_s`` (or
        never has). A worker cut off from its broker sees no new high waters, so the
        lag it measured last (often 0) says nothing about what was published since."""
        confirmed = self.confirmed_monotonic_s
        self.lag_unknown = confirmed is None or monotonic_s - confirmed > within_s
        return self.lag_unknown

    def snapshot(self) -> Freshness:
        """What this says now, as a copy that does not change as events are applied
        (its events and offsets are not copied; shared between callers, so read
        only)."""
        kept = self._kept
        if (
            kept is None
            or kept.last_event_time != self.last_event_time
            or kept.lag_events != self.lag_events
            or kept.lag_measured_at != self.lag_measured_at
            or kept.lag_unknown != self.lag_unknown
        ):
            kept = self._kept = Freshness(
                last_event_time=self.last_event_time,
                lag_events=self.lag_events,
                lag_measured_at=self.lag_measured_at,
                lag_unknown=self.lag_unknown,
            )
        return kept

    def note(self, topic: str, partition: int, offset: int, timestamp_s: float) -> None:
        """Record an applied (or deliberately skipped) event."""
        self.applied[(topic, partition)] = offset
        self.noted.set()
        when = dt.datetime.fromtimestamp(timestamp_s, dt.UTC)
        if self.last_event_time is None or when > self.last_event_time:
            self.last_event_time = when


@dataclass(frozen=True, slots=True)
class PartitionStatus:
    """How far the index has applied one partition (Kafka offsets)."""

    topic: str
    partition: int
    applied_offset: int
    high_water: int
    lag: int


@dataclass(frozen=True, slots=True)
class IndexStatus:
    """What one verifier group's index holds and how far behind it is."""

    group: str
    partitions: tuple[PartitionStatus, ...]
    licence_entries: int  # RocksDB's estimate
    trust_entries: int
    last_event_time: dt.datetime | None
    licences: int = 0  # lineages, counted exactly (a few seconds old at most)
    #: as in :class:`Freshness`: the high waters are the end offsets the broker
    #: gave at ``lag_measured_at``, too long ago to rely on when ``lag_unknown``
    lag_unknown: bool = False
    lag_measured_at: dt.datetime | None = None
