"""trial47 (medium): a Ctrl-C during ``certseal licence issue``'s call exited 130
without a word while the issuer had issued the licence; the clerk ran it again and
the holder had two. Every issuance now carries an idempotency key (the one given, or
one of the command's own), and an interrupted call says the key that repeats it at
most once (the issuer answers a known key with what it issued:
tests/issuer/test_idempotency*.py)."""

from __future__ import annotations

import re

import pytest

from services.cli import main
from services.issuer import licence_cli

ISSUE = [
    "licence",
    "--as",
    "91350100M000100Y43",
    "issue",
    "--type",
    "91350100M000100Y43001",
    "--holder-name",
    "李四",
    "--id-number",
    "110101199003077774",
]


@pytest.fixture
def interrupted_call(monkeypatch) -> list:
    """The issuer's call made (its request kept), then a Ctrl-C before the answer."""
    sent: list = []

    class Issuer:
        def IssueLicence(self, request):
            sent.append(request)

    def call(args, make_call, **_):
        make_call(Issuer())
        raise KeyboardInterrupt

    monkeypatch.setattr(licence_cli, "_call", call)
    return sent


def test_an_interrupted_issuance_says_the_key_that_repeats_it_once(
    interrupted_call, capsys
):
    assert main(ISSUE) == 130
    said = capsys.readouterr().err.strip()
    key = interrupted_call[0].idempotency_key
    assert re.fullmatch(r"cli-[0-9a-f]{24}", key)
    assert said == (
        "interrupted: the licence may have been issued; to be sure it is issued "
        f"once, run the same command again with --idempotency-key {key}"
    )


def test_the_key_given_is_the_one_sent_and_said(interrupted_call, capsys):
    assert main([*ISSUE, "--idempotency-key", "counter-7-0042"]) == 130
    assert interrupted_call[0].idempotency_key == "counter-7-0042"
    assert capsys.readouterr().err.strip().endswith("--idempotency-key counter-7-0042")


def test_each_run_without_a_key_has_a_key_of_its_own(interrupted_call, capsys):
    main(ISSUE)
    main(ISSUE)
    first, second = (r.idempotency_key for r in interrupted_call)
    assert first != second  # two issuances asked for are two issuances
