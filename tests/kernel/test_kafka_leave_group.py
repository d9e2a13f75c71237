"""A stopped consumer leaves its group also in the broker's first generation
(certseal.kafka.leave_group_on_stop), so the next member's join does not wait for it."""

from __future__ import annotations

import asyncio
import secrets
import time

from aiokafka import AIOKafkaConsumer

from certseal.events import LICENCE_USAGE
from certseal.kafka import LEAVE_GROUP_TIMEOUT_S, Consumer, leave_group_on_stop


async def members(kafka, group: str) -> list[str]:
    admin = kafka.admin()
    await admin.start()
    try:
        (described,) = await admin.describe_consumer_groups([group])
        groups = described.to_object()["groups"]
        return [m["member_id"] for g in groups for m in g["members"]]
    finally:
        await admin.close()


async def joined(consumer) -> None:
    async with asyncio.timeout(30):
        while not consumer.assignment():
            await consumer.getmany(timeout_ms=100)


async def test_a_stopped_first_generation_member_leaves_its_group(stack):
    """The embedded broker numbers generations from 0, where aiokafka sends no
    LeaveGroup on stop: the member stayed for its session timeout, and the next
    member's join (a restarted worker, the retry of a failed batch) waited for it or
    the group rebalanced again when it expired. A plain aiokafka consumer shows the
    broker's numbering, so this test fails if the broker or aiokafka changes it; the
    settings' consumer leaves."""
    kafka = stack.config.kafka.settings("leave-test")
    for made_by_settings in (False, True):
        group = f"leave-{secrets.token_hex(4)}"
        args = {**kafka.common(), "group_id": group, "enable_auto_commit": False}
        consumer = (
            kafka.consumer(LICENCE_USAGE, group_id=group, enable_auto_commit=False)
            if made_by_settings
            else AIOKafkaConsumer(LICENCE_USAGE, **args)
        )
        assert isinstance(consumer, Consumer) is made_by_settings
        await consumer.start()
        await joined(consumer)
        assert consumer._coordinator.generation == 0
        assert await members(kafka, group) == [consumer._coordinator.member_id]
        await consumer.stop()
        # without the fix the member stays (until its session times out)
        assert (await members(kafka, group) == []) is made_by_settings


async def test_setting_up_twice_sends_one_leave_and_a_groupless_consumer_is_left_alone(
    stack,
):
    """Faust's worker consumer is set up by hand (services/verifier/transport.py) as
    well: a second set-up must not wrap the leave twice; a consumer without a group
    has no coordinator to leave."""
    kafka = stack.config.kafka.settings("leave-test")
    group = f"leave-{secrets.token_hex(4)}"
    consumer = kafka.consumer(LICENCE_USAGE, group_id=group, enable_auto_commit=False)
    await consumer.start()
    coordinator = consumer._coordinator
    wrapped = coordinator._maybe_leave_group
    leave_group_on_stop(consumer)
    assert coordinator._maybe_leave_group is wrapped
    await joined(consumer)
    await consumer.stop()
    assert await members(kafka, group) == []

    groupless = kafka.consumer(LICENCE_USAGE, group_id=None)
    await groupless.start()
    try:
        leave_group_on_stop(groupless)  # no coordinator: nothing to do
        assert not hasattr(groupless, "_coordinator") or not getattr(
            groupless._coordinator, "_certseal_leaves", False
        )
    finally:
        await groupless.stop()


async def test_a_stop_while_the_broker_hangs_waits_the_leave_group_bound_not_15_s(
    stack,
):
    """The LeaveGroup is best effort: with the broker paused, a stop gives up after
    LEAVE_GROUP_TIMEOUT_S instead of waiting the request timeout (15 s), as a plain
    aiokafka consumer (which sends none at generation 0) would not wait at all."""
    kafka = stack.config.kafka.settings("leave-test")
    group = f"leave-{secrets.token_hex(4)}"
    consumer = kafka.consumer(LICENCE_USAGE, group_id=group, enable_auto_commit=False)
    await consumer.start()
    await joined(consumer)
    await asyncio.to_thread(stack.pause_broker)
    try:
        started = time.monotonic()
        await consumer.stop()
        took = time.monotonic() - started
    finally:
        stack.resume_broker()
    assert took < LEAVE_GROUP_TIMEOUT_S + 2.0, took
    assert kafka.request_timeout_ms / 1000 > LEAVE_GROUP_TIMEOUT_S + 2.0
