"""The verifier's use cases: verify a scanned code, report the index, export bundles.

Everything is answered from this worker's own tables (:class:`VerifierState`): never a
network round trip per request. Results are domain values (:class:`Verification`,
:class:`IndexStatus`, :class:`ExportedBundle`); :mod:`services.verifier.convert` turns
them into protobuf.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging
from collections.abc import Callable

from certseal import codes
from certseal.errors import denied, invalid, precondition
from certseal.events import LICENCE_EVENTS, LICENCE_USAGE, TRUST_EVENTS
from certseal.rpc import Caller
from certseal.timestamps import utcnow
from services.verifier.bundle import BundleContent, BundleSigner, Snapshot, payload
from services.verifier.domain import (
    CodeKind,
    FieldRights,
    Verdict,
    Verification,
    evaluate,
    malformed,
    parse_code,
)
from services.verifier.events import kafka_headers, licence_used
from services.verifier.index import (
    Freshness,
    index_entry,
    listed_licence,
    nonce_presented,
    trust_entry,
)
from services.verifier.storage import SnapshotStore, VerifierState, estimated_entries

log = logging.getLogger(__name__)


class NonceGuard:
    """Presentation nonces this process accepted, until their codes expire.

    The shared, persistent guard is the ``presentations`` table, filled from the usage
    events of every verifier group; this one closes the window until this group's own
    usage event comes back through the topic.
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


@dataclasses.dataclass(frozen=True, slots=True)
class PartitionStatus:
    """How far the index has applied one partition (Kafka offsets)."""

    topic: str
    partition: int
    applied_offset: int
    high_water: int
    lag: int


@dataclasses.dataclass(frozen=True, slots=True)
class IndexStatus:
    """What one verifier group's index holds and how far behind it is."""

    group: str
    partitions: tuple[PartitionStatus, ...]
    licence_entries: int  # RocksDB's estimate
    trust_entries: int
    last_event_time: dt.datetime | None


@dataclasses.dataclass(frozen=True, slots=True)
class ExportedBundle:
    """One signed bundle message (COSE_Sign1) and what it carries."""

    group: str
    message: bytes
    version: int
    base_version: int  # 0: a full snapshot
    valid_until: dt.datetime
    listed_licences: int
    keys: int
    index_time: dt.datetime | None


class BundleExporter:
    """Takes offline-bundle snapshots of a group's index and signs bundles from them.

    A snapshot is taken at most once per ``refresh_s``; it scans every lineage, yielding
    to the event loop as it goes so that verifications are not held up; unchanged
    content keeps its version. A bundle is valid for ``validity_s`` from its signing.
    """

    def __init__(
        self,
        *,
        group: str,
        state: VerifierState,
        store: SnapshotStore,
        signer: BundleSigner,
        refresh_s: float,
        validity_s: int,
        clock: Callable[[], dt.datetime] = utcnow,
    ):
        self._group = group
        self._state = state
        self._store = store
        self._signer = signer
        self._refresh = dt.timedelta(seconds=refresh_s)
        self._validity = dt.timedelta(seconds=validity_s)
        self._clock = clock
        self._lock = asyncio.Lock()
        self._current: tuple[dt.datetime, Snapshot] | None = None

    async def current(self) -> Snapshot:
        """A snapshot no older than the refresh interval."""
        async with self._lock:
            now = self._clock()
            if self._current and now - self._current[0] < self._refresh:
                return self._current[1]
            index_time = self._state.freshness.last_event_time
            content = await self._scan()
            latest = self._store.latest()
            if latest is not None and latest.content == content:
                snapshot = Snapshot(self._group, latest.version, content, index_time)
            else:
                version = int(now.timestamp() * 1000)
                if latest is not None:
                    version = max(version, latest.version + 1)
                snapshot = Snapshot(self._group, version, content, index_time)
                self._store.add(snapshot)
            self._current = (now, snapshot)
            return snapshot

    def get(self, version: int) -> Snapshot | None:
        """A kept snapshot."""
        return self._store.get(version)

    async def export(self, *, since_version: int, group: str) -> ExportedBundle:
        """The current snapshot signed: in full, or as the delta from ``since_version``.

        A delta is made only when ``group`` is this group (or empty). Raises
        INVALID_ARGUMENT when ``since_version`` is newer than the current snapshot (it
        comes from another group) and FAILED_PRECONDITION when it is no longer kept.
        """
        snapshot = await self.current()
        base = None
        if since_version and group in ("", self._group):
            if since_version > snapshot.version:
                raise invalid(
                    "since_version",
                    f"{since_version} is newer than group {self._group}'s "
                    f"latest bundle {snapshot.version}: it comes from another group",
                )
            base = self.get(since_version)
            if base is None:
                raise precondition(
                    f"group {self._group} no longer keeps bundle version "
                    f"{since_version}; fetch a full bundle (since_version 0)",
                    field="since_version",
                )
        now = self._clock()
        valid_until = now + self._validity
        message = payload(snapshot, issued_at=now, valid_until=valid_until, base=base)
        return ExportedBundle(
            group=self._group,
            message=self._signer.sign(message),
            version=snapshot.version,
            base_version=base.version if base else 0,
            valid_until=valid_until,
            listed_licences=len(message["licences"]),
            keys=len(message["keys"]),
            index_time=snapshot.index_time,
        )

    async def _scan(self) -> BundleContent:
        keys = {
            key.kid: key
            for key in (trust_entry(stored) for stored in self._state.trust.values())
        }
        licences = {}
        for count, (lineage, stored) in enumerate(self._state.index.items(), 1):
            listed = listed_licence(stored)
            if listed is not None:
                licences[lineage.decode()] = listed
            if count % 5000 == 0:
                await asyncio.sleep(0)
        return BundleContent(keys, licences)


class VerifierService:
    """Verifies codes against one group's index and trust list, and reports on them."""

    def __init__(
        self,
        *,
        group: str,
        state: VerifierState,
        bundles: BundleExporter,
        counters: frozenset[str] = frozenset(),
        field_rights: FieldRights | None = None,
        clock: Callable[[], dt.datetime] = utcnow,
    ):
        self._group = group
        self._state = state
        self._clock = clock
        self._nonces = NonceGuard()
        self._bundles = bundles
        self._counters = counters
        self._field_rights = field_rights or FieldRights()

    @property
    def freshness(self) -> Freshness:
        """How far this group's index has applied the topics."""
        return self._state.freshness

    def counter_department(self, caller: Caller) -> str:
        """The calling counter's department ('' for an operator), if it may verify.

        Raises PERMISSION_DENIED for a department that is not a counter of this group.
        """
        if caller.kind != "dept":
            return ""
        if self._counters and caller.name not in self._counters:
            log.warning("refused verification by %s: not a counter here", caller)
            raise denied(
                f"department {caller.name} is not a counter of verifier group "
                f"{self._group}"
            )
        return caller.name

    async def verify(
        self, text: str, *, purpose: str, caller: Caller, department: str
    ) -> Verification:
        """Verify one scanned text and publish the use (for any code that names a licence).

        ``department`` is the counter's (:meth:`counter_department`); the fields shown
        follow its field rights. A malformed code is answered without an event.
        """
        try:
            code = parse_code(text)
        except codes.MalformedCode as exc:
            return malformed(exc)
        now = self._clock()
        state = self._state
        lineage = code.lineage.encode()
        stored_key = state.trust.get(code.kid.encode())
        stored_lineage = state.index.get(lineage)
        seen = code.kind is CodeKind.PRESENTATION and (
            self._nonces.seen(code.nonce)
            or nonce_presented(state.presentations.get(lineage), code.nonce_hash)
        )
        result = evaluate(
            code,
            trust=trust_entry(stored_key) if stored_key else None,
            index=index_entry(stored_lineage) if stored_lineage else None,
            nonce_seen=seen,
            now=now,
        )
        if result.fields:
            shown = self._field_rights.visible(
                result.type_code, department, result.fields
            )
            if shown != result.fields:
                result = dataclasses.replace(result, fields=shown)
        if code.kind is CodeKind.PRESENTATION and result.verdict is Verdict.VALID:
            self._nonces.add(code.nonce, code.expires_at, now)
        record = licence_used(
            code,
            result.verdict,
            counter=str(caller),
            purpose=purpose,
            group=self._group,
            now=now,
        )
        await state.usage.send(
            key=record.key, value=record.value, headers=kafka_headers(record)
        )
        return result

    async def export_bundle(self, *, since_version: int, group: str) -> ExportedBundle:
        """A signed offline bundle (see :meth:`BundleExporter.export`)."""
        return await self._bundles.export(since_version=since_version, group=group)

    async def index_status(self) -> IndexStatus:
        """Per assigned partition of the event topics: applied offset, high water, lag."""
        consumer = self._state.app.consumer
        freshness = self._state.freshness
        sources = {LICENCE_EVENTS, TRUST_EVENTS, LICENCE_USAGE}
        assigned = sorted(tp for tp in consumer.assignment() if tp.topic in sources)
        high_waters = await consumer.highwaters(*assigned) if assigned else {}
        partitions = []
        for tp in assigned:
            applied = freshness.applied.get((tp.topic, tp.partition))
            if applied is None:  # nothing new since start: where consumption resumed
                position = await consumer.position(tp)
                applied = position - 1 if position is not None else -1
            high_water = high_waters.get(tp, applied + 1)
            partitions.append(
                PartitionStatus(
                    topic=tp.topic,
                    partition=tp.partition,
                    applied_offset=applied,
                    high_water=high_water,
                    lag=max(0, high_water - applied - 1),
                )
            )
        return IndexStatus(
            group=self._group,
            partitions=tuple(partitions),
            licence_entries=estimated_entries(self._state.index),
            trust_entries=estimated_entries(self._state.trust),
            last_event_time=freshness.last_event_time,
        )
