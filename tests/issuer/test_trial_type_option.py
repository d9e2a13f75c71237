"""trial (a new user's walk-through) 2: ``licence issue --type <typo> --field ...``
said ``error: field: licence type '…' is not registered`` and, without ``--field``,
``error: type: unknown licence type``: one mistake, two fields. A malformed code (wrong
length, form or check character) was "not registered" too, though no type can have
it. Now every option giving a licence type code is checked by the parser
(``error: type: '…' is not a licence type code …``, exit 2, before any call), the
issuer says the same of a malformed code it is sent, and a well-formed code nobody
registered is ``error: type: unknown licence type`` with or without ``--field``."""

import argparse
import datetime as dt

import pytest

from certseal.errors import CertsealError, ErrorKind
from certseal.identifiers import make_uscc
from certseal.v1 import issuer_pb2 as pb
from services.issuer import licence_cli
from services.issuer.service.directory import Directory

DEPT = make_uscc("91350100M00010000")
MALFORMED = [
    "91350100M000100Y43",  # the department's code alone
    "XX",
    f"{DEPT}00A",
    f"{DEPT[:17]}{'0' if DEPT[17] != '0' else '1'}001",  # wrong check character
    f"{DEPT.lower()}001",
]
ISSUE = ["licence", "--as", DEPT, "issue", "--holder-name", "A", "--id-number", "1"]
COMMANDS = [
    (ISSUE, ["--type"], "type"),
    ([*ISSUE, "--field", "class=C1"], ["--type"], "type"),
    (["licence", "--as", DEPT, "list"], ["--type"], "type"),
    (["holder-app", "grant", "app:x"], ["--type"], "type"),
    (
        ["type", "add", "--name", "n", "--issuers", DEPT, "--field", "a:string"],
        ["--code"],
        "code",
    ),
    (["type", "issuers", "--issuers", DEPT], [], "code"),
]


@pytest.mark.parametrize(("argv", "option", "shown"), COMMANDS)
@pytest.mark.parametrize("code", MALFORMED)
def test_a_malformed_type_code_is_a_format_error_naming_its_option(
    argv, option, shown, code, capsys
):
    from services.cli import main

    with pytest.raises(SystemExit) as stopped:
        main([*argv, *option, code])
    err = capsys.readouterr().err
    assert stopped.value.code == 2, err
    last = err.splitlines()[-1]
    assert last.startswith(f"error: {shown}: "), err
    assert "not registered" not in last and "unknown" not in last, err


def test_an_unregistered_type_with_fields_is_named_as_type_not_field(monkeypatch):
    listed = pb.ListLicenceTypesResponse()
    monkeypatch.setattr(licence_cli, "load", lambda args: None)
    monkeypatch.setattr(licence_cli, "operator_call", lambda cfg, call: listed)
    with pytest.raises(CertsealError) as refused:
        licence_cli._declared_types(argparse.Namespace(), f"{DEPT}999")
    assert refused.value.kind is ErrorKind.INVALID_ARGUMENT
    assert refused.value.field == "type"
    assert refused.value.message.startswith(f"unknown licence type '{DEPT}999'")


class _NoStore:
    async def get_licence_type(self, code):
        raise AssertionError("a malformed code is no question for the database")


@pytest.mark.parametrize("code", MALFORMED)
async def test_the_issuer_says_a_malformed_type_code_is_malformed(code):
    directory = Directory(
        store=_NoStore(),
        auditor=None,
        clock=lambda: dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        platform_code=DEPT,
        platform_name="p",
    )
    with pytest.raises(CertsealError) as refused:
        await directory.licence_type(code)
    assert refused.value.kind is ErrorKind.INVALID_ARGUMENT
    assert refused.value.field == "type_code"
    assert "unknown" not in refused.value.message
