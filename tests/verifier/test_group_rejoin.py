"""A killed worker's successor takes its place in its Faust group at once
(services.verifier.transport.rejoin_as_before), instead of waiting for the dead
member's session to time out; the member id is kept in the worker's data folder.

Against the real embedded broker, with the verifier's session timeout (6 s). The
outcome asserted is the broker's member list: right after the kill it still holds the
dead member; once the successor is assigned its partitions, exactly the dead member's
id, now the successor's. Without the fix the successor joins as a new member (under
the dead one as leader, whose session it must wait out), and the list holds a new id.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import sys
from pathlib import Path

import pytest

from certseal.config import dump_config
from certseal.events import TRUST_EVENTS
from services.verifier.storage import (
    MAX_MEMBER_ID_BYTES,
    read_member_id,
    write_member_id,
)
from services.verifier.transport import rejoin_as_before

SESSION_MS = 6_000  # VerifierConfig.session_timeout_s
JOIN_BOUND_S = 60.0  # only so that a broken join fails instead of hanging

CHILD = """
import asyncio, sys
from pathlib import Path
from services.config import load
from services.verifier.transport import rejoin_as_before

async def main():
    config_file, group, member_file = sys.argv[1:4]
    kafka = load(config_file).kafka.settings("rejoin-test-child")
    consumer = kafka.consumer(
        group_id=group, enable_auto_commit=False, session_timeout_ms=6000,
        heartbeat_interval_ms=1000,
    )
    await consumer.start()
    rejoin_as_before(consumer, Path(member_file))
    consumer.subscribe([sys.argv[4]])
    while not consumer.assignment():
        await consumer.getmany(timeout_ms=100)
    print(consumer._coordinator.member_id, flush=True)
    await asyncio.Event().wait()  # until killed

asyncio.run(main())
"""


async def members(kafka, group: str) -> list[str]:
    admin = kafka.admin()
    await admin.start()
    try:
        (described,) = await admin.describe_consumer_groups([group])
        groups = described.to_object()["groups"]
        return sorted(m["member_id"] for g in groups for m in g["members"])
    finally:
        await admin.close()


async def join(kafka, group: str, member_file: Path):
    """A started consumer of ``group`` that rejoins as ``member_file`` says, once
    assigned."""
    consumer = kafka.consumer(
        group_id=group,
        enable_auto_commit=False,
        session_timeout_ms=SESSION_MS,
        heartbeat_interval_ms=1000,
    )
    await consumer.start()
    rejoin_as_before(consumer, member_file)
    consumer.subscribe([TRUST_EVENTS])
    async with asyncio.timeout(JOIN_BOUND_S):
        while not consumer.assignment():
            await consumer.getmany(timeout_ms=100)
    return consumer


async def killed_member(stack, tmp_path: Path, group: str, member_file: Path) -> str:
    """Run a member of ``group`` in a process of its own, SIGKILL it once it has
    joined; its member id."""
    config_file = tmp_path / "config.toml"
    config_file.write_text(dump_config(stack.config))
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        CHILD,
        str(config_file),
        group,
        str(member_file),
        TRUST_EVENTS,
        stdout=asyncio.subprocess.PIPE,
        cwd=os.getcwd(),
    )
    try:
        async with asyncio.timeout(60):
            assert child.stdout is not None
            member = (await child.stdout.readline()).decode().strip()
    finally:
        child.send_signal(signal.SIGKILL)
        await child.wait()
    assert member, "the child consumer never joined"
    return member


async def test_a_killed_members_successor_takes_its_place_at_once(stack, tmp_path):
    """SIGKILL sends no LeaveGroup: the dead member stays in the group. Its successor,
    joining with the kept member id, takes that member's place: the group then holds
    that one member, assigned every partition."""
    kafka = stack.config.kafka.settings("rejoin-test")
    group = f"rejoin-{secrets.token_hex(4)}"
    member_file = tmp_path / "group-member"
    dead = await killed_member(stack, tmp_path, group, member_file)
    assert read_member_id(member_file) == dead  # kept by the join itself
    assert await members(kafka, group) == [dead]  # the kill left it in the group
    successor = await join(kafka, group, member_file)
    try:
        assert successor._coordinator.member_id == dead
        assert await members(kafka, group) == [dead]
        assert {tp.topic for tp in successor.assignment()} == {TRUST_EVENTS}
    finally:
        await successor.stop()
    # a clean stop still leaves the group (certseal.kafka.leave_group_on_stop)
    assert await members(kafka, group) == []


async def test_an_id_the_group_does_not_know_still_joins_and_is_kept(stack, tmp_path):
    """A kept id the group does not know (the member left on stop, its session
    expired, another cluster) still joins: the embedded broker takes the id as given,
    Apache Kafka answers UNKNOWN_MEMBER_ID and aiokafka joins anew at once. Either
    way the group holds one member, whose id is kept; no stale member is left."""
    kafka = stack.config.kafka.settings("rejoin-test")
    group = f"rejoin-{secrets.token_hex(4)}"
    member_file = tmp_path / "group-member"
    write_member_id(member_file, f"rejoin-test-{secrets.token_hex(8)}")
    for _ in range(2):  # the second start finds the id its predecessor left with
        consumer = await join(kafka, group, member_file)
        try:
            member = consumer._coordinator.member_id
            assert await members(kafka, group) == [member]
            assert read_member_id(member_file) == member
        finally:
            await consumer.stop()
        assert await members(kafka, group) == []


async def test_setting_up_twice_wraps_once_and_a_groupless_consumer_is_left_alone(
    stack, tmp_path
):
    kafka = stack.config.kafka.settings("rejoin-test")
    group = f"rejoin-{secrets.token_hex(4)}"
    consumer = kafka.consumer(group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        rejoin_as_before(consumer, tmp_path / "a")
        wrapped = consumer._coordinator._on_join_complete
        rejoin_as_before(consumer, tmp_path / "b")
        assert consumer._coordinator._on_join_complete is wrapped
    finally:
        await consumer.stop()
    groupless = kafka.consumer(TRUST_EVENTS, group_id=None)
    await groupless.start()
    try:
        rejoin_as_before(groupless, tmp_path / "c")  # no group: nothing to do
        assert not getattr(groupless._coordinator, "_certseal_rejoins", False)
    finally:
        await groupless.stop()
    assert not (tmp_path / "c").exists()


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"\n",
        b"x" * (MAX_MEMBER_ID_BYTES + 1),
        "成员-1".encode(),
        b"member\x00id",
        b"member\x1bid",
    ],
    ids=["empty", "blank", "too-long", "non-ascii", "nul", "control"],
)
def test_a_member_file_this_worker_did_not_write_is_ignored(tmp_path, content):
    """Never raises: the worker joins as a new member, as before the file existed."""
    path = tmp_path / "group-member"
    path.write_bytes(content)
    assert read_member_id(path) is None


def test_a_missing_or_unreadable_member_file_is_ignored(tmp_path):
    assert read_member_id(tmp_path / "none") is None
    (tmp_path / "dir").mkdir()
    assert read_member_id(tmp_path / "dir") is None
    os.mkfifo(tmp_path / "fifo")
    assert read_member_id(tmp_path / "fifo") is None


def test_a_kept_member_id_reads_back(tmp_path):
    path = tmp_path / "group-member"
    write_member_id(path, "certseal-verifier-a-0f1e")
    assert read_member_id(path) == "certseal-verifier-a-0f1e"
    write_member_id(path, "certseal-verifier-a-77")  # replaced atomically
    assert read_member_id(path) == "certseal-verifier-a-77"
    assert not path.with_name(path.name + ".tmp").exists()
