"""The on-disk licence index: version-gated batches written with their offsets."""

import datetime as dt

from certseal.timestamps import ts
from certseal.v1 import events_pb2
from services.verifier.diskindex import (
    FOLDER,
    OFFSET,
    DiskIndex,
    Record,
    drop_old_table,
    drop_unnamed_folder,
)
from services.verifier.index import index_entry

NOW = dt.datetime(2026, 5, 1, tzinfo=dt.UTC)


def event(lineage: str, version: int, status: int = 1) -> bytes:
    return events_pb2.LicenceEvent(
        event_id=f"{lineage}-{version}",
        type="licence.issued",
        lineage=lineage,
        identifier=f"{lineage}-1",
        version=1,
        lineage_version=version,
        status=status,
        occurred_at=ts(NOW),
        valid_from=ts(NOW),
        valid_until=ts(NOW + dt.timedelta(days=30)),
    ).SerializeToString()


def rec(partition: int, offset: int, lineage: str, value: bytes) -> Record:
    return Record(partition, offset, lineage.encode(), value, 0)


def test_newer_versions_win_and_offsets_are_kept(tmp_path):
    index = DiskIndex(tmp_path / "ix")
    applied = index.apply(
        [
            rec(0, 0, "a", event("a", 1)),
            rec(1, 0, "b", event("b", 1)),
            rec(0, 1, "a", event("a", 2, status=3)),  # same batch: newer wins
        ]
    )
    assert (applied.written, applied.skipped, applied.bad) == (2, 0, [])
    assert index_entry(index.get(b"a")).status == "03"
    assert index.offsets() == {0: 1, 1: 0}
    assert dict(index.items()).keys() == {b"a", b"b"}
    assert index.counted_entries() == 2


def test_duplicates_and_older_events_change_nothing(tmp_path):
    index = DiskIndex(tmp_path / "ix")
    index.apply([rec(0, 0, "a", event("a", 2, status=3))])
    applied = index.apply(
        [rec(0, 1, "a", event("a", 1)), rec(0, 2, "a", event("a", 2, status=3))]
    )
    assert (applied.written, applied.skipped) == (0, 2)
    assert index_entry(index.get(b"a")).status == "03"
    assert index.offsets() == {0: 2}  # the partition still moves on


def test_bad_events_are_reported_and_the_partition_moves_on(tmp_path):
    index = DiskIndex(tmp_path / "ix")
    applied = index.apply([rec(3, 7, "x", b"\xff\xff"), rec(3, 8, "y", event("y", 1))])
    assert [(r.offset, "LicenceEvent" in str(p)) for r, p in applied.bad] == [(7, True)]
    assert index.get(b"x") is None and index.get(b"y") is not None
    assert index.offsets() == {3: 8}


def test_reopened_index_has_what_was_written(tmp_path):
    index = DiskIndex(tmp_path / "ix")
    index.apply([rec(p, 4, f"l{p}", event(f"l{p}", 1)) for p in range(4)])
    index.close()
    again = DiskIndex(tmp_path / "ix")
    assert again.offsets() == {0: 4, 1: 4, 2: 4, 3: 4}
    assert again.get(b"l3") is not None
    assert again.get(b"none") is None
    # offsets are not lineages
    assert all(not k.startswith(OFFSET) for k, _ in again.items())


def test_the_previous_faust_table_is_dropped(tmp_path):
    old = tmp_path / "g" / "v1" / "tables"
    for name in ("licence-index-0.db", "licence-index-3.db", "trust-list-0.db"):
        (old / name).mkdir(parents=True)
    called: list[str] = []
    noted = lambda: called.append("before")  # noqa: E731
    assert drop_old_table(tmp_path / "g", before=noted) == 2
    assert sorted(p.name for p in old.iterdir()) == ["trust-list-0.db"]
    assert drop_old_table(tmp_path / "g", before=noted) == 0
    assert called == ["before"]  # once, for the drop that removed something


def test_a_named_worker_drops_the_unnamed_workers_folder(tmp_path):
    (tmp_path / "gz" / FOLDER).mkdir(parents=True)
    (tmp_path / "gz@verifier-gz-0" / FOLDER).mkdir(parents=True)
    (tmp_path / "gzx").mkdir()
    called: list[str] = []
    noted = lambda: called.append("before")  # noqa: E731
    assert drop_unnamed_folder(tmp_path, "gz", before=noted)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gz@verifier-gz-0", "gzx"]
    assert not drop_unnamed_folder(tmp_path, "gz", before=noted)
    assert called == ["before"]


def test_an_event_keyed_as_another_lineage_is_dead_lettered(tmp_path):
    """The topic is keyed by lineage: an event whose key names another lineage (or no
    key) would overwrite that lineage's entry and, with a high lineage_version, gate
    away its real revocations. It is a bad event, and the partition moves on."""
    index = DiskIndex(tmp_path / "ix")
    index.apply([rec(0, 0, "a", event("a", 1))])
    applied = index.apply(
        [
            rec(0, 1, "a", event("b", 99, status=1)),  # keyed a, body of lineage b
            rec(0, 2, "", event("c", 1)),  # no key
            rec(0, 3, "a", event("a", 2, status=3)),  # a's real revocation
        ]
    )
    assert [(r.offset, "key" in str(p)) for r, p in applied.bad] == [
        (1, True),
        (2, True),
    ]
    assert index_entry(index.get(b"a")).status == "03"
    assert index.get(b"") is None
    assert index.offsets() == {0: 3}


def _latest_options(path) -> str:
    files = sorted(path.glob("OPTIONS-*"), key=lambda p: int(p.name.split("-")[1]))
    return files[-1].read_text()


def test_a_reopened_index_keeps_its_table_options(tmp_path):
    """rocksdict reopens an existing column family with its own defaults unless it is
    named: the bloom filter and the index blocks outside the cache were lost on every
    restart (a lookup then read an SST's whole index block again: 1-2 ms)."""
    path = tmp_path / "ix"
    for _ in range(2):  # created, then reopened
        index = DiskIndex(path, write_buffer_mb=8)
        index.apply([rec(0, 0, "L1", event("L1", 1))])
        index.close()
        options = _latest_options(path)
        assert "filter_policy=bloomfilter" in options
        assert "cache_index_and_filter_blocks=false" in options
        assert f"write_buffer_size={8 * 1024 * 1024}" in options


def test_get_many_and_partition_bookkeeping(tmp_path):
    from services.verifier.partitions import partition_of

    index = DiskIndex(tmp_path / "ix")
    names = [f"L{i}" for i in range(40)]
    index.apply(
        [
            rec(partition_of(n.encode(), 4), i, n, event(n, 1))
            for i, n in enumerate(names)
        ]
    )
    found = index.get_many([n.encode() for n in names] + [b"absent"])
    assert found[-1] is None and all(found[:-1])
    assert index.complete() is None
    index.mark_complete(4, frozenset({0, 2}))
    assert index.complete() == (4, frozenset({0, 2}))
    doomed = frozenset({1, 3})
    dropped = index.drop_partitions(doomed, 4)
    kept = {n for n in names if partition_of(n.encode(), 4) not in doomed}
    assert dropped == len(names) - len(kept) > 0
    assert {k.decode() for k, _ in index.items()} == kept
    assert set(index.offsets()) <= {0, 2}
    index.close()
