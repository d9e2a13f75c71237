"""atk33 (b): ``licence list --status`` takes a status's words with or without the
article ``a`` (``revoked as sanction`` for ``revoked as a sanction (07)``). The
article is dropped before the words are compared, and words that are empty after
that match any status: ``--status a`` (or ``A``, ``a a``, ``a-a``) is read as the
first status, ``valid (01)``, and the command lists valid licences as if the user
had asked for them.

A user needs a text naming no status refused as every other one is:
``error: status: 'a' is not a licence status; ...`` with exit status 2, and no call
to the Issuer.
"""

from __future__ import annotations

import argparse
from types import SimpleNamespace

import pytest

from certseal.cli_options import licence_status
from certseal.v1 import issuer_pb2 as pb
from services.cli import main

DEPT = "91350100M000100Y43"
ARTICLES_ONLY = ["a", "A", "a a", "a_a"]


@pytest.mark.parametrize("text", ARTICLES_ONLY)
def test_the_article_alone_is_no_status(text):
    with pytest.raises(argparse.ArgumentTypeError, match="is not a licence status"):
        licence_status(text)


def test_licence_list_status_a_is_refused_before_any_call(monkeypatch, capsys):
    asked: list[pb.ListLicencesRequest] = []

    def list_licences(request):
        asked.append(request)
        return pb.ListLicencesResponse()

    stub = SimpleNamespace(ListLicences=list_licences)
    monkeypatch.setattr(
        "services.issuer.licence_cli.call_issuer",
        lambda args, service, call, **_kw: call(stub),
    )
    with pytest.raises(SystemExit) as ended:
        main(["licence", "--as", DEPT, "list", "--status", "a"])
    assert ended.value.code == 2
    assert "error: status: 'a' is not a licence status" in capsys.readouterr().err
    assert asked == []


@pytest.mark.parametrize(
    ("text", "code"),
    [("valid", 1), ("revoked as sanction", 7), ("revoked as a sanction (07)", 7)],
)
def test_control_words_with_or_without_the_article(text, code):
    assert licence_status(text) == code
