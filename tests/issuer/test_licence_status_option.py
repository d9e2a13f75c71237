"""``certseal licence list --status``: a clerk types the status as ``licence get`` and
``licence list`` print it (``suspended (02)``): its words in any case, its national code
(as the option took it before), or both. It took only the number: ``--status
suspended`` was ``error: status: 'suspended' is not a whole number``.

The words are read back from the one table the commands print with
(``certseal.cli_options.STATUS_WORDS``), which must name every status of the API and of the
issuer's domain."""

from __future__ import annotations

import argparse

import pytest

from certseal.cli_options import STATUS_WORDS, licence_status
from certseal.statuses import status_label
from certseal.v1 import issuer_pb2 as pb
from certseal.v1 import licence_pb2
from services.issuer import licence_cli
from services.issuer.domain import Status

DEPARTMENT = "91350100M000100Y43"


def test_the_printed_table_names_every_status_of_the_api_and_the_domain():
    api = {
        number: name.removeprefix("LICENCE_STATUS_").lower().replace("_", " ")
        for name, number in licence_pb2.LicenceStatus.items()
        if number
    }
    # the API's names are the words without their article ("revoked as sanction")
    assert {
        code: shown.rpartition(" (")[0].replace(" a ", " ")
        for code, shown in STATUS_WORDS.items()
    } == api
    assert {int(status.value) for status in Status} == set(STATUS_WORDS)
    for code, shown in STATUS_WORDS.items():  # words, then the code in brackets
        assert shown.endswith(f" ({code:02d})"), shown
    assert {status.label for status in Status} == set(STATUS_WORDS.values())


@pytest.mark.parametrize("code", sorted(STATUS_WORDS))
def test_every_status_is_read_back_as_the_commands_print_it(code):
    shown = status_label(code)  # "revoked as a sanction (07)"
    words, _, bracketed = shown.rpartition(" ")
    number = bracketed.strip("()")
    typed = [
        shown,
        words,
        words.replace(" a ", " "),  # the API's and the enum's name, without article
        f"{words} {number}",  # as the commands printed it before
        words.upper(),
        words.title(),
        f"  {words}  ",
        words.replace(" ", "_"),
        bracketed,
        number,
        str(code),
    ]
    assert {text: licence_status(text) for text in typed} == dict.fromkeys(typed, code)


@pytest.mark.parametrize(
    "text",
    [
        "bogus",
        "valid 02",  # the words of one status, the code of another
        "revoked as",
        "valid 01 02",
        "0",  # no status: "any" is leaving the option out
        "8",
        "100",
        "-1",
        "",
        " ",
        "٣",  # not ASCII digits
        "1" * 5000,
        "有效 02",  # the Chinese name of one status, the code of another
        "吊 销",
    ],
)
def test_anything_else_is_refused_listing_what_is_taken(text):
    with pytest.raises(argparse.ArgumentTypeError) as refused:
        licence_status(text)
    assert str(refused.value).startswith(f"{text!r} is not a licence status; "), (
        refused.value
    )
    assert str(refused.value).endswith(", ".join(STATUS_WORDS.values()))


@pytest.mark.parametrize("text", ["bogus", "valid 02", "0", "-1"])
def test_the_command_refuses_it_as_every_bad_option_exit_2(text, capsys):
    from services.cli import main

    with pytest.raises(SystemExit) as stopped:
        main(["licence", "--as", DEPARTMENT, "list", "--status", text])
    err = capsys.readouterr().err
    assert stopped.value.code == 2, err
    last = err.strip().splitlines()[-1]
    assert last.startswith(f"error: status: {text!r} is not a licence status; "), err
    assert "suspended (02)" in last and "Traceback" not in err


@pytest.mark.parametrize(
    ("text", "code"),
    [("suspended", 2), ("Revoked as Sanction", 7), ("TRANSFERRED OUT", 6), ("3", 3)],
)
def test_the_listing_asks_the_issuer_for_the_status_typed(
    text, code, monkeypatch, capsys
):
    asked = _listing(monkeypatch, "--status", text)
    assert [request.status for request in asked] == [code]


def _listing(monkeypatch, *options: str) -> list[pb.ListLicencesRequest]:
    """What ``licence list OPTIONS`` asks the issuer (nothing when it is refused)."""
    from services.cli import main

    asked: list[pb.ListLicencesRequest] = []

    class Issuer:
        def ListLicences(self, request):  # the RPC's name
            asked.append(request)
            return pb.ListLicencesResponse()

    monkeypatch.setattr(licence_cli, "_call", lambda args, call: call(Issuer()))
    assert main(["licence", "--as", DEPARTMENT, "list", *options]) == 0
    return asked


def test_the_request_holds_one_status():
    """Why a second ``--status`` is refused rather than both asked for: the API
    takes one. Should ListLicencesRequest take several, the option should take
    them all (and this test says so)."""
    field = pb.ListLicencesRequest.DESCRIPTOR.fields_by_name["status"]
    assert field.enum_type.name == "LicenceStatus"
    assert not field.is_repeated


@pytest.mark.parametrize(
    "options",
    [
        ["--status", "suspended", "--status", "revoked"],
        ["--status", "2", "--status", "suspended 02"],  # the same status, still
        ["--status=valid", "--type", "91350100M000100Y43001", "--status", "3"],
        ["--status", "1", "--stat", "2"],  # as argparse takes an abbreviation
    ],
)
def test_a_second_status_is_refused_not_the_last_taken(options, monkeypatch, capsys):
    """``--status suspended --status revoked`` listed the revoked licences alone, as
    if the first had not been typed."""
    with pytest.raises(SystemExit) as stopped:
        _listing(monkeypatch, *options)
    err = capsys.readouterr().err
    assert stopped.value.code == 2, err
    assert err.splitlines()[-1] == (
        "error: status: given more than once (it takes one value)"
    ), err


def test_one_status_beside_the_other_filters_is_asked_for(monkeypatch):
    (request,) = _listing(
        monkeypatch, "--type", "91350100M000100Y43001", "--status", "revoked"
    )
    assert (request.type_code, request.status) == ("91350100M000100Y43001", 3)


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("有效", 1),
        ("暂扣", 2),
        ("撤销 03", 3),
        ("吊销", 7),
        ("吊销 (07)", 7),
        ("０７", 7),
    ],
)
def test_a_status_is_taken_by_its_chinese_name_and_full_width_code(text, code):
    """trial33: ``--status 吊销`` and ``--status ０７`` were refused; a clerk says the
    status by its Chinese name (docs/architecture.md §4) and an IME may type
    full-width digits."""
    assert licence_status(text) == code
