"""Protobuf <-> domain for the Verifier API (``protos/certseal/v1/verifier.proto``)."""

from __future__ import annotations

from certseal.timestamps import ts
from certseal.v1 import verifier_pb2 as pb
from services.verifier.domain import Outcome, Verification
from services.verifier.index import Freshness, IndexStatus
from services.verifier.service import ExportedBundle


def verification_to_proto(
    result: Verification,
    freshness: Freshness,
    group: str = "",
    log_checkpoint: str = "",
) -> pb.VerificationResult:
    """The proto view of a verification, with the index's freshness, the group that
    answered and the transparency log's checkpoint it carries."""
    message = pb.VerificationResult(
        verdict=pb.Verdict.Value(f"VERDICT_{result.verdict.value}"),
        checks=[
            pb.VerificationCheck(
                name=c.name, passed=c.outcome is Outcome.PASSED, detail=c.detail
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
        status=int(result.status) if result.status.isdigit() else 0,  # type: ignore[arg-type]
        type_name=result.type_name,
        issuer_name=result.issuer_name,
        field_titles=result.field_titles,
        group=group,
        log_checkpoint=log_checkpoint,
        freshness=pb.IndexFreshness(
            last_event_time=ts(freshness.last_event_time),
            lag_events=freshness.lag_events,
        ),
    )
    for name, value in result.fields.items():
        message.fields[name] = str(value)
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
