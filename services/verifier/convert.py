"""Protobuf <-> domain for the Verifier API (``protos/certseal/v1/verifier.proto``)."""

from __future__ import annotations

from typing import Any

from certseal.timestamps import ts
from certseal.v1 import verifier_pb2 as pb
from services.verifier.domain import Check, Outcome, Verdict, Verification
from services.verifier.group import freshness_to_proto
from services.verifier.index import Freshness, IndexStatus
from services.verifier.service import ExportedBundle

#: verdict -> its proto number
_VERDICTS = {v: pb.Verdict.Value(f"VERDICT_{v.value}") for v in Verdict}

#: how many result bodies :class:`ResultBodies` keeps before it starts afresh
BODIES = 4096


class ResultBodies:
    """A verification's proto body (every field of ``VerificationResult`` but the
    group, the log checkpoint and the freshness, which each answer sets itself),
    serialized once per distinct result.

    The key is every value the body is built from (:func:`body_key`), so a kept body is
    exactly what building it again would give: the same code scanned again skips only
    the building, never a check (the verdict and its checks are the key's first part).
    Bounded: beyond :data:`BODIES` bodies all are dropped at once. Lives on the event
    loop (no lock).
    """

    def __init__(self, size: int = BODIES):
        self._size = size
        self._bodies: dict[tuple[Any, ...], bytes] = {}
        self._last_freshness: tuple[Any, pb.IndexFreshness] = ((), pb.IndexFreshness())

    def body(self, result: Verification) -> bytes:
        """The serialized body of ``result``."""
        key = body_key(result)
        body = self._bodies.get(key)
        if body is None:
            body = _body(result).SerializeToString()
            if len(self._bodies) >= self._size:
                self._bodies.clear()
            self._bodies[key] = body
        return body

    def freshness(self, freshness: Freshness) -> pb.IndexFreshness:
        """The proto of ``freshness`` (the last one is kept: the answers of one
        request, and of requests between two applied events, share it)."""
        key = (
            freshness.last_event_time,
            freshness.lag_events,
            freshness.lag_unknown,
            freshness.lag_measured_at,
        )
        kept_key, kept = self._last_freshness
        if key != kept_key:
            kept = freshness_to_proto(freshness)
            self._last_freshness = (key, kept)
        return kept


def body_key(result: Verification) -> tuple[Any, ...]:
    """Every value the proto body of ``result`` is built from (the field values as
    the text the answer shows)."""
    return (
        result.verdict,
        result.checks,
        result.kind,
        result.identifier,
        result.lineage,
        result.issuer_code,
        result.type_code,
        result.holder_display_name,
        result.valid_from,
        result.valid_until,
        result.status,
        result.type_name,
        result.issuer_name,
        tuple((k, str(v)) for k, v in result.fields.items()),
        tuple(result.field_titles.items()),
    )


def _check(check: Check) -> pb.VerificationCheck:
    return pb.VerificationCheck(
        name=check.name, passed=check.outcome is Outcome.PASSED, detail=check.detail
    )


def _body(result: Verification) -> pb.VerificationResult:
    message = pb.VerificationResult(
        verdict=_VERDICTS[result.verdict],
        checks=[_check(c) for c in result.checks],
        identifier=result.identifier,
        lineage=result.lineage,
        issuer_code=result.issuer_code,
        type_code=result.type_code,
        holder_display_name=result.holder_display_name,
        valid_from=ts(result.valid_from),
        valid_until=ts(result.valid_until),
        code_kind=result.kind.value if result.kind else "",
        status=int(result.status) if result.status.isdigit() else 0,  # type: ignore[arg-type]
        type_name=result.type_name,
        issuer_name=result.issuer_name,
        field_titles=result.field_titles,
    )
    for name, value in result.fields.items():
        message.fields[name] = str(value)
    return message


def verification_to_proto(
    result: Verification,
    freshness: Freshness,
    group: str = "",
    log_checkpoint: str = "",
    bodies: ResultBodies | None = None,
) -> pb.VerificationResult:
    """The proto view of a verification, with the index's freshness, the group that
    answered and the transparency log's checkpoint it carries. ``bodies``: where the
    bodies of results seen before are kept (None: built afresh)."""
    if bodies is None:
        message = _body(result)
    else:
        message = pb.VerificationResult.FromString(bodies.body(result))
    message.group = group
    message.log_checkpoint = log_checkpoint
    # present even when empty, as it always was
    message.freshness.CopyFrom(
        freshness_to_proto(freshness) if bodies is None else bodies.freshness(freshness)
    )
    return message


def index_status_to_proto(status: IndexStatus) -> pb.GetIndexStatusResponse:
    """The proto view of an index's status."""
    return pb.GetIndexStatusResponse(
        group=status.group,
        partitions=[
            pb.PartitionStatus(
                topic=p.topic,
                partition=p.partition,
                applied_offset=p.applied_offset,
                high_water=p.high_water,
                lag=p.lag,
            )
            for p in status.partitions
        ],
        licence_entries=status.licence_entries,
        trust_entries=status.trust_entries,
        last_event_time=ts(status.last_event_time),
        licences=status.licences,
        lag_unknown=status.lag_unknown,
        lag_measured_at=ts(status.lag_measured_at),
    )


def bundle_to_proto(bundle: ExportedBundle) -> pb.ExportTrustBundleResponse:
    """The proto view of an exported bundle message."""
    return pb.ExportTrustBundleResponse(
        bundle=bundle.message,
        version=bundle.version,
        base_version=bundle.base_version,
        valid_until=ts(bundle.valid_until),
        listed_licences=bundle.listed_licences,
        keys=bundle.keys,
        index_time=ts(bundle.index_time),
        group=bundle.group,
        log_checkpoint=bundle.log_checkpoint,
    )
