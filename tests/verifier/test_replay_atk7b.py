"""Outside review (atk7b) of the replay guard after the new-cluster fix: each test is a
way a presentation code can be accepted twice, or the guard can answer "not seen"
while it is behind. Each fails on the code under review; the docstring says what
the correct behaviour is."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading

import pytest

from certseal.errors import CertsealError, ErrorKind
from services.verifier.diskindex import FOLDER as INDEX_FOLDER
from services.verifier.replay import FOLDER, AcceptedNonces
from services.verifier.storage import CLUSTER_FILE, prepare_data_dir
from tests.verifier.test_replay import (
    T0,
    accept,
    feed_on,
    fresh_topic,
    headed,
    panic_once,
    publish,
    record,
    start_up,
    until,
    use,
)


class Killed(BaseException):
    """A kill -9 at this point of the start-up."""


def killed() -> None:
    raise Killed


def damage_licence_index(data_dir) -> None:
    from rocksdict import Rdict

    db = Rdict(str(data_dir / INDEX_FOLDER))
    db[b"k"] = b"v"
    db.close()
    (data_dir / INDEX_FOLDER / "CURRENT").write_text("garbage\n")


def test_a_damaged_licence_index_does_not_cost_the_guard_its_nonces(tmp_path):
    """A code accepted on cluster A (make run's memory broker) stays REPLAYED on
    cluster B only through the guard's store: cluster B's usage topic does not hold
    its record. A later start that finds the licence index damaged calls
    drop_index, which removes the whole data folder, the guard's store with it: the
    code is VALID again. Correct: the licence index is dropped, the guard's folder
    stays (as prepare_data_dir keeps it); only a damaged guard store is rebuilt."""
    data_dir = tmp_path / "group"
    start_up(data_dir, "cluster-a")
    accept(data_dir, "aa", 4)  # accepted on cluster A
    (data_dir / INDEX_FOLDER).mkdir()
    start_up(data_dir, "cluster-b")  # the fix: the nonce is kept, offsets forgotten
    kept = AcceptedNonces(data_dir / FOLDER)
    assert kept.seen("aa") and kept.offsets() == {}
    kept.close()
    damage_licence_index(data_dir)  # a later start on cluster B: index damaged
    start_up(data_dir, "cluster-b")
    after = AcceptedNonces(data_dir / FOLDER)
    try:
        assert after.seen("aa"), "the nonce accepted on cluster A was dropped"
    finally:
        after.close()


def test_a_new_cluster_forgets_the_offsets_when_only_the_guard_is_left(tmp_path):
    """The data folder holds only the cluster file and the guard's store (a kill -9
    inside prepare_data_dir after it removed the index and before it wrote the new
    cluster id): prepare_data_dir returns False ("nothing dropped") although the
    cluster changed, so __main__ never forgets the guard's offsets, and the guard
    resumes in the new cluster's usage topic at the old cluster's offsets. Correct:
    the offsets are forgotten whenever the cluster differs from the one the store
    read, whatever else the folder holds."""
    data_dir = tmp_path / "group"
    start_up(data_dir, "cluster-a")
    accept(data_dir, "aa", 4)
    start_up(data_dir, "cluster-b")
    store = AcceptedNonces(data_dir / FOLDER)
    try:
        assert store.offsets() == {}, "offsets of cluster A kept on cluster B"
    finally:
        store.close()


def test_a_kill_between_the_cluster_file_and_forgetting_the_offsets(tmp_path):
    """__main__ writes the new cluster id (inside prepare_data_dir) before it forgets
    the guard's offsets (forget_replay_offsets): a kill -9 between the two leaves a
    folder that says "cluster B" with the guard positioned in cluster A's topic, and
    no later start forgets them. Correct: the offsets are forgotten before (or in the
    same write as) the record that the store belongs to cluster B."""
    data_dir = tmp_path / "group"
    start_up(data_dir, "cluster-a")
    accept(data_dir, "aa", 4)
    (data_dir / INDEX_FOLDER).mkdir()
    # adapted (g8g): since fd5a8fd the offsets are forgotten inside prepare_data_dir
    # (other_cluster) before it records cluster B; the kill -9 comes there
    with pytest.raises(Killed):
        prepare_data_dir(data_dir, "cluster-b", keep=(FOLDER,), other_cluster=killed)
    assert (data_dir / CLUSTER_FILE).read_text() == "cluster-a"
    start_up(data_dir, "cluster-b")  # the next start
    store = AcceptedNonces(data_dir / FOLDER)
    try:
        assert store.offsets() == {}, "offsets of cluster A kept on cluster B"
    finally:
        store.close()


async def test_a_store_without_marks_on_a_new_cluster_skips_its_records(
    stack, tmp_path
):
    """End to end, the folder as the test above leaves it, with offsets stored by the
    version before marks (docs/architecture.md: checked against the range only): the
    new cluster's usage topic (a fresh topic here) holds 4 records, the first
    accepting "ee". The stored offset 2 is inside its range, so the guard resumes at
    3, reports caught up, and answers "not seen" for "ee": a code accepted on the new
    cluster is accepted again. Correct: the offsets are forgotten on a new cluster,
    the topic is read from its beginning, and "ee" is seen."""
    data_dir = tmp_path / "group"
    start_up(data_dir, "cluster-a")
    store = AcceptedNonces(data_dir / FOLDER)
    store._db.put(b"o:0", b"2")  # an offset stored before marks (cluster A's topic)
    store.close()
    start_up(data_dir, "cluster-b")
    topic = await fresh_topic(stack, partitions=1)
    expires = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=600)
    await publish(
        stack,
        topic,
        [record(use(1, nonce="ee", expires=expires))]
        + [record(use(n)) for n in range(3)],
    )
    feed = feed_on(stack, topic, data_dir / FOLDER, {})
    feed.start()
    try:
        await until(feed.caught_up.is_set)
        assert feed.seen("ee"), "a nonce accepted on the new cluster is not seen"
    finally:
        await asyncio.to_thread(feed.stop)


async def test_a_base_exception_in_the_feed_does_not_leave_it_caught_up(
    stack, tmp_path
):
    """UsageFeed._run catches Exception only. A BaseException raised in a run (a
    rocksdict panic, a CancelledError out of aiokafka) ends the feed's thread for
    good with caught_up still set and failed None: the guard answers "not seen" from
    a store that no longer moves, for every code accepted since. Correct: the run
    counts as failed (caught_up cleared, UNAVAILABLE) and the feed runs again."""
    topic = await fresh_topic(stack, partitions=1)
    await publish(stack, topic, [record(use(1))])
    feed = feed_on(stack, topic, tmp_path / "n", {})
    feed.retry_s = 0.05
    raised = panic_once(feed)
    feed.start()
    try:
        await until(feed.caught_up.is_set)
        expires = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=600)
        await publish(stack, topic, [record(use(3, nonce="cc", expires=expires))])
        await until(raised.is_set)
        await asyncio.sleep(1.0)  # a retry would have stored "cc" by now
        try:
            seen = feed.seen("cc")
        except CertsealError as exc:
            assert exc.kind is ErrorKind.UNAVAILABLE
        else:
            assert seen, (
                f"'cc' answered not seen; feed thread alive: "
                f"{feed._thread.is_alive()}, caught_up: {feed.caught_up.is_set()}"
            )
    finally:
        await asyncio.to_thread(feed.stop)


def test_one_bad_use_does_not_drop_the_other_accepted_nonces_of_its_record(
    tmp_path,
):
    """A usage record of two uses: "aa" accepted with a valid expiry, and one whose
    code_expires_at is outside the Timestamp range. accepted_nonces raises for the
    whole record, apply skips it, and "aa" is never stored. Correct: the bad use is
    skipped (logged), the record's other accepted nonces are stored."""
    store = AcceptedNonces(tmp_path / "n")
    good = use(1, nonce="aa", expires=T0 + dt.timedelta(hours=1))
    bad = use(2, nonce="bb", expires=T0 + dt.timedelta(hours=1))
    bad.code_expires_at.seconds = 10**12  # past 9999-12-31
    try:
        store.apply([headed(0, record(good, bad))])
        assert store.seen("aa"), "the valid nonce of the record was dropped"
    finally:
        store.close()


async def test_a_run_cut_short_by_the_stop_is_no_failure(tmp_path, caplog):
    """A run the worker's stop cuts short (its positioning gives up when the feed is
    told to stop) was logged as an ERROR with a traceback, "stopped; restarting", on
    a worker that stopped for another reason (inv16: it read as the cause). Correct:
    the thread ends, logging it at INFO, and no new run starts."""
    from services.verifier.replay import UsageFeed

    asked = threading.Event()
    runs = []

    def consumer(**_kw):
        runs.append(1)
        asked.wait(30)
        raise RuntimeError("the records at the stored offsets cannot be read")

    feed = UsageFeed(
        AcceptedNonces(tmp_path / "n"), consumer_factory=consumer, noted=lambda _: None
    )
    feed.retry_s = 0.01
    caplog.set_level("INFO", logger="services.verifier.replay")
    feed.start()
    await until(lambda: runs)
    feed._stop.set()  # what stop() does first
    asked.set()
    await asyncio.to_thread(feed.stop)
    assert not feed._thread.is_alive() and runs == [1]
    said = [  # the feed's own records (other tests' Kafka clients may log beside it)
        (r.levelname, r.getMessage())
        for r in caplog.records
        if r.name == "services.verifier.replay"
    ]
    assert not any(level == "ERROR" for level, _ in said), said
    assert (
        "INFO",
        "the usage feed (replay guard) stopped: the records at the "
        "stored offsets cannot be read",
    ) in said, said
