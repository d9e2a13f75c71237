"""atk16b F4, F5: times and dates the issuer's CLI and API read.

F5: ``certseal key revoke KID --at TEXT`` passed TEXT to ``datetime.fromisoformat``
unchecked: a text that is no ISO time was a ValueError traceback, and a time without
its UTC offset was sent as UTC (protobuf takes a naive datetime as UTC): for an
operator in Beijing, eight hours of the compromised key's signatures stayed trusted.
Now: ``error: at: ...`` and exit 2 for either.

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

    status = main(["key", "revoke", "00aa", "--reason", "r", "--at", at])
    err = capsys.readouterr().err
    assert status == 2, err
    assert err.startswith("error: at: "), err
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
