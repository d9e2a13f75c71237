"""One reading of a time that must carry its UTC offset
(``certseal.cli_options.aware_time``), for every option that takes one: ``audit list
--since`` and ``key revoke --at``.

They had a parser each, with different words for the same refusal (``has no time
zone`` against ``is not an ISO 8601 time with its UTC offset``), and ``--at`` was read
after the parser, so a bad one came back as a return value where ``--since``'s ended
the parser. A time whose moment in UTC is before year 1 or after 9999 passed both
and was an OverflowError traceback where it was sent."""

from __future__ import annotations

import argparse
import datetime as dt

import pytest

from certseal.cli_options import aware_time
from certseal.v1 import issuer_pb2 as pb
from services.issuer import cli as issuer_cli

BEIJING = dt.timezone(dt.timedelta(hours=8))


@pytest.mark.parametrize(
    ("text", "moment"),
    [
        ("2026-12-02T10:00:00+08:00", dt.datetime(2026, 12, 2, 10, tzinfo=BEIJING)),
        ("2026-12-02T02:00:00Z", dt.datetime(2026, 12, 2, 2, tzinfo=dt.UTC)),
        ("  2026-12-02T02:00Z\n", dt.datetime(2026, 12, 2, 2, tzinfo=dt.UTC)),
        (
            "2026-12-02 10:00:00.5+08:00",
            dt.datetime(2026, 12, 2, 10, 0, 0, 500000, BEIJING),
        ),
        ("0001-01-01T08:00:00+08:00", dt.datetime(1, 1, 1, 8, tzinfo=BEIJING)),
        ("9999-12-31T23:59:59Z", dt.datetime(9999, 12, 31, 23, 59, 59, tzinfo=dt.UTC)),
    ],
)
def test_a_time_with_its_offset_is_read_as_given(text, moment):
    when = aware_time(text)
    assert when == moment
    assert when.utcoffset() == moment.utcoffset()  # the offset typed, not UTC's


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("garbage", "is not an ISO 8601 time (e.g. 2026-12-02T10:00:00+08:00 or "),
        ("", "is not an ISO 8601 time"),
        ("2026-13-01T00:00:00Z", "is not an ISO 8601 time"),
        ("2026-12-02T10:00:00+25:00", "is not an ISO 8601 time"),
        ("2026-12-02T10:00:00", "has no UTC offset: add one (Z, +08:00)"),
        ("2026-12-02", "has no UTC offset"),
        # read as the date, "+" as the separator and 08:00 as the time: no offset
        ("2026-12-02+08:00", "has no UTC offset"),
        ("0001-01-01T00:00:00+08:00", "is outside the years 1 to 9999 in UTC"),
        ("9999-12-31T23:59:59-00:01", "is outside the years 1 to 9999 in UTC"),
        (
            "2026-12-02T10:00:00+05:30:15",
            "has a UTC offset with seconds: give hours and",
        ),
        (
            "2026-12-02T10:00:00-08:00:30",
            "has a UTC offset with seconds: give hours and",
        ),
    ],
)
def test_anything_else_is_refused_saying_why(text, problem):
    with pytest.raises(argparse.ArgumentTypeError) as refused:
        aware_time(text)
    assert str(refused.value).startswith(f"{text!r} {problem}"), refused.value


#: each option that takes such a time, as a command line that ends with its value
OPTIONS = {
    "since": ["audit", "list", "--since"],
    "at": ["key", "revoke", "00aa", "--reason", "r", "--at"],
}


@pytest.mark.parametrize("option", sorted(OPTIONS))
@pytest.mark.parametrize(
    ("text", "said"),
    [
        (
            "garbage",
            "'garbage' is not an ISO 8601 time "
            "(e.g. 2026-12-02T10:00:00+08:00 or 2026-12-02T02:00:00Z)",
        ),
        (
            "2026-12-02T10:00:00",
            "'2026-12-02T10:00:00' has no UTC offset: add one (Z, +08:00)",
        ),
        (
            "0001-01-01T00:00:00+08:00",
            "'0001-01-01T00:00:00+08:00' is outside the years 1 to 9999 in UTC",
        ),
    ],
)
def test_every_option_refuses_it_in_the_same_words_exit_2(option, text, said, capsys):
    from services.cli import main

    with pytest.raises(SystemExit) as stopped:
        main([*OPTIONS[option], text])
    err = capsys.readouterr().err
    assert stopped.value.code == 2, err
    assert err.splitlines()[-1] == f"error: {option}: {said}", err
    assert "Traceback" not in err


def _revocation(monkeypatch, *at: str) -> pb.RevokeSigningKeyRequest:
    """The request ``key revoke 00aa --reason r [--at AT]`` sends the issuer."""
    from services.cli import main

    sent: list[pb.RevokeSigningKeyRequest] = []

    class Issuer:
        def RevokeSigningKey(self, request):  # the RPC's name
            sent.append(request)
            return pb.RevokeSigningKeyResponse()

    monkeypatch.setattr(issuer_cli, "_call", lambda args, call: call(Issuer()))
    argv = ["key", "revoke", "00aa", "--reason", "r"]
    assert main([*argv, *(("--at", *at) if at else ())]) == 0
    (request,) = sent
    return request


def test_a_revocation_time_is_sent_as_the_moment_typed(monkeypatch, capsys):
    request = _revocation(monkeypatch, "2026-12-02T10:00:00+08:00")
    assert request.HasField("revoked_at")
    assert request.revoked_at.ToDatetime(tzinfo=dt.UTC) == dt.datetime(
        2026, 12, 2, 2, tzinfo=dt.UTC
    )  # 10:00 in Beijing, not 10:00 UTC


def test_without_at_no_revocation_time_is_sent(monkeypatch, capsys):
    assert not _revocation(monkeypatch).HasField("revoked_at")  # the issuer's now


@pytest.mark.parametrize(
    "text, why",
    [
        ("2026-02-30T00:00Z", "day is out of range for month"),
        ("2026-01-01T23:59:60Z", "second must be in 0..59"),
        ("2026-01-01T00:00+24:00", "its UTC offset must be less than 24 hours"),
    ],
)
def test_a_time_of_the_right_shape_is_told_what_is_wrong_with_it(text, why):
    """``2026-02-30`` is no date: said so, not only "not an ISO 8601 time"."""
    with pytest.raises(argparse.ArgumentTypeError) as caught:
        aware_time(text)
    assert f"is not an ISO 8601 time: {why} (e.g." in str(caught.value)
