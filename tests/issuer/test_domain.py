import datetime as dt

import pytest

from certseal.errors import CertsealError, ErrorKind
from services.issuer import domain
from services.issuer.domain import Action, FieldKind, FieldSpec, Status

TYPE = domain.LicenceType(
    "91350100M000100Y43001",
    "驾驶证",
    (
        FieldSpec("class", FieldKind.STRING, required=True, public=True),
        FieldSpec("points", FieldKind.INTEGER),
        FieldSpec("ok", FieldKind.BOOLEAN),
        FieldSpec("since", FieldKind.DATE),
        FieldSpec("address", FieldKind.STRING, personal=True),
    ),
    365,
    frozenset({"91350100M000100Y43"}),
)


@pytest.mark.parametrize("action", list(Action))
@pytest.mark.parametrize("status", list(Status))
def test_every_transition(action, status):
    transition = domain.TRANSITIONS[action]
    if status in transition.allowed_from:
        assert domain.check_transition(action, status, superseded_by=None) is transition
    else:
        with pytest.raises(CertsealError) as err:
            domain.check_transition(action, status, superseded_by=None)
        assert err.value.kind is ErrorKind.FAILED_PRECONDITION
        assert f"({status.value})" in err.value.message


def test_superseded_versions_cannot_change():
    with pytest.raises(CertsealError) as err:
        domain.check_transition(Action.SUSPEND, Status.VALID, superseded_by="X.002.Y")
    assert "superseded by X.002.Y" in err.value.message


@pytest.mark.parametrize(
    ("name", "masked"),
    [
        ("张三", "张*"),
        ("张三丰", "张*丰"),
        ("欧阳娜娜", "欧**娜"),
        ("李", "李"),
        ("John Smith", "J*** S****"),
    ],
)
def test_mask_name(name, masked):
    assert domain.mask_name(name) == masked


@pytest.mark.parametrize(
    ("values", "field", "message"),
    [
        ({"class": "C1", "colour": "red"}, "fields.colour", "is not a field"),
        ({"class": 1}, "fields.class", "must be a string, got an integer"),
        (
            {"class": "C1", "points": True},
            "fields.points",
            "must be an integer, got a boolean",
        ),
        ({"class": "C1", "ok": 1}, "fields.ok", "must be a boolean"),
        ({"class": "C1", "since": "2020-01-01"}, "fields.since", "must be a date"),
        ({"points": 3}, "fields.class", "is required"),
        ({"class": " "}, "fields.class", "must not be empty"),
        ({"class": "x" * 1001}, "fields.class", "the limit is 1000"),
        ({"class": "a\x00b"}, "fields.class", "control characters"),
    ],
)
def test_field_errors(values, field, message):
    with pytest.raises(CertsealError) as err:
        domain.validate_fields(TYPE, values)
    assert err.value.field == field and message in err.value.message


def test_fields_split_by_schema():
    values = {"class": "C1", "points": 12, "address": "深圳"}
    assert domain.validate_fields(TYPE, values) == values
    clear, personal = domain.split_fields(TYPE, values)
    assert personal == {"address": "深圳"} and "address" not in clear
    assert domain.public_fields(TYPE, values) == {"class": "C1"}


def test_validity():
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    v = domain.resolve_validity(TYPE, None, None, now)
    assert v.valid_until - v.valid_from == dt.timedelta(days=365)
    with pytest.raises(CertsealError) as err:
        domain.resolve_validity(TYPE, now, now - dt.timedelta(days=1), now)
    assert (
        err.value.field == "valid_until"
        and "is not after its start" in err.value.message
    )


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (("", "111", "1"), "holder.name"),
        (("张三", "id", "1"), "holder.id_type"),
        (("张三", "111", "12 34"), "holder.id_number"),
    ],
)
def test_holder_errors(args, field):
    with pytest.raises(CertsealError) as err:
        domain.validate_holder(*args)
    assert err.value.field == field


def test_holder_repr_hides_personal_data():
    assert "440301" not in repr(
        domain.validate_holder("张三", "111", "440301199001011234")
    )


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"type_code": "123"}, "type_code"),
        ({"specs": [FieldSpec("Bad Name", FieldKind.STRING)]}, "fields[0].name"),
        ({"specs": [FieldSpec("a", FieldKind.STRING)] * 2}, "fields[1].name"),
        (
            {"specs": [FieldSpec("a", FieldKind.STRING, public=True, personal=True)]},
            "fields[0]",
        ),
        ({"days": 0}, "default_validity_days"),
        ({"issuers": []}, "issuer_codes"),
        ({"issuers": ["91350100M000100Y44"]}, "issuer_codes[0]"),
    ],
)
def test_licence_type_errors(kwargs, field):
    args = {
        "type_code": "91350100M000100Y43001",
        "name": "x",
        "specs": [],
        "days": 30,
        "issuers": ["91350100M000100Y43"],
    } | kwargs
    with pytest.raises(CertsealError) as err:
        domain.validate_licence_type(
            args["type_code"],
            args["name"],
            args["specs"],
            args["days"],
            args["issuers"],
        )
    assert err.value.field == field


def test_timestamps_match_protobuf():
    from google.protobuf.timestamp_pb2 import Timestamp

    from certseal.timestamps import ts

    for value in (
        dt.datetime(2026, 11, 22, 14, 0, 0, 123456, tzinfo=dt.UTC),
        dt.datetime(1969, 12, 31, 23, 59, 59, 500000, tzinfo=dt.UTC),
        dt.datetime(
            2026, 1, 1, 0, 0, 0, 999999, tzinfo=dt.timezone(dt.timedelta(hours=8))
        ),
    ):
        expected = Timestamp()
        expected.FromDatetime(value)
        assert ts(value) == expected


def test_a_licence_types_field_spec_is_found_by_name_and_kept_after_replace() -> None:
    import dataclasses

    from services.issuer.domain import FieldKind, FieldSpec, LicenceType

    a, b = (
        FieldSpec("a", FieldKind.STRING),
        FieldSpec("b", FieldKind.STRING, public=True),
    )
    lt = LicenceType("T", "t", (a, b), 365, frozenset({"X"}))
    assert lt.spec("a") is a and lt.spec("b") is b and lt.spec("c") is None
    other = dataclasses.replace(lt, fields=(b,))
    assert other.spec("a") is None and other.spec("b") is b
    assert other == LicenceType("T", "t", (b,), 365, frozenset({"X"}))
    assert "_by_name" not in repr(lt)
