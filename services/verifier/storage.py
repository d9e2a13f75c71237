"""What a verifier keeps: its Faust tables, its index folder and its bundle files.

The index itself lives in RocksDB tables that Faust recovers from changelog topics
(:class:`VerifierState`, built by :func:`services.verifier.app.create_app`); this module
also owns the files on disk: the marker that ties the index folder to one Kafka cluster,
the offline-bundle snapshots a group exported (so deltas survive restarts) and the bundle
files a counter reads and writes. Every file is replaced atomically.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import cbor2

from certseal import cbor
from certseal.bounds import MAX_BUNDLE_FILE_BYTES
from certseal.errors import CertsealError
from certseal.files import read_input_file, read_regular_file, write_atomically
from certseal.kafka import EMBEDDED_CLUSTER_PREFIX
from services.verifier.bundle import (
    Snapshot,
    bad_bundle,
    decode_content,
    encode_content,
    from_us,
    us,
)
from services.verifier.bundle_file_start import starts_as_bundle_file
from services.verifier.domain import TrustEntry
from services.verifier.index import (
    DirectoryEntry,
    Freshness,
    directory_entry,
    trust_entry,
)
from services.verifier.rebuilds import REBUILD_FILE, note_rebuild

if TYPE_CHECKING:  # a counter reading a bundle file does not need Faust loaded
    import faust

log = logging.getLogger(__name__)

T = TypeVar("T")

CLUSTER_FILE = "kafka-cluster-id"
MEMBER_FILE = "group-member"
"""The member id this worker last had in its Faust consumer group (one line of ASCII):
:func:`services.verifier.transport.rejoin_as_before` joins with it again."""
MAX_MEMBER_ID_BYTES = 1024
"""A member id is the client id, a dash and a UUID (Kafka's GroupCoordinator):
a longer file is not one this worker wrote."""


_MISSING = object()


class ParsedTable(Generic[T]):
    """A small Faust table (trust list, directory) read through a cache of parsed
    entries, so a verification neither reads RocksDB through Faust nor parses a
    protobuf per lookup.

    Exact, not eventually fresh: the table's agent writes through :attr:`writes`
    (on the event loop, as the lookups), which drops the key's cached entry; while
    ``live()`` is false (Faust rebalancing or recovering the table from its
    changelog, which writes past the agent) nothing is cached and every lookup reads
    the table, and once a recovery is done (the table's ``on_recover``) what was
    cached before it is forgotten. At most ``size`` entries are kept (all dropped at once beyond it: the
    tables it serves hold a few thousand keys).
    """

    def __init__(
        self,
        table: Any,
        parse: Callable[[bytes], T],
        *,
        live: Callable[[], bool] = lambda: True,
        size: int = 8192,
    ):
        self.table = table
        self._parse = parse
        self._live = live
        self._size = size
        self._cache: dict[bytes, Any] = {}
        self.writes = _Writes(self)  # the table as its agent reads and writes it
        on_recover = getattr(table, "on_recover", None)
        if on_recover is not None:  # a Faust table: told when a recovery is done
            on_recover(self._recovered)

    async def _recovered(self) -> None:
        """Faust recovered the table (its changelog written past the agent): forget
        every parsed entry, looked up meanwhile or not (atk35b)."""
        self._cache.clear()

    def get(self, key: bytes) -> T | None:
        """The parsed entry of ``key``, or None when the table has none."""
        if not self._live():
            self._cache.clear()
            stored = self.table.get(key)
            return self._parse(stored) if stored is not None else None
        entry = self._cache.get(key, _MISSING)
        if entry is _MISSING:
            stored = self.table.get(key)
            entry = self._parse(stored) if stored is not None else None
            if len(self._cache) >= self._size:
                self._cache.clear()
            self._cache[key] = entry
        return entry

    def written(self, key: bytes) -> None:
        """The table's entry of ``key`` changed."""
        self._cache.pop(key, None)


class _Writes:
    """A :class:`ParsedTable`'s table, each write dropping the key's parsed entry."""

    def __init__(self, parsed: ParsedTable[Any]):
        self._parsed = parsed

    def get(self, key: bytes) -> bytes | None:
        stored: bytes | None = self._parsed.table.get(key)
        return stored

    def __setitem__(self, key: bytes, value: bytes) -> None:
        self._parsed.table[key] = value
        self._parsed.written(key)


@dataclass
class VerifierState:
    """What one verifier group's worker keeps and publishes."""

    app: faust.App
    index: Any  # lineage -> last applied LicenceEvent
    trust: Any  # kid -> last applied TrustEvent
    #: the replay guard (services.verifier.replay.UsageFeed): ``seen(nonce_hash)``
    presentations: Any
    usage: Any  # the licence-usage topic
    freshness: Freshness
    directory: Any = None  # department:<code> / licence-type:<code> -> DirectoryEvent
    feed: Any = None  # the LicenceFeed that keeps ``index`` (a DiskIndex)
    #: the group's lookup (services.verifier.group.GroupIndex): ``await
    #: get_many(lineages)`` and ``freshness_of(lineage)``; None: ``index.get`` here
    lookup: Any = None
    #: ``trust`` and ``directory`` read through parsed-entry caches; their agents
    #: write through each one's ``writes``
    trust_entries: ParsedTable[TrustEntry] = field(init=False)
    names: ParsedTable[DirectoryEntry] = field(init=False)

    def __post_init__(self) -> None:
        def live() -> bool:  # Faust writes past the agents while it recovers
            return not (self.app.rebalancing or self.app.in_recovery)

        self.trust_entries = ParsedTable(self.trust, trust_entry, live=live)
        self.names = ParsedTable(self.directory, directory_entry, live=live)


def estimated_entries(table: Any) -> int:
    """About how many entries a table holds here, in O(1) (RocksDB's estimate).

    Counting exactly walks every key: seconds at a million entries, on the loop that
    answers verifications.
    """
    if hasattr(table, "estimated_entries"):  # the DiskIndex
        return int(table.estimated_entries())
    store = table.data
    try:
        dbs = list(store._dbs_for_actives())
    except AttributeError:  # not a RocksDB store
        return len(table)
    return sum(
        int(db.property_int_value("rocksdb.estimate-num-keys") or 0) for db in dbs
    )


def counted_entries(table: Any) -> int:
    """Exactly how many keys a table holds here (each once, however often written).

    Walks every key: run it off the event loop (``asyncio.to_thread``); RocksDB reads
    are safe beside the loop's writes.
    """
    if hasattr(table, "counted_entries"):  # the DiskIndex
        return int(table.counted_entries())
    store = table.data
    try:
        dbs = list(store._dbs_for_actives())
    except AttributeError:  # not a RocksDB store
        return len(table)
    return sum(sum(1 for _ in db.keys()) for db in dbs)  # noqa: SIM118 - keys only


class LicenceCount:
    """The exact number of entries in the index.

    The on-disk licence index keeps its count with every write batch
    (:attr:`services.verifier.diskindex.DiskIndex.entries`): O(1). Any other table (or
    an index not yet counted) is walked in a thread (off the event loop) when the last
    count is older than ``max_age_s``, one walk at a time: callers meanwhile share it
    (a walk of ten million keys takes longer than a status call's deadline; one walk
    per call piled up threads that starved the loop and the feed of the GIL).
    """

    def __init__(self, *, max_age_s: float):
        self._max_age_s = max_age_s
        self._counted: tuple[float, int] | None = None  # (monotonic time, count)
        self._walk: asyncio.Task[int] | None = None  # the walk in flight

    async def count(self, table: Any) -> int:
        """The number of keys in ``table``: kept exactly, or at most ``max_age_s``
        old (the previous count while a walk is in flight)."""
        kept = getattr(table, "entries", None)
        if isinstance(kept, int):
            return kept
        now = time.monotonic()
        if self._counted is None or now - self._counted[0] > self._max_age_s:
            if self._walk is None:
                self._walk = asyncio.ensure_future(
                    asyncio.to_thread(counted_entries, table)
                )
                self._walk.add_done_callback(self._walked)
            if self._counted is None:
                return await asyncio.shield(self._walk)
        assert self._counted is not None
        return self._counted[1]

    def _walked(self, walk: asyncio.Task[int]) -> None:
        self._walk = None
        if not walk.cancelled() and walk.exception() is None:
            self._counted = (time.monotonic(), walk.result())


def prepare_data_dir(
    data_dir: Path,
    cluster_id: str,
    *,
    keep: Iterable[str] = (),
    other_cluster: Callable[[], None] | None = None,
) -> bool:
    """Keep the local index only if it was built from this Kafka cluster.

    Faust's tables recover from changelog topics; an index built from another cluster
    (a rebuilt Kafka, or the embedded memory broker after a restart) cannot be
    reconciled with it, so it is dropped and rebuilt from the event topics. The
    folders named in ``keep`` stay: what they hold is true whatever the cluster (the
    replay guard's accepted nonces), and ``other_cluster`` is called whenever the
    folder was not recorded as this cluster's (the guard forgets its offsets), before
    the new cluster is recorded: a process killed in between calls it again at its
    next start. Returns True when an index was dropped. The drop is logged as a
    warning, or as info when both clusters are the embedded broker's
    (:data:`certseal.kafka.EMBEDDED_CLUSTER_PREFIX`: ``make run`` meets a new one at
    each start).
    """
    marker = data_dir / CLUSTER_FILE
    built_from = marker.read_text() if marker.exists() else None
    built_elsewhere = data_dir.exists() and built_from != cluster_id
    kept = {CLUSTER_FILE, REBUILD_FILE, *keep}
    dropped = built_elsewhere and any(p.name not in kept for p in data_dir.iterdir())
    if dropped:
        embedded = all(
            (i or "").startswith(EMBEDDED_CLUSTER_PREFIX)
            for i in (built_from, cluster_id)
        )
        log.log(
            logging.INFO if embedded else logging.WARNING,
            "index in %s was built from %s; rebuilding it from the topics",
            data_dir,
            "the embedded broker's last start (each start is a new, empty cluster)"
            if embedded
            else "another Kafka cluster",
        )
        note_rebuild(data_dir, "other_cluster")
        _remove_all_but(data_dir, kept, ignore_errors=False)
    data_dir.mkdir(parents=True, exist_ok=True)
    if built_elsewhere and other_cluster is not None:
        other_cluster()
    marker.write_text(cluster_id)
    return dropped


def damaged_tables(
    data_dir: Path, *, opened_only: frozenset[str] = frozenset()
) -> list[tuple[Path, str]]:
    """The RocksDB tables under ``data_dir`` that cannot be opened or read to the end,
    each with RocksDB's reason (a damaged CURRENT, MANIFEST or .sst file).

    Every table is opened read-only with paranoid checks: RocksDB reads CURRENT and
    the MANIFEST and checks that every table file it lists is there at its size (a
    few milliseconds). Tables not named in ``opened_only`` (folder names: the
    worker's small Faust tables) are also read through, which checks every block's
    checksum; those named (the licence index: about 0.3 s a million entries) are
    read through after start-up instead (:meth:`DiskIndex.verify
    <services.verifier.diskindex.DiskIndex.verify>`), so that a restart is not as
    slow as the index is large.
    """
    from rocksdict import AccessType, Options, Rdict

    from services.verifier.diskindex import checked_walk

    folders = {
        path.parent
        for pattern in ("CURRENT", "MANIFEST-*", "*.sst")
        for path in data_dir.rglob(pattern)
        if path.is_file()
    }
    damaged = []
    for folder in sorted(folders):
        db = None
        try:
            options = Options(raw_mode=True)  # Faust's tables hold raw bytes
            options.set_paranoid_checks(True)
            db = Rdict(str(folder), options=options, access_type=AccessType.read_only())
            if folder.name not in opened_only:
                # items() ends quietly at a damaged block: walk, then ask the status
                it = db.iter()
                it.seek_to_first()
                for _ in checked_walk(it):
                    pass
        except Exception as exc:  # rocksdict raises a bare Exception("Corruption: …")
            damaged.append((folder, str(exc).splitlines()[0][:300] or repr(exc)))
        finally:
            if db is not None:
                db.close()
    return damaged


def drop_index(data_dir: Path, *, keep: Iterable[str] = ()) -> None:
    """Remove a group's index folder (RocksDB tables and kept snapshots); it is
    rebuilt from the topics. The folders named in ``keep`` stay (the replay guard's
    accepted nonces, which no topic may hold any more), and so do the record of the
    cluster their offsets belong to (else the next start would take it for another
    cluster and read the whole usage topic again) and the rebuild's reasons
    (:mod:`services.verifier.rebuilds`)."""
    if data_dir.exists():
        kept = {REBUILD_FILE, *keep, *((CLUSTER_FILE,) if keep else ())}
        _remove_all_but(data_dir, kept, ignore_errors=True)
    data_dir.mkdir(parents=True, exist_ok=True)


def _remove_all_but(data_dir: Path, kept: set[str], *, ignore_errors: bool) -> None:
    """Remove every file and folder of ``data_dir`` not named in ``kept``."""
    for path in data_dir.iterdir():
        if path.name in kept:
            continue
        if path.is_dir() and not path.is_symlink():  # a link is removed, not followed
            shutil.rmtree(path, ignore_errors=ignore_errors)
        elif ignore_errors:
            path.unlink(missing_ok=True)
        else:
            path.unlink()


class SnapshotStore:
    """The snapshots a verifier group exported, on disk, so deltas survive restarts.

    The newest ``keep`` are kept; a delta from an older version is refused and the
    counter fetches a full bundle.
    """

    def __init__(self, folder: Path, *, keep: int = 48):
        self._folder = folder
        self._keep = keep
        folder.mkdir(parents=True, exist_ok=True)

    def _versions(self) -> list[int]:
        return sorted(
            int(p.stem) for p in self._folder.glob("*.cbor") if p.stem.isdigit()
        )

    def get(self, version: int) -> Snapshot | None:
        """The snapshot of ``version``, if it is kept."""
        path = self._folder / f"{version}.cbor"
        if not path.exists():
            return None
        data = cbor2.loads(path.read_bytes())
        index_time = data["index_time"]
        return Snapshot(
            data["group"],
            data["version"],
            decode_content(data["content"]),
            from_us(index_time) if index_time is not None else None,
        )

    def latest(self) -> Snapshot | None:
        """The newest kept snapshot."""
        versions = self._versions()
        return self.get(versions[-1]) if versions else None

    def add(self, snapshot: Snapshot) -> None:
        """Keep ``snapshot`` and drop the oldest beyond ``keep``."""
        data = {
            "group": snapshot.group,
            "version": snapshot.version,
            "index_time": us(snapshot.index_time) if snapshot.index_time else None,
            "content": encode_content(snapshot.content),
        }
        write_atomically(self._folder / f"{snapshot.version}.cbor", cbor2.dumps(data))
        for version in self._versions()[: -self._keep]:
            (self._folder / f"{version}.cbor").unlink(missing_ok=True)


#: a bundle file is one array of messages: a full bundle and its deltas (``certseal
#: bundle fetch`` starts afresh past ``--max-deltas``, 50 by default)
BUNDLE_FILE_LIMITS = cbor.CborLimits(max_depth=1, max_items=1025)


def read_bundle_file(path: Path) -> list[bytes]:
    """The messages of a bundle file (a CBOR array of COSE_Sign1 messages).

    Raises INVALID_ARGUMENT (field ``bundle``) when the file cannot be read or is not
    a bundle file; the messages themselves are checked by
    :func:`services.verifier.bundle.open_bundle`.
    """
    # a regular file of at most MAX_BUNDLE_FILE_BYTES: not /dev/zero, not a FIFO
    data = read_input_file(path, "bundle", MAX_BUNDLE_FILE_BYTES)  # not empty
    messages = bundle_file_messages(data)
    if messages is None and starts_as_bundle_file(data):
        raise bad_bundle(
            f"{path} is a certseal trust bundle file cut short or damaged "
            f"('certseal bundle fetch --out {path}' replaces it with a full one)"
        )
    if messages is None:
        raise bad_bundle(f"{path} is not a certseal trust bundle file")
    return messages


def bundle_file_messages(data: bytes) -> list[bytes] | None:
    """The messages of a bundle file's bytes (a CBOR array of byte strings), None
    when the bytes are no such array."""
    try:
        messages = cbor.loads(data, BUNDLE_FILE_LIMITS)
    except Exception:
        return None
    if not isinstance(messages, list) or not all(
        isinstance(m, bytes) for m in messages
    ):
        return None
    return messages


def bundle_file_bytes(messages: Iterable[bytes]) -> bytes:
    """A bundle file's bytes: the CBOR array of its signed messages, oldest first."""
    return cbor2.dumps(list(messages))


def write_bundle_file(path: Path, messages: Iterable[bytes]) -> None:
    """Write a bundle file atomically."""
    write_atomically(path, bundle_file_bytes(messages))


def read_member_id(path: Path) -> str | None:
    """The member id kept at ``path`` (:data:`MEMBER_FILE`), or None when there is
    none or the file is not one this worker wrote (not a regular file, over
    :data:`MAX_MEMBER_ID_BYTES`, not printable ASCII, empty): the worker then joins
    as a new member, as before this file existed. Never raises."""
    if not path.exists():
        return None
    try:
        raw = read_regular_file(path, "group member file", MAX_MEMBER_ID_BYTES)
    except CertsealError as exc:
        log.warning("ignoring %s: %s", path, exc)
        return None
    text = raw.decode("ascii", errors="replace").strip()
    if not text or not text.isprintable() or not text.isascii():
        log.warning("ignoring %s: not a member id", path)
        return None
    return text


def write_member_id(path: Path, member_id: str) -> None:
    """Keep ``member_id`` at ``path``, atomically. OSError if it cannot be written."""
    write_atomically(path, member_id.encode("ascii", errors="replace") + b"\n")
