"""The licence index's exact entry count: kept in the same write batch as the entries
(GetIndexStatus reads it in O(1) instead of walking ten million keys), and the status's
fallback walk, which runs once at a time however many callers ask."""

import asyncio
import os
import subprocess
import sys
import textwrap
import threading

from rocksdict import Options, Rdict

from services.verifier.diskindex import COUNT, DiskIndex
from services.verifier.storage import LicenceCount
from tests.verifier.test_diskindex import event, rec


def test_the_count_follows_new_updated_duplicate_and_bad_events(tmp_path):
    index = DiskIndex(tmp_path / "ix")
    assert index.entries == 0
    index.apply(
        [
            rec(0, 0, "a", event("a", 1)),
            rec(0, 1, "a", event("a", 2)),  # same lineage, same batch
            rec(1, 0, "b", event("b", 1)),
            rec(1, 1, "x", b"\xff\xff"),  # bad: not an entry
        ]
    )
    assert index.entries == 2
    index.apply([rec(0, 2, "a", event("a", 3)), rec(1, 2, "b", event("b", 1))])
    assert index.entries == 2  # an update and a duplicate add nothing
    index.apply([rec(2, 0, "c", event("c", 1))])
    assert index.entries == 3 == index.counted_entries()


def test_the_count_survives_a_reopen_and_is_in_the_database(tmp_path):
    index = DiskIndex(tmp_path / "ix")
    index.apply([rec(p, 0, f"l{p}", event(f"l{p}", 1)) for p in range(5)])
    index.close()
    again = DiskIndex(tmp_path / "ix")
    assert again.entries == 5
    again.close()
    db = Rdict(str(tmp_path / "ix"), options=Options(raw_mode=True))
    assert db.get(COUNT) == b"5"
    db.close()


def test_an_older_versions_index_is_counted_once_then_kept(tmp_path):
    index = DiskIndex(tmp_path / "ix")
    index.apply([rec(0, i, f"l{i}", event(f"l{i}", 1)) for i in range(7)])
    index.close()
    db = Rdict(str(tmp_path / "ix"), options=Options(raw_mode=True))
    del db[COUNT]  # as an index written before the count was kept
    db.close()
    old = DiskIndex(tmp_path / "ix")
    assert old.entries is None
    old.apply([rec(0, 7, "l7", event("l7", 1))])
    assert old.entries is None  # not guessed
    assert old.recount() == 8 == old.entries
    old.apply([rec(0, 8, "l8", event("l8", 1))])
    assert old.entries == 9


def test_dropping_partitions_or_everything_keeps_the_count_exact(tmp_path):
    index = DiskIndex(tmp_path / "ix")
    index.apply([rec(0, i, f"l{i}", event(f"l{i}", 1)) for i in range(30)])
    index.drop_partitions(frozenset({0, 1}), 4)
    assert index.entries == index.counted_entries() < 30
    index.drop_everything()
    assert index.entries == 0 == index.counted_entries()
    index.close()
    assert DiskIndex(tmp_path / "ix").entries == 0


async def test_the_status_count_of_the_disk_index_walks_nothing(tmp_path):
    index = DiskIndex(tmp_path / "ix")
    index.apply([rec(0, 0, "a", event("a", 1))])
    index.counted_entries = None  # a walk would fail
    assert await LicenceCount(max_age_s=0).count(index) == 1


class SlowTable:
    """A table whose exact count is a slow walk (as a Faust table's)."""

    def __init__(self) -> None:
        self.walks = 0
        self.release = threading.Event()

    def counted_entries(self) -> int:
        self.walks += 1
        assert self.release.wait(10)
        return 42


async def test_concurrent_status_calls_share_one_walk():
    async def main() -> tuple[list[int], int]:
        table = SlowTable()
        count = LicenceCount(max_age_s=0)
        calls = [asyncio.ensure_future(count.count(table)) for _ in range(20)]
        await asyncio.sleep(0.05)
        for call in calls[:5]:
            call.cancel()  # a caller's deadline passed: the walk goes on
        table.release.set()
        results = await asyncio.gather(*calls[5:])
        walks = table.walks
        table.release.clear()  # the next walk waits until released
        again = await count.count(table)  # stale (max age 0): the last count at once
        table.release.set()
        return [*results, again], walks

    results, walks = await main()
    assert results == [42] * 16
    assert walks == 1  # 20 callers, one walk


async def test_the_feed_counts_an_older_versions_index_once_at_start(tmp_path):
    from services.verifier.feed import LicenceFeed
    from services.verifier.index import Freshness
    from tests.verifier.fake_consumer import FakeConsumer

    index = DiskIndex(tmp_path / "ix")
    index.apply([rec(0, i, f"l{i}", event(f"l{i}", 1)) for i in range(4)])
    index.close()
    db = Rdict(str(tmp_path / "ix"), options=Options(raw_mode=True))
    del db[COUNT]  # written before the count was kept
    db.close()
    old = DiskIndex(tmp_path / "ix")

    async def dead_letter(record, problem) -> None:
        raise AssertionError(problem)

    feed = LicenceFeed(
        old,
        consumer_factory=lambda **kw: FakeConsumer((0, 1)),  # empty
        freshness=Freshness(),
        dead_letter=dead_letter,
    )
    await feed.start()
    assert old.entries == 4
    assert await LicenceCount(max_age_s=5).count(old) == 4
    old.apply([rec(1, 0, "new", event("new", 1))])
    assert old.entries == 5


def test_a_kill_between_the_batches_of_drop_partitions_leaves_no_stale_count(tmp_path):
    """drop_partitions deletes in batches of 10,000: a worker killed (-9) between
    them must leave the count unknown (recounted at the next start, before anything
    applies), never the count from before the drop, which nothing would correct."""
    index = DiskIndex(tmp_path / "ix")
    index.apply(
        [rec(p % 2, p, f"l{p:05}", event(f"l{p:05}", 1)) for p in range(24_000)]
    )
    assert index.entries == 24_000
    index.close()
    script = textwrap.dedent(
        f"""
        import os
        from pathlib import Path
        from services.verifier.diskindex import DiskIndex
        index = DiskIndex(Path({str(tmp_path / "ix")!r}))
        class KilledAfterTheFirstBatch:
            def __init__(self, db):
                self.db, self.writes = db, 0
            def __getattr__(self, name):
                return getattr(self.db, name)
            def write(self, batch):
                self.writes += 1
                if self.writes == 2:
                    os._exit(9)
                self.db.write(batch)
        index._db = KilledAfterTheFirstBatch(index._db)
        index.drop_partitions(frozenset({{0}}), 2)
        """
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=os.getcwd(), check=False)
    assert done.returncode == 9
    again = DiskIndex(tmp_path / "ix")
    walked = again.counted_entries()
    assert 12_000 < walked < 24_000  # killed half-way: some of partition 0 is gone
    assert again.entries is None  # unknown, so the feed recounts at start
    assert again.recount() == walked
