"""A damaged licence index: found at start-up when RocksDB cannot open it, else by
the read that meets the damaged block or by the check after start-up
(DiskIndex.verify); from then on every read is UNAVAILABLE, never a verdict."""

import threading
from pathlib import Path

import pytest

from certseal.errors import CertsealError, ErrorKind
from services.verifier.diskindex import FOLDER, DiskIndex, IndexDamaged
from services.verifier.storage import damaged_tables
from tests.verifier.test_diskindex import event, rec

LINEAGES = [f"lineage-{n:05d}" for n in range(3000)]


def built(data_dir: Path) -> Path:
    """An index of 3,000 entries flushed to one table file (many 4 KB blocks)."""
    path = data_dir / FOLDER
    index = DiskIndex(path)
    for start in range(0, len(LINEAGES), 500):
        index.apply(
            [
                rec(n % 4, n, lineage, event(lineage, 1))
                for n, lineage in enumerate(LINEAGES[start : start + 500], start)
            ]
        )
    index._db.flush()
    index.close()
    return path


def damage_first_block(path: Path) -> None:
    """Flip bytes inside the table file's first data block (the first entries'):
    the footer, index and filter blocks at its end stay whole, so RocksDB opens it."""
    (sst,) = path.glob("*.sst")
    data = bytearray(sst.read_bytes())
    for n in range(40, 200):
        data[n] ^= 0xFF
    sst.write_bytes(bytes(data))


def assert_unavailable(call) -> None:
    with pytest.raises(CertsealError) as err:
        call()
    assert err.value.kind is ErrorKind.UNAVAILABLE
    assert "damaged" in str(err.value) and "rebuilt" in str(err.value)


def test_a_sound_index_is_read_through_and_kept(tmp_path):
    path = built(tmp_path)
    assert damaged_tables(tmp_path, opened_only=frozenset({FOLDER})) == []
    index = DiskIndex(path)
    assert index.verify(pause_every=100) >= len(LINEAGES)  # entries, offsets, mark
    assert index.damage is None
    assert index.get(LINEAGES[0].encode()) == event(LINEAGES[0], 1)


def test_the_check_after_start_up_finds_a_damaged_block(tmp_path):
    path = built(tmp_path)
    damage_first_block(path)
    # start-up only opens the index: this damage is not seen there ...
    assert damaged_tables(tmp_path, opened_only=frozenset({FOLDER})) == []
    # ... but reading every block (the old start-up scan, now after SERVING) finds it
    assert damaged_tables(tmp_path)
    index = DiskIndex(path)
    told = []
    index.on_damage = lambda: told.append(index.damage)
    assert_unavailable(index.verify)
    assert index.damage is not None and "Corruption" in index.damage
    assert told == [index.damage]  # the worker is told once, then stops and rebuilds
    # every read is UNAVAILABLE from now on, even of a sound block's entry
    assert_unavailable(lambda: index.get(LINEAGES[-1].encode()))
    assert_unavailable(lambda: index.get_many([LINEAGES[-1].encode()]))
    assert_unavailable(index.verify)
    assert told == [index.damage]


def test_a_read_of_a_damaged_block_is_unavailable_not_an_answer(tmp_path):
    path = built(tmp_path)
    damage_first_block(path)
    index = DiskIndex(path)
    told = []
    index.on_damage = lambda: told.append(True)
    # an entry of the damaged block: neither its value nor "no such licence"
    assert_unavailable(lambda: index.get(LINEAGES[0].encode()))
    assert told == [True]
    assert_unavailable(lambda: index.get_many([LINEAGES[0].encode()]))


def test_the_check_stops_when_the_worker_stops(tmp_path):
    index = DiskIndex(built(tmp_path))
    stop = threading.Event()
    stop.set()
    assert index.verify(stop=stop, pause_every=100) == 100
    assert index.damage is None


@pytest.mark.parametrize("how", ["cut short", "missing"])
def test_a_partial_index_is_found_at_start_up(tmp_path, how):
    """A table file cut short or gone (a partial copy of the volume): RocksDB's
    paranoid open finds it without reading the entries."""
    path = built(tmp_path)
    (sst,) = path.glob("*.sst")
    if how == "missing":
        sst.unlink()
    else:
        sst.write_bytes(sst.read_bytes()[: sst.stat().st_size // 2])
    found = damaged_tables(tmp_path, opened_only=frozenset({FOLDER}))
    assert [folder for folder, _ in found] == [path]
    assert found[0][1]  # RocksDB's reason


def test_the_apply_path_stops_at_a_damaged_block(tmp_path):
    """An event for a lineage in a damaged block: the feed stops the worker with
    IndexDamaged (which it rebuilds from), it does not write past the damage."""
    from services.verifier.diskindex import IndexDamaged

    path = built(tmp_path)
    damage_first_block(path)
    index = DiskIndex(path)
    with pytest.raises(IndexDamaged, match=r"^Corruption: "):
        index.apply([rec(0, 9999, LINEAGES[0], event(LINEAGES[0], 2))])
    assert index.damage is not None
    assert_unavailable(lambda: index.get(LINEAGES[-1].encode()))


def test_a_damaged_block_read_while_opening_is_index_damaged_not_a_crash(tmp_path):
    """A small index is one block, its entry count (``m:entries``, read when the
    index is opened) in it: damage there is IndexDamaged, which the worker turns into
    a rebuild (services/verifier/__main__.py), not rocksdict's bare Exception and a
    crash loop; the table is closed again, so the next open meets the same damage,
    not RocksDB's lock."""
    path = tmp_path / FOLDER
    index = DiskIndex(path)
    index.apply([rec(0, n, f"l-{n}", event(f"l-{n}", 1)) for n in range(3)])
    index._db.flush()
    index.close()
    damage_first_block(path)
    for _ in range(2):
        with pytest.raises(IndexDamaged, match="Corruption"):
            DiskIndex(path)
