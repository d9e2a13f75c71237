"""atk8 (outside review): hostile or shared ``group-member`` files
(services.verifier.transport.rejoin_as_before), against the session's broker."""

from __future__ import annotations

import asyncio
import secrets
import shutil

import pytest

from services.verifier.storage import read_member_id, write_member_id
from tests.verifier.test_group_rejoin import join, members


async def test_two_live_consumers_sharing_a_kept_member_id_both_read_everything(
    stack, tmp_path
):
    """A worker's folder copied to a second process of the same worker name (its own
    group): both join as one member. Held: the group does not churn (generation
    stays), the broker lists one member, and both processes hold every partition
    (each worker's Faust group is meant to read all of the small tables), so
    neither is starved of the trust list."""
    kafka = stack.config.kafka.settings("atk8-member")
    group = f"atk8-{secrets.token_hex(4)}"
    a_file = tmp_path / "a" / "group-member"
    a_file.parent.mkdir()
    first = await join(kafka, group, a_file)
    b_file = tmp_path / "b" / "group-member"
    b_file.parent.mkdir()
    shutil.copy(a_file, b_file)
    second = await join(kafka, group, b_file)
    try:
        observed = []
        for _ in range(16):  # 8 s
            await asyncio.gather(
                first.getmany(timeout_ms=250), second.getmany(timeout_ms=250)
            )
            observed.append(
                (
                    tuple(sorted(tp.partition for tp in first.assignment())),
                    tuple(sorted(tp.partition for tp in second.assignment())),
                    first._coordinator.generation,
                    second._coordinator.generation,
                    len(await members(kafka, group)),
                )
            )
        assert len({row for row in observed}) == 1, observed  # no churn
        assert observed[-1][0] == observed[-1][1] and observed[-1][4] == 1, observed
    finally:
        await first.stop()
        await second.stop()


@pytest.mark.parametrize(
    "kept",
    ["x" * 1000, "../../../etc/passwd", "a b c", "%s%n%x", "'; drop table x;--"],
    ids=["long", "path", "spaces", "format", "sql"],
)
async def test_a_hostile_kept_member_id_still_joins(stack, tmp_path, kept):
    """Any printable id the file holds (up to 1 KiB): the worker must still join
    within its bound, alone in its group, and keep a member id."""
    kafka = stack.config.kafka.settings("atk8-member")
    group = f"atk8-{secrets.token_hex(4)}"
    member_file = tmp_path / "group-member"
    write_member_id(member_file, kept)
    consumer = await join(kafka, group, member_file)
    try:
        assert len(await members(kafka, group)) == 1
        assert read_member_id(member_file) == consumer._coordinator.member_id
    finally:
        await consumer.stop()
    assert await members(kafka, group) == []
