"""Field rights bind (issue 13): the index's restricted fields reach a verdict only for
the current version of a licence whose code verified under a trusted key, and a counter
sees only those its rule grants; public fields, which every code carries, are always
shown. Pure: the verdict function, the rights and the index's reading of events."""

from __future__ import annotations

import dataclasses
import datetime as dt

from certseal.timestamps import ts
from certseal.v1 import events_pb2, licence_pb2
from services.verifier.domain import FieldRights, Verdict
from services.verifier.index import index_entry as stored_entry
from tests.verifier.domain_samples import (
    DEPT,
    LID,
    NOW,
    PLATFORM,
    index_entry,
    licence_code,
    presentation_code,
    signer,
    trust_entry,
    verify,
)

TYPE = DEPT + "001"
GRANTED = "11440300COUNTER01"
OTHER = "11440300OTHERDEP1"
RIGHTS = FieldRights.parse([f"{TYPE}:{GRANTED}:grade", f"{TYPE}:*:"])
RESTRICTED = {"grade": "等级G7", "points": 12}


def indexed(**changes):
    return index_entry(restricted_fields=RESTRICTED, **changes)


async def test_a_granted_counter_sees_the_restricted_field_others_do_not():
    s = signer()
    result = verify(await licence_code(s), trust=trust_entry(s), index=indexed())
    assert result.verdict is Verdict.VALID and result.restricted_fields == RESTRICTED
    granted = RIGHTS.shown(result, GRANTED)
    assert granted.fields == {"class": "C1", "grade": "等级G7"}  # points: not granted
    assert granted.restricted_fields == {}  # nothing left to leak further on
    other = RIGHTS.shown(result, OTHER)
    assert other.fields == {"class": "C1"} and other.restricted_fields == {}
    # no rule at all for the type: the public field only
    assert FieldRights().shown(result, GRANTED).fields == {"class": "C1"}


async def test_a_rule_cannot_hide_a_public_field():
    s = signer()
    result = verify(await licence_code(s), trust=trust_entry(s), index=indexed())
    rights = FieldRights.parse([f"{TYPE}:{OTHER}:"])  # the old way to hide 'class'
    assert rights.shown(result, OTHER).fields == {"class": "C1"}


async def test_a_forged_or_untrusted_code_reveals_no_restricted_field():
    s, forger = signer(), signer()
    code = await licence_code(forger)  # names the lineage, signed by another key
    for trust in (trust_entry(s, kid=forger.kid), None):
        result = verify(code, trust=trust, index=indexed())
        assert result.verdict in (Verdict.BAD_SIGNATURE, Verdict.UNKNOWN_ISSUER)
        assert result.restricted_fields == {} and result.fields == {}
        assert RIGHTS.shown(result, GRANTED).fields == {}
    # signed with a key after its revocation: the key check failed
    revoked = trust_entry(s, status="revoked", revoked_at=NOW - dt.timedelta(days=2))
    result = verify(await licence_code(s), trust=revoked, index=indexed())
    assert result.verdict is Verdict.KEY_REVOKED and result.restricted_fields == {}


async def test_an_older_version_shows_no_value_of_the_current_one():
    s = signer()
    old = await licence_code(s, lid=dataclasses.replace(LID, version=1))
    result = verify(old, trust=trust_entry(s), index=indexed())
    assert result.verdict is Verdict.SUPERSEDED and result.restricted_fields == {}


async def test_a_suspended_licence_still_shows_granted_fields():
    s = signer()
    result = verify(
        await licence_code(s), trust=trust_entry(s), index=indexed(status="02")
    )
    assert result.verdict is Verdict.SUSPENDED
    assert RIGHTS.shown(result, GRANTED).fields == {"class": "C1", "grade": "等级G7"}


async def test_a_presentation_code_shows_granted_fields_from_the_index():
    presenter = signer()
    trust = trust_entry(presenter, department_code=PLATFORM, presentation_key=True)
    result = verify(await presentation_code(presenter), trust=trust, index=indexed())
    assert result.verdict is Verdict.VALID
    assert RIGHTS.shown(result, GRANTED).fields == {"grade": "等级G7"}
    assert RIGHTS.shown(result, OTHER).fields == {}


def test_the_index_reads_restricted_values_from_the_licence_event():
    event = events_pb2.LicenceEvent(
        lineage=LID.lineage,
        identifier=str(LID),
        version=2,
        lineage_version=3,
        status=licence_pb2.LICENCE_STATUS_VALID,
        type_code=TYPE,
        issuer_code=DEPT,
        valid_from=ts(NOW),
        valid_until=ts(NOW + dt.timedelta(days=1)),
        restricted_fields={
            "grade": licence_pb2.FieldValue(string_value="等级G7"),
            "points": licence_pb2.FieldValue(integer_value=12),
            "ok": licence_pb2.FieldValue(boolean_value=False),
            "since": licence_pb2.FieldValue(date_value="2026-01-31"),
        },
    )
    entry = stored_entry(event.SerializeToString())
    assert entry.restricted_fields == {
        "grade": "等级G7",
        "points": 12,
        "ok": False,
        "since": "2026-01-31",
    }
    # an event of a verifier before this change: no restricted field
    event.ClearField("restricted_fields")
    assert stored_entry(event.SerializeToString()).restricted_fields == {}
