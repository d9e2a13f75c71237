"""The Verifier gRPC servicer: parse, look up the index and trust list, evaluate."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import hashlib
import logging
from collections.abc import Callable

import grpc

from certseal import codes
from certseal.errors import denied, invalid, precondition
from certseal.events import LICENCE_EVENTS, LICENCE_USAGE, TRUST_EVENTS, new_event_id
from certseal.rpc import current_caller
from certseal.timestamps import ts, utcnow
from certseal.v1 import events_pb2, verifier_pb2_grpc
from certseal.v1 import verifier_pb2 as pb
from services.verifier.app import Freshness, VerifierState, estimated_entries
from services.verifier.bundle import (
    BundleContent,
    BundleSigner,
    Snapshot,
    SnapshotStore,
    payload,
)
from services.verifier.domain import (
    CodeKind,
    FieldRights,
    Verdict,
    Verification,
    evaluate,
    malformed,
    parse_code,
)
from services.verifier.index import (
    index_entry,
    listed_licence,
    nonce_presented,
    trust_entry,
)

log = logging.getLogger(__name__)

_MAX_CODE = 8192
MAX_BATCH = 500


class NonceGuard:
    """Presentation nonces this process accepted, until their codes expire.

    The shared, persistent guard is the ``presentations`` table, filled from the usage
    events of every verifier group; this one closes the window until this group's own
    usage event comes back through the topic.
    """

    def __init__(self) -> None:
        self._seen: dict[bytes, dt.datetime] = {}

    def seen(self, nonce: bytes) -> bool:
        """Whether this process accepted ``nonce``."""
        return nonce in self._seen

    def add(self, nonce: bytes, expires_at: dt.datetime, now: dt.datetime) -> None:
        """Remember an accepted nonce."""
        if len(self._seen) > 100_000:
            self._seen = {n: e for n, e in self._seen.items() if e > now}
        self._seen[nonce] = expires_at


def result_message(result: Verification, freshness: Freshness) -> pb.VerificationResult:
    """The proto view of a verification, with the index's freshness."""
    message = pb.VerificationResult(
        verdict=pb.Verdict.Value(f"VERDICT_{result.verdict.value}"),
        checks=[
            pb.VerificationCheck(
                name=c.name, passed=c.outcome.value == "passed", detail=c.detail
            )
            for c in result.checks
        ],
        identifier=result.identifier,
        lineage=result.lineage,
        issuer_code=result.issuer_code,
        type_code=result.type_code,
        holder_display_name=result.holder_display_name,
        valid_from=ts(result.valid_from),
        valid_until=ts(result.valid_until),
        code_kind=result.kind.value if result.kind else "",
        freshness=pb.IndexFreshness(
            last_event_time=ts(freshness.last_event_time),
            lag_events=freshness.lag_events,
        ),
    )
    for name, value in result.fields.items():
        message.fields[name] = str(value)
    return message


class BundleExporter:
    """Takes offline-bundle snapshots of a group's index, at most once per interval.

    A snapshot scans every lineage, yielding to the event loop as it goes so that
    verifications are not held up; unchanged content keeps its version.
    """

    def __init__(
        self,
        *,
        group: str,
        state: VerifierState,
        store: SnapshotStore,
        refresh_s: float,
        clock: Callable[[], dt.datetime] = utcnow,
    ):
        self._group = group
        self._state = state
        self._store = store
        self._refresh = dt.timedelta(seconds=refresh_s)
        self._clock = clock
        self._lock = asyncio.Lock()
        self._current: tuple[dt.datetime, Snapshot] | None = None

    async def current(self) -> Snapshot:
        """A snapshot no older than the refresh interval."""
        async with self._lock:
            now = self._clock()
            if self._current and now - self._current[0] < self._refresh:
                return self._current[1]
            index_time = self._state.freshness.last_event_time
            content = await self._scan()
            latest = self._store.latest()
            if latest is not None and latest.content == content:
                snapshot = Snapshot(self._group, latest.version, content, index_time)
            else:
                version = int(now.timestamp() * 1000)
                if latest is not None:
                    version = max(version, latest.version + 1)
                snapshot = Snapshot(self._group, version, content, index_time)
                self._store.add(snapshot)
            self._current = (now, snapshot)
            return snapshot

    def get(self, version: int) -> Snapshot | None:
        """A kept snapshot."""
        return self._store.get(version)

    async def _scan(self) -> BundleContent:
        keys = {
            key.kid: key
            for key in (trust_entry(stored) for stored in self._state.trust.values())
        }
        licences = {}
        for count, (lineage, stored) in enumerate(self._state.index.items(), 1):
            listed = listed_licence(stored)
            if listed is not None:
                licences[lineage.decode()] = listed
            if count % 5000 == 0:
                await asyncio.sleep(0)
        return BundleContent(keys, licences)


class VerifierServicer(verifier_pb2_grpc.VerifierServicer):
    """Answers from the worker's own tables; never a network round trip per request."""

    def __init__(
        self,
        *,
        group: str,
        state: VerifierState,
        bundles: BundleExporter,
        bundle_signer: BundleSigner,
        bundle_validity_s: int,
        counters: frozenset[str] = frozenset(),
        field_rights: FieldRights | None = None,
        clock: Callable[[], dt.datetime] = utcnow,
    ):
        self._group = group
        self._state = state
        self._freshness = state.freshness
        self._clock = clock
        self._nonces = NonceGuard()
        self._bundles = bundles
        self._bundle_signer = bundle_signer
        self._bundle_validity = dt.timedelta(seconds=bundle_validity_s)
        self._counters = counters
        self._field_rights = field_rights or FieldRights()

    def _counter_department(self) -> str:
        """The calling counter's department ('' for an operator), if it may verify."""
        caller = current_caller()
        if caller.kind != "dept":
            return ""
        if self._counters and caller.name not in self._counters:
            log.warning("refused verification by %s: not a counter here", caller)
            raise denied(
                f"department {caller.name} is not a counter of verifier group "
                f"{self._group}"
            )
        return caller.name

    async def verify(self, text: str, purpose: str, department: str) -> Verification:
        """Verify one scanned text and publish the use (for any code that names a licence).

        ``department`` is the counter's; the fields shown follow its field rights.
        """
        try:
            code = parse_code(text)
        except codes.MalformedCode as exc:
            return malformed(exc)
        now = self._clock()
        state = self._state
        lineage = code.lineage.encode()
        stored_key = state.trust.get(code.kid.encode())
        stored_lineage = state.index.get(lineage)
        nonce_hash = hashlib.sha256(code.nonce).hexdigest() if code.nonce else ""
        seen = code.kind is CodeKind.PRESENTATION and (
            self._nonces.seen(code.nonce)
            or nonce_presented(state.presentations.get(lineage), nonce_hash)
        )
        result = evaluate(
            code,
            trust=trust_entry(stored_key) if stored_key else None,
            index=index_entry(stored_lineage) if stored_lineage else None,
            nonce_seen=seen,
            now=now,
        )
        if result.fields:
            shown = self._field_rights.visible(
                result.type_code, department, result.fields
            )
            if shown != result.fields:
                result = dataclasses.replace(result, fields=shown)
        accepted = result.verdict is Verdict.VALID
        if code.kind is CodeKind.PRESENTATION and accepted:
            self._nonces.add(code.nonce, code.expires_at, now)
        await state.usage.send(
            key=lineage,
            value=events_pb2.LicenceUsedEvent(
                event_id=new_event_id(),
                type="licence.used",
                lineage=code.lineage,
                identifier=code.identifier,
                verdict=result.verdict.value,
                counter=str(current_caller()),
                purpose=purpose,
                verifier_group=self._group,
                occurred_at=ts(now),
                code_kind=code.kind.value,
                nonce_hash=nonce_hash if accepted else "",
                code_expires_at=ts(code.expires_at) if code.nonce else None,
            ).SerializeToString(),
        )
        return result

    async def VerifyCode(
        self, request: pb.VerifyCodeRequest, context: grpc.aio.ServicerContext
    ) -> pb.VerifyCodeResponse:
        if not request.code.strip():
            raise invalid("code", "is required: the scanned text")
        if len(request.code) > _MAX_CODE:
            raise invalid(
                "code", f"is {len(request.code)} characters; the limit is {_MAX_CODE}"
            )
        _purpose(request.purpose)
        department = self._counter_department()
        return pb.VerifyCodeResponse(
            result=result_message(
                await self.verify(request.code, request.purpose, department),
                self._freshness,
            )
        )

    async def VerifyImage(
        self, request: pb.VerifyImageRequest, context: grpc.aio.ServicerContext
    ) -> pb.VerifyImageResponse:
        _purpose(request.purpose)
        department = self._counter_department()
        text = codes.read_qr_image(request.image)
        return pb.VerifyImageResponse(
            result=result_message(
                await self.verify(text, request.purpose, department), self._freshness
            ),
            code=text,
        )

    async def VerifyCodes(
        self, request: pb.VerifyCodesRequest, context: grpc.aio.ServicerContext
    ) -> pb.VerifyCodesResponse:
        _purpose(request.purpose)
        if not request.codes:
            raise invalid("codes", "give at least one code")
        if len(request.codes) > MAX_BATCH:
            raise invalid(
                "codes", f"{len(request.codes)} codes; the limit is {MAX_BATCH}"
            )
        department = self._counter_department()
        return pb.VerifyCodesResponse(
            results=[
                result_message(
                    await self.verify(text, request.purpose, department),
                    self._freshness,
                )
                for text in request.codes
            ]
        )

    async def GetIndexStatus(
        self, request: pb.GetIndexStatusRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetIndexStatusResponse:
        consumer = self._state.app.consumer
        sources = {LICENCE_EVENTS, TRUST_EVENTS, LICENCE_USAGE}
        assigned = sorted(tp for tp in consumer.assignment() if tp.topic in sources)
        high_waters = await consumer.highwaters(*assigned) if assigned else {}
        partitions = []
        for tp in assigned:
            applied = self._freshness.applied.get((tp.topic, tp.partition))
            if applied is None:  # nothing new since start: where consumption resumed
                position = await consumer.position(tp)
                applied = position - 1 if position is not None else -1
            high_water = high_waters.get(tp, applied + 1)
            partitions.append(
                pb.PartitionStatus(
                    topic=tp.topic,
                    partition=tp.partition,
                    applied_offset=applied,
                    high_water=high_water,
                    lag=max(0, high_water - applied - 1),
                )
            )
        return pb.GetIndexStatusResponse(
            group=self._group,
            partitions=partitions,
            licence_entries=estimated_entries(self._state.index),
            trust_entries=estimated_entries(self._state.trust),
            last_event_time=ts(self._freshness.last_event_time),
        )

    async def ExportTrustBundle(
        self, request: pb.ExportTrustBundleRequest, context: grpc.aio.ServicerContext
    ) -> pb.ExportTrustBundleResponse:
        snapshot = await self._bundles.current()
        base = None
        if request.since_version and request.group in ("", self._group):
            if request.since_version > snapshot.version:
                raise invalid(
                    "since_version",
                    f"{request.since_version} is newer than group {self._group}'s "
                    f"latest bundle {snapshot.version}: it comes from another group",
                )
            base = self._bundles.get(request.since_version)
            if base is None:
                raise precondition(
                    f"group {self._group} no longer keeps bundle version "
                    f"{request.since_version}; fetch a full bundle (since_version 0)",
                    field="since_version",
                )
        now = self._clock()
        valid_until = now + self._bundle_validity
        message = payload(snapshot, issued_at=now, valid_until=valid_until, base=base)
        return pb.ExportTrustBundleResponse(
            bundle=self._bundle_signer.sign(message),
            version=snapshot.version,
            base_version=base.version if base else 0,
            valid_until=ts(valid_until),
            listed_licences=len(message["licences"]),
            keys=len(message["keys"]),
            index_time=ts(snapshot.index_time),
            group=self._group,
        )


def _purpose(purpose: str) -> None:
    if not purpose.strip():
        raise invalid("purpose", "is required: the purpose of use (用证事由)")
