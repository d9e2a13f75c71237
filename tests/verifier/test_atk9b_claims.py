"""atk9b: the kept claims reader (services/verifier/claims.py, ReadSpan) attacked
from outside, against the session's real broker.

A worker's UsageClaims (its reader and kept spans) lives as long as the worker. When
the usage topic is made again (the embedded memory broker restarted, a rebuilt
Kafka), its feed reads the new topic from its beginning (UsageFeed._stale at the
feed's restart, or aiokafka's reset to earliest) and its applied offsets go back;
the spans are kept, keyed by partition number alone. A span is then trusted across
the reset: ``span.start <= start <= span.next`` holds for the new, small offsets.
The tests stand for the feed's restart by giving the claims a fresh feed on the
remade topic (``claims._feed``), stopped once caught up so that it stays behind the
claim, as a feed fetching every 100 ms does."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from aiokafka.admin import NewTopic

from certseal.errors import CertsealError, ErrorKind
from tests.verifier.test_replay import feed_on, fresh_topic, publish, record, until, use
from tests.verifier.test_replay_claims import claim_of, guard


async def recreate(stack, topic: str) -> None:
    """Delete ``topic`` and make it again, empty (as a restarted memory broker or an
    operator's rebuild leaves it): its offsets begin at 0 again."""
    admin = stack.config.kafka.settings("certseal-tests").admin()
    await admin.start()
    try:
        await admin.delete_topics([topic])
        for _ in range(100):
            try:
                await admin.create_topics([NewTopic(topic, 1, 1)])
                return
            except Exception:
                await asyncio.sleep(0.1)
        raise AssertionError("topic not made again")
    finally:
        await admin.close()


async def test_atk9b_a_kept_span_is_not_trusted_across_a_recreated_topic(
    stack, tmp_path
):
    """The worker's reader read offsets 0..5 of the usage topic (a kept span from
    0). The topic is then made again, empty (the embedded broker restarted), and the
    guard's feed reads it from its beginning (UsageFeed._stale). The first claim of
    a new nonce lands at offset 0: the span still says it read through 5, so the
    claim reads nothing and finds no claim of its own: REPLAYED for a first claim,
    and so for every code this worker claims until the new log passes the old
    span's end."""
    topic = await fresh_topic(stack, partitions=1)
    feed, claims = await guard(stack, topic, tmp_path / "a")
    feed2 = None
    try:
        feed._stop.set()  # behind: the claim is read back by the reader
        await asyncio.to_thread(feed._thread.join, 10)
        await publish(stack, topic, [record(use(9)) for _ in range(5)])  # 0..4
        x = "9a" * 16
        rx, idx = claim_of(1, x)
        assert not await claims.claim(rx, [x], idx)  # offset 5: VALID
        span = claims._spans[0]
        assert (span.start, span.next) == (0, 6)
        feed.store.close()

        await recreate(stack, topic)
        feed2 = feed_on(stack, topic, tmp_path / "b", {})
        feed2.start()
        await until(feed2.caught_up.is_set)
        feed2._stop.set()  # behind again, as the 100 ms guard wait leaves it
        await asyncio.to_thread(feed2._thread.join, 10)
        claims._feed = feed2  # the worker's feed, restarted on the new topic

        y = "9b" * 16
        ry, idy = claim_of(2, y)
        lost = await claims.claim(ry, [y], idy)  # the first claim of y anywhere
        assert lost == set(), "a first claim answered REPLAYED"
    finally:
        await claims.stop()
        if feed2 is not None:
            feed2.store.close()


async def test_atk9b_a_stale_span_does_not_skip_a_rival_claim_after_a_recreated_topic(
    stack, tmp_path
):
    """As above, then group B (a fresh worker) claims y first, at the new offset 0,
    and five other records follow. This worker claims y at offset 6: its feed has
    not applied the new topic yet, so the claim reads from 0; the kept span (0..5 of
    the old topic) says 0..5 were read, so the reader reads on from 6, skips B's
    claim, finds its own first: VALID, beside B's VALID. Two VALID answers for one
    presentation code."""
    topic = await fresh_topic(stack, partitions=1)
    feed, claims = await guard(stack, topic, tmp_path / "a")
    feed2 = rival = None
    try:
        feed._stop.set()
        await asyncio.to_thread(feed._thread.join, 10)
        await publish(stack, topic, [record(use(9)) for _ in range(5)])  # 0..4
        x = "9c" * 16
        rx, idx = claim_of(1, x)
        assert not await claims.claim(rx, [x], idx)  # offset 5
        assert (claims._spans[0].start, claims._spans[0].next) == (0, 6)
        feed.store.close()

        await recreate(stack, topic)
        feed2 = feed_on(stack, topic, tmp_path / "b", {})
        feed2.start()
        await until(feed2.caught_up.is_set)
        feed2._stop.set()
        await asyncio.to_thread(feed2._thread.join, 10)
        claims._feed = feed2

        y = "9d" * 16
        rival = await guard(stack, topic, tmp_path / "c")
        rb, idb = claim_of(2, y)
        assert not await rival[1].claim(rb, [y], idb)  # new offset 0: B's VALID
        await publish(stack, topic, [record(use(9)) for _ in range(5)])  # 1..5
        ra, ida = claim_of(2, y)
        lost = await claims.claim(ra, [y], ida)  # offset 6
        assert lost == {y}, "a second VALID for one presentation code"
    finally:
        await claims.stop()
        if feed2 is not None:
            feed2.store.close()
        if rival is not None:
            await rival[1].stop()
            await asyncio.to_thread(rival[0].stop)


class _Feed:
    """What UsageClaims needs of a caught-up feed that has applied nothing."""

    topic = "usage-atk9b"
    producer_factory = consumer_factory = None

    def __init__(self) -> None:
        self.applied: dict[int, int] = {}

    def ready(self) -> None:
        pass


class _SlowBroker:
    """A producer whose metadata comes just within the claim's bound and whose
    acknowledgement never comes (a broker slowing down)."""

    def __init__(self, *, within: float):
        self.within = within

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    async def partitions_for(self, topic: str) -> set[int]:
        await asyncio.sleep(self.within)  # the broker's slow metadata answer
        return {0}

    async def send(self, *args, **kwargs):
        return asyncio.get_running_loop().create_future()  # never acknowledged


async def test_atk9b_a_request_with_a_presentation_code_is_decided_within_the_bound():
    """FINDING (low): UsagePublisher.publish asks the claims producer for the
    partitions within one ``timeout_s`` and then claims within another: a broker
    answering the metadata just within the bound and acknowledging nothing keeps
    the request twice the bound (4 s with CLAIM_TIMEOUT_S = 2 s) before its
    UNAVAILABLE. Here the bound is 0.4 s and the metadata comes at 0.3 s. (aiokafka
    answers ``partitions_for`` from its cached metadata: the doubled wait is that of
    a worker's first claims, or of a topic whose metadata it lost.)"""
    from services.verifier.access import Acting
    from services.verifier.claims import UsageClaims, UsagePublisher

    bound = 0.4
    claims = UsageClaims(
        _Feed(),  # type: ignore[arg-type]
        producer_factory=lambda: _SlowBroker(within=0.75 * bound),
        consumer_factory=lambda **kw: None,
        timeout_s=bound,
    )
    publisher = UsagePublisher(group="g", claims=claims, producer=lambda: None)
    # the deadline each step is given: one for the request, not one per step (timed
    # by the deadlines, not the wall clock: a loaded machine stalled the session's
    # loop 0.3 s once and a measured 0.73 s read as the doubled wait)
    given: list[tuple[str, float | None]] = []
    partitions, claim = claims.partitions, claims.claim

    async def partitions_within(deadline=None):
        given.append(("partitions", deadline))
        return await partitions(deadline)

    async def claim_within(record, nonces, event_id, deadline=None):
        given.append(("claim", deadline))
        return await claim(record, nonces, event_id, deadline)

    claims.partitions, claims.claim = partitions_within, claim_within  # type: ignore[method-assign]
    expires = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=600)
    loop = asyncio.get_running_loop()
    began = loop.time()
    with pytest.raises(CertsealError) as caught:
        await publisher.publish(
            [use(1, nonce="9e" * 16, expires=expires)],
            {0},
            sizes=[400],
            carried=500,
            purpose="p",
            acting=Acting("dept:x", "x"),
            now=dt.datetime.now(dt.UTC),
        )
    assert caught.value.kind is ErrorKind.UNAVAILABLE
    assert [step for step, _ in given] == ["partitions", "claim"], given
    deadline = given[0][1]
    assert deadline is not None and given[1][1] == deadline, given
    assert began + bound <= deadline <= began + bound + 0.25, (deadline - began, bound)
    # and it passed there: the claim was cut at the request's deadline
    assert loop.time() >= deadline


async def test_the_claims_clients_stop_within_their_bound(monkeypatch, caplog):
    """atk56: a claim's request in flight to a broker that hangs held aiokafka's
    producer stop up to its request timeout (15 s): a worker's stop took 11 s, past
    its slow-stop report. Every claim is answered by then; each client's stop is
    cut at CLIENT_STOP_S, the reader's still made."""
    import logging

    from services.verifier import claims as claims_module
    from services.verifier.claims import UsageClaims

    monkeypatch.setattr(claims_module, "CLIENT_STOP_S", 0.1)
    ended: list[str] = []

    class _Client:
        def __init__(self, name: str, hangs: bool) -> None:
            self.name, self.hangs = name, hangs

        async def stop(self) -> None:
            try:
                if self.hangs:  # a request in flight nobody answers
                    await asyncio.Event().wait()
            finally:
                ended.append(self.name)

    claims = UsageClaims(_Feed())  # type: ignore[arg-type]
    claims._producer = _Client("producer", hangs=True)
    claims._reader = _Client("reader", hangs=False)
    with caplog.at_level(logging.WARNING, logger="services.verifier.claims"):
        async with asyncio.timeout(10):  # the bound is 0.1 s a client
            await claims.stop()
    assert ended == ["producer", "reader"]  # the producer's cancelled where it waited
    assert "the claims' producer did not stop within 0 s" in caplog.text
    assert claims._producer is None and claims._reader is None
