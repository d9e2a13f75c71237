"""Every time and size comparison of the issuer's domain, at, just before and just after it.

``services/issuer/domain.py`` decides: a validity window ``[valid_from, valid_until)``
must end after it starts and after now; a licence type's default validity is 1 to 36500
days; the claims of the codes carry whole seconds (RFC 8392 NumericDate) and a
presentation code expires ``ttl_s`` seconds after its ``iat``. And text limits.
"""

import datetime as dt

import pytest

from certseal import codes
from certseal.errors import CertsealError, ErrorKind
from services.issuer import domain
from services.issuer.claims import licence_claims, presentation_claims
from services.issuer.domain import FieldKind, FieldSpec

NOW = dt.datetime(2026, 1, 1, 8, 30, tzinfo=dt.UTC)
US = dt.timedelta(microseconds=1)
SECOND = dt.timedelta(seconds=1)
DEPT = "91350100M000100Y43"
TYPE = domain.LicenceType(
    DEPT + "001",
    "驾驶证",
    (FieldSpec("class", FieldKind.STRING, required=True, public=True),),
    365,
    frozenset({DEPT}),
)


def invalid_validity(start, end, now=NOW) -> str:
    with pytest.raises(CertsealError) as err:
        domain.resolve_validity(TYPE, start, end, now)
    assert err.value.kind is ErrorKind.INVALID_ARGUMENT
    assert err.value.field == "valid_until"
    return err.value.message


# -- the validity window ------------------------------------------------------------


@pytest.mark.parametrize(
    ("length", "ok"),
    [(-SECOND, False), (-US, False), (dt.timedelta(0), False), (US, True)],
)
def test_validity_must_end_after_it_starts(length, ok):
    start = NOW + dt.timedelta(days=1)
    if ok:
        validity = domain.resolve_validity(TYPE, start, start + length, NOW)
        assert (validity.valid_from, validity.valid_until) == (start, start + length)
    else:
        assert invalid_validity(start, start + length) == (
            f"validity end {(start + length).isoformat()} is not after its start "
            f"{start.isoformat()}"
        )


@pytest.mark.parametrize(
    ("offset", "ok"),
    [
        (-SECOND, False),
        (-US, False),
        (dt.timedelta(0), False),
        (US, True),
        (SECOND, True),
    ],
)
def test_validity_must_end_after_now(offset, ok):
    start = NOW - dt.timedelta(days=30)  # a start in the past is fine
    end = NOW + offset
    if ok:
        assert domain.resolve_validity(TYPE, start, end, NOW).valid_until == end
    else:
        assert invalid_validity(start, end) == (
            f"validity end {end.isoformat()} is in the past"
        )


def test_the_start_is_checked_before_now():
    end = NOW - dt.timedelta(days=2)
    message = invalid_validity(end + SECOND, end)
    assert "is not after its start" in message


def test_default_validity_starts_now_and_lasts_the_type_s_days():
    validity = domain.resolve_validity(TYPE, None, None, NOW)
    assert validity == domain.Validity(NOW, NOW + dt.timedelta(days=365))
    start = NOW + dt.timedelta(days=3)
    from_start = domain.resolve_validity(TYPE, start, None, NOW)
    assert from_start == domain.Validity(start, start + dt.timedelta(days=365))
    end = NOW + US
    assert domain.resolve_validity(TYPE, None, end, NOW) == domain.Validity(NOW, end)


def test_a_default_end_in_the_past_is_refused():
    start = NOW - dt.timedelta(days=365)
    assert domain.resolve_validity(TYPE, start + US, None, NOW).valid_until == NOW + US
    assert invalid_validity(start, None).endswith("is in the past")


@pytest.mark.parametrize(
    ("days", "ok"), [(0, False), (1, True), (36500, True), (36501, False)]
)
def test_default_validity_days(days, ok):
    args = (DEPT + "001", "x", [], days, [DEPT])
    if ok:
        assert domain.validate_licence_type(*args).default_validity_days == days
    else:
        with pytest.raises(CertsealError) as err:
            domain.validate_licence_type(*args)
        assert err.value.field == "default_validity_days"
        assert err.value.message == "must be between 1 and 36500 days"


# -- the claims of the codes: whole seconds ------------------------------------------


def test_licence_claims_carry_whole_seconds():
    issued = NOW + dt.timedelta(microseconds=999_999)  # truncated, never rounded up
    validity = domain.Validity(NOW - US, NOW + dt.timedelta(days=1, microseconds=1))
    claims = licence_claims(
        identifier="X",
        type_code=TYPE.type_code,
        issuer_code=DEPT,
        display_name="张*",
        public_fields={"since": dt.date(2020, 2, 29), "class": "C1", "n": 3},
        validity=validity,
        issued_at=issued,
    )
    seconds = int(NOW.timestamp())
    assert claims == {
        codes.CWT_ISS: DEPT,
        codes.CWT_IAT: seconds,
        codes.CWT_NBF: seconds - 1,
        codes.CWT_EXP: seconds + 86400,
        codes.CLAIM_LICENCE: {
            "id": "X",
            "t": TYPE.type_code,
            "n": "张*",
            "f": {"class": "C1", "n": 3, "since": "2020-02-29"},
        },
    }
    assert list(claims[codes.CLAIM_LICENCE]["f"]) == ["class", "n", "since"]


@pytest.mark.parametrize("ttl_s", [1, 60, 300])
def test_a_presentation_code_expires_ttl_seconds_after_it_is_issued(ttl_s):
    issued = NOW + dt.timedelta(microseconds=999_999)
    claims = presentation_claims(
        identifier="X", version=3, nonce=b"n" * 16, issued_at=issued, ttl_s=ttl_s
    )
    seconds = int(NOW.timestamp())
    assert claims == {
        codes.CWT_IAT: seconds,
        codes.CWT_EXP: seconds + ttl_s,
        codes.CWT_CTI: b"n" * 16,
        codes.CLAIM_PRESENTATION: {"id": "X", "v": 3},
    }


# -- sizes ------------------------------------------------------------------------------


@pytest.mark.parametrize(("length", "ok"), [(1000, True), (1001, False)])
def test_text_limit(length, ok):
    if ok:
        assert domain.validate_text("f", "x" * length, required=True, limit=1000)
    else:
        with pytest.raises(CertsealError) as err:
            domain.validate_text("f", "x" * length, required=True, limit=1000)
        assert err.value.message == f"is {length} characters; the limit is 1000"


def test_an_optional_text_may_be_blank_and_a_required_one_not():
    assert domain.validate_text("f", " ", required=False, limit=10) == " "
    with pytest.raises(CertsealError, match="must not be empty"):
        domain.validate_text("f", " ", required=True, limit=10)


@pytest.mark.parametrize(("count", "ok"), [(100, True), (101, False)])
def test_field_count_limit(count, ok):
    specs = [FieldSpec(f"f{i}", FieldKind.STRING) for i in range(count)]
    args = (DEPT + "001", "x", specs, 30, [DEPT])
    if ok:
        assert len(domain.validate_licence_type(*args).fields) == count
    else:
        with pytest.raises(CertsealError) as err:
            domain.validate_licence_type(*args)
        assert (err.value.field, err.value.message) == ("fields", "at most 100 fields")


@pytest.mark.parametrize(("length", "ok"), [(200, True), (201, False)])
def test_type_and_holder_name_limits(length, ok):
    for call in (
        lambda: domain.validate_licence_type(
            DEPT + "001", "x" * length, [], 30, [DEPT]
        ),
        lambda: domain.validate_holder("x" * length, "111", "440301199001011234"),
    ):
        if ok:
            call()
        else:
            with pytest.raises(CertsealError, match="the limit is 200"):
                call()


@pytest.mark.parametrize(
    ("name", "ok"), [("a", True), ("a" + "b" * 63, True), ("a" + "b" * 64, False)]
)
def test_field_name_length(name, ok):
    args = (DEPT + "001", "x", [FieldSpec(name, FieldKind.STRING)], 30, [DEPT])
    if ok:
        domain.validate_licence_type(*args)
    else:
        with pytest.raises(CertsealError) as err:
            domain.validate_licence_type(*args)
        assert err.value.field == "fields[0].name"


@pytest.mark.parametrize(
    ("id_type", "id_number", "ok"),
    [
        ("1" * 8, "1" * 64, True),
        ("1" * 9, "1", False),
        ("1", "1" * 65, False),
        ("", "1", False),
        ("1", "", False),
    ],
)
def test_holder_document_lengths(id_type, id_number, ok):
    if ok:
        holder = domain.validate_holder(" 张三 ", id_type, id_number)
        assert (holder.name, holder.id_type, holder.id_number) == (
            "张三",
            id_type,
            id_number,
        )
    else:
        with pytest.raises(CertsealError):
            domain.validate_holder("张三", id_type, id_number)


def test_holder_id_number_is_upper_cased():
    assert domain.validate_holder("张三", "111", "44030119900101120x").id_number == (
        "44030119900101120X"
    )


@pytest.mark.parametrize(
    ("name", "masked"),
    [
        ("李", "李"),
        ("张三", "张*"),
        ("张三丰", "张*丰"),
        (" 张三 ", "张*"),
        ("Al B", "A* B"),
    ],
)
def test_mask_name_at_two_characters(name, masked):
    assert domain.mask_name(name) == masked


def test_field_specs_as_stored():
    spec = FieldSpec(
        "since", FieldKind.DATE, required=True, public=False, personal=True, title="自"
    )
    stored = {
        "name": "since",
        "kind": "date",
        "required": True,
        "public": False,
        "personal": True,
        "title": "自",
        "restricted": False,
    }
    assert spec.to_json() == stored
    assert FieldSpec.from_json(stored) == spec
    older = {k: v for k, v in stored.items() if k != "title"}  # stored before titles
    assert FieldSpec.from_json(older) == FieldSpec(
        "since", FieldKind.DATE, True, False, True
    )


def test_a_refused_transition_names_the_allowed_statuses():
    with pytest.raises(CertsealError) as err:
        domain.check_transition(
            domain.Action.CANCEL, domain.Status.REVOKED, superseded_by=None
        )
    assert err.value.message == (
        "cannot cancel a licence whose status is revoked (03); "
        "allowed from: valid (01), suspended (02), expired (05)"
    )


def test_a_registered_type_is_what_was_given():
    specs = [
        FieldSpec("class", FieldKind.STRING, public=True),
        FieldSpec("address", FieldKind.STRING, personal=True),
    ]
    registered = domain.validate_licence_type(DEPT + "001", "驾驶证", specs, 30, [DEPT])
    assert registered == domain.LicenceType(
        DEPT + "001", "驾驶证", tuple(specs), 30, frozenset({DEPT})
    )
    with pytest.raises(CertsealError) as err:
        domain.validate_licence_type(DEPT + "001", " ", [], 30, [DEPT])
    assert (err.value.field, err.value.message) == ("name", "must not be empty")


def test_a_stored_field_the_schema_no_longer_has_is_personal():
    values = {"class": "C1", "gone": "x"}
    clear, personal = domain.split_fields(TYPE, values)
    assert (clear, personal) == ({"class": "C1"}, {"gone": "x"})
    assert domain.public_fields(TYPE, values) == {"class": "C1"}


INVISIBLE = [
    ("\u200e", 2),  # LEFT-TO-RIGHT MARK
    ("\u200f", 2),  # RIGHT-TO-LEFT MARK
    ("\u061c", 2),  # ARABIC LETTER MARK
    ("\u200b", 2),  # ZERO WIDTH SPACE
    ("\ufeff", 2),  # ZERO WIDTH NO-BREAK SPACE (BOM)
    ("\u2028", 2),  # LINE SEPARATOR
    ("\u2029", 2),  # PARAGRAPH SEPARATOR
    ("\u00ad", 2),  # SOFT HYPHEN (Cf)
]


@pytest.mark.parametrize(("char", "position"), INVISIBLE)
def test_format_and_separator_characters_are_refused_in_catalogue_names(char, position):
    name = "驾" + char + "驶证"
    with pytest.raises(CertsealError) as err:
        domain.validate_licence_type(DEPT + "001", name, [], 30, [DEPT])
    assert (err.value.kind, err.value.field) == (ErrorKind.INVALID_ARGUMENT, "name")
    assert f"U+{ord(char):04X}" in err.value.message
    assert f"at position {position}" in err.value.message
    spec = FieldSpec("class", FieldKind.STRING, title="准" + char + "驾车型")
    with pytest.raises(CertsealError) as err:
        domain.validate_licence_type(DEPT + "001", "驾驶证", [spec], 30, [DEPT])
    assert err.value.field == "fields[0].title"
    assert f"at position {position}" in err.value.message


@pytest.mark.parametrize("name", ["\u200b\u200b\u200b", "\u3164", " \u2800 ", "\u3000"])
def test_blank_looking_catalogue_names_are_refused(name):
    with pytest.raises(CertsealError) as err:
        domain.validate_licence_type(DEPT + "001", name, [], 30, [DEPT])
    assert (err.value.kind, err.value.field) == (ErrorKind.INVALID_ARGUMENT, "name")


def test_visible_names_and_titles_stay_accepted():
    spec = FieldSpec("class", FieldKind.STRING, title="准驾车型 (class)")
    kind = domain.validate_licence_type(
        DEPT + "001", "机动车驾驶证 𠈌", [spec], 30, [DEPT]
    )
    assert kind.name == "机动车驾驶证 𠈌"
