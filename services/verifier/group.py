"""A verifier group run partitioned: each worker holds the licence-topic partitions
it owns and answers any verification, asking the owner of the others.

:class:`GroupIndex` is the lookup the verification path uses
(:meth:`VerifierService.verify` awaits :meth:`GroupIndex.get_many` once per chunk of
codes): a lineage of a partition this worker holds is read from its own
:class:`~services.verifier.diskindex.DiskIndex`; the others go, batched per owner, to
the owning worker's ``VerifierPeer/LookupEntries`` over the group's mTLS. Every answer
carries the freshness of the index that gave it (``get_many``'s ``as_of``: the
owner's, as the reply that gave the entry reported it; not a later reply's).

A lookup that cannot be answered from an index holding the lineage's partition in full
is UNAVAILABLE, never a verdict from a partial index: the owner down, slow (over
``[verifier] peer_timeout_s``), not recovered yet, rebuilding that partition, or of
another group or group size.

:class:`PeerServicer` answers ``LookupEntries`` for the group's own verifier identity
only (:func:`peer_identities`: ``service:verifier-<group>``, and the shared
``service:verifier`` only on a worker that itself holds the shared one).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable, Sequence
from typing import Any

import grpc

from certseal.errors import CertsealError, ErrorKind, denied, invalid
from certseal.rpc import current_caller, secure_channel
from certseal.rpcerrors import failure_reason
from certseal.timestamps import ts
from certseal.v1 import verifier_pb2 as pb
from certseal.v1 import verifier_pb2_grpc
from services.verifier.diskindex import DiskIndex
from services.verifier.feed import LicenceFeed
from services.verifier.index import Freshness
from services.verifier.partitions import Ownership, partition_of

log = logging.getLogger(__name__)

PEER = pb.DESCRIPTOR.services_by_name["VerifierPeer"].full_name
#: lineages in one LookupEntries (a VerifyCodes batch is at most 500 codes)
MAX_LOOKUP = 500
#: bytes of one lineage (a UUID's text is 36)
MAX_LINEAGE_BYTES = 128
#: the verifier identity shared by every group (the embedded stack's)
SHARED_IDENTITY = "service:verifier"


def unavailable(message: str) -> CertsealError:
    """UNAVAILABLE: the verification cannot be answered now; retry later."""
    return CertsealError(ErrorKind.UNAVAILABLE, message)


def peer_identities(group: str, own: str) -> frozenset[str]:
    """The identities that may call a group's ``VerifierPeer``, given ``own``, the
    identity this worker's certificate names (docs/operations.md, authorisation matrix).

    A worker that holds its group's own identity, ``service:verifier-<group>`` (as every
    group has in deploy/k8s), is asked only by that identity: no other group's verifier
    reads its entries. A worker that holds the shared ``service:verifier`` (the embedded
    stack's) accepts that and its group's own identity. A worker with any other
    identity has no peer that could present one, so nobody may ask it (empty); a
    partitioned worker refuses to start so (``__main__``).
    """
    named = f"service:verifier-{group}"
    if own == named:
        return frozenset({named})
    if own == SHARED_IDENTITY:
        return frozenset({SHARED_IDENTITY, named})
    return frozenset()


def freshness_to_proto(freshness: Freshness) -> pb.IndexFreshness:
    """The proto view of what ``freshness`` says now."""
    return pb.IndexFreshness(
        last_event_time=ts(freshness.last_event_time),
        lag_events=freshness.lag_events,
        lag_unknown=freshness.lag_unknown,
        lag_measured_at=ts(freshness.lag_measured_at),
    )


def freshness_from_proto(message: pb.IndexFreshness) -> Freshness:
    """What a peer's ``message`` says (the inverse of :func:`freshness_to_proto`)."""
    found = Freshness(lag_events=message.lag_events, lag_unknown=message.lag_unknown)
    if message.HasField("last_event_time"):
        found.last_event_time = message.last_event_time.ToDatetime(tzinfo=dt.UTC)
    if message.HasField("lag_measured_at"):
        found.lag_measured_at = message.lag_measured_at.ToDatetime(tzinfo=dt.UTC)
    return found


def _stamp(
    as_of: dict[bytes, Freshness], lineages: list[bytes], freshness: Freshness
) -> None:
    for lineage in lineages:
        as_of[lineage] = freshness


class GroupIndex:
    """lineage -> stored LicenceEvent across a group's workers (see the module)."""

    def __init__(
        self,
        index: DiskIndex,
        feed: LicenceFeed,
        freshness: Freshness,
        *,
        group: str,
        ownership: Ownership,
        peers: Callable[[], Sequence[Any]] = tuple,
        peer_timeout_s: float = 1.0,
    ):
        """``peers()``: a ``VerifierPeer`` stub per worker, by ordinal (this worker's
        own is not used), made on the first lookup that needs one (on the loop that
        serves)."""
        self.index = index
        self._feed = feed
        self._freshness = freshness
        self._group = group
        self.ownership = ownership
        self._make_peers = peers
        self._peers: list[Any] | None = None
        self._timeout_s = peer_timeout_s
        self._peer_freshness: dict[int, Freshness] = {}
        self._placed: dict[bytes, int] = {}  # lineage -> partition (murmur2 costs)

    def _partition(self, lineage: bytes) -> int | None:
        count = self._feed.partitions
        if count is None:
            return None
        # a verification asks twice (the lookup, then its answer's freshness)
        partition = self._placed.get(lineage)
        if partition is None:
            if len(self._placed) >= 100_000:
                self._placed.clear()
            partition = self._placed[lineage] = partition_of(lineage, count)
        return partition

    @property
    def caught_up(self) -> bool:
        """Whether this worker's feed has read the licence topic's partitions, and
        those read from their beginning (a fresh index) to their end offsets at the
        start, and its trust and directory tables theirs (services.verifier.tables):
        before, its index or trust list may lack revocations."""
        return (
            self._feed.partitions is not None
            and self._feed.caught_up.is_set()
            and self._freshness.tables_read.is_set()
        )

    @property
    def rebuilding(self) -> frozenset[int]:
        """The partitions this worker owns but is still rebuilding from the topic
        (its index lacks part of them)."""
        return frozenset(self._feed.building)

    def freshness_of(self, lineage: str) -> Freshness:
        """The freshness of the index that answers for ``lineage`` (the owner's)."""
        if self.ownership.size == 1:  # no murmur2 (pure Python) per answer
            return self._freshness
        partition = self._partition(lineage.encode())
        if partition is None or self.ownership.owns(partition):
            return self._freshness
        return self._peer_freshness.get(self.ownership.owner(partition), Freshness())

    def local(self, lineages: list[bytes]) -> dict[bytes, bytes | None]:
        """The entries of lineages this worker holds (UNAVAILABLE for a partition it
        is rebuilding)."""
        building = self._feed.building
        if building:
            for lineage in lineages:
                partition = self._partition(lineage)
                if partition in building:
                    raise unavailable(
                        f"verifier group {self._group}: partition {partition} of the "
                        "licence index is being rebuilt on this worker; retry when "
                        "GetIndexStatus shows no lag"
                    )
        return dict(zip(lineages, self.index.get_many(lineages), strict=True))

    async def get_many(
        self,
        lineages: list[bytes],
        as_of: dict[bytes, Freshness] | None = None,
    ) -> dict[bytes, bytes | None]:
        """The last applied LicenceEvent (or None) of each lineage, from its owner.

        ``as_of``, when given, receives each lineage's freshness as the index that
        gave its entry reported it with that entry (this worker's at the read, the
        owner's from its reply): what the answer carries, not a later lookup's.
        Raises UNAVAILABLE when an owner cannot answer from a full partition."""
        if self._feed.partitions is None:
            raise unavailable(
                f"verifier group {self._group}: this worker has not read the licence "
                "topic's partitions yet; retry in a few seconds"
            )
        if not self._freshness.tables_read.is_set():
            raise unavailable(
                f"verifier group {self._group}: this worker has not read the trust "
                "list and the directory to where they ended at its start yet; retry "
                "in a few seconds"
            )
        if self.ownership.size == 1:
            found = self.local(lineages)
            if as_of is not None:
                _stamp(as_of, lineages, self._freshness.snapshot())
            return found
        by_owner: dict[int, list[bytes]] = {}
        for lineage in lineages:
            owner = self.ownership.owner(self._partition(lineage) or 0)
            by_owner.setdefault(owner, []).append(lineage)
        mine = by_owner.pop(self.ownership.ordinal, [])
        found = self.local(mine)
        if as_of is not None and mine:
            _stamp(as_of, mine, self._freshness.snapshot())
        if by_owner:
            replies = await asyncio.gather(
                *(self._ask(owner, asked) for owner, asked in by_owner.items())
            )
            for reply, freshness in replies:
                found.update(reply)
                if as_of is not None:
                    _stamp(as_of, list(reply), freshness)
        return found

    async def _ask(
        self, owner: int, lineages: list[bytes]
    ) -> tuple[dict[bytes, bytes | None], Freshness]:
        request = pb.LookupEntriesRequest(
            lineages=lineages, group=self._group, group_size=self.ownership.size
        )
        if self._peers is None:
            self._peers = list(self._make_peers())
        try:
            reply = await self._peers[owner].LookupEntries(
                request, timeout=self._timeout_s
            )
        except grpc.aio.AioRpcError as exc:
            log.warning(
                "verifier group %s: worker %d did not answer a lookup: %s %s",
                self._group,
                owner,
                exc.code().name,
                exc.details(),
            )
            raise unavailable(
                f"verifier group {self._group}: worker {owner}, which holds this "
                f"licence's partition of the index, did not answer "
                f"({failure_reason(exc)}); retry later"
            ) from None
        # the owner answers every lineage asked (an empty event: no entry); a reply
        # that leaves one out says nothing of it, so no verdict may rest on it
        answered = {entry.lineage: entry.event for entry in reply.entries}
        missing = [lineage for lineage in lineages if lineage not in answered]
        if missing:
            log.warning(
                "verifier group %s: worker %d left %d of %d asked lineages out of "
                "its answer",
                *(self._group, owner, len(missing), len(lineages)),
            )
            raise unavailable(
                f"verifier group {self._group}: worker {owner} answered a lookup "
                f"without {len(missing)} of the {len(lineages)} lineages asked; "
                "retry later"
            )
        freshness = self._peer_freshness[owner] = freshness_from_proto(reply.freshness)
        own = self._freshness
        if own.lag_unknown or own.table_lag_events:
            # the verdict rests on this worker's trust list and directory too: their
            # lag, and whether it is known (services.verifier.ends), is the answer's
            freshness = Freshness(
                last_event_time=freshness.last_event_time,
                lag_events=freshness.lag_events + own.table_lag_events,
                lag_measured_at=freshness.lag_measured_at,
                lag_unknown=freshness.lag_unknown or own.lag_unknown,
            )
        return {lineage: answered[lineage] or None for lineage in lineages}, freshness


class PeerServicer(verifier_pb2_grpc.VerifierPeerServicer):
    """``VerifierPeer``: this worker's entries, for the other workers of its group."""

    def __init__(
        self,
        group_index: GroupIndex,
        freshness: Freshness,
        *,
        group: str,
        identity: str,
    ):
        self._index = group_index
        self._freshness = freshness
        self._group = group
        self._callers = peer_identities(group, identity)

    async def LookupEntries(
        self, request: pb.LookupEntriesRequest, context: grpc.aio.ServicerContext
    ) -> pb.LookupEntriesResponse:
        caller = str(current_caller())
        if caller not in self._callers:
            raise denied(
                f"{caller} may not look up index entries: only the verifier "
                f"identity of group {self._group} may",
                field="as",
            )
        ownership = self._index.ownership
        if request.group != self._group or request.group_size != ownership.size:
            raise CertsealError(
                ErrorKind.FAILED_PRECONDITION,
                f"this is worker {ownership.ordinal} of group {self._group} of "
                f"{ownership.size} workers, not of group {request.group!r} of "
                f"{request.group_size}",
                field="group",
            )
        if len(request.lineages) > MAX_LOOKUP:
            raise invalid(
                "lineages", f"{len(request.lineages)}; the limit is {MAX_LOOKUP}"
            )
        lineages = list(request.lineages)
        for lineage in lineages:
            if not lineage or len(lineage) > MAX_LINEAGE_BYTES:
                raise invalid("lineages", f"a lineage of {len(lineage)} bytes")
            partition = self._index._partition(lineage)
            if partition is None or not ownership.owns(partition):
                raise CertsealError(
                    ErrorKind.FAILED_PRECONDITION,
                    f"worker {ownership.ordinal} does not hold partition {partition}",
                    field="lineages",
                )
        if not self._freshness.recovered.is_set():
            raise unavailable(
                f"worker {ownership.ordinal} is still recovering; retry later"
            )
        found = self._index.local(lineages)
        freshness = self._freshness
        return pb.LookupEntriesResponse(
            entries=[
                pb.StoredEntry(lineage=lineage, event=event or b"")
                for lineage, event in found.items()
            ],
            freshness=freshness_to_proto(freshness),
        )


def peer_stubs(
    peers: Sequence[str],
    *,
    ordinal: int,
    ca_file: str,
    cert_file: str,
    key_file: str,
    server_name: str = "",
) -> list[Any]:
    """A ``VerifierPeer`` stub per peer address (None for this worker's own), over
    mTLS as this worker's own identity."""
    options: dict[str, Any] = {
        # a peer back after a while is asked again within 2 s, not after gRPC's
        # default reconnect backoff (up to 120 s of UNAVAILABLE)
        "grpc.initial_reconnect_backoff_ms": 200,
        "grpc.max_reconnect_backoff_ms": 2000,
    }
    if server_name:
        options["grpc.ssl_target_name_override"] = server_name
    return [
        None
        if i == ordinal
        else verifier_pb2_grpc.VerifierPeerStub(
            secure_channel(address, ca_file, cert_file, key_file, **options)
        )
        for i, address in enumerate(peers)
    ]
