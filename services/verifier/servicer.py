"""The Verifier gRPC servicer: parse, look up the index and trust list, evaluate."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
from collections.abc import Callable

import grpc
import zxingcpp
from PIL import Image, UnidentifiedImageError

from certseal import codes
from certseal.errors import invalid
from certseal.events import LICENCE_EVENTS, LICENCE_USAGE, TRUST_EVENTS, new_event_id
from certseal.rpc import current_caller
from certseal.timestamps import ts, utcnow
from certseal.v1 import events_pb2, verifier_pb2_grpc
from certseal.v1 import verifier_pb2 as pb
from services.verifier.app import Freshness, VerifierState
from services.verifier.domain import (
    CodeKind,
    Verdict,
    Verification,
    evaluate,
    malformed,
    parse_code,
)
from services.verifier.index import index_entry, nonce_presented, trust_entry

_MAX_CODE = 8192
MAX_BATCH = 500
MAX_IMAGE_BYTES = 8 * 1024 * 1024
_QR = zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode)


def decode_image(data: bytes) -> str:
    """The text of the QR code in a PNG or JPEG, or INVALID_ARGUMENT saying why not."""
    if not data:
        raise invalid("image", "is required: a PNG or JPEG of the QR code")
    if len(data) > MAX_IMAGE_BYTES:
        raise invalid("image", f"is {len(data)} bytes; the limit is {MAX_IMAGE_BYTES}")
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.format not in ("PNG", "JPEG"):
                raise invalid("image", f"is {image.format}; send a PNG or JPEG")
            image.load()
            found = zxingcpp.read_barcodes(image, formats=_QR)
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError):
        raise invalid("image", "is not a readable PNG or JPEG") from None
    texts = [b.text for b in found if b.valid and b.text]
    if not texts:
        raise invalid("image", "contains no readable QR code")
    if len(set(texts)) > 1:
        raise invalid(
            "image", f"contains {len(set(texts))} different QR codes; show one"
        )
    return texts[0]


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
        freshness=pb.IndexFreshness(last_event_time=ts(freshness.last_event_time)),
    )
    for name, value in result.fields.items():
        message.fields[name] = str(value)
    return message


class VerifierServicer(verifier_pb2_grpc.VerifierServicer):
    """Answers from the worker's own tables; never a network round trip per request."""

    def __init__(
        self,
        *,
        group: str,
        state: VerifierState,
        clock: Callable[[], dt.datetime] = utcnow,
    ):
        self._group = group
        self._state = state
        self._freshness = state.freshness
        self._clock = clock
        self._nonces = NonceGuard()

    async def verify(self, text: str, purpose: str) -> Verification:
        """Verify one scanned text and publish the use (for any code that names a licence)."""
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
        return pb.VerifyCodeResponse(
            result=result_message(
                await self.verify(request.code, request.purpose), self._freshness
            )
        )

    async def VerifyImage(
        self, request: pb.VerifyImageRequest, context: grpc.aio.ServicerContext
    ) -> pb.VerifyImageResponse:
        _purpose(request.purpose)
        text = decode_image(request.image)
        return pb.VerifyImageResponse(
            result=result_message(
                await self.verify(text, request.purpose), self._freshness
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
        return pb.VerifyCodesResponse(
            results=[
                result_message(
                    await self.verify(text, request.purpose), self._freshness
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
            licence_entries=len(self._state.index),
            trust_entries=len(self._state.trust),
            last_event_time=ts(self._freshness.last_event_time),
        )


def _purpose(purpose: str) -> None:
    if not purpose.strip():
        raise invalid("purpose", "is required: the purpose of use (用证事由)")
