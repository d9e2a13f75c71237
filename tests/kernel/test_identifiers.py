import pytest

from certseal.errors import CertsealError, ErrorKind
from certseal.identifiers import (
    CheckCharacterError,
    LicenceId,
    make_uscc,
    mod37_36_check_char,
    parse_licence_id,
    validate_type_code,
    validate_uscc,
)
from services import cli

GOOD = "1.2.156.3005.2.91350100M000100Y43001.91350100M000100Y43.ABC123.001.E"


@pytest.mark.parametrize(
    "code", ["91350100M000100Y43", "11100000000013338W", make_uscc("91440300MA5DXY712")]
)
def test_uscc_check(code):
    assert validate_uscc(code) == code


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("91350100M000100Y44", "check character"),
        ("91350100M000100Y4", "18 characters"),
        ("91350100M000I00Y43", "not a unified social credit code"),
        ("9135010AM000100Y43", "not a unified social credit code"),
    ],
)
def test_uscc_rejects(code, message):
    with pytest.raises(CertsealError) as err:
        validate_uscc(code)
    assert err.value.kind is ErrorKind.INVALID_ARGUMENT
    assert err.value.field == "department_code"
    assert message in err.value.message


def test_type_code():
    assert validate_type_code("91350100M000100Y43001")
    for bad in (
        "91350100M000100Y4300",
        "91350100M000100Y43A01",
        "91350100M000100Y44001",
    ):
        with pytest.raises(CertsealError):
            validate_type_code(bad)


def test_mod37_36_iso_example():
    # ISO/IEC 7064 annex example for MOD 37,36.
    assert mod37_36_check_char("A12425GABC1234002") == "M"


def test_round_trip_and_versions():
    parsed = parse_licence_id(GOOD)
    assert parsed == LicenceId(
        "91350100M000100Y43001", "91350100M000100Y43", "ABC123", 1
    )
    assert str(parsed) == GOOD
    renewed = parsed.next_version()
    assert renewed.version == 2 and renewed.lineage == parsed.lineage
    assert parse_licence_id(str(renewed)) == renewed


def test_foreign_identifiers_parse():
    # authority as an administrative division code, a 32-character hexadecimal serial
    lid = LicenceId(
        "11100000000013338W001", "440300", "0123456789ABCDEF0123456789ABCDEF", 7
    )
    assert parse_licence_id(str(lid)) == lid


@pytest.mark.parametrize(
    "text",
    [
        "",
        "1.2.156.3005.1.91350100M000100Y43001.91350100M000100Y43.ABC123.001.E",
        "1.2.156.3005.2.91350100M000100Y43001.91350100M000100Y43.ABC123.001",
        "1.2.156.3005.2.91350100M000100Y4300.91350100M000100Y43.ABC123.001.E",
        "1.2.156.3005.2.91350100M000100Y43001..ABC123.001.E",
        "1.2.156.3005.2.91350100M000100Y43001.91350100M000100Y43.abc123.001.E",
        "1.2.156.3005.2.91350100M000100Y43001.91350100M000100Y43.ABC123.01.E",
        "1.2.156.3005.2.91350100M000100Y43001.91350100M000100Y43.ABC123.001.EE",
    ],
)
def test_malformed(text):
    with pytest.raises(CertsealError) as err:
        parse_licence_id(text)
    assert not isinstance(err.value, CheckCharacterError)
    assert err.value.kind is ErrorKind.INVALID_ARGUMENT


def test_wrong_check_character():
    with pytest.raises(CheckCharacterError) as err:
        parse_licence_id(GOOD[:-1] + "F")
    assert "expected 'E'" in err.value.message


@pytest.mark.parametrize(
    ("text", "status"),
    [(GOOD, 0), (GOOD[:-1] + "F", 1), ("1.2.156.3005.2.X", 2), ("nonsense", 2)],
)
def test_cli_id_check_exit_codes(text, status, capsys):
    assert cli.main(["id", "check", text]) == status
    out, err = capsys.readouterr()
    if status == 0:
        assert "serial:          ABC123" in out
    else:  # a wrong check character prints no parse that reads like success
        assert out == ""
        assert err.startswith("error:")
