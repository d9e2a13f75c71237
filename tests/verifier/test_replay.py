"""The replay guard (services/verifier/replay.py): accepted presentation nonces read
from the usage topic by a consumer in its own thread into a RocksDB store of their
own, with the offsets they reach; a record whose header says it carries no nonce is
skipped undecoded, one without the header (an older verifier's) is decoded; a
restart resumes at the stored offsets; until the feed has caught up, the guard
answers UNAVAILABLE instead of a verdict."""

from __future__ import annotations

import asyncio
import datetime as dt
import secrets
import threading

import pytest
from aiokafka.admin import NewTopic

from certseal.errors import CertsealError, ErrorKind
from certseal.identifiers import LicenceId
from certseal.timestamps import ts
from certseal.v1 import events_pb2
from services.verifier.diskindex import Record
from services.verifier.events import NONCES_HEADER, kafka_headers, usage_record
from services.verifier.index import BadEvent, accepted_nonces
from services.verifier.replay import (
    FOLDER,
    AcceptedNonces,
    Headed,
    UsageFeed,
    forget_replay_offsets,
)
from services.verifier.replay_store import prepare_worker_folder
from services.verifier.storage import prepare_data_dir

T0 = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.UTC)


def use(n: int, *, nonce: str = "", verdict: str = "VALID", expires=T0):
    licence = LicenceId(f"{n:021d}", f"{n:018d}", f"{n:016d}", 1)
    return events_pb2.LicenceUse(
        lineage=licence.lineage,
        identifier=str(licence),
        verdict=verdict,
        code_kind="presentation" if nonce else "licence",
        nonce_hash=nonce,
        code_expires_at=ts(expires) if nonce else None,
    )


def record(*uses):
    return usage_record(list(uses), counter="dept:x", purpose="p", group="g", now=T0)


def headed(offset: int, rec, *, partition: int = 0, headers=None) -> Headed:
    return Headed(
        Record(partition, offset, rec.key, rec.value, 0),
        kafka_headers(rec) if headers is None else headers,
    )


def test_the_header_counts_accepted_nonces():
    assert record(use(1)).headers[NONCES_HEADER] == "0"
    assert record(use(1, nonce="aa")).headers[NONCES_HEADER] == "1"
    refused = use(2, nonce="bb", verdict="REPLAYED")
    assert record(use(1, nonce="aa"), refused, use(3)).headers[NONCES_HEADER] == "1"


def test_accepted_nonces_are_the_valid_uses_with_a_nonce_of_any_lineage():
    later = T0 + dt.timedelta(seconds=60)
    batch = record(
        use(1, nonce="aa", expires=later),
        use(2, nonce="bb", verdict="REPLAYED"),
        use(3),
        use(4, nonce="cc", expires=later),
    )
    stamp = int(later.timestamp())
    assert accepted_nonces(batch.value) == [("aa", stamp), ("cc", stamp)]
    assert accepted_nonces(record(use(1)).value) == []
    with pytest.raises(BadEvent):
        accepted_nonces(b"\xff\xff not protobuf")


def test_the_store_keeps_nonces_with_their_offsets_and_skips_by_header(tmp_path):
    store = AcceptedNonces(tmp_path / "n")
    shown = record(use(1, nonce="aa", expires=T0 + dt.timedelta(seconds=60)))
    # an older verifier's record: no header, decoded
    old = record(use(2, nonce="bb", expires=T0 + dt.timedelta(seconds=60)))
    no_header = [(k, v) for k, v in kafka_headers(old) if k != NONCES_HEADER]
    # a header saying "no nonce" is believed: not decoded (so not even a bad value
    # costs a decode)
    lying = headed(3, record(use(3)), headers=[(NONCES_HEADER, b"0")])
    bad = Headed(Record(1, 7, b"k", b"\xff\xff", 0), [])
    plain = headed(0, record(use(9)))
    problems = store.apply(
        [plain, headed(1, shown), headed(2, old, headers=no_header), lying, bad]
    )
    assert [(r.partition, r.offset) for r, _ in problems] == [(1, 7)]
    assert store.seen("aa") and store.seen("bb") and not store.seen("cc")
    assert store.offsets() == {0: 3, 1: 7}
    store.close()
    reopened = AcceptedNonces(tmp_path / "n")
    assert reopened.seen("aa") and reopened.offsets() == {0: 3, 1: 7}
    reopened.close()


def test_a_new_cluster_keeps_the_accepted_nonces_and_forgets_the_offsets(tmp_path):
    """A worker that meets another Kafka cluster (a rebuilt Kafka, make run's memory
    broker restarted) drops its index but not the guard's nonces: a presentation
    code accepted before stays REPLAYED; the new usage topic is read from its
    beginning (services/verifier/__main__.py)."""
    data_dir = tmp_path / "group"
    assert prepare_data_dir(data_dir, "cluster-a", keep=(FOLDER,)) is False
    store = AcceptedNonces(data_dir / FOLDER)
    shown = record(use(1, nonce="aa", expires=T0 + dt.timedelta(seconds=60)))
    store.apply([headed(4, shown)])
    assert store.offsets() == {0: 4}
    store.close()
    (data_dir / "licences.rocksdb").mkdir()  # the index, built from cluster-a
    assert prepare_data_dir(data_dir, "cluster-b", keep=(FOLDER,)) is True
    assert not (data_dir / "licences.rocksdb").exists()
    forget_replay_offsets(data_dir / FOLDER)
    kept = AcceptedNonces(data_dir / FOLDER)
    assert kept.seen("aa")
    assert kept.offsets() == {} and kept.marks() == {}
    kept.close()
    forget_replay_offsets(tmp_path / "none")  # no store yet: nothing to do
    assert not (tmp_path / "none").exists()


def test_expired_nonces_are_purged_after_a_margin(tmp_path):
    store = AcceptedNonces(tmp_path / "n")
    soon = record(use(1, nonce="aa", expires=T0 + dt.timedelta(seconds=10)))
    later = record(use(2, nonce="bb", expires=T0 + dt.timedelta(seconds=600)))
    store.apply([headed(0, soon), headed(1, later)])
    assert store.purge(T0 + dt.timedelta(seconds=30)) == 0  # within the margin
    assert store.purge(T0 + dt.timedelta(seconds=100)) == 1
    assert not store.seen("aa") and store.seen("bb")
    assert store.offsets() == {0: 1}  # offsets are never purged
    store.close()


async def fresh_topic(stack, partitions: int = 3) -> str:
    name = f"usage-test-{secrets.token_hex(4)}"
    admin = stack.config.kafka.settings("certseal-tests").admin()
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, partitions, 1)])
    finally:
        await admin.close()
    return name


async def publish(stack, topic: str, records) -> None:
    producer = stack.config.kafka.settings("certseal-tests").producer()
    await producer.start()
    try:
        for rec in records:
            await producer.send_and_wait(
                topic, rec.value, key=rec.key, headers=kafka_headers(rec)
            )
    finally:
        await producer.stop()


async def until(condition, within: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "not reached in time"
        await asyncio.sleep(0.01)


def feed_on(stack, topic: str, path, noted) -> UsageFeed:
    return UsageFeed(
        AcceptedNonces(path),
        consumer_factory=lambda **kw: stack.config.kafka.settings(
            "certseal-tests"
        ).consumer(**kw),
        noted=noted.update,
        topic=topic,
        fetch_max_wait_ms=5,
        idle_fetch_max_wait_ms=50,
    )


async def test_the_feed_reads_the_topic_in_its_own_thread_and_resumes(stack, tmp_path):
    topic = await fresh_topic(stack)
    expires = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=600)
    before = [record(use(n, nonce=f"{n:02x}", expires=expires)) for n in range(5)]
    await publish(stack, topic, [*before, record(use(50))])
    noted: dict[int, tuple[int, float]] = {}
    feed = feed_on(stack, topic, tmp_path / "n", noted)
    with pytest.raises(CertsealError) as refused:  # not started: behind the topic
        feed.seen("00")
    assert refused.value.kind is ErrorKind.UNAVAILABLE
    feed.start()
    try:
        await until(feed.caught_up.is_set)
        assert all(feed.seen(f"{n:02x}") for n in range(5))
        assert not feed.seen("ff")
        # noted on this loop (call_soon_threadsafe) after the feed's thread stored
        # each batch: caught_up may be set before the last note has run here
        await until(lambda: sum(offset + 1 for offset, _ in noted.values()) == 6)
        # a nonce accepted after start, by another group, is seen too
        await publish(stack, topic, [record(use(7, nonce="77", expires=expires))])
        await until(lambda: feed.store.seen("77"))
        assert feed.seen("77")
    finally:
        await asyncio.to_thread(feed.stop)
    # a restart resumes after the stored offsets: nothing read again
    again = feed_on(stack, topic, tmp_path / "n", {})
    again.start()
    try:
        await until(again.caught_up.is_set)
        assert sum(offset + 1 for offset in again.resumed.values()) == 7
        assert again.applied_records == 0 and again.seen("77") and again.seen("00")
    finally:
        await asyncio.to_thread(again.stop)


async def test_a_feed_that_failed_answers_unavailable_until_a_new_run_resumes(
    stack, tmp_path
):
    """The broker unreachable when the feed starts: UNAVAILABLE, never a verdict from
    a guard that may be behind; the next run resumes and the guard answers."""
    topic = await fresh_topic(stack)
    expires = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=600)
    await publish(stack, topic, [record(use(1, nonce="aa", expires=expires))])
    attempts = []
    checked = threading.Event()  # the retry waits until the failure was looked at

    def first_fails(**kw):
        attempts.append(kw)
        if len(attempts) == 1:
            raise RuntimeError("no broker client")
        checked.wait(30)
        return stack.config.kafka.settings("certseal-tests").consumer(**kw)

    feed = UsageFeed(
        AcceptedNonces(tmp_path / "n"),
        consumer_factory=first_fails,
        noted=lambda _: None,
        topic=topic,
    )
    feed.retry_s = 0.2
    feed.start()
    try:
        await until(lambda: feed.failed is not None)
        with pytest.raises(CertsealError) as refused:
            feed.seen("aa")
        assert refused.value.kind is ErrorKind.UNAVAILABLE
        assert "stopped" in str(refused.value)
        checked.set()
        await until(feed.caught_up.is_set)
        assert feed.failed is None and feed.seen("aa") and len(attempts) >= 2
    finally:
        await asyncio.to_thread(feed.stop)


def test_a_store_that_cannot_be_read_answers_unavailable(tmp_path):
    store = AcceptedNonces(tmp_path / "n")
    store.close()  # every read now fails in RocksDB, as a damaged block's does
    with pytest.raises(CertsealError) as refused:
        store.seen("00")
    assert refused.value.kind is ErrorKind.UNAVAILABLE


def with_expiry(seconds: int, nanos: int = 0) -> bytes:
    """A usage record accepting nonce "aa" whose code_expires_at is set raw."""
    rec = record(use(1, nonce="aa", expires=T0))
    event = events_pb2.LicenceUsedEvent.FromString(rec.value)
    for one in event.uses or [event]:
        one.code_expires_at.seconds = seconds
        one.code_expires_at.nanos = nanos
    return event.SerializeToString()


@pytest.mark.parametrize(
    ("seconds", "nanos"),
    [
        (2**62, 0),  # past 9999-12-31: protobuf's ToDatetime raises ValueError
        (-(2**40), 0),  # before 0001-01-01
        (253_402_300_800, 0),  # one second past the range
        (-62_135_596_801, 0),
        (0, -1),  # negative nanos
        (0, 1_000_000_000),
    ],
)
def test_an_expiry_outside_the_timestamp_range_is_a_bad_event(seconds, nanos):
    with pytest.raises(BadEvent, match="code_expires_at"):
        accepted_nonces(with_expiry(seconds, nanos))


def test_the_ends_of_the_timestamp_range_are_accepted():
    assert accepted_nonces(with_expiry(253_402_300_799, 999_999_999)) == [
        ("aa", 253_402_300_799)
    ]
    assert accepted_nonces(with_expiry(-62_135_596_800)) == [("aa", -62_135_596_800)]


def test_a_record_that_cannot_be_decoded_is_skipped_and_its_offset_passed(
    tmp_path, monkeypatch
):
    store = AcceptedNonces(tmp_path / "n")
    good = record(use(2, nonce="bb", expires=T0))
    # no header (an older verifier's record), and a header saying "1": both decoded
    hostile = Headed(Record(0, 0, b"k", with_expiry(2**62), 0), [])
    hostile_headed = Headed(
        Record(0, 1, b"k", with_expiry(0, -1), 0), [(NONCES_HEADER, b"1")]
    )
    problems = store.apply([hostile, hostile_headed, headed(2, good)])
    assert [(r.partition, r.offset) for r, _ in problems] == [(0, 0), (0, 1)]
    assert store.offsets() == {0: 2} and store.seen("bb")
    # any other failure decoding one record is one bad record too, never a crash
    import services.verifier.replay_store as replay

    def broken(value: bytes, bad_uses=None):
        raise OverflowError("a decoder's surprise")

    monkeypatch.setattr(replay, "accepted_claims", broken)
    problems = store.apply([Headed(Record(0, 3, b"k", b"x", 0), [])])
    assert [(r.offset, type(p)) for r, p in problems] == [(3, BadEvent)]
    assert "OverflowError" in str(problems[0][1]) and store.offsets() == {0: 3}
    store.close()


async def publish_raw(stack, topic: str, value: bytes) -> None:
    producer = stack.config.kafka.settings("certseal-tests").producer()
    await producer.start()
    try:
        await producer.send_and_wait(topic, value, key=b"k", headers=[])
    finally:
        await producer.stop()


async def test_a_record_with_an_out_of_range_expiry_does_not_stop_the_guard(
    stack, tmp_path
):
    topic = await fresh_topic(stack, partitions=1)
    await publish_raw(stack, topic, with_expiry(2**62))
    expires = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=600)
    await publish(stack, topic, [record(use(2, nonce="bb", expires=expires))])
    feed = feed_on(stack, topic, tmp_path / "n", {})
    feed.retry_s = 0.2
    feed.start()
    try:
        await until(feed.caught_up.is_set, within=15)
        assert feed.seen("bb") and feed.failed is None
        assert feed.store.offsets() == {0: 1}
    finally:
        await asyncio.to_thread(feed.stop)


async def test_a_run_after_a_failed_one_answers_unavailable_until_caught_up_again(
    stack, tmp_path
):
    """After catching up, the feed's run fails storing a record that accepts "cc";
    the next run has positioned itself (``failed`` cleared) but not yet stored it:
    the guard answers UNAVAILABLE, never "not seen" from the store that is behind."""
    topic = await fresh_topic(stack, partitions=1)
    await publish(stack, topic, [record(use(1))])
    feed = feed_on(stack, topic, tmp_path / "n", {})
    feed.retry_s = 0.05
    store_apply = feed.store.apply
    calls = {"n": 0}
    retrying = threading.Event()  # the retry is about to store "cc"
    looked = threading.Event()  # the test has asked the guard meanwhile

    def apply(records):
        if any(h.record.offset >= 1 for h in records):
            calls["n"] += 1
            if calls["n"] == 1:
                raise RuntimeError("write refused")
            if calls["n"] == 2:
                retrying.set()
                looked.wait(30)
        return store_apply(records)

    feed.store.apply = apply  # type: ignore[method-assign]
    feed.start()
    try:
        await until(feed.caught_up.is_set)
        expires = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=600)
        await publish(stack, topic, [record(use(3, nonce="cc", expires=expires))])
        await until(retrying.is_set)
        assert feed.failed is None  # the retry positioned itself
        with pytest.raises(CertsealError) as refused:
            feed.seen("cc")
        assert refused.value.kind is ErrorKind.UNAVAILABLE
        looked.set()
        await until(feed.caught_up.is_set)
        assert feed.seen("cc")
    finally:
        looked.set()
        await asyncio.to_thread(feed.stop)


async def recreate(stack, topic: str, partitions: int = 1) -> None:
    admin = stack.config.kafka.settings("certseal-tests").admin()
    await admin.start()
    try:
        await admin.delete_topics([topic])
        for _ in range(100):  # the deletion may take a moment
            try:
                await admin.create_topics([NewTopic(topic, partitions, 1)])
                return
            except Exception:
                await asyncio.sleep(0.1)
        raise AssertionError(f"{topic} could not be made again")
    finally:
        await admin.close()


async def read_through(stack, topic: str, path) -> UsageFeed:
    feed = feed_on(stack, topic, path, {})
    feed.start()
    try:
        await until(feed.caught_up.is_set)
    finally:
        await asyncio.to_thread(feed.stop)
    return feed


@pytest.mark.parametrize("new_records", [21, 3])
async def test_a_recreated_usage_topic_is_read_from_its_beginning(
    stack, tmp_path, new_records
):
    """The usage topic deleted and made again in the same cluster: the stored offsets
    belong to the old topic. A nonce at offset 0 of the new topic is seen, whether
    the new topic is longer than the stored offset (the record there differs) or
    shorter (the stored offset is past its end)."""
    topic = await fresh_topic(stack, partitions=1)
    await publish(stack, topic, [record(use(n)) for n in range(10)])
    await read_through(stack, topic, tmp_path / "n")
    await recreate(stack, topic)
    expires = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=600)
    await publish(
        stack,
        topic,
        [record(use(1, nonce="ee", expires=expires))]
        + [record(use(n)) for n in range(new_records - 1)],
    )
    again = feed_on(stack, topic, tmp_path / "n", {})
    again.start()
    try:
        await until(again.caught_up.is_set)
        assert again.resumed == {0: -1}  # read from the beginning
        assert again.seen("ee")
        assert again.store.offsets() == {0: new_records - 1}
    finally:
        await asyncio.to_thread(again.stop)


async def test_the_same_topic_is_resumed_not_read_again(stack, tmp_path):
    """The check for a recreated topic does not mistake the same topic for one."""
    topic = await fresh_topic(stack, partitions=2)
    await publish(stack, topic, [record(use(n)) for n in range(6)])
    await read_through(stack, topic, tmp_path / "n")
    again = feed_on(stack, topic, tmp_path / "n", {})
    again.start()
    try:
        await until(again.caught_up.is_set)
        assert again.applied_records == 0
        assert sum(offset + 1 for offset in again.resumed.values()) == 6
    finally:
        await asyncio.to_thread(again.stop)


async def test_a_topic_whose_last_batch_holds_many_records_is_resumed(stack, tmp_path):
    """Records produced in one batch: the embedded broker reports the end offset one
    past the batch's first record; the check for a recreated topic reads the exact
    end, so the same topic is still resumed, not read again."""
    topic = await fresh_topic(stack, partitions=1)
    producer = stack.config.kafka.settings("certseal-tests").producer(linger_ms=200)
    await producer.start()
    try:
        sent = [
            await producer.send(
                topic, rec.value, key=rec.key, headers=kafka_headers(rec)
            )
            for rec in [record(use(n)) for n in range(8)]
        ]
        await asyncio.gather(*sent)
    finally:
        await producer.stop()
    await read_through(stack, topic, tmp_path / "n")
    again = feed_on(stack, topic, tmp_path / "n", {})
    again.start()
    try:
        await until(again.caught_up.is_set)
        assert again.resumed == {0: 7} and again.applied_records == 0
    finally:
        await asyncio.to_thread(again.stop)


async def test_a_record_larger_than_a_fetch_does_not_stall_the_guard(stack, tmp_path):
    """A usage record of 3 MiB (a fetch takes at most 1 MiB a partition) before an
    accepted nonce: the guard catches up and sees the nonce."""
    topic = await fresh_topic(stack, partitions=1)
    big = events_pb2.LicenceUsedEvent(
        event_id="e",
        lineage="x",
        identifier="i",
        verdict="NOT_VALID",
        purpose="p" * (3 * 1024 * 1024),
    ).SerializeToString()
    producer = stack.config.kafka.settings("certseal-tests").producer(
        max_request_size=8 * 1024 * 1024
    )
    await producer.start()
    try:
        await producer.send_and_wait(topic, big, key=b"k", headers=[])
    finally:
        await producer.stop()
    expires = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=600)
    await publish(stack, topic, [record(use(4, nonce="dd", expires=expires))])
    feed = feed_on(stack, topic, tmp_path / "n", {})
    feed.start()
    try:
        await until(feed.caught_up.is_set)
        assert feed.seen("dd") and feed.store.offsets() == {0: 1}
    finally:
        await asyncio.to_thread(feed.stop)


def start_up(data_dir, cluster_id: str) -> None:
    """What services/verifier/__main__.py does to the data folder at start
    (``prepare_worker_folder``)."""
    prepare_worker_folder(data_dir, cluster_id)


def accept(data_dir, nonce: str, offset: int) -> None:
    store = AcceptedNonces(data_dir / FOLDER)
    expires = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    store.apply([headed(offset, record(use(1, nonce=nonce, expires=expires)))])
    store.close()


def test_a_damaged_licence_index_does_not_cost_the_guard_its_nonces(tmp_path):
    """A code accepted on cluster A stays REPLAYED on cluster B only through the
    guard's store (B's usage topic never held its record): a later start that finds
    the licence index damaged drops the index, not the guard's store (atk7b)."""
    from rocksdict import Rdict

    from services.verifier.diskindex import FOLDER as INDEX_FOLDER

    data_dir = tmp_path / "group"
    start_up(data_dir, "cluster-a")
    accept(data_dir, "aa", 4)
    start_up(data_dir, "cluster-b")
    db = Rdict(str(data_dir / INDEX_FOLDER))
    db[b"k"] = b"v"
    db.close()
    (data_dir / INDEX_FOLDER / "CURRENT").write_text("garbage\n")
    accept(data_dir, "bb", 2)  # read from cluster B's topic since
    start_up(data_dir, "cluster-b")
    assert not (data_dir / INDEX_FOLDER).exists()  # the damaged index went
    after = AcceptedNonces(data_dir / FOLDER)
    try:
        assert after.seen("aa") and after.seen("bb")
        # still cluster B's: its offsets are kept, not read again from the beginning
        assert after.offsets() == {0: 2}
    finally:
        after.close()


def test_another_cluster_forgets_the_offsets_whatever_else_the_folder_holds(
    tmp_path,
):
    """Only the cluster file and the guard's store in the folder (nothing else to
    drop), or a kill between recording the new cluster and forgetting the offsets:
    either way the guard must not resume in the new cluster's topic at the old one's
    offsets (atk7b)."""
    data_dir = tmp_path / "group"
    start_up(data_dir, "cluster-a")
    accept(data_dir, "aa", 4)
    start_up(data_dir, "cluster-b")  # nothing but the guard to keep
    store = AcceptedNonces(data_dir / FOLDER)
    assert store.offsets() == {} and store.seen("aa")
    store.close()
    # killed inside other_cluster, before the new cluster was recorded: the next
    # start forgets again
    accept(data_dir, "bb", 7)

    def killed() -> None:
        forget_replay_offsets(data_dir / FOLDER)
        raise SystemExit(9)

    with pytest.raises(SystemExit):
        prepare_data_dir(data_dir, "cluster-c", keep=(FOLDER,), other_cluster=killed)
    accept(data_dir, "cc", 9)  # as if cluster B's offsets were still there
    start_up(data_dir, "cluster-c")
    store = AcceptedNonces(data_dir / FOLDER)
    try:
        assert store.offsets() == {}
        assert store.seen("aa") and store.seen("bb") and store.seen("cc")
    finally:
        store.close()


class PanicException(BaseException):
    """What pyo3 raises for a Rust panic (rocksdict): a BaseException, not an
    Exception; asyncio.CancelledError is one too."""


def panic_once(feed) -> threading.Event:
    """Make ``feed``'s store raise a PanicException once, in the first run that
    applies a record past offset 0; the event is set when it has."""
    store_apply = feed.store.apply
    raised = threading.Event()

    def apply(records):
        if any(h.record.offset >= 1 for h in records) and not raised.is_set():
            raised.set()
            raise PanicException("called `Result::unwrap()` on an `Err` value")
        return store_apply(records)

    feed.store.apply = apply
    return raised


async def test_a_base_exception_in_a_run_fails_the_run_and_the_feed_runs_again(
    stack, tmp_path
):
    """A BaseException in a run (a rocksdict panic, a stray CancelledError) ended the
    feed's thread for good with caught_up still set: "not seen" from a store that no
    longer moved (atk7b). It is a failed run: UNAVAILABLE, then a new run that
    stores what follows."""
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

        def seen_after_the_retry() -> bool:
            try:
                return feed.seen("cc")
            except CertsealError as exc:
                assert exc.kind is ErrorKind.UNAVAILABLE
                return False

        await until(seen_after_the_retry)
        assert feed._thread.is_alive()
    finally:
        await asyncio.to_thread(feed.stop)
