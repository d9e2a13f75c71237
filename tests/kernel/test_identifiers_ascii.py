"""Identifiers from the real world (issue 14): ASCII only, named when not, and the
resident identity card number of GB 11643.

A full-width or other Unicode digit passed Python's ``\\d`` and then failed in a table
lookup (INTERNAL, a traceback in ``certseal id check``). Each parser in
``certseal.identifiers`` now refuses it first, naming the character and its position.
"""

import pytest

from certseal import identifiers
from certseal.errors import CertsealError, ErrorKind
from services import cli

USCC = "91350100M000100Y43"
TYPE = USCC + "001"
GOOD = "1.2.156.3005.2.91350100M000100Y43001.91350100M000100Y43.ABC123.001.E"
FULL_WIDTH_DIGITS = str.maketrans("0123456789", "０１２３４５６７８９")


def _refused(call, *args) -> CertsealError:
    with pytest.raises(CertsealError) as err:
        call(*args)
    assert err.value.kind is ErrorKind.INVALID_ARGUMENT
    return err.value


@pytest.mark.parametrize(
    ("call", "value", "position", "char"),
    [
        (identifiers.validate_uscc, USCC[:2] + "３" + USCC[3:], 3, "３"),
        (identifiers.validate_uscc, USCC[:5] + "\u0663" + USCC[6:], 6, "\u0663"),
        (identifiers.validate_type_code, USCC + "００１", 19, "０"),
        (identifiers.validate_type_code, "９" + TYPE[1:], 1, "９"),
        (identifiers.parse_licence_id, GOOD.replace(".001.", ".００１."), 64, "０"),
        (identifiers.make_uscc, USCC[:16] + "４", 17, "４"),
    ],
)
def test_a_unicode_digit_is_named_with_its_position(call, value, position, char):
    err = _refused(call, value)
    assert err.message.startswith(f"character {position} of {value!r} is {char!r}")
    assert "identifiers are ASCII only" in err.message


def test_a_full_width_digit_says_which_digit_it_stands_for():
    err = _refused(identifiers.validate_type_code, USCC + "００１")
    assert err.field == "type_code"
    assert "U+FF10 FULLWIDTH DIGIT ZERO" in err.message
    assert "full-width form of '0'" in err.message


def test_an_arabic_indic_digit_is_named_without_a_guess():
    err = _refused(identifiers.validate_uscc, USCC[:5] + "\u0663" + USCC[6:])
    assert "ARABIC-INDIC DIGIT THREE" in err.message
    assert "full-width" not in err.message


@pytest.mark.parametrize(
    "text",
    [
        GOOD.replace(".001.", ".００１."),  # the version
        GOOD.replace("Y43001", "Y43００１"),  # the type code's digits
        GOOD.translate(FULL_WIDTH_DIGITS),
    ],
)
def test_cli_id_check_of_unicode_digits_is_malformed_without_a_traceback(text, capsys):
    assert cli.main(["id", "check", text]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("error: identifier: character ")
    assert "Traceback" not in err


def test_cli_id_check_of_a_wrong_check_character_prints_no_parse(capsys):
    assert cli.main(["id", "check", GOOD[:-1] + "F"]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err == (
        "error: identifier: check character is 'F', expected 'E': "
        "a character is mistyped\n"
    )


# -- GB 11643: the resident identity card number --------------------------------------


@pytest.mark.parametrize(
    "number",
    ["11010519491231002X", "440301199001011234", "44030119900101120x"],
)
def test_resident_id_numbers(number):
    assert identifiers.validate_resident_id(number) == number.upper()
    assert identifiers.validate_identity_document("111", number) == (
        "111",
        number.upper(),
    )


@pytest.mark.parametrize(
    ("number", "problem"),
    [
        ("11010519491231002", "has 18 characters (GB 11643), got 17"),
        ("11010519491231002X1", "has 18 characters (GB 11643), got 19"),
        ("1101051949123100XX", "17 digits and a check character 0-9 or X"),
        ("110105194912310A2X", "17 digits and a check character 0-9 or X"),
        ("110105194913310023", "characters 7-14 (19491331) are not a birth date"),
        ("110105194902300023", "characters 7-14 (19490230) are not a birth date"),
        ("110105170001010023", "characters 7-14 (17000101) are not a birth date"),
        ("110105194912310021", "check character is '1', expected 'X'"),
        ("440301199001011235", "check character is '5', expected '4'"),
        ("４40301199001011234", "character 1 of '４40301199001011234' is '４'"),
    ],
)
def test_malformed_resident_id_numbers_name_the_field(number, problem):
    err = _refused(identifiers.validate_identity_document, "111", number, "holder")
    assert err.field == "holder.id_number"
    assert problem in err.message


def test_other_document_types_are_not_checked_as_resident_ids():
    assert identifiers.validate_identity_document("414", "e12345678") == (
        "414",
        "E12345678",
    )
    err = _refused(identifiers.validate_identity_document, "41４", "E1")
    assert err.field == "holder.id_type"


def test_random_resident_ids_are_well_formed():
    for _ in range(200):
        number = identifiers.random_resident_id()
        assert identifiers.validate_resident_id(number) == number
