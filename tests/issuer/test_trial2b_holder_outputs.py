"""trial2b 6, the holder's commands' words: ``withdraw`` printed ``(revoked)`` for a
withdrawal and no department name; ``authorise`` of a licence not valid said
``(status revoked_as_sanction)``; ``usage`` left the "who" of a verification empty
(its columns shifted by two) and printed the kind ``authorisation_revoked`` raw.
Every status in the words every command uses (``revoked as a sanction (07)``)."""

import datetime as dt

import pytest

from certseal.identifiers import make_resident_id
from certseal.v1 import issuer_pb2 as pb
from services.issuer import holder_cli
from services.issuer.authorisation import licence_refusal
from services.issuer.domain import Status

ID = "1.2.156.3005.2.91350100M000100Y43001.91350100M000100Y43.C90MHI5MLZCUICOG.001.1"
NUMBER = make_resident_id("11010119900307123")


def _authorisation(**more):
    return pb.Authorisation(
        authorisation_id="au-00000000000000aa",
        identifier=ID,
        department_code="91350200M00020000L",
        department_name="厦门市公安局",
        purpose="开立银行账户",
        fields=["class"],
        **more,
    )


def _command(monkeypatch, capsys, argv, reply):
    from services.cli import main

    monkeypatch.setattr(holder_cli, "_call", lambda args, call, **_: reply)
    code = main(["holder", "--as", "wallet", *argv, "--id-number", NUMBER])
    return code, capsys.readouterr().out


def test_withdraw_says_withdrawn_and_names_the_department(monkeypatch, capsys):
    withdrawn = _authorisation(status="revoked")
    withdrawn.revoked_at.FromDatetime(dt.datetime(2026, 12, 5, tzinfo=dt.UTC))
    reply = pb.RevokeAuthorisationResponse(authorisation=withdrawn)
    code, out = _command(
        monkeypatch, capsys, ["withdraw", "au-00000000000000aa"], reply
    )
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "authorisation au-00000000000000aa (withdrawn)", out
    assert lines[2] == "department  91350200M00020000L 厦门市公安局, any counter"


@pytest.mark.parametrize(
    ("status", "words"),
    [
        (Status.REVOKED_AS_SANCTION, "revoked as a sanction (07)"),
        (Status.SUSPENDED, "suspended (02)"),
        (Status.TRANSFERRED_OUT, "transferred out (06)"),
    ],
)
def test_a_licence_not_valid_is_refused_in_the_commands_words(status, words):
    from types import SimpleNamespace

    now = dt.datetime(2026, 12, 5, tzinfo=dt.UTC)
    record = SimpleNamespace(
        identifier=ID,
        status=status,
        valid_from=now - dt.timedelta(days=1),
        valid_until=now + dt.timedelta(days=1),
    )
    reason, said = licence_refusal(record, now)  # type: ignore[misc]
    assert reason == "licence_no_longer_valid"
    assert said == f"licence {ID} is no longer valid: it is {words}"


def _usage_reply():
    at = dt.datetime(2026, 12, 5, 8, 30, tzinfo=dt.UTC)
    uses = [
        pb.LicenceUsage(kind=pb.LICENCE_USAGE_KIND_VERIFIED, counter="dept:X",
                        verdict="VALID", purpose="窗口办事"),
        pb.LicenceUsage(kind=pb.LICENCE_USAGE_KIND_AUTHORISATION_REVOKED,
                        department_code="91350200M00020000L",
                        department_name="厦门市公安局", actor="app:wallet"),
        pb.LicenceUsage(kind=pb.LICENCE_USAGE_KIND_VIEWED, actor="app:wallet"),
        pb.LicenceUsage(kind=pb.LICENCE_USAGE_KIND_VERIFIED, verdict="VALID"),
    ]  # fmt: skip
    for use in uses:
        use.occurred_at.FromDatetime(at)
    return pb.ListLicenceUsageResponse(uses=uses)


def test_usage_names_who_in_words_in_aligned_columns(monkeypatch, capsys):
    code, out = _command(monkeypatch, capsys, ["usage", ID], _usage_reply())
    assert code == 0
    rows = out.splitlines()[:4]
    kinds = ["verified", "authorisation withdrawn", "viewed", "verified"]
    whos = ["dept:X", "厦门市公安局", "app:wallet", "-"]
    for row, kind, who in zip(rows, kinds, whos, strict=True):
        when, rest = row.split("  ", 1)
        assert when == "2026-12-05T08:30:00+00:00", row
        # the kind in a column as wide as the widest kind, then who
        assert rest[:24].rstrip() == kind, row
        assert rest[24:].split("  ")[0] == who, row
    assert "authorisation_revoked" not in out
    assert "verified" in rows[0] and "VALID for 窗口办事" in rows[0]
