"""The feed's resume check (services/feed/resume.py) where the embedded broker cannot
take it: Tansu implements no DeleteRecords, so a log start moved by retention is played
by a consumer standing in for aiokafka's (the same calls, answered from a list of
records per partition). The check against a recreated topic runs on the real broker in
test_token_incarnation.py."""

import asyncio
from dataclasses import dataclass

import pytest
from aiokafka import TopicPartition

from certseal.errors import CertsealError, ErrorKind
from services.feed.resume import checked_fingerprints
from services.feed.tokens import record_fingerprint

TOPIC = "certseal.licence-events.v1"
TP = TopicPartition(TOPIC, 0)


@dataclass
class Record:
    offset: int
    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]


class Log:
    """A consumer of one partition holding offsets ``start`` to ``end`` - 1."""

    def __init__(self, start: int, end: int, tag: str = "a"):
        self.start, self.records = (
            start,
            {
                o: Record(o, b"k", b"v", [("ce_id", f"{tag}{o}".encode())])
                for o in range(start, end)
            },
        )
        self.position: int | None = None
        self.fetched: list[int] = []

    async def beginning_offsets(self, partitions):
        return {tp: self.start for tp in partitions}

    def pause(self, *partitions): ...

    def resume(self, *partitions): ...

    def seek(self, tp, offset):
        self.position = offset

    async def getmany(self, *partitions, timeout_ms):
        assert self.position is not None and self.position >= self.start, "out of range"
        self.fetched.append(self.position)
        return {TP: [self.records[self.position]]}


def fp(tag: str, offset: int) -> bytes:
    return record_fingerprint(b"k", b"v", [("ce_id", f"{tag}{offset}".encode())])


async def _check(log: Log, offset: int, fingerprint: bytes | None):
    key = (TOPIC, 0)
    token = ({key: offset}, {key: fingerprint} if fingerprint else {})
    return await checked_fingerprints(log, [TP], {key: offset}, token)


async def test_the_same_record_resumes_and_its_fingerprint_is_kept():
    log = Log(0, 10)
    assert await _check(log, 5, fp("a", 4)) == {(TOPIC, 0): fp("a", 4)}
    assert log.fetched == [4] and log.position == 5  # left at the token's offset


async def test_retention_at_the_token_resumes_without_a_fetch():
    log = Log(5, 10)  # the record before offset 5 was deleted by retention
    assert await _check(log, 5, fp("a", 4)) == {}
    assert log.fetched == [] and log.position == 5


@pytest.mark.parametrize(
    ("log", "fingerprint", "says"),
    [
        (Log(7, 10), fp("a", 4), "deleted (retention; the log now starts at 7)"),
        (Log(0, 10, tag="b"), fp("a", 4), "deleted and recreated"),
        (Log(0, 10), None, "deleted and recreated"),
    ],
)
async def test_a_gap_or_another_incarnation_is_refused(log, fingerprint, says):
    with pytest.raises(CertsealError) as err:
        await _check(log, 5, fingerprint)
    assert (err.value.kind, err.value.field) == (
        ErrorKind.FAILED_PRECONDITION,
        "start",
    )
    assert says in err.value.message
    assert "subscribe again from earliest" in err.value.message


async def test_a_broker_that_does_not_answer_is_unavailable(monkeypatch):
    class Silent(Log):
        async def getmany(self, *partitions, timeout_ms):
            await asyncio.sleep(0)
            return {}

    monkeypatch.setattr("services.feed.resume.FETCH_DEADLINE_S", 0.05)
    with pytest.raises(CertsealError) as err:
        await _check(Silent(0, 10), 5, fp("a", 4))
    assert err.value.kind is ErrorKind.UNAVAILABLE
