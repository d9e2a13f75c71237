"""Claims of presentation codes (services/verifier/claims.py), "first in the log
wins", against the session's real broker: each guard (one per group here, each with
its own store and feed) answers VALID only for the nonce's first claim in the log;
with the broker away it answers UNAVAILABLE, never VALID; a claim answered VALID is in
the log, so a worker killed right after it finds it at its restart."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest

from certseal.errors import CertsealError, ErrorKind
from certseal.events import new_event_id
from services.verifier.claims import ReadSpan, UsageClaims, UsagePublisher
from services.verifier.domain import Check, Outcome, Verdict, Verification
from services.verifier.events import usage_record
from services.verifier.jobs import replayed
from services.verifier.replay import AcceptedNonces, UsageFeed
from tests.verifier.test_replay import feed_on, fresh_topic, publish, record, until, use


def claim_of(n: int, nonce: str):
    """A claim: the one-use usage record of presentation code ``n`` (nonce hash
    ``nonce``), keyed by its lineage, and its event id."""
    event_id = new_event_id()
    expires = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=600)
    rec = usage_record(
        [use(n, nonce=nonce, expires=expires)],
        counter="dept:x",
        purpose="p",
        group="g",
        now=dt.datetime.now(dt.UTC),
        event_id=event_id,
    )
    return rec, event_id


def claims_on(stack, feed: UsageFeed, timeout_s: float = 10.0) -> UsageClaims:
    """A claims publisher beside ``feed``. Its bound is generous: these tests decide
    races and reads, and the first claim also starts the producer and the reader,
    which on a loaded 2-core CI machine took longer than the service's 2 s
    (``CLAIM_TIMEOUT_S``); tests of the bound set their own."""
    settings = stack.config.kafka.settings("certseal-tests")
    return UsageClaims(feed, producer_factory=settings.producer, timeout_s=timeout_s)


async def guard(stack, topic: str, path) -> tuple[UsageFeed, UsageClaims]:
    feed = feed_on(stack, topic, path, {})
    feed.start()
    await until(feed.caught_up.is_set)
    return feed, claims_on(stack, feed)


async def stop(feed: UsageFeed, claims: UsageClaims) -> None:
    await claims.stop()
    await asyncio.to_thread(feed.stop)


async def test_two_groups_racing_on_one_code_yield_exactly_one_valid(stack, tmp_path):
    """Two guards (two groups) claim one nonce at once, many times over (a fresh
    nonce per round): in every round exactly one claim wins, and each guard's store
    names the winner as the nonce's first claim."""
    topic = await fresh_topic(stack, partitions=3)
    a = await guard(stack, topic, tmp_path / "a")
    b = await guard(stack, topic, tmp_path / "b")
    try:
        for n in range(20):
            nonce = f"{n:02x}" * 16
            (ra, ida), (rb, idb) = claim_of(n, nonce), claim_of(n, nonce)
            lost = await asyncio.gather(
                a[1].claim(ra, [nonce], ida), b[1].claim(rb, [nonce], idb)
            )
            won = [not x for x in lost]
            assert sorted(won) == [False, True], (n, won)
            winner = ida if won[0] else idb
            for feed, _ in (a, b):
                await until(lambda f=feed, x=nonce: f.store.seen(x))
                assert feed.store.first_claim(nonce) == winner
    finally:
        await stop(*a)
        await stop(*b)


async def test_a_claim_after_another_groups_acknowledged_claim_loses(stack, tmp_path):
    """Group A's claim is acknowledged and answered; group B's guard has not read it
    yet (its feed is stopped before A claims): B's claim still loses, found by
    reading the records between its store's end and its own claim."""
    topic = await fresh_topic(stack, partitions=1)
    await publish(stack, topic, [record(use(9))])
    a = await guard(stack, topic, tmp_path / "a")
    b_store = tmp_path / "b"
    b = await guard(stack, topic, b_store)
    try:
        nonce = "ab" * 16
        b[0]._stop.set()  # B's feed stops reading: its store stays behind
        await asyncio.to_thread(b[0]._thread.join, 10)
        ra, ida = claim_of(1, nonce)
        assert not await a[1].claim(ra, [nonce], ida)
        rb, idb = claim_of(1, nonce)
        assert b[0].store.first_claim(nonce) is None  # B's store never saw A's claim
        assert await b[1].claim(rb, [nonce], idb) == {nonce}
        # and a third claim, by A again: its store holds A's winning claim
        rc, idc = claim_of(1, nonce)
        await until(lambda: a[0].store.seen(nonce))
        assert await a[1].claim(rc, [nonce], idc) == {nonce}
    finally:
        await stop(*a)
        await a[1].stop()
        await b[1].stop()
        b[0].store.close()


async def test_a_claim_with_the_broker_away_is_unavailable_never_valid(stack, tmp_path):
    """Broker paused: the claim gets no acknowledgement within its bound, and the
    answer is UNAVAILABLE (retryable), never VALID."""
    topic = await fresh_topic(stack, partitions=1)
    feed, claims = await guard(stack, topic, tmp_path / "a")
    claims.timeout_s = 1.0
    nonce = "cd" * 16
    rec, event_id = claim_of(2, nonce)
    warm, warm_id = claim_of(3, "ef" * 16)
    assert not await claims.claim(
        warm, ["ef" * 16], warm_id
    )  # producer and reader started
    await asyncio.to_thread(stack.pause_broker)
    try:
        with pytest.raises(CertsealError) as caught:
            await claims.claim(rec, [nonce], event_id)
        assert caught.value.kind is ErrorKind.UNAVAILABLE
    finally:
        stack.resume_broker()
        await stop(feed, claims)


async def test_a_claim_answered_valid_is_in_the_log_for_a_restarted_worker(
    stack, tmp_path
):
    """What kill -9 right after a VALID leaves: the claim was acknowledged before the
    answer, so a new guard reading the topic from its store (here: a store that never
    saw it) finds the nonce claimed, and a second claim loses."""
    topic = await fresh_topic(stack, partitions=2)
    feed, claims = await guard(stack, topic, tmp_path / "a")
    nonce = "0f" * 16
    rec, event_id = claim_of(4, nonce)
    try:
        assert not await claims.claim(rec, [nonce], event_id)
    finally:
        await claims.stop()
        feed._stop.set()  # "killed": the feed may or may not have stored it
        await asyncio.to_thread(feed._thread.join, 10)
        feed.store.close()
    restarted = feed_on(stack, topic, tmp_path / "b", {})
    restarted.start()
    again = claims_on(stack, restarted)
    try:
        await until(restarted.caught_up.is_set)
        assert restarted.seen(nonce)
        second, second_id = claim_of(4, nonce)
        assert await again.claim(second, [nonce], second_id) == {nonce}
    finally:
        await stop(restarted, again)


async def test_a_guard_not_caught_up_refuses_to_claim(stack, tmp_path):
    topic = await fresh_topic(stack, partitions=1)
    feed = feed_on(stack, topic, tmp_path / "a", {})  # never started
    claims = claims_on(stack, feed)
    rec, event_id = claim_of(5, "aa" * 16)
    with pytest.raises(CertsealError) as caught:
        await claims.claim(rec, ["aa" * 16], event_id)
    assert caught.value.kind is ErrorKind.UNAVAILABLE
    feed.store.close()


def test_a_nonce_keeps_its_first_claim_and_an_old_store_names_none(tmp_path):
    """The store keeps the first claim of a nonce, also when the record is read again
    or claimed later; a value written before claims (the expiry alone) names no
    record: every claim of it loses."""
    from tests.verifier.test_replay import headed

    store = AcceptedNonces(tmp_path / "n")
    first, first_id = claim_of(1, "aa")
    later, _ = claim_of(1, "aa")
    store.apply([headed(0, first), headed(1, later)])
    store.apply([headed(0, first)])
    assert store.first_claim("aa") == first_id
    store._db.put(b"n:bb", b"4102444800")  # an older verifier's entry
    assert store.first_claim("bb") == "" and store.seen("bb")
    assert store.first_claim("cc") is None
    assert store.purge(dt.datetime(2100, 1, 2, tzinfo=dt.UTC)) == 2  # both parse
    store.close()


def test_a_lost_claim_is_answered_as_evaluate_answers_a_seen_nonce():
    accepted = Verification(
        Verdict.VALID,
        (
            Check("decode", Outcome.PASSED, "presentation"),
            Check("issuer", Outcome.PASSED, ""),
            Check("signature", Outcome.PASSED, ""),
            Check("key", Outcome.PASSED, "active"),
            Check("code lifetime", Outcome.PASSED, "until …"),
            Check("licence", Outcome.PASSED, ""),
        ),
        identifier="x",
    )
    lost = replayed(accepted)
    assert lost.verdict is Verdict.REPLAYED and lost.identifier == "x"
    assert [c.name for c in lost.checks] == [
        "decode",
        "issuer",
        "signature",
        "key",
        "replay",
    ]
    assert lost.checks[-1].outcome is Outcome.FAILED


class FakeClaims:
    """What UsagePublisher needs of UsageClaims: the partitions, and claim (each
    claim recorded; the nonces in ``lose`` lose)."""

    def __init__(self, lose=frozenset()):
        self.records: list[tuple] = []
        self.lose = lose

    def deadline(self) -> float:
        return asyncio.get_running_loop().time() + 2.0

    async def partitions(self, deadline=None) -> list[int]:
        return list(range(12))

    async def claim(self, record, nonces, event_id, deadline=None):
        self.records.append((record, list(nonces), event_id))
        return {n for n in nonces if n in self.lose}


async def test_a_batch_claims_once_per_partition_its_presentation_codes_key_to():
    """A batch of 30 licence codes and 20 presentation codes of other licences: one
    claim per partition the presentation codes' lineages key to, keyed by one of
    them; the first claim carries every other use in request order; every use once;
    each claim within its codes' bytes, the purpose and one envelope; the losing
    nonces are reported."""
    from aiokafka.partitioner import DefaultPartitioner

    from certseal.events import uses_of
    from certseal.v1 import events_pb2 as pb
    from services.verifier.access import Acting
    from services.verifier.claims import UsagePublisher
    from services.verifier.events import ENVELOPE_BYTES, record_bytes

    expires = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=600)
    uses = [use(n) for n in range(30)]
    uses += [use(100 + n, nonce=f"{n:064x}", expires=expires) for n in range(20)]
    claimed = set(range(30, 50))
    sizes = [400] * 50  # each code's bytes: more than a use's
    fake = FakeClaims(lose={f"{3:064x}"})
    publisher = UsagePublisher(group="g", claims=fake, producer=lambda: None)
    purpose = "办" * 200
    lost = await publisher.publish(
        uses,
        claimed,
        sizes=sizes,
        carried=sum(sizes) + len(purpose.encode()),
        purpose=purpose,
        acting=Acting("dept:x", "x"),
        now=dt.datetime.now(dt.UTC),
    )
    assert lost == {f"{3:064x}"}

    def partition(lineage: str) -> int:
        return DefaultPartitioner()(lineage.encode(), list(range(12)), list(range(12)))

    wanted = {partition(uses[at].lineage) for at in claimed}
    assert len(fake.records) == len(wanted) > 1
    seen = []
    for number, (published, nonces, event_id) in enumerate(fake.records):
        event = pb.LicenceUsedEvent.FromString(published.value)
        assert event.event_id == event_id == published.headers["ce_id"]
        inside = uses_of(event)
        keyed = partition(published.key.decode())
        assert {partition(u.lineage) for u in inside if u.nonce_hash} == {keyed}
        assert nonces == [u.nonce_hash for u in inside if u.nonce_hash]
        if number == 0:  # the other uses, in request order
            assert [u.identifier for u in inside if not u.nonce_hash] == [
                u.identifier for u in uses[:30]
            ]
        else:
            assert all(u.nonce_hash for u in inside)
        share = 400 * len(inside) + len(purpose.encode())
        assert record_bytes(published) <= share + ENVELOPE_BYTES
        seen += [u.identifier for u in inside]
    assert sorted(seen) == sorted(u.identifier for u in uses)


async def test_a_request_without_a_presentation_code_is_gathered_not_claimed():
    """Its uses wait in the gatherer (services.verifier.gathering) for the window and
    go out as one record through the worker's producer, never as a claim."""
    from services.verifier.access import Acting
    from services.verifier.claims import UsagePublisher

    sent = []

    class Producer:
        async def send(self, *args):
            sent.append(args)

    fake = FakeClaims()
    publisher = UsagePublisher(group="g", claims=None, producer=Producer, window_s=60)
    lost = await publisher.publish(
        [use(1), use(2)],
        set(),
        sizes=[400, 400],
        carried=900,
        purpose="p",
        acting=Acting("dept:x", "x"),
        now=dt.datetime.now(dt.UTC),
    )
    assert lost == set() and sent == [] and fake.records == []
    await publisher.stop()  # a graceful stop publishes what is gathered
    assert len(sent) == 1


async def test_the_publishers_stop_closes_the_claims_clients(stack, tmp_path):
    """At the worker's end (``VerifierServer.on_stop``) the claims' producer and
    reader, started by a claim that read the log, are stopped, not left to the
    garbage collector; a publisher without claims stops as a no-op."""
    topic = await fresh_topic(stack, partitions=1)
    feed, claims = await guard(stack, topic, tmp_path / "a")
    publisher = UsagePublisher(group="g", claims=claims, producer=lambda: None)
    try:
        feed._stop.set()  # the store stays behind: the claim reads the log itself
        await asyncio.to_thread(feed._thread.join, 10)
        rec, event_id = claim_of(5, "5a" * 16)
        assert not await claims.claim(rec, ["5a" * 16], event_id)
        producer, reader = claims._producer, claims._reader
        assert producer is not None and reader is not None
        await publisher.stop()
        assert (claims._producer, claims._reader) == (None, None)
        assert producer._closed and reader._closed
    finally:
        await claims.stop()
        feed.store.close()
    await UsagePublisher(group="g", claims=None, producer=lambda: None).stop()


def counting_seeks(reader) -> list[int]:
    """Record the offsets ``reader`` (a started aiokafka consumer) seeks to."""
    seeks: list[int] = []
    seek = reader.seek

    def recorded(tp, offset):
        seeks.append(offset)
        return seek(tp, offset)

    reader.seek = recorded
    return seeks


async def test_a_kept_reader_reads_on_and_finds_an_earlier_claim_in_the_gap(
    stack, tmp_path
):
    """Group B's store stays behind (its feed stopped). B claims X: its reader reads
    the gap up to B's claim. A claims Y; then B claims Y: B's reader reads on from
    where it stopped (no seek), finds A's claim of Y in the gap before its own, and
    B answers REPLAYED. Asked again about A's claim, which it has read, B decides
    without fetching."""
    topic = await fresh_topic(stack, partitions=1)
    await publish(stack, topic, [record(use(9))])
    a = await guard(stack, topic, tmp_path / "a")
    b = await guard(stack, topic, tmp_path / "b")
    try:
        b[0]._stop.set()
        await asyncio.to_thread(b[0]._thread.join, 10)
        x, y = "1a" * 16, "1b" * 16
        rx, idx = claim_of(1, x)
        assert not await b[1].claim(rx, [x], idx)
        span = b[1]._spans[0]
        start, read_to = span.start, span.next
        assert span.firsts[x] == (read_to - 1, idx)
        seeks = counting_seeks(b[1]._reader)
        ra, ida = claim_of(2, y)
        assert not await a[1].claim(ra, [y], ida)
        rb, idb = claim_of(2, y)
        assert await b[1].claim(rb, [y], idb) == {y}
        assert seeks == []  # read on from where it was
        assert (span.start, span.next) == (start, read_to + 2)
        assert span.firsts[y] == (read_to, ida)

        async def no_fetch(*args, **kwargs):
            raise AssertionError("fetched what it had read")

        b[1]._reader.getmany = no_fetch
        assert await b[1]._first_between({y}, 0, start, read_to) == {y: ida}
        assert await b[1]._first_between({y}, 0, start, read_to - 1) == {}
    finally:
        await stop(*a)
        await b[1].stop()
        b[0].store.close()


async def test_a_kept_span_is_trusted_only_from_its_start_and_without_a_hole(
    stack, tmp_path
):
    """A claim's read starts past what the guard's feed has applied. The kept span
    is used only when it begins at or before that and reaches it: asked from before
    the span, the reader seeks back and finds a claim there; asked from past the
    span's end (a hole), it seeks forward and keeps only what it reads then."""
    topic = await fresh_topic(stack, partitions=1)
    feed, claims = await guard(stack, topic, tmp_path / "a")
    try:
        feed._stop.set()  # the feed applied nothing: every record is read back
        await asyncio.to_thread(feed._thread.join, 10)
        x = "2a" * 16
        rx, idx = claim_of(1, x)
        await publish(stack, topic, [rx, record(use(9))])  # offsets 0 and 1
        assert await claims._first_between({x}, 0, 1, 1) == {}  # x's claim is at 0
        seeks = counting_seeks(claims._reader)
        assert await claims._first_between({x}, 0, 0, 1) == {x: idx}
        assert seeks == [0] and claims._spans[0].start == 0
        await publish(stack, topic, [record(use(9)), record(use(9))])  # 2 and 3
        assert await claims._first_between({x}, 0, 3, 3) == {}
        assert seeks == [0, 3]
        span = claims._spans[0]
        assert (span.start, span.next, span.firsts) == (3, 4, {})
    finally:
        await claims.stop()
        feed.store.close()


async def test_a_claim_whose_turn_comes_after_the_feed_passed_it_reads_nothing(
    stack, tmp_path
):
    """A claim waiting for its turn at the reader while the guard's feed applies
    past it is decided by the store, without a fetch; a nonce the feed passed
    without storing is UNAVAILABLE, never VALID."""
    topic = await fresh_topic(stack, partitions=1)
    feed, claims = await guard(stack, topic, tmp_path / "a")
    try:
        y = "3a" * 16
        ry, idy = claim_of(1, y)
        await publish(stack, topic, [ry])  # offset 0
        await until(lambda: feed.applied.get(0, -1) >= 0)
        assert feed.store.first_claim(y) == idy

        def no_reader(**kwargs):
            raise AssertionError("read what the store holds")

        claims._make_consumer = no_reader
        assert await claims._first_between({y}, 0, 0, 0) == {y: idy}
        with pytest.raises(CertsealError) as caught:
            await claims._first_between({"3b" * 16}, 0, 0, 0)
        assert caught.value.kind is ErrorKind.UNAVAILABLE
        assert claims._reader is None
    finally:
        await stop(feed, claims)


def test_a_span_forgets_the_claims_the_store_holds():
    span = ReadSpan(10)
    span.firsts = {"a": (10, "e1"), "b": (12, "e2"), "c": (15, "e3")}
    span.next = 16
    span.forget_before(12)
    assert span.start == 12 and set(span.firsts) == {"b", "c"}
    assert span.firsts_within({"b", "c", "d"}, 14) == {"b": "e2"}


def test_an_undecided_claim_of_a_batch_names_its_codes():
    """atk57: a VerifyCodes request's undecided claim was said as one code's; atk59:
    its list of codes came first and pushed the advice past the details' bound."""
    from certseal.errors import MAX_DETAILS, status_details
    from services.verifier.undecided import UNDECIDED, on_lines, unavailable

    alone = unavailable("waited 2.0 s for the broker", handed=True)
    assert alone.message.startswith("the presentation code could not be claimed (")
    assert alone.message.endswith(
        "was never answered VALID: ask the holder for a new code"
    )
    assert (alone.field, alone.reason, alone.retried) == (None, UNDECIDED, False)
    one = alone.of_codes([3])
    assert one.message == (
        "1 presentation code of this request could not be claimed (waited 2.0 s for "
        "the broker): none of its codes is answered; not retried: the claim may "
        "still reach the log; retry later: if a retry says REPLAYED, this attempt "
        "reached the log after all and was never answered VALID: ask the holder for "
        "a new code. It is codes[3]"
    )
    many = unavailable("KafkaConnectionError").of_codes(list(range(493, 500)))
    assert many.message.startswith(
        "7 presentation codes of this request could not all be claimed "
        "(KafkaConnectionError): none of its codes is answered; retry later"
    )
    assert many.message.endswith(
        "They are codes[493], codes[494], codes[495] and 4 more"
    )
    assert (many.field, many.reason, many.retried) == ("codes", UNDECIDED, True)
    # the longest waits of a handed claim, places of three digits: whole, not cut,
    # as many places named as fit (atk60: the give-back wait cut the third)
    for waited in ("acknowledge the claim", "give back the records before the claim"):
        for places in ([0, 1, 2, 3], list(range(100, 500))):
            longest = unavailable(
                f"waited 2.0 s for the broker to {waited}", handed=True
            ).of_codes(places)
            shown = status_details(longest)
            assert len(shown) <= MAX_DETAILS and "…" not in shown, shown
            assert shown.endswith(" more") and f"codes[{places[0]}]" in shown, shown
    # verify --codes names the file's lines instead
    lines = [n + 1 for n in range(0, 1000, 2)]
    assert on_lines(many.message, lines).endswith(
        "They are line 987, line 989, line 991 and 4 more"
    )
    assert on_lines("codes[7]", [1, 2]) == "codes[7]"  # not one of the request's
