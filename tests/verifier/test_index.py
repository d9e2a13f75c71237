"""Version-gated application of events: duplicates, replays and late events are harmless."""

import datetime as dt
import itertools
import random

import pytest

from certseal.timestamps import ts
from certseal.v1 import events_pb2, licence_pb2
from services.verifier.index import (
    BadEvent,
    apply_licence_event,
    apply_trust_event,
    index_entry,
    trust_entry,
)

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
LINEAGE = "1.2.156.3005.2.91350100M000100Y43001.91350100M000100Y43.ABC"


def licence_event(version: int, status: int, licence_version: int = 1) -> bytes:
    return events_pb2.LicenceEvent(
        event_id=f"e{version}",
        type="licence.x",
        lineage=LINEAGE,
        identifier=f"{LINEAGE}.{licence_version:03d}.X",
        version=licence_version,
        lineage_version=version,
        status=status,
        valid_from=ts(T0),
        valid_until=ts(T0 + dt.timedelta(days=365)),
        issuer_code="91350100M000100Y43",
        type_code="91350100M000100Y43001",
    ).SerializeToString()


def fold(events: list[bytes]) -> bytes | None:
    stored = None
    for event in events:
        new = apply_licence_event(stored, event)
        if new is not None:
            stored = new
    return stored


def test_any_delivery_order_with_duplicates_converges():
    history = [
        licence_event(1, 1),
        licence_event(2, 2),
        licence_event(3, 1),
        licence_event(4, 1, licence_version=2),
        licence_event(5, 3, 2),
    ]
    expected = index_entry(history[-1])
    assert expected.status == "03" and expected.version == 2
    rng = random.Random(7)
    for _ in range(200):
        delivered = history + rng.sample(history, 3)  # duplicates and late repeats
        rng.shuffle(delivered)
        assert index_entry(fold(delivered)) == expected
    # a full replay from the beginning changes nothing
    assert fold([*history, *history]) == history[-1]


def test_stale_event_is_not_applied():
    assert apply_licence_event(licence_event(3, 1), licence_event(2, 2)) is None
    assert apply_licence_event(licence_event(3, 1), licence_event(3, 2)) is None
    assert apply_licence_event(licence_event(3, 1), licence_event(4, 2)) is not None


def trust_event(
    version: int, status: int, revoked_at: dt.datetime | None = None
) -> bytes:
    event = events_pb2.TrustEvent(
        event_id=f"k{version}",
        type="key.x",
        kid="0011223344556677",
        department_code="91350100M000100Y43",
        suite="sm2",
        status=status,
        public_key=b"spki",
        not_before=ts(T0),
        not_after=ts(T0 + dt.timedelta(days=730)),
        key_version=version,
    )
    if revoked_at:
        event.revoked_at.CopyFrom(ts(revoked_at))
    return event.SerializeToString()


def test_trust_history_keeps_the_revocation_time():
    revoked = trust_event(3, licence_pb2.KEY_STATUS_REVOKED, T0 + dt.timedelta(days=9))
    for order in itertools.permutations(
        [trust_event(1, 1), trust_event(2, 2), revoked]
    ):
        stored = None
        for event in order:
            stored = apply_trust_event(stored, event) or stored
        entry = trust_entry(stored)
        assert entry.status == "revoked" and entry.revoked_at == T0 + dt.timedelta(
            days=9
        )
        assert entry.key_version == 3 and entry.suite == "sm2"


@pytest.mark.parametrize(
    "data",
    [b"\xff\xff\xff", events_pb2.LicenceEvent(lineage=LINEAGE).SerializeToString()],
)
def test_bad_events_are_reported(data):
    with pytest.raises(BadEvent):
        apply_licence_event(None, data)


def test_an_index_from_another_cluster_is_dropped(tmp_path):
    from services.verifier.storage import prepare_data_dir

    folder = tmp_path / "group"
    assert prepare_data_dir(folder, "cluster-a") is False  # first start
    (folder / "v1").mkdir()
    (folder / "v1" / "table.db").write_bytes(b"state")
    assert prepare_data_dir(folder, "cluster-a") is False  # same cluster: kept
    assert (folder / "v1" / "table.db").exists()
    assert prepare_data_dir(folder, "cluster-b") is True  # rebuilt Kafka: dropped
    assert not (folder / "v1").exists()
    assert (folder / "kafka-cluster-id").read_text() == "cluster-b"


def test_lag_counts_published_but_unapplied_events():
    from services.verifier.index import Freshness

    freshness = Freshness(applied={("t", 0): 9, ("t", 1): 4})
    freshness.measure_lag({("t", 0): 10, ("t", 1): 10, ("t", 2): 3})
    # partition 0 is caught up (offset 9 is its last), 1 has 5 to go, 2 has applied
    # nothing since the start: it counts once its first event is applied
    assert freshness.lag_events == 5


def directory_event(kind: str, code: str, name: str, version: int = 1, **kw) -> bytes:
    return events_pb2.DirectoryEvent(
        event_id=f"d{version}",
        type="x",
        kind=kind,
        code=code,
        name=name,
        entry_version=version,
        **kw,
    ).SerializeToString()


def test_directory_events_give_names_and_titles_newest_first():
    from services.verifier.index import (
        apply_directory_event,
        directory_entry,
        directory_key,
    )

    first = directory_event(
        "licence_type",
        "91350100M000100Y43001",
        "机动车驾驶证",
        fields=[
            events_pb2.FieldTitle(name="class", title="准驾车型", public=True),
            events_pb2.FieldTitle(name="points", title=""),
            events_pb2.FieldTitle(name="grade", title="等级"),  # restricted
        ],
    )
    stored = apply_directory_event(None, first)
    assert stored == first
    entry = directory_entry(stored)
    assert entry.name == "机动车驾驶证"
    assert entry.field_titles == {"class": "准驾车型", "grade": "等级"}  # untitled: key
    assert entry.public_titles == {"class": "准驾车型"}  # what a bundle may carry
    renamed = directory_event("licence_type", "91350100M000100Y43001", "驾驶证", 2)
    assert apply_directory_event(stored, renamed) == renamed
    assert apply_directory_event(renamed, first) is None  # older: not applied
    assert apply_directory_event(renamed, renamed) is None  # duplicate
    assert directory_key("department", "91350100M000100Y43") == (
        b"department:91350100M000100Y43"
    )
    assert directory_key("licence_type", "X") == b"licence-type:X"


@pytest.mark.parametrize(
    "data",
    [
        b"\xff\xff",
        directory_event("person", "X", "n"),
        directory_event("department", "", "n"),
        directory_event("department", "X", "n", version=0),
        # names a counter would show misleadingly (F7): direction marks, zero width,
        # BOM, line separator, a name of zero-width spaces only, a blank one
        directory_event("department", "X", "公安\u200e局"),
        directory_event("department", "X", "\u200f公安局"),
        directory_event("department", "X", "公安\u061c局"),
        directory_event("licence_type", "X", "\u200b\u200b\u200b"),
        directory_event("licence_type", "X", "\ufeff驾驶证"),
        directory_event("licence_type", "X", "驾驶证\u2028"),
        directory_event("licence_type", "X", "\u3164 "),
        directory_event(
            "licence_type",
            "X",
            "驾驶证",
            fields=[events_pb2.FieldTitle(name="class", title="准驾\u200b车型")],
        ),
    ],
)
def test_bad_directory_events_are_reported(data):
    from services.verifier.index import apply_directory_event

    with pytest.raises(BadEvent):
        apply_directory_event(None, data)


def test_the_licence_count_counts_each_lineage_once(tmp_path):
    """RocksDB's estimate counts every write until compaction (18 entries for 5
    licences); the operator page's count walks the keys."""
    from types import SimpleNamespace

    from rocksdict import Options, Rdict

    from services.verifier.storage import counted_entries, estimated_entries

    db = Rdict(str(tmp_path / "db"), options=Options(raw_mode=True))
    try:
        for version in range(1, 5):  # five lineages, each changed four times
            for lineage in range(5):
                db[f"lineage-{lineage}".encode()] = licence_event(version, 1)
        table = SimpleNamespace(data=SimpleNamespace(_dbs_for_actives=lambda: [db]))
        assert counted_entries(table) == 5
        assert estimated_entries(table) > 5
    finally:
        db.close()
