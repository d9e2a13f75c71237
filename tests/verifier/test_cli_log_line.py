"""The verify command's ``log`` line: the group's transparency-log checkpoint, and how
to prove the licence read is logged, naming it; a verdict that read no licence
(MALFORMED: trial74) is not told to prove "the licence" logged."""

from __future__ import annotations

from services.verifier.cli import _print_log_checkpoint

NOTE = "certseal.example/log\n42\nq2Vm0Pcs3XgCzS1QH0CxD7o+oLlVvhEtjT1yN7mJWsE=\n\n— sig"


def test_a_licence_read_is_told_how_to_prove_it_logged(capsys):
    _print_log_checkpoint(NOTE, "91350100M000100Y43-11350100MB0001-2026-000001-1")
    said = capsys.readouterr().out
    assert said.startswith("log         checkpoint certseal.example/log size 42 root ")
    assert said.rstrip().endswith(
        "(prove the licence is logged: certseal log verify --licence "
        "91350100M000100Y43-11350100MB0001-2026-000001-1)"
    ), said


def test_no_licence_read_is_no_proof_offered(capsys):
    _print_log_checkpoint(NOTE, "")
    said = capsys.readouterr().out
    assert said.startswith("log         checkpoint certseal.example/log size 42 ")
    assert "prove" not in said, said


def test_no_checkpoint_says_nothing(capsys):
    _print_log_checkpoint("", "91350100M000100Y43-11350100MB0001-2026-000001-1")
    assert capsys.readouterr().out == ""
