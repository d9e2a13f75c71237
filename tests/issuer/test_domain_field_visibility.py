"""Where a licence field's value may go (issue 13, "field rights are cosmetic"): public
fields into every code, restricted ones only into the licence events (for the
verifier's index), personal ones nowhere in clear, and the rest nowhere. Pure."""

from __future__ import annotations

import datetime as dt

import pytest

from certseal import codes
from certseal.errors import CertsealError, ErrorKind
from certseal.indexkeys import IndexKeys, IndexSealer, Sealed, index_key_id
from certseal.v1 import events_pb2
from services.issuer import domain
from services.issuer.claims import licence_claims
from services.issuer.domain import FieldKind, FieldSpec, LicenceRecord, Operation
from services.issuer.events import licence_event

DEPT = "91350100M000100Y43"
NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)
SPECS = [
    FieldSpec("class", FieldKind.STRING, required=True, public=True),
    FieldSpec("grade", FieldKind.STRING, restricted=True),
    FieldSpec("points", FieldKind.INTEGER, restricted=True),
    FieldSpec("since", FieldKind.DATE, restricted=True),
    FieldSpec("address", FieldKind.STRING, personal=True),
    FieldSpec("note", FieldKind.STRING),  # never leaves the issuer
]
TYPE = domain.validate_licence_type(DEPT + "001", "驾驶证", SPECS, 365, [DEPT])
VALUES: dict[str, domain.FieldValue] = {
    "class": "C1",
    "grade": "等级G7",
    "points": 12,
    "since": dt.date(2026, 1, 31),
    "address": "深圳市福田区",
    "note": "internal",
}


@pytest.mark.parametrize(
    ("flags", "both"),
    [
        ({"restricted": True, "personal": True}, "restricted and personal"),
        ({"public": True, "restricted": True}, "public and restricted"),
        ({"public": True, "personal": True}, "public and personal"),
    ],
)
def test_a_field_has_one_visibility_and_personal_data_is_never_restricted(flags, both):
    specs = [
        FieldSpec("class", FieldKind.STRING),
        FieldSpec("addr", FieldKind.STRING, **flags),
    ]
    with pytest.raises(CertsealError) as err:
        domain.validate_licence_type(DEPT + "001", "x", specs, 30, [DEPT])
    assert err.value.kind is ErrorKind.INVALID_ARGUMENT
    assert err.value.field == "fields[1]"
    assert err.value.message == f"field 'addr' cannot be both {both}"


def test_each_field_goes_where_its_visibility_says():
    assert domain.public_fields(TYPE, VALUES) == {"class": "C1"}
    assert domain.restricted_fields(TYPE, VALUES) == {
        "grade": "等级G7",
        "points": 12,
        "since": dt.date(2026, 1, 31),
    }
    clear, personal = domain.split_fields(TYPE, VALUES)
    assert personal == {"address": "深圳市福田区"} and "address" not in clear
    # a stored field the schema no longer has goes nowhere but the encrypted store
    assert domain.restricted_fields(TYPE, {"gone": "x"}) == {}
    assert domain.split_fields(TYPE, {"gone": "x"}) == ({}, {"gone": "x"})


def test_the_code_claims_carry_the_public_fields_only():
    claims = licence_claims(
        identifier="x",
        type_code=TYPE.type_code,
        issuer_code=DEPT,
        display_name="张*丰",
        public_fields=domain.public_fields(TYPE, VALUES),
        validity=domain.Validity(NOW, NOW + dt.timedelta(days=1)),
        issued_at=NOW,
    )
    assert claims[codes.CLAIM_LICENCE]["f"] == {"class": "C1"}


def record(fields: dict[str, domain.FieldValue]) -> LicenceRecord:
    return LicenceRecord(
        identifier="1.2.156.3005.2.x.001.Y",
        lineage="1.2.156.3005.2.x",
        version=1,
        type_code=TYPE.type_code,
        issuer_code=DEPT,
        holder_ref="ab" * 32,
        holder_display_name="张*丰",
        fields=fields,
        valid_from=NOW,
        valid_until=NOW + dt.timedelta(days=1),
        status=domain.Status.VALID,
        status_reason="",
        last_operation=Operation.ISSUE,
        issued_at=NOW,
        updated_at=NOW,
        replaces=None,
        superseded_by=None,
        kid="00" * 8,
        lineage_version=1,
    )


INDEX_KEY = bytes(range(32))


def test_the_licence_event_carries_the_restricted_fields_only_sealed():
    out = licence_event(
        record(dict(VALUES)),
        TYPE,
        "licence.issued",
        actor=DEPT,
        reason="",
        sealer=IndexSealer(INDEX_KEY),
    )
    event = events_pb2.LicenceEvent.FromString(out.value)
    assert not event.restricted_fields  # no longer written in clear
    blob = event.restricted_sealed
    assert blob.kid == index_key_id(INDEX_KEY)
    opened = events_pb2.RestrictedFields.FromString(
        IndexKeys([INDEX_KEY]).open(
            Sealed(blob.kid, blob.nonce, blob.ciphertext),
            lineage=event.lineage,
            lineage_version=event.lineage_version,
        )
    )
    carried = {k: getattr(v, v.WhichOneof("value")) for k, v in opened.values.items()}
    assert carried == {"grade": "等级G7", "points": 12, "since": "2026-01-31"}
    raw = out.value + b"".join(v.encode() for v in out.headers.values())
    # personal, never leaves the issuer, and the restricted values themselves
    for secret in (
        "深圳市福田区",
        "internal",
        "等级G7",
        "2026-01-31",
        "grade",
        "points",
    ):
        assert secret.encode() not in raw


def test_a_licence_without_restricted_values_carries_no_sealed_blob():
    values = {k: v for k, v in VALUES.items() if k not in ("grade", "points", "since")}
    out = licence_event(
        record(values),
        TYPE,
        "licence.issued",
        actor=DEPT,
        reason="",
        sealer=IndexSealer(INDEX_KEY),
    )
    event = events_pb2.LicenceEvent.FromString(out.value)
    assert not event.HasField("restricted_sealed") and not event.restricted_fields


def test_a_type_stored_before_visibilities_loads_as_not_restricted():
    stored = {  # a row of the previous main: no "restricted" (and no "title")
        "name": "class",
        "kind": "string",
        "required": True,
        "public": True,
        "personal": False,
    }
    spec = FieldSpec.from_json(stored)
    assert spec == FieldSpec("class", FieldKind.STRING, True, True, False)
    assert spec.restricted is False
    restricted = FieldSpec("grade", FieldKind.STRING, restricted=True)
    assert FieldSpec.from_json(restricted.to_json()) == restricted


def test_the_cli_registers_a_restricted_field():
    import argparse

    from services.issuer.type_cli import _field_spec

    spec = _field_spec("grade:string:restricted")
    assert spec.restricted and not spec.public and not spec.personal
    with pytest.raises(argparse.ArgumentTypeError, match="restricted"):
        _field_spec("grade:string:secret")
