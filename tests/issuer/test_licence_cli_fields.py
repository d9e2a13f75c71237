"""``certseal licence issue|amend --field NAME=VALUE``: VALUE is read as the licence
type's declared type of NAME, never guessed from the text (fixnu-b 2: a phone number
was sent as an integer, and quoting it stored the quotes)."""

from __future__ import annotations

import pytest

from certseal.calls import as_options
from certseal.errors import CertsealError, ErrorKind
from certseal.v1 import issuer_pb2 as pb
from certseal.v1 import licence_pb2
from services.issuer.licence_cli import _FLAGS, as_field_option, field_items, set_fields

DECLARED = {
    "phone": licence_pb2.FIELD_TYPE_STRING,
    "points": licence_pb2.FIELD_TYPE_INTEGER,
    "organ_donor": licence_pb2.FIELD_TYPE_BOOLEAN,
    "first_issued": licence_pb2.FIELD_TYPE_DATE,
}


def _fields(*items: str) -> dict[str, tuple[str, object]]:
    request = pb.IssueLicenceRequest()
    set_fields(request.fields, field_items(list(items)), DECLARED, "T1")
    return {
        name: (value.WhichOneof("value"), getattr(value, value.WhichOneof("value")))
        for name, value in request.fields.items()
    }


@pytest.mark.parametrize(
    "text", ["13800138000", "007", "true", "-1", '"quoted"', "", "a=b", "²"]
)
def test_a_string_field_takes_the_text_as_it_is(text):
    assert _fields(f"phone={text}") == {"phone": ("string_value", text)}


@pytest.mark.parametrize(
    ("text", "number"),
    [("12", 12), ("-3", -3), ("007", 7), (str(2**63 - 1), 2**63 - 1)],
)
def test_an_integer_field_takes_ascii_digits(text, number):
    assert _fields(f"points={text}") == {"points": ("integer_value", number)}


@pytest.mark.parametrize(
    ("text", "value"), [("true", True), ("FALSE", False), ("True", True)]
)
def test_a_boolean_field_takes_true_or_false(text, value):
    assert _fields(f"organ_donor={text}") == {"organ_donor": ("boolean_value", value)}


def test_a_date_field_takes_an_iso_date():
    assert _fields("first_issued=2020-01-02") == {
        "first_issued": ("date_value", "2020-01-02")
    }


@pytest.mark.parametrize(
    ("item", "problem"),
    [
        ("points=12a", "'points' is an integer field: '12a' is not an integer"),
        ("points=²", "'points' is an integer field: '²' is not an integer"),
        ("points=", "'points' is an integer field: '' is not an integer"),
        (f"points={2**63}", "'points' is an integer field"),
        ("organ_donor=yes", "'organ_donor' is a boolean field: give true or false"),
        ("first_issued=2020/01/02", "'first_issued' is a date field: give YYYY-MM-DD"),
        ("colour=red", "'colour' is not a field of licence type T1 (its fields: "),
        ("phone", "'phone': use NAME=VALUE"),
    ],
)
def test_a_value_its_field_cannot_take_is_named(item, problem):
    with pytest.raises(CertsealError) as refused:
        _fields(item)
    assert refused.value.kind is ErrorKind.INVALID_ARGUMENT
    assert refused.value.field == "field"
    assert refused.value.message.startswith(problem), refused.value.message


def test_a_field_type_this_cli_does_not_know_is_said_not_guessed():
    request = pb.IssueLicenceRequest()
    with pytest.raises(CertsealError) as refused:
        set_fields(request.fields, [("x", "1")], {"x": 99}, "T1")
    assert refused.value.field == "field"
    assert "cannot be known" in refused.value.message


def test_the_issuers_field_names_are_said_as_the_options():
    for field, flag in (
        ("type_code", "type"),
        ("to_department_code", "to"),
        ("holder", "id-number"),
        ("holder.id_number", "id-number"),
        ("holder.name", "holder-name"),  # the longest path the map knows
        ("remove_fields[2]", "remove-field[2]"),  # which of the repeated options
        ("ttl_seconds", "ttl"),
    ):
        error = as_options(
            CertsealError(ErrorKind.INVALID_ARGUMENT, "x", field=field), _FLAGS
        )
        assert (error.field, error.message) == (flag, "x")
    error = as_field_option(
        CertsealError(ErrorKind.INVALID_ARGUMENT, "is required", field="fields.class")
    )
    assert str(error) == "field: 'class' is required"
    # the request check's names of a field's value and of its name (atk28)
    for field, said in (
        ("fields['a.b']", "field: 'a.b' contains U+0000"),
        ("fields['class'].string_value", "field: 'class' contains U+0000"),
        ("fields key 'a\\x00'", "field: the name 'a\\x00' contains U+0000"),
    ):
        error = as_field_option(
            CertsealError(ErrorKind.INVALID_ARGUMENT, "contains U+0000", field=field)
        )
        assert str(error) == said
    other = CertsealError(ErrorKind.INVALID_ARGUMENT, "x", field="fields[0]")
    assert as_field_option(other) is other  # a list of specs, no licence field
    kept = CertsealError(ErrorKind.FAILED_PRECONDITION, "x", field="identifier")
    assert as_options(kept, _FLAGS) is kept
    assert as_field_option(kept) is kept


def test_a_field_given_twice_is_refused_not_the_last_kept():
    """A new user's `--field class=C1 --field class=C2` issued class C2 in silence."""
    with pytest.raises(CertsealError) as err:
        field_items(["class=C1", "points=3", "class=C2"])
    assert (err.value.field, err.value.message) == (
        "field",
        "class is given more than once",
    )
    assert field_items(["class=C1", "points=3"]) == [("class", "C1"), ("points", "3")]
