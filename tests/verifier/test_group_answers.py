"""A partitioned group's routing as the asking worker sees its peers' answers
(services.verifier.group.GroupIndex), with stand-in peers: what an answer that does
not say what it was asked, or answers that cross, make of a verdict's inputs."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest

from certseal.errors import CertsealError, ErrorKind
from certseal.timestamps import ts
from certseal.v1 import verifier_pb2 as pb
from services.verifier.group import GroupIndex
from services.verifier.index import Freshness
from services.verifier.partitions import Ownership, partition_of

PARTITIONS = 4
T1 = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.UTC)
T2 = dt.datetime(2026, 11, 30, 13, 0, tzinfo=dt.UTC)


class _Feed:
    def __init__(self) -> None:
        self.partitions = PARTITIONS
        self.building: dict[int, int] = {}
        self.caught_up = asyncio.Event()  # read to its start's end offsets
        self.caught_up.set()


def _read_through() -> Freshness:
    """A worker's freshness once its trust list and directory have read to their
    start's end offsets (services.verifier.tables): not these tests' subject."""
    freshness = Freshness()
    freshness.tables_read.set()
    return freshness


class _Index:
    def get_many(self, lineages: list[bytes]) -> list[bytes | None]:
        return [None for _ in lineages]


def _theirs(count: int) -> list[bytes]:
    """Lineages owned by worker 1 of a group of 2."""
    found = []
    n = 0
    while len(found) < count:
        lineage = f"L-{n:08d}".encode()
        if partition_of(lineage, PARTITIONS) % 2 == 1:
            found.append(lineage)
        n += 1
    return found


class _Peer:
    """A stand-in VerifierPeer stub: ``answer(request)`` makes the reply."""

    def __init__(self, answer):
        self._answer = answer

    async def LookupEntries(self, request, **options):
        return await self._answer(request)


def _group(peer: _Peer) -> GroupIndex:
    return GroupIndex(
        _Index(),
        _Feed(),
        _read_through(),
        group="g",
        ownership=Ownership(2, 0),
        peers=lambda: [None, peer],
    )


def _fresh(when: dt.datetime) -> pb.IndexFreshness:
    return pb.IndexFreshness(last_event_time=ts(when), lag_events=0)


async def test_an_answer_that_leaves_out_a_lineage_is_unavailable_not_unknown():
    """The owner answers every lineage it is asked (an empty event: no entry). A
    reply that leaves one out says nothing about it: the worker must not turn that
    silence into "not indexed" (UNKNOWN_LICENCE for a licence the owner holds)."""
    asked = _theirs(2)

    async def partial(request):
        first = request.lineages[0]
        return pb.LookupEntriesResponse(
            entries=[pb.StoredEntry(lineage=first, event=b"stored")],
            freshness=_fresh(T1),
        )

    with pytest.raises(CertsealError) as err:
        await _group(_Peer(partial)).get_many(asked)
    assert err.value.kind is ErrorKind.UNAVAILABLE


async def test_a_complete_answer_with_empty_events_is_no_entry():
    asked = _theirs(2)

    async def complete(request):
        return pb.LookupEntriesResponse(
            entries=[
                pb.StoredEntry(lineage=request.lineages[0], event=b"stored"),
                pb.StoredEntry(lineage=request.lineages[1], event=b""),
            ],
            freshness=_fresh(T1),
        )

    found = await _group(_Peer(complete)).get_many(asked)
    assert found == {asked[0]: b"stored", asked[1]: None}


async def test_an_answers_freshness_is_that_of_the_reply_that_gave_its_entry():
    """Two verifications of the same licence, the first answered by the owner at T1
    (before, say, a revocation it applied at T2), the second at T2. Each answer
    carries the freshness of the index that gave its entry: the first must not
    claim T2 (an index that held the revocation) for a verdict read before it."""
    (lineage,) = _theirs(1)
    first_may_answer = asyncio.Event()
    replies = iter([(T1, b"valid"), (T2, b"revoked")])

    async def owner(request):
        when, event = next(replies)
        if when == T1:
            await first_may_answer.wait()
        return pb.LookupEntriesResponse(
            entries=[pb.StoredEntry(lineage=lineage, event=event)],
            freshness=_fresh(when),
        )

    group = _group(_Peer(owner))
    first_as_of: dict = {}
    first = asyncio.create_task(group.get_many([lineage], first_as_of))
    await asyncio.sleep(0)
    # the first reply arrives, then (before the first answer is sent with its
    # freshness: the usage record is published in between) a second lookup
    first_may_answer.set()
    assert (await first)[lineage] == b"valid"
    second_as_of: dict = {}
    assert (await group.get_many([lineage], second_as_of))[lineage] == b"revoked"
    # the servicer used to read freshness_of(lineage) after verify: the owner's
    # LAST reply, T2, for an answer whose entry was read at T1
    assert group.freshness_of(lineage.decode()).last_event_time == T2
    assert first_as_of[lineage].last_event_time == T1
    assert second_as_of[lineage].last_event_time == T2


class _Snapshots:
    def __init__(self) -> None:
        self.kept: list = []

    def latest(self):
        return self.kept[-1] if self.kept else None

    def add(self, snapshot) -> None:
        self.kept.append(snapshot)

    def get(self, version: int):
        return next((s for s in self.kept if s.version == version), None)


class _Signer:
    def __init__(self) -> None:
        self.signed: list = []

    async def sign_bundle(self, message) -> bytes:
        self.signed.append(message)
        return b"signed"


class _Table:
    def values(self):
        return iter(())

    def items(self):
        return iter(())


def exporter_over(lookup: GroupIndex, freshness: Freshness, now: dt.datetime):
    """A BundleExporter of group "g" over ``lookup`` and empty tables, signing with a
    recording signer at ``now``; (exporter, signer)."""
    from types import SimpleNamespace

    from services.verifier.bundle_export import BundleExporter

    state = SimpleNamespace(
        lookup=lookup,
        index=_Table(),
        trust=_Table(),
        directory=_Table(),
        freshness=freshness,
    )
    signer = _Signer()
    exporter = BundleExporter(
        group="g",
        state=state,  # type: ignore[arg-type]
        store=_Snapshots(),  # type: ignore[arg-type]
        signer=signer,  # type: ignore[arg-type]
        refresh_s=60,
        validity_s=3600,
        clock=lambda: now,
    )
    return exporter, signer


async def test_a_group_of_one_rebuilding_a_partition_signs_no_offline_bundle():
    """A group shrunk to one worker (group_size 2 -> 1) rebuilds the partitions it
    did not hold from the topic's beginning; until then its index lacks their
    revoked licences. A bundle signed from it would let an offline counter accept
    them as VALID for the bundle's whole validity: the export must refuse, as a
    partitioned worker's does (bundle_export.py), not sign a part of the index."""
    feed = _Feed()
    feed.building = {1: 120, 3: 80}  # partitions being rebuilt -> end offsets
    lookup = GroupIndex(
        _Index(), feed, _read_through(), group="g", ownership=Ownership(1, 0)
    )
    exporter, signer = exporter_over(lookup, Freshness(last_event_time=T1), T2)
    await _refused(exporter, signer, "rebuil")
    feed.building = {}  # once every partition is held in full, the bundle is signed
    await _signed(exporter, signer)


async def _refused(exporter, signer, said: str) -> None:
    """The export is UNAVAILABLE, saying ``said``; nothing was signed."""
    with pytest.raises(CertsealError) as err:
        await exporter.export(since_version=0, group="g")
    assert err.value.kind is ErrorKind.UNAVAILABLE
    assert said in str(err.value)
    assert signer.signed == []


async def _signed(exporter, signer) -> None:
    """The export is one signed bundle of group "g"."""
    exported = await exporter.export(since_version=0, group="g")
    assert exported.group == "g" and len(signer.signed) == 1


async def test_a_worker_whose_trust_list_is_behind_its_start_answers_nothing():
    """Until its trust list and directory have read to where their topics ended at
    its start (services.verifier.tables), a key revoked while the worker was down is
    still in its trust list as valid: no verification is answered and no offline
    bundle signed from it; both once they have."""
    freshness = Freshness()  # the tables not read through the start yet
    lookup = GroupIndex(
        _Index(), _Feed(), freshness, group="g", ownership=Ownership(1, 0)
    )
    with pytest.raises(CertsealError) as err:
        await lookup.get_many([b"L-1"])
    assert err.value.kind is ErrorKind.UNAVAILABLE
    assert "trust list" in str(err.value)
    exporter, signer = exporter_over(lookup, Freshness(last_event_time=T1), T2)
    await _refused(exporter, signer, "trust list")
    freshness.tables_read.set()
    assert await lookup.get_many([b"L-1"]) == {b"L-1": None}
    await _signed(exporter, signer)


@pytest.mark.parametrize(
    ("own", "caller", "answered"),
    [
        # k8s: each group's workers hold service:verifier-<group>
        ("service:verifier-gz", "service:verifier-gz", True),
        ("service:verifier-gz", "service:verifier", False),
        ("service:verifier-gz", "service:verifier-sz", False),
        # the embedded stack: every group shares service:verifier
        ("service:verifier", "service:verifier", True),
        ("service:verifier", "service:verifier-gz", True),
        ("service:verifier", "service:verifier-sz", False),
        # a worker with no verifier identity has no peer that could ask
        ("service:certseal", "service:certseal", False),
        ("service:certseal", "service:verifier", False),
    ],
)
async def test_only_the_workers_own_group_identity_may_look_up_entries(
    own, caller, answered
):
    from certseal.rpc import CALLER, Caller
    from services.verifier.group import PeerServicer, peer_identities

    assert (caller in peer_identities("gz", own)) is answered
    servicer = PeerServicer(
        _Index(),  # never reached: the caller is refused first
        Freshness(),
        group="gz",
        identity=own,
    )
    if answered:
        return
    token = CALLER.set(Caller.parse(caller))
    try:
        with pytest.raises(CertsealError) as err:
            await servicer.LookupEntries(
                pb.LookupEntriesRequest(lineages=[b"x"], group="gz", group_size=2),
                None,
            )
    finally:
        CALLER.reset(token)
    assert err.value.kind is ErrorKind.PERMISSION_DENIED


@pytest.mark.parametrize(
    ("own_unknown", "own_table_lag"), [(False, 0), (True, 0), (False, 3)]
)
async def test_an_owners_answer_carries_this_workers_own_table_lag(
    own_unknown, own_table_lag
):
    """A verdict rests on the owner's entry and on this worker's trust list: when
    this worker has not reached its broker for too long (services.verifier.ends),
    the answer's lag is unknown though the owner's is known, and this worker's
    trust and directory lag counts in it (atk21: a worker 3 trust events behind, a
    key.revoked among them, answered VALID '0 events behind'). The owner's own
    freshness is kept as it said."""
    asked = _theirs(1)

    async def known(request):
        return pb.LookupEntriesResponse(
            entries=[pb.StoredEntry(lineage=request.lineages[0], event=b"stored")],
            freshness=_fresh(T1),
        )

    group = _group(_Peer(known))
    group._freshness.lag_unknown = own_unknown
    group._freshness.table_lag_events = own_table_lag
    as_of: dict[bytes, Freshness] = {}
    await group.get_many(asked, as_of)
    answered = as_of[asked[0]]
    assert (answered.lag_unknown, answered.lag_events) == (own_unknown, own_table_lag)
    assert answered.last_event_time == T1
    owners = group.freshness_of(asked[0].decode())
    assert (owners.lag_unknown, owners.lag_events) == (False, 0)
