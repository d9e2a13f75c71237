"""The limits of the identifiers, at and around them.

``certseal/identifiers.py``: a unified social credit code has exactly 18 characters and
a GB 32100 check character; a licence type code 21; a GB/T 36904 licence identifier has
five parts after its OID prefix, a 3-digit version (001 to 999: a version 999 has no
next one) and an ISO/IEC 7064 MOD 37,36 check character.
"""

import pytest

from certseal.errors import CertsealError, ErrorKind
from certseal.identifiers import (
    LICENCE_OID_PREFIX,
    CheckCharacterError,
    LicenceId,
    make_uscc,
    mint_serial,
    mod37_36_check_char,
    parse_licence_id,
    uscc_check_char,
    validate_type_code,
    validate_uscc,
)

USCC = "91350100M000100Y43"
TYPE = USCC + "001"


@pytest.mark.parametrize(("version", "next_version"), [(1, 2), (998, 999)])
def test_next_version_up_to_999(version, next_version):
    lid = LicenceId(TYPE, USCC, "ABC123", version)
    renewed = lid.next_version()
    assert renewed == LicenceId(TYPE, USCC, "ABC123", next_version)
    assert str(renewed).endswith(f".{next_version:03d}.{renewed.check_char}")


def test_version_999_has_no_next():
    lid = LicenceId(TYPE, USCC, "ABC123", 999)
    with pytest.raises(CertsealError) as err:
        lid.next_version()
    assert err.value.kind is ErrorKind.FAILED_PRECONDITION
    assert err.value.message == f"{lid} is at the last version (999)"


@pytest.mark.parametrize("version", [0, 1, 999])
def test_every_three_digit_version_round_trips(version):
    lid = LicenceId(TYPE, USCC, "Z", version)
    assert parse_licence_id(str(lid)) == lid


@pytest.mark.parametrize(
    ("code", "message"),
    [
        (USCC[:17], "must be 18 characters, got 17 ('91350100M000100Y4')"),
        (USCC + "0", "must be 18 characters, got 19 ('91350100M000100Y430')"),
        (  # a caller's identity where its department code is asked for
            f"dept:{USCC}",
            f"must be 18 characters, got 23 ('dept:{USCC}'); a department is named "
            f"by its code alone: '{USCC}', without 'dept:'",
        ),
        (  # a colon, but what follows is no code: no hint
            "dept:9135",
            "must be 18 characters, got 9 ('dept:9135')",
        ),
        (
            USCC[:17] + "4",
            "check character of '91350100M000100Y44' is '4', expected '3'",
        ),
    ],
)
def test_uscc_length_and_check(code, message):
    with pytest.raises(CertsealError) as err:
        validate_uscc(code, "where")
    assert (err.value.field, err.value.message) == ("where", message)


def test_uscc_check_characters():
    assert uscc_check_char(USCC[:17]) == "3"
    assert uscc_check_char("11100000000013338") == "W"
    assert uscc_check_char("0" * 17) == "0"  # a total of 0 gives 0, not 31
    assert make_uscc(USCC[:17]) == USCC
    for bad in (USCC[:16], USCC, USCC[:16] + "I"):
        with pytest.raises(CertsealError) as err:
            make_uscc(bad)
        assert err.value.field == "code"
        assert err.value.message == f"{bad!r} is not the first 17 characters of a code"


@pytest.mark.parametrize("code", [TYPE[:-1], TYPE + "0", USCC + "00A"])
def test_type_code_length(code):
    with pytest.raises(CertsealError) as err:
        validate_type_code(code, "t")
    assert err.value.field == "t" and "expected 21 characters" in err.value.message


def test_type_code_checks_its_authority():
    with pytest.raises(CertsealError) as err:
        validate_type_code(USCC[:17] + "4001", "t")
    assert err.value.field == "t" and "check character" in err.value.message


def _iso7064_valid(data: str) -> bool:
    """ISO/IEC 7064 MOD 37,36 validation of ``data`` with its check character last."""
    p = 36
    for c in data:
        s = (p + int(c, 36)) % 36 or 36
        p = s * 2 % 37
    return s == 1 if data else False


@pytest.mark.parametrize(
    "data", ["", "0", "Z", "ZZZZ", "A12425GABC1234002", TYPE + USCC]
)
def test_mod37_36_check_character_validates(data):
    check = mod37_36_check_char(data)
    assert len(check) == 1 and _iso7064_valid(data + check)
    others = [c for c in "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ" if c != check]
    assert not any(_iso7064_valid(data + c) for c in others)
    assert mod37_36_check_char("A12425GABC1234002") == "M"  # the annex example


def _text(*parts: str) -> str:
    return LICENCE_OID_PREFIX + ".".join(parts)


@pytest.mark.parametrize(
    ("parts", "message"),
    [
        ((TYPE, USCC, "S", "001"), "got 4 parts"),
        ((TYPE, USCC, "S", "001", "E", "X"), "got 6 parts"),
        ((TYPE[:-1], USCC, "S", "001", "E"), f"type code {TYPE[:-1]!r} must be 21"),
        ((TYPE, "", "S", "001", "E"), "authority code '' must be non-empty"),
        ((TYPE, USCC, "", "001", "E"), "serial '' must be non-empty"),
        ((TYPE, USCC, "s", "001", "E"), "serial 's' must be non-empty"),
        ((TYPE, USCC, "S", "01", "E"), "version '01' must be 3 digits"),
        ((TYPE, USCC, "S", "0001", "E"), "version '0001' must be 3 digits"),
        ((TYPE, USCC, "S", "001", ""), "check '' must be one character"),
        ((TYPE, USCC, "S", "001", "e"), "check 'e' must be one character"),
    ],
)
def test_identifier_shape(parts, message):
    with pytest.raises(CertsealError) as err:
        parse_licence_id(_text(*parts), "where")
    assert not isinstance(err.value, CheckCharacterError)
    assert err.value.field == "where" and message in err.value.message


def test_identifier_prefix():
    with pytest.raises(CertsealError) as err:
        parse_licence_id("1.2.156.3005.3." + TYPE)
    assert err.value.field == "identifier"
    assert err.value.message == "must start with '1.2.156.3005.2.'"


def test_a_wrong_check_character_keeps_what_was_parsed():
    lid = LicenceId(TYPE, USCC, "S", 1)
    wrong = "0" if lid.check_char != "0" else "1"
    with pytest.raises(CheckCharacterError) as err:
        parse_licence_id(str(lid)[:-1] + wrong, "where")
    assert (err.value.parsed, err.value.found, err.value.field) == (lid, wrong, "where")
    assert err.value.kind is ErrorKind.INVALID_ARGUMENT
    assert (
        err.value.message
        == f"check character is {wrong!r}, expected {lid.check_char!r}"
    )


@pytest.mark.parametrize("length", [1, 16, 32])
def test_mint_serial(length):
    serials = {mint_serial(length) for _ in range(20)}
    assert len(serials) == 20 or length == 1
    for serial in serials:
        assert len(serial) == length
        assert set(serial) <= set("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ")
    assert len(mint_serial()) == 16
