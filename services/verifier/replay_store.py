"""The replay guard's store: every accepted presentation nonce with the usage record
that claimed it first, and the usage topic's offsets it reaches, in one RocksDB
database (the guard itself and its feed: :mod:`services.verifier.replay`)."""

from __future__ import annotations

import datetime as dt
import errno
import fcntl
import logging
import os
import struct
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from certseal.errors import CertsealError, ErrorKind
from services.verifier.diskindex import FOLDER as INDEX_FOLDER
from services.verifier.diskindex import Record, prefixed
from services.verifier.events import NONCES_HEADER
from services.verifier.index import BadEvent, accepted_claims
from services.verifier.rebuilds import note_rebuild
from services.verifier.storage import damaged_tables, drop_index, prepare_data_dir

log = logging.getLogger(__name__)

FOLDER = "presentations.rocksdb"
#: n:<nonce hash, hex> -> "<the code's expiry, epoch seconds> <event id>" (ASCII): the
#: event id of the first usage record that claimed the nonce (the one that won it,
#: services/verifier/claims.py); a store written before claims holds the expiry alone
NONCE = b"n:"
OFFSET = b"o:"  # o:<partition> -> the last offset applied (ASCII)
#: l:<partition> -> "<timestamp ms> <crc32 of key>" of the record at that offset: which
#: topic the offsets belong to (a topic deleted and made again restarts at offset 0)
LAST = b"l:"
#: expired nonces are kept this much longer (clocks of groups differ a little)
EXPIRY_MARGIN_S = 60
PURGE_EVERY_S = 300.0


@dataclass(frozen=True, slots=True)
class Headed:
    """One usage record as the broker delivered it, with its headers."""

    record: Record
    headers: Sequence[tuple[str, bytes]]


def carries_no_nonce(headers: Iterable[tuple[str, bytes]]) -> bool:
    """Whether a record's :data:`NONCES_HEADER` says it carries no accepted nonce."""
    for name, value in headers:
        if name == NONCES_HEADER:
            return value == b"0"
    return False


def mark(record: Record) -> str:
    """What identifies a record at its offset: its timestamp (ms) and a CRC-32 of its
    key, "<timestamp> <crc>"."""
    return f"{record.timestamp_ms} {zlib.crc32(record.key)}"


class AcceptedNonces:
    """nonce hash -> expiry of every accepted presentation code, and per partition of
    the usage topic the last offset applied, in one RocksDB database.

    Thread-safe as RocksDB is: the feed's thread writes while the event loop reads.
    """

    def __init__(self, path: Path, *, cache_mb: int = 8):
        from rocksdict import BlockBasedOptions, Cache, Options, Rdict

        self.path = path
        options = Options(raw_mode=True)
        options.create_if_missing(True)
        table = BlockBasedOptions()
        table.set_block_cache(Cache(cache_mb * 1024 * 1024))
        table.set_bloom_filter(10, False)
        options.set_block_based_table_factory(table)
        options.set_write_buffer_size(4 * 1024 * 1024)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = Rdict(
            str(path), options=options, column_families={"default": options}
        )

    def close(self) -> None:
        """Close (every batch went through the WAL)."""
        self._db.close()

    def seen(self, nonce_hash: str) -> bool:
        """Whether a presentation code with this nonce hash was accepted.

        Raises CertsealError(UNAVAILABLE) for a read RocksDB refuses (a damaged
        block: the next start finds it and rebuilds the guard from the topic)."""
        try:
            return self._db.get(NONCE + nonce_hash.encode()) is not None
        except Exception as exc:  # rocksdict raises a bare Exception("Corruption: …")
            log.error("replay guard %s cannot be read: %s", self.path, exc)
            raise CertsealError(
                ErrorKind.UNAVAILABLE,
                "the replay guard of this worker cannot be read; retry later",
            ) from None

    def first_claim(self, nonce_hash: str) -> str | None:
        """The event id of the first usage record that claimed this nonce hash ("" for
        one stored before claims: its record is unknown), None if none did.

        Raises CertsealError(UNAVAILABLE) as :meth:`seen` does."""
        try:
            value = self._db.get(NONCE + nonce_hash.encode())
        except Exception as exc:  # rocksdict raises a bare Exception("Corruption: …")
            log.error("replay guard %s cannot be read: %s", self.path, exc)
            raise CertsealError(
                ErrorKind.UNAVAILABLE,
                "the replay guard of this worker cannot be read; retry later",
            ) from None
        if value is None:
            return None
        _, _, event_id = bytes(value).decode().partition(" ")
        return event_id

    def offsets(self) -> dict[int, int]:
        """Per partition of the usage topic, the last offset applied."""
        return {int(key): int(value) for key, value in prefixed(self._db, OFFSET)}

    def marks(self) -> dict[int, str]:
        """Per partition, :func:`mark` of the record at its stored offset (offsets
        stored by a version before marks have none)."""
        return {
            int(key): bytes(value).decode() for key, value in prefixed(self._db, LAST)
        }

    def forget_offsets(self) -> None:
        """Delete every stored offset and mark (the topic they belong to is gone): the
        next run reads the topic from its beginning. The nonces stay: each was
        accepted, and a nonce read again writes the same entry."""
        from rocksdict import WriteBatch

        batch = WriteBatch(raw_mode=True)
        for prefix in (OFFSET, LAST):
            for key, _ in prefixed(self._db, prefix):
                batch.delete(prefix + key)
        self._db.write(batch)

    def apply(self, records: Sequence[Headed]) -> list[tuple[Record, BadEvent]]:
        """Record the accepted nonces of a batch of usage records and the offsets it
        reaches, in one atomic write; the records that cannot be decoded as usage
        records, each with why (the caller logs them; the partition moves on past
        them: one bad record never stops the guard). A nonce already stored keeps its
        first claim: a record read again, or a later claim of the same nonce, changes
        nothing (records come in offset order per partition)."""
        from rocksdict import WriteBatch

        batch = WriteBatch(raw_mode=True)
        reached: dict[int, Record] = {}
        bad: list[tuple[Record, BadEvent]] = []
        claimed: set[bytes] = set()  # nonces this batch claims first
        for headed in records:
            record = headed.record
            reached[record.partition] = record
            if carries_no_nonce(headed.headers):
                continue
            bad_uses: list[BadEvent] = []
            try:
                event_id, nonces = accepted_claims(record.value, bad_uses)
            except BadEvent as exc:
                bad.append((record, exc))
                continue
            except Exception as exc:  # any other decoding failure: still one record
                bad.append((record, BadEvent(f"cannot be decoded: {exc!r}"[:300])))
                continue
            bad += [(record, problem) for problem in bad_uses]  # the others count
            for nonce_hash, expires in nonces:
                key = NONCE + nonce_hash.encode()
                if key in claimed or self._db.get(key) is not None:
                    continue  # claimed before: the first claim stays
                claimed.add(key)
                batch.put(key, f"{expires} {event_id}".encode())
        for partition, last in reached.items():
            batch.put(OFFSET + str(partition).encode(), str(last.offset).encode())
            batch.put(LAST + str(partition).encode(), mark(last).encode())
        self._db.write(batch)
        return bad

    def purge(self, now: dt.datetime) -> int:
        """Delete the nonces of codes that expired before ``now`` (less
        :data:`EXPIRY_MARGIN_S`); how many."""
        from rocksdict import WriteBatch

        horizon = now.timestamp() - EXPIRY_MARGIN_S
        batch = WriteBatch(raw_mode=True)
        deleted = 0
        for key, value in prefixed(self._db, NONCE):
            if int(bytes(value).split(b" ", 1)[0]) < horizon:
                batch.delete(NONCE + key)
                deleted += 1
        if deleted:
            self._db.write(batch)
        return deleted


def forget_replay_offsets(path: Path) -> None:
    """Forget the offsets of the guard's store at ``path``, if there is one, keeping
    its nonces: called at start when the worker meets another Kafka cluster than the
    one the store read (a rebuilt Kafka, the embedded memory broker restarted). A code
    accepted before stays REPLAYED; the new cluster's usage topic is read from its
    beginning."""
    if not path.exists():
        return
    store = AcceptedNonces(path)
    try:
        store.forget_offsets()
    finally:
        store.close()


class FolderInUse(Exception):
    """A RocksDB table of a worker's folder is open in another process (or another
    handle of this one): the folder is not this worker's to change."""

    def __init__(self, table: Path):
        super().__init__(f"{table / 'LOCK'} is held: the table is open elsewhere")
        self.table = table


# struct flock of Linux x86-64 and arm64: l_type, l_whence, l_start, l_len, l_pid
_FLOCK = "hh4xqqi4x"


def held_table(data_dir: Path) -> Path | None:
    """The first RocksDB table under ``data_dir`` that another opener holds (RocksDB
    keeps a POSIX record lock on ``<table>/LOCK`` while a table is open for writing),
    or None. Probed with an open file description lock (Linux ``F_OFD_SETLK``, taken
    and given back at once), which conflicts with a record lock even of this process;
    without it, with ``lockf``, which sees other processes' only."""
    for lock in sorted(data_dir.rglob("LOCK")):
        try:
            fd = os.open(lock, os.O_RDWR | os.O_NOFOLLOW)
        except OSError:
            continue  # not a file we may open: not a table's lock
        try:
            if hasattr(fcntl, "F_OFD_SETLK"):
                held = struct.pack(_FLOCK, fcntl.F_WRLCK, os.SEEK_SET, 0, 0, 0)
                fcntl.fcntl(fd, fcntl.F_OFD_SETLK, held)
                free = struct.pack(_FLOCK, fcntl.F_UNLCK, os.SEEK_SET, 0, 0, 0)
                fcntl.fcntl(fd, fcntl.F_OFD_SETLK, free)
            else:
                fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                fcntl.lockf(fd, fcntl.LOCK_UN)
        except OSError as exc:
            if exc.errno in (errno.EAGAIN, errno.EACCES):
                return lock.parent
            raise
        finally:
            os.close(fd)
    return None


def prepare_worker_folder(
    data_dir: Path, cluster_id: str
) -> tuple[list[tuple[Path, str]], bool]:
    """What a worker does to its data folder before it opens anything, in this order
    (a kill between two steps leaves what the next start finishes):

    0. a table another opener holds (:func:`held_table`: a worker not yet stopped,
       two workers given one folder) raises :class:`FolderInUse` before anything
       changes (atk16b F6: a second worker given a running one's folder and another
       cluster removed the running worker's index, then found the folder in use);

    1. a damaged table (:func:`~services.verifier.storage.damaged_tables`; the licence index only opened) drops
       the index, which the topics rebuild, keeping the replay guard's store unless
       that store is the damaged one (its accepted nonces may be on no topic any more),
       after noting why (:func:`~services.verifier.rebuilds.note_rebuild`);
    2. on another cluster than the folder's (:func:`~services.verifier.storage.prepare_data_dir`, ``cluster_id``
       the broker's), the guard forgets its offsets, keeping its nonces (they were
       accepted, whatever the cluster), before the new cluster is recorded.

    Returns the damaged tables with RocksDB's reasons, and whether the folder was
    another cluster's. OSError when the folder cannot be written."""
    held = held_table(data_dir)
    if held is not None:
        raise FolderInUse(held)
    damaged = damaged_tables(data_dir, opened_only=frozenset({INDEX_FOLDER}))
    if damaged:
        guard_damaged = any(folder.name == FOLDER for folder, _ in damaged)
        note_rebuild(data_dir, "damaged")
        drop_index(data_dir, keep=() if guard_damaged else (FOLDER,))
    other = prepare_data_dir(
        data_dir,
        cluster_id,
        keep=(FOLDER,),
        other_cluster=lambda: forget_replay_offsets(data_dir / FOLDER),
    )
    return damaged, other
