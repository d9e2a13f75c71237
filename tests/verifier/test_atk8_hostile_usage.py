"""atk8 (outside review): hostile records on the usage topic and the claim's read-back
(services/verifier/claims.py) and the guard's feed (services/verifier/replay.py)."""

from __future__ import annotations

import time

import pytest

from certseal.errors import CertsealError
from services.verifier.claims import CLAIM_TIMEOUT_S
from tests.verifier.test_replay import feed_on, fresh_topic, until
from tests.verifier.test_replay_claims import claim_of, claims_on, stop


async def produce_raw(stack, topic, value: bytes, headers=()) -> None:
    producer = stack.config.kafka.settings("certseal-tests").producer(
        max_request_size=8 * 1024 * 1024
    )
    await producer.start()
    try:
        await producer.send_and_wait(
            topic, value, key=b"k", partition=0, headers=list(headers)
        )
    finally:
        await producer.stop()


@pytest.mark.parametrize("size", [3 * 1024 * 1024])
async def test_an_oversized_record_before_a_claim(stack, tmp_path, size):
    """A headerless record larger than the readers' 1 MiB partition fetch, then a
    claim in the same partition: the claim must be decided within its bound
    (VALID: it is the nonce's first) and the feed must move past the record."""
    topic = await fresh_topic(stack, partitions=1)
    feed = feed_on(stack, topic, tmp_path / "g", {})
    feed.start()
    await until(feed.caught_up.is_set)
    claims = claims_on(stack, feed, timeout_s=CLAIM_TIMEOUT_S)  # the service's bound
    try:
        await produce_raw(stack, topic, b"\x0a" + b"x" * size)
        nonce = "cd" * 32
        rec, event_id = claim_of(7, nonce)
        started = time.monotonic()
        try:
            outcome = await claims.claim(rec, [nonce], event_id)
        except CertsealError as exc:
            outcome = exc
        took = time.monotonic() - started
        assert outcome == set(), (outcome, took)
        await until(lambda: feed.applied.get(0, -1) >= 1)
    finally:
        await stop(feed, claims)
