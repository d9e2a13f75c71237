"""An option that would have no effect in the mode chosen is refused, naming it, with
exit status 2, before anything is read or asked (fix-cli 3: ``verify --bundle``
without ``--offline`` quietly verified online; ``verify --offline --group`` ignored
the group)."""

from __future__ import annotations

import pytest

from services.cli import main

CODE = "LC1:X"
D = "91350100M000100Y43"

#: (argv, the option named, the start of its problem)
IGNORED = [
    (["verify", "--bundle", "counter.bundle", "--purpose", "x", CODE], "bundle",
     "is read only with --offline"),
    (["verify", "--offline", "--bundle", "b", "--group", "region-demo", CODE],
     "group", "has no effect with --offline (no verifier is asked offline)"),
    (["verify", "--offline", "--bundle", "b", "--verifier", "h:1", CODE],
     "verifier", "has no effect with --offline (no verifier is asked offline)"),
    (["verify", "--offline", "--bundle", "b", "--purpose", "x", CODE], "purpose",
     "has no effect with --offline (no use is recorded offline"),
    (["events", "tail", "--token", "T", "--since", "earliest"], "since",
     "has no effect with --token"),
    (["events", "tail", "--token", "T", "--since", "latest"], "since",
     "has no effect with --token"),
    (["bundle", "fetch", "--out", "{tmp}/b", "--full", "--max-deltas", "3"],
     "max-deltas", "has no effect with --full"),
    (["seal", "--as", D, "ofd", "S", "f", "--out", "{tmp}/o", "--keyword", "章",
      "--x-mm", "3"], "x-mm", "has no effect with --keyword"),
    (["seal", "--as", D, "ofd", "S", "f", "--out", "{tmp}/o", "--keyword", "章",
      "--y-mm", "20"], "y-mm", "has no effect with --keyword"),
    (["seal", "--as", D, "ofd", "S", "f", "--out", "{tmp}/o", "--keyword", "章",
      "--page", "0"], "page", "has no effect with --keyword"),
    (["seal", "--as", D, "pdf", "S", "f", "--out", "{tmp}/o", "--field", "Sig1",
      "--page", "0"], "page", "has no effect with --field"),
    (["seal", "--as", D, "pdf", "S", "f", "--out", "{tmp}/o", "--field", "Sig1",
      "--x-mm", "0"], "x-mm", "has no effect with --field"),
    (["seal", "--as", D, "inspect", "f"], "as",
     "has no effect with seal inspect"),
]  # fmt: skip


def _run(argv, tmp_path, capsys) -> tuple[int, str]:
    config = ["--config", str(tmp_path / "nowhere.toml")]
    code = main([*config, *(a.format(tmp=tmp_path) for a in argv)])
    return code, capsys.readouterr().err.strip()


@pytest.mark.parametrize(("argv", "option", "problem"), IGNORED)
def test_an_option_without_effect_is_refused_by_name(
    argv, option, problem, tmp_path, capsys
):
    code, err = _run(argv, tmp_path, capsys)
    assert code == 2, err
    assert err.startswith(f"error: {option}: {problem}"), err
    assert "\n" not in err  # one line, no traceback


@pytest.mark.parametrize(
    "argv",
    [
        ["verify", "--offline", "--bundle", "b", CODE],
        ["verify", "--purpose", "x", "--group", "g", CODE],
        ["events", "tail", "--token", "T"],
        ["events", "tail", "--since", "earliest"],
        ["bundle", "fetch", "--out", "{tmp}/b", "--max-deltas", "3"],
        ["seal", "--as", D, "ofd", "S", "f", "--out", "{tmp}/o", "--keyword", "章"],
        ["seal", "--as", D, "ofd", "S", "f", "--out", "{tmp}/o", "--x-mm", "3"],
        ["seal", "--as", D, "pdf", "S", "f", "--out", "{tmp}/o", "--field", "Sig1"],
        ["seal", "--as", D, "pdf", "S", "f", "--out", "{tmp}/o", "--page", "0"],
    ],
)
def test_options_that_work_together_are_not_refused(argv, tmp_path, capsys):
    # they go on to read their input or the configuration, neither of which is there
    code, err = _run(argv, tmp_path, capsys)
    assert code == 2 and err.startswith(("error: config: ", "error: file: ")), err
