"""Offline trust bundles of one verifier group, exported from its tables: a full
snapshot or a delta from a version the counter holds, signed
(:mod:`services.verifier.bundle` for the format and signing). A use case of the
verifier, beside :mod:`services.verifier.service`, which re-exports it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
from collections.abc import Callable

from certseal.errors import CertsealError, ErrorKind, invalid, precondition
from certseal.timestamps import utcnow
from services.verifier.bundle import BundleContent, BundleSigning, Snapshot, payload
from services.verifier.index import directory_entry, listed_licence, trust_entry
from services.verifier.names import DirectoryEntry
from services.verifier.storage import SnapshotStore, VerifierState


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
    log_checkpoint: str = ""  # the transparency log's, inside the message ("": none)


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
        signer: BundleSigning,
        refresh_s: float,
        validity_s: int,
        clock: Callable[[], dt.datetime] = utcnow,
        log_checkpoint: Callable[[], str] = lambda: "",  # the log's latest ("": none)
    ):
        self.log_checkpoint = log_checkpoint
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

    async def export(
        self,
        *,
        since_version: int,
        group: str,
        counter: str = "",
    ) -> ExportedBundle:
        """The current snapshot signed: in full, or as the delta from ``since_version``.

        A delta is made only when ``group`` is this group (or empty). Raises
        INVALID_ARGUMENT when ``since_version`` is newer than the current snapshot (it
        comes from another group) and FAILED_PRECONDITION when it is no longer kept.
        The bundle names ``counter``, the counter it was made for; it carries no
        field value (restricted fields are shown online only).
        """
        lookup = self._state.lookup
        if lookup is not None and lookup.ownership.size > 1:
            # a worker of a partitioned group holds only its partitions: a bundle
            # from it would leave out the others' revoked licences
            raise precondition(
                f"verifier group {self._group} runs partitioned over "
                f"{lookup.ownership.size} workers, whose indexes each hold a part: "
                "export offline bundles from a group of one worker (group_size 1)",
                field="group",
            )
        if self._state.freshness.lag_unknown:
            # cut off from its broker (services.verifier.ends): what was revoked
            # since is not in its index, and a bundle is relied on for a day; said
            # first, as the cause when the feed's failed run cleared caught_up too
            raise CertsealError(
                ErrorKind.UNAVAILABLE,
                f"verifier group {self._group}: this worker has not reached its broker "
                "for too long to know what was revoked since: no offline bundle "
                "until it has; retry later",
            )
        if lookup is not None and not lookup.caught_up:
            # a fresh index of a group of one answers while it builds (its lag in
            # each answer), but a bundle carries no lag: it would lack revocations
            raise CertsealError(
                ErrorKind.UNAVAILABLE,
                f"verifier group {self._group} has not read its licence topic, trust "
                "list and directory to the end they had at its start: no offline "
                "bundle until it has; retry when GetIndexStatus shows no lag",
            )
        if lookup is not None and lookup.rebuilding:
            # a group of one that took over partitions (a shrunk group) rebuilds them
            # from the topic: until then its index lacks their revoked licences
            raise CertsealError(
                ErrorKind.UNAVAILABLE,
                f"verifier group {self._group} is rebuilding licence partitions "
                f"{sorted(lookup.rebuilding)} of its index: no offline bundle until "
                "they are held in full; retry when GetIndexStatus shows no lag",
            )
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
        message = payload(
            snapshot,
            issued_at=now,
            valid_until=valid_until,
            base=base,
            counter=counter,
            log_checkpoint=self.log_checkpoint(),
            directory=self._directory(),
        )
        return ExportedBundle(
            group=self._group,
            message=await self._signer.sign_bundle(message),
            version=snapshot.version,
            base_version=base.version if base else 0,
            valid_until=valid_until,
            listed_licences=len(message["licences"]),
            keys=len(message["keys"]),
            index_time=snapshot.index_time,
            log_checkpoint=message.get("log_checkpoint", ""),
        )

    def _directory(self) -> dict[str, DirectoryEntry]:
        """Every department's and licence type's names this group knows (a few per
        department: small beside the licences)."""
        if self._state.directory is None:
            return {}
        return {
            key.decode(): directory_entry(stored)
            for key, stored in self._state.directory.items()
        }

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
