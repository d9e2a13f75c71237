"""atk19: the start gate of the trust and directory tables (services/verifier/tables.py),
attacked from outside.

The gate waits until ``Freshness.applied`` holds, for every partition the worker's
consumer group had not committed to its end, the offset before that end. A record the
agent could not take crashed it before it was noted: one with no value (a Kafka
tombstone, which a compacted topic such as ``trust-events`` is made for:
``TrustEvent.FromString(None)`` raised TypeError) or no key (Faust: "Table key cannot
be None"; the embedded broker takes it). Faust started the agent again, but the
records fetched with the crashing one were lost to it too, so one such record among
those a worker had to read at its start kept it NOT_SERVING, every verification
UNAVAILABLE. Now every record the agent cannot take is dead-lettered with its reason
and noted (``tables.apply_stream``).

Each test runs against a broker of its own (``DevStack.start_broker``): a record with
no value left in the session's trust topic would be read by every later verifier of
the session.
"""

from __future__ import annotations

import asyncio
import copy

import pytest

from certseal.events import DIRECTORY_EVENTS, TRUST_EVENTS
from services.devstack import DevStack
from tests.conftest import verifier_process

PARTITIONS = 4
#: a fresh worker on an almost empty broker is SERVING within a few seconds
WITHIN_S = 45.0


async def _serving_within(group, within_s: float) -> bool:
    """Whether ``group`` says SERVING within ``within_s`` seconds."""
    try:
        await asyncio.wait_for(group.wait_serving(), within_s)
    except TimeoutError:
        return False
    return True


async def _first_start(
    stack,
    config,
    tmp_path,
    topic: str,
    value: bytes | None,
    key: bytes | None = b"k",
    then: bytes | None = None,
):
    """Whether a fresh worker is SERVING within WITHIN_S of its start, on a broker of
    its own whose ``topic`` holds one record (``key``, ``value``) in partition 0 (and
    ``then``, when given, after it); and its log."""
    cluster = DevStack(tmp_path / "cluster", topic_partitions=PARTITIONS)
    bootstrap = await cluster.start_broker()
    try:
        cfg = copy.deepcopy(config)
        cfg.kafka.bootstrap_servers = bootstrap
        cfg.kafka.topic_partitions = PARTITIONS
        producer = cfg.kafka.settings("atk19").producer()
        await producer.start()
        try:
            await producer.send_and_wait(topic, key=key, value=value, partition=0)
            if then is not None:
                await producer.send_and_wait(topic, key=key, value=then, partition=0)
        finally:
            await producer.stop()
        group = verifier_process(stack, cfg, tmp_path, "atk19-start")
        await group.start()
        try:
            serving = await _serving_within(group, WITHIN_S)
            said = group.log_since_start()
        finally:
            await group.stop()
    finally:
        cluster.stop()
    return serving, said


async def test_a_bad_trust_record_at_a_partitions_head_is_dead_lettered_and_passed(
    stack, config, tmp_path
):
    """What held: a record that is no TrustEvent is dead-lettered, noted, and the
    worker is SERVING (also the control of the test below: same broker, same start)."""
    serving, said = await _first_start(
        stack, config, tmp_path, TRUST_EVENTS, b"\xff not a TrustEvent"
    )
    assert serving, said[-3000:]
    assert "dead-lettering" in said


async def test_a_record_without_value_followed_by_another_is_passed(
    stack, config, tmp_path
):
    serving, said = await _first_start(
        stack, config, tmp_path, TRUST_EVENTS, None, then=b"\xff not a TrustEvent"
    )
    assert serving, said[-3000:]
    assert "Crashed" not in said  # the agent took both
    assert said.count("dead-lettering") == 2, said[-3000:]


@pytest.mark.parametrize(
    ("topic", "key", "value"),
    [
        # a tombstone: what a compacted topic takes to drop a key
        (TRUST_EVENTS, b"atk19-gone", None),
        (DIRECTORY_EVENTS, b"atk19-gone", None),
        # no key: the embedded broker takes it (Faust: "Table key cannot be None")
        (TRUST_EVENTS, None, b"\xff not a TrustEvent"),
    ],
    ids=["trust-tombstone", "directory-tombstone", "trust-no-key"],
)
async def test_a_record_the_agent_cannot_take_at_a_partitions_head_leaves_it_serving(
    stack, config, tmp_path, topic, key, value
):
    serving, said = await _first_start(stack, config, tmp_path, topic, value, key)
    assert serving, (
        f"not SERVING {WITHIN_S:.0f} s after start with one record {key!r}: {value!r} "
        f"in {topic}/0:\n" + said[-3000:]
    )
