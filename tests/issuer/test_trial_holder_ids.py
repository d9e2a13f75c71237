"""trial (a new user's walk-through) 4: ``holder file|authorise|withdraw|usage
--id-number <a mistyped digit>`` reached the Issuer, which answers a holder it cannot
match with "not found" (exit 1), while ``licence issue`` says what is wrong with the
same number (exit 2). The holder commands now check ``--id-number`` and ``--id-type``
by the same rules, with the same words, before any call."""

import pytest

from certseal.identifiers import make_resident_id

GOOD = make_resident_id("11010119900307123")
MISTYPED = GOOD[:17] + ("0" if GOOD[17] != "0" else "1")
LICENCE = (
    "1.2.156.3005.2.91350100M000100Y43001.91350100M000100Y43.C90MHI5MLZCUICOG.001.1"
)

COMMANDS = [
    ["file", LICENCE, "--out", "out.pdf"],
    ["authorise", LICENCE, "--department", "91350100M000100Y43", "--purpose", "p",
     "--field", "class"],
    ["withdraw", "au-0000000000000000"],
    ["usage", LICENCE],
]  # fmt: skip


def _run(capsys, argv):
    from services.cli import main

    try:
        code = main(["holder", "--as", "wallet", *argv])
    except SystemExit as stopped:
        code = stopped.code
    captured = capsys.readouterr()
    return code, (captured.out + captured.err).strip().splitlines()[-1]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
@pytest.mark.parametrize(
    ("holder", "said"),
    [
        (
            ["--id-number", MISTYPED],
            "error: id-number: check character is ",
        ),
        (["--id-number", GOOD[:17]], "error: id-number: a resident identity card"),
        (["--id-number", "A B"], "error: id-number: must be 1-64 characters"),
        (
            ["--id-type", "passport", "--id-number", "E1234"],
            "error: id-type: must be 1-8 characters",
        ),
    ],
    ids=["check-digit", "short", "space", "id-type"],
)
def test_a_malformed_holder_is_named_before_any_call(
    command, holder, said, capsys, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)  # no stack here: a refusal comes before any call
    code, last = _run(capsys, [*command, *holder])
    assert code == 2, last
    assert last.startswith(said), last


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
def test_a_well_formed_holder_goes_on_to_the_issuer(
    command, capsys, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    _, last = _run(capsys, [*command, "--id-number", GOOD.lower()])
    assert last.startswith("error: config: no configuration"), last


# trial 5: ``holder withdraw AU-…`` (the code the holder has, not the id) was sent as
# the id and answered "authorisation AU-… not found"; any other text the same.
@pytest.mark.parametrize(
    ("given", "said"),
    [
        (
            "AU-7KQ2M9XW4R8T",
            "error: authorisation-id: give the authorisation id (au-…) that "
            "authorise printed, not the code AU-7KQ2M9XW4R8T",
        ),
        (
            "au 7kq2 m9xw 4r8t",  # the code as a person might copy it
            "error: authorisation-id: give the authorisation id (au-…) that "
            "authorise printed, not the code au 7kq2 m9xw 4r8t",
        ),
        (
            "au-123",
            "error: authorisation-id: 'au-123' is not an authorisation id: au- and "
            "16 hex digits, as authorise printed it",
        ),
    ],
)
def test_withdraw_names_the_code_given_for_the_id(
    given, said, capsys, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    code, last = _run(capsys, ["withdraw", given, "--id-number", GOOD])
    assert (code, last) == (2, said)


# trial 10: ``department  <code> , any counter``: the name blank (withdraw's answer
# has none) left a stray space
@pytest.mark.parametrize(
    ("name", "line"),
    [
        ("", "department  91350100M000100Y43, any counter"),
        ("市监局", "department  91350100M000100Y43 市监局, any counter"),
    ],
)
def test_the_department_line_has_no_stray_space(name, line, capsys):
    from certseal.v1 import issuer_pb2 as pb
    from services.issuer.holder_cli import _print_authorisation

    _print_authorisation(
        pb.Authorisation(
            authorisation_id="au-0000000000000000",
            department_code="91350100M000100Y43",
            department_name=name,
        )
    )
    assert line in capsys.readouterr().out.splitlines()
