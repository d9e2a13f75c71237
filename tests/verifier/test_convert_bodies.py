"""An answer built from a kept body (services.verifier.convert.ResultBodies) is the
answer built afresh, and a result that differs in anything the answer shows gets its
own body. Pure: no stack."""

import dataclasses
import datetime as dt

import pytest

from certseal.v1 import verifier_pb2 as pb
from services.verifier.convert import ResultBodies, verification_to_proto
from services.verifier.domain import Check, CodeKind, Outcome, Verdict, Verification
from services.verifier.index import Freshness

NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)


def valid() -> Verification:
    return Verification(
        verdict=Verdict.VALID,
        checks=(
            Check("decode", Outcome.PASSED),
            Check("signature", Outcome.PASSED, "ES256"),
            Check("status", Outcome.PASSED, "valid (01)"),
        ),
        kind=CodeKind.LICENCE,
        identifier="4403001DEPT0001000000000000011",
        lineage="4403001DEPT00010000000000000",
        issuer_code="DEPT",
        type_code="4403001",
        holder_display_name="张*",
        fields={"class": "C1", "seats": 5},
        valid_from=NOW,
        valid_until=NOW + dt.timedelta(days=365),
        status="01",
        type_name="道路运输证",
        issuer_name="交通运输局",
        field_titles={"class": "类别"},
    )


#: one change to each thing an answer shows
CHANGES = {
    "verdict": {"verdict": Verdict.REVOKED},
    "check outcome": {
        "checks": (
            Check("decode", Outcome.PASSED),
            Check("signature", Outcome.FAILED, "ES256"),
            Check("status", Outcome.PASSED, "valid (01)"),
        )
    },
    "check detail": {
        "checks": (
            Check("decode", Outcome.PASSED),
            Check("signature", Outcome.PASSED, "ES256"),
            Check("status", Outcome.PASSED, "revoked (03)"),
        )
    },
    "kind": {"kind": CodeKind.PRESENTATION},
    "identifier": {"identifier": "4403001DEPT0001000000000000022"},
    "lineage": {"lineage": "4403001DEPT00010000000000001"},
    "issuer": {"issuer_code": "DEPX"},
    "type": {"type_code": "4403002"},
    "holder": {"holder_display_name": "李*"},
    "field value": {"fields": {"class": "C2", "seats": 5}},
    "field value type": {"fields": {"class": "C1", "seats": "6"}},
    "another field": {"fields": {"class": "C1", "seats": 5, "colour": "red"}},
    "valid from": {"valid_from": NOW + dt.timedelta(seconds=1)},
    "valid until": {"valid_until": None},
    "status": {"status": "07"},
    "type name": {"type_name": "网约车运输证"},
    "issuer name": {"issuer_name": ""},
    "field titles": {"field_titles": {"class": "准驾车型"}},
}


def fresh(result: Verification, freshness: Freshness, **kw: str) -> bytes:
    return verification_to_proto(result, freshness, **kw).SerializeToString(
        deterministic=True
    )


def kept(
    result: Verification, freshness: Freshness, bodies: ResultBodies, **kw: str
) -> bytes:
    return verification_to_proto(
        result, freshness, bodies=bodies, **kw
    ).SerializeToString(deterministic=True)


@pytest.mark.parametrize(
    "freshness",
    [Freshness(), Freshness(last_event_time=NOW, lag_events=3)],
    ids=["empty", "set"],
)
def test_a_kept_body_gives_the_answer_built_afresh(freshness):
    bodies = ResultBodies()
    for _ in range(2):  # built, then kept
        answer = kept(valid(), freshness, bodies, group="g1", log_checkpoint="cp")
        assert answer == fresh(valid(), freshness, group="g1", log_checkpoint="cp")
    message = pb.VerificationResult.FromString(answer)
    assert message.HasField("freshness")  # present even when empty, as before
    assert message.freshness.lag_events == freshness.lag_events
    assert (message.group, message.log_checkpoint) == ("g1", "cp")


@pytest.mark.parametrize("what", list(CHANGES))
def test_a_result_that_differs_gets_its_own_body(what):
    bodies = ResultBodies()
    freshness = Freshness(last_event_time=NOW)
    before = kept(valid(), freshness, bodies)
    changed = dataclasses.replace(valid(), **CHANGES[what])
    after = kept(changed, freshness, bodies)
    assert after != before
    assert after == fresh(changed, freshness)


def test_the_group_checkpoint_and_freshness_are_each_answers_own():
    bodies = ResultBodies()
    first = verification_to_proto(valid(), Freshness(), "g1", "cp1", bodies)
    later = Freshness(last_event_time=NOW + dt.timedelta(minutes=1), lag_events=9)
    second = verification_to_proto(valid(), later, "g2", "cp2", bodies)
    assert (first.group, first.log_checkpoint) == ("g1", "cp1")
    assert (second.group, second.log_checkpoint) == ("g2", "cp2")
    assert not first.freshness.HasField("last_event_time")
    assert second.freshness.last_event_time.ToDatetime(dt.UTC) == later.last_event_time
    assert second.freshness.lag_events == 9


def test_bodies_are_bounded():
    bodies = ResultBodies(size=4)
    for n in range(10):
        result = dataclasses.replace(valid(), identifier=f"ID{n}")
        assert pb.VerificationResult.FromString(bodies.body(result)).identifier == (
            f"ID{n}"
        )
        assert len(bodies._bodies) <= 4


def test_a_changed_lag_alone_is_answered():
    bodies = ResultBodies()
    for lag in (0, 5, 0):
        answer = verification_to_proto(
            valid(), Freshness(last_event_time=NOW, lag_events=lag), bodies=bodies
        )
        assert answer.freshness.lag_events == lag
        assert answer.freshness.last_event_time.ToDatetime(dt.UTC) == NOW
