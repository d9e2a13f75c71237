"""atk16b F4, F5: times and dates the issuer's CLI and API read.

F5: ``certseal key revoke KID --at TEXT`` passed TEXT to ``datetime.fromisoformat``
unchecked: a text that is no ISO time was a ValueError traceback, and a time without
its UTC offset was sent as UTC (protobuf takes a naive datetime as UTC): for an
operator in Beijing, eight hours of the compromised key's signatures stayed trusted.
Now: ``error: at: ...`` and exit 2 for either, from the parser (``--at`` is read by
``certseal.cli_options.aware_time``, as ``audit list --since`` is: tests/kernel/
test_aware_time.py).

F4: a date field's value (``FieldValue.date_value``, documented YYYY-MM-DD) was read
with Python 3.11's ``date.fromisoformat``, which also takes ``20240101`` and the week
date ``2024-W01-1``: one date, many spellings (a retry of an issuance with the same
idempotency key and another spelling is another request). Now only YYYY-MM-DD.
"""

import pytest

from certseal.errors import CertsealError, ErrorKind
from certseal.v1 import licence_pb2
from services.issuer.convert import field_values


@pytest.mark.parametrize("at", ["garbage", "2026-12-02T10:00:00", "2026-12-02"])
def test_a_revocation_time_needs_an_iso_time_with_its_offset(at, capsys):
    from services.cli import main

    with pytest.raises(SystemExit) as stopped:  # the parser's: before any call
        main(["key", "revoke", "00aa", "--reason", "r", "--at", at])
    err = capsys.readouterr().err
    assert stopped.value.code == 2, err
    assert err.splitlines()[-1].startswith("error: at: "), err
    assert "Traceback" not in err


@pytest.mark.parametrize("text", ["20240101", "2024-W01-1", "2024W011"])
def test_a_date_field_takes_only_yyyy_mm_dd(text):
    values = {"born": licence_pb2.FieldValue(date_value=text)}
    with pytest.raises(CertsealError) as refused:
        field_values(values)
    assert refused.value.kind is ErrorKind.INVALID_ARGUMENT
    assert refused.value.field == "fields.born"


def test_a_yyyy_mm_dd_date_is_read():
    values = {"born": licence_pb2.FieldValue(date_value="2024-02-29")}
    assert str(field_values(values)["born"]) == "2024-02-29"


# nu17: a whole-number option beyond what its protobuf field holds (uint32, or the
# int32 of an enum) was a ValueError traceback ("Value out of range") from the
# request's constructor, exit 1; a negative one the same. Every such option is read by
# one argparse type now: the parser says ``error: <option>: ...``, exit 2, before any
# call. The commands are the issuer's (licence, type, key, republish) and the seal
# service's (pdf, ofd), run with no stack: the refusal comes before anything else.
_SEAL = "91350100M000100Y43EPICCLRSXO"
# (``present --ttl`` is said with its one range, this configuration's, after the
# parser: tests/kernel/test_cli_edges.py, trial47)
WHOLE_NUMBER_OPTIONS = [
    (["licence", "--as", "91350100M000100Y43", "list", "--status"], "status"),
    (
        [
            "type",
            "add",
            "--code",
            "91350100M000100Y43002",
            "--name",
            "x",
            "--issuers",
            "91350100M000100Y43",
            "--field",
            "a:string",
            "--validity-days",
        ],
        "validity-days",
    ),
    (
        ["key", "create", "91350100M000100Y43", "--suite", "sm2", "--validity-days"],
        "validity-days",
    ),
    (
        ["key", "rotate", "91350100M000100Y43", "--suite", "sm2", "--validity-days"],
        "validity-days",
    ),
    (["republish", "--max-events"], "max-events"),
    (
        [
            "seal",
            "--as",
            "91350100M000100Y43",
            "pdf",
            _SEAL,
            "in.pdf",
            "--out",
            "o.pdf",
            "--page",
        ],
        "page",
    ),
    (
        [
            "seal",
            "--as",
            "91350100M000100Y43",
            "ofd",
            _SEAL,
            "in.ofd",
            "--out",
            "o.ofd",
            "--page",
        ],
        "page",
    ),
]


@pytest.mark.parametrize(("argv", "option"), WHOLE_NUMBER_OPTIONS)
@pytest.mark.parametrize("value", ["99999999999", "-1", "1e3", "٣"])
def test_a_whole_number_option_out_of_its_field_is_refused_by_name(
    argv, option, value, capsys
):
    from services.cli import main

    with pytest.raises(SystemExit) as stopped:
        main([*argv, value])
    err = capsys.readouterr().err
    assert stopped.value.code == 2, err
    assert f"error: {option}: " in err, err
    assert "Traceback" not in err and "out of range" not in err, err


def test_a_whole_number_option_in_range_is_read():
    from certseal.cli_options import UINT32_MAX, whole_number

    assert whole_number()("0") == 0
    assert whole_number()(str(UINT32_MAX)) == UINT32_MAX
    assert whole_number(600)("600") == 600
