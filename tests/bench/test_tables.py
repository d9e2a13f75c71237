"""The README's bench tables are generated from bench/results/*.json (bench.tables)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from bench import tables

MARKED = "intro\n<!-- bench:issuer -->\nold\n<!-- /bench:issuer -->\noutro\n"
EMPTY = "<!-- bench:issuer -->\n<!-- /bench:issuer -->\n"


def test_the_readme_tables_are_the_committed_results():
    readme = tables.README.read_text()
    for name, (file, _) in tables.TABLES.items():
        assert (tables.RESULTS / file).exists(), file
        assert f"<!-- bench:{name} -->" in readme, name
    assert "<!-- bench:aims -->" in readme
    assert tables.render(readme) == readme, "run: python -m bench.tables"


def test_a_changed_result_changes_the_table(tmp_path: Path):
    shutil.copy(tables.RESULTS / "issuer.json", tmp_path / "issuer.json")
    first = tables.render(MARKED, tmp_path)
    assert (
        "old" not in first and first.startswith("intro\n") and first.endswith("outro\n")
    )
    results = json.loads((tmp_path / "issuer.json").read_text())
    results["issue_per_s"]["sm2"] = 12345.0
    results["issue_vs_echo"]["sm2"] = 0.77
    (tmp_path / "issuer.json").write_text(json.dumps(results))
    second = tables.render(MARKED, tmp_path)
    line = next(x for x in second.splitlines() if x.startswith("| IssueLicence sm2"))
    assert "| 12,345 | 0.77 |" in line
    assert tables.render(second, tmp_path) == second  # regenerating is stable


def test_a_missing_figure_is_named(tmp_path: Path):
    results = json.loads((tables.RESULTS / "issuer.json").read_text())
    del results["issue_cpu_us"]
    (tmp_path / "issuer.json").write_text(json.dumps(results))
    with pytest.raises(ValueError, match="issue_cpu_us"):
        tables.render(MARKED, tmp_path)


def test_a_table_without_results_is_left_as_it_is(tmp_path: Path):
    assert tables.render(MARKED, tmp_path) == MARKED


def test_figures_are_written_as_the_readme_writes_them():
    assert tables.row("f", 1234.5, 0.456, {"service": 812.34}) == (
        "| f | 1,234 | 0.46 | 812 | – | – | – |"
    )
    assert tables.row("f", 4.56) == "| f | 4.56 | – | – | – | – | – |"
    assert tables.row("f", 45.6) == "| f | 45.6 | – | – | – | – | – |"


def test_empty_markers_are_filled(tmp_path: Path):
    shutil.copy(tables.RESULTS / "issuer.json", tmp_path / "issuer.json")
    filled = tables.render(EMPTY, tmp_path)
    assert "| IssueLicence es256" in filled
    assert tables.render(filled, tmp_path) == filled


def test_the_group_table_shows_both_group_sizes(tmp_path: Path):
    shutil.copy(tables.RESULTS / "group.json", tmp_path / "group.json")
    results = json.loads((tmp_path / "group.json").read_text())
    results["n2"]["group_apply_per_s"] = 54321.0
    results["group_apply_n2_vs_n1"] = 3.5
    (tmp_path / "group.json").write_text(json.dumps(results))
    marked = "<!-- bench:group -->\n<!-- /bench:group -->\n"
    table = tables.render(marked, tmp_path)
    line = next(x for x in table.splitlines() if x.startswith("| group apply"))
    assert "| 54,321 (3.50 × N = 1) |" in line
    del results["n2"]
    (tmp_path / "group.json").write_text(json.dumps(results))
    with pytest.raises(ValueError, match="n2"):
        tables.render(marked, tmp_path)


def test_the_verifier_table_shows_the_presentation_codes_when_measured(
    tmp_path: Path,
):
    """The presentation-code phase's row (bench/verifier_bench.py): its p99, p50,
    achieved rate, answers not VALID and CPU per code; results from before the phase
    have no row."""
    results = json.loads((tables.RESULTS / "verifier.json").read_text())
    marked = "<!-- bench:verifier -->\n<!-- /bench:verifier -->\n"
    for key in [k for k in results if k.startswith("presentation_")]:
        del results[key]
    (tmp_path / "verifier.json").write_text(json.dumps(results))
    assert "presentation" not in tables.render(marked, tmp_path)
    results |= {
        "presentation_rate_per_s": 200.0,
        "presentation_achieved_per_s": 198.7,
        "presentation_verify_p50_ms": 7.25,
        "presentation_verify_p99_ms": 31.5,
        "presentation_verify_cpu_us": {"service": 1234.5, "broker": 456.0},
        "presentation_not_valid": 0,
    }
    (tmp_path / "verifier.json").write_text(json.dumps(results))
    table = tables.render(marked, tmp_path)
    line = next(x for x in table.splitlines() if "presentation codes" in x)
    assert line == (
        "| VerifyCode of presentation codes (each once, claimed) paced at 200/s: "
        "p99 ms (p50 7.25 ms, achieved 199/s, not VALID: 0) | 31.5 | – | 1,234 "
        "| – | 456 | – |"
    )


@pytest.mark.parametrize(
    "name,key,label",
    [
        ("verifier", "paced_1000_per_s_echo_p99_ms", "VerifyCode paced at 1,000/s"),
        ("issuer", "paced_500_per_s_echo_p99_ms", "IssueLicence es256 paced at 500/s"),
    ],
)
def test_a_paced_row_names_the_echo_at_that_rate_when_measured(
    tmp_path: Path, name: str, key: str, label: str
):
    """The paced p99's same-run reference: the echo paced at the same rate
    (bench/issuer_bench.py, bench/verifier_bench.py); results from before it have none."""
    results = json.loads((tables.RESULTS / f"{name}.json").read_text())
    marked = f"<!-- bench:{name} -->\n<!-- /bench:{name} -->\n"
    results.pop(key, None)
    (tmp_path / f"{name}.json").write_text(json.dumps(results))

    def paced_row() -> str:
        table = tables.render(marked, tmp_path)
        return next(x for x in table.splitlines() if x.startswith(f"| {label}"))

    assert "echo" not in paced_row()
    (tmp_path / f"{name}.json").write_text(json.dumps(results | {key: 4.41}))
    assert "/s, echo at that rate: p99 4.41 ms) |" in paced_row()


def test_the_server_model_table_shows_every_model_against_aio(tmp_path: Path):
    shutil.copy(tables.RESULTS / "server_model.json", tmp_path / "server_model.json")
    results = json.loads((tmp_path / "server_model.json").read_text())
    results["models"]["sync-bridged"]["per_s"] = 1234.0
    results["models"]["sync-bridged"]["vs_echo"] = 0.33
    (tmp_path / "server_model.json").write_text(json.dumps(results))
    marked = "<!-- bench:server_model -->\n<!-- /bench:server_model -->\n"
    table = tables.render(marked, tmp_path)
    line = next(x for x in table.splitlines() if "awaiting an asyncio loop, 64" in x)
    assert "| 1,234 | 0.33 |" in line
    assert sum("paced at 1,000/s" in x for x in table.splitlines()) == 3
    del results["models"]["sync"]
    (tmp_path / "server_model.json").write_text(json.dumps(results))
    with pytest.raises(ValueError, match="sync"):
        tables.render(marked, tmp_path)


AIMS_MARKED = "<!-- bench:aims -->\n<!-- /bench:aims -->\n"
AIM_FILES = ("issuer.json", "verifier.json", "group.json", "seal.json")


def _aim_line(table: str, figure: str) -> str:
    return next(x for x in table.splitlines() if x.startswith(f"| {figure} |"))


@pytest.mark.parametrize(
    "file,path,figure,value,line_end",
    [
        # an at-least aim, at its bound and just below
        ("issuer.json", ("issue_per_s", "es256"), "IssueLicence es256, 64 callers",
         1500.0, "| 1,500/s | ≥ 1,500/s | yes |"),
        ("issuer.json", ("issue_per_s", "es256"), "IssueLicence es256, 64 callers",
         1499.6, "| 1,500/s | ≥ 1,500/s | **no** |"),
        # sm2's own bound
        ("issuer.json", ("issue_per_s", "sm2"), "IssueLicence sm2, 64 callers",
         1000.0, "| 1,000/s | ≥ 1,000/s | yes |"),
        # an at-most aim, at its bound and just above (shown rounded, judged exact)
        ("verifier.json", ("paced_1000_per_s_verify_p99_ms",),
         "VerifyCode paced at 1,000/s, p99", 5.0, "| 5 ms | ≤ 5 ms | yes |"),
        ("verifier.json", ("paced_1000_per_s_verify_p99_ms",),
         "VerifyCode paced at 1,000/s, p99", 5.001, "| 5.00 ms | ≤ 5 ms | **no** |"),
        # a ratio, and a figure nested in another file
        ("verifier.json", ("verify_vs_echo",),
         "VerifyCode, 64 callers, of the echo reference's rate", 0.61,
         "| 0.61 | ≥ 0.60 | yes |"),
        ("group.json", ("n1", "group_apply_per_s"),
         "index apply, one group of one worker, events", 19999.0,
         "| 19,999/s | ≥ 20,000/s | **no** |"),
        ("seal.json", ("sm2", "verify_seal_per_s"),
         "VerifySealedDocument, first verification, 1 KB sm2", 700.0,
         "| 700/s | ≥ 700/s | yes |"),
    ],
)  # fmt: skip
def test_the_aims_table_says_whether_each_aim_is_met(
    tmp_path: Path,
    file: str,
    path: tuple[str, ...],
    figure: str,
    value: float,
    line_end: str,
):
    """Issue 17's aims beside the results (bench.tables.AIMS): "met" is computed from
    the figure itself, at least or at most its bound, so the README cannot claim an
    aim the results do not hold."""
    for name in AIM_FILES:
        shutil.copy(tables.RESULTS / name, tmp_path / name)
    results = json.loads((tmp_path / file).read_text())
    holder = results
    for key in path[:-1]:
        holder = holder[key]
    holder[path[-1]] = value
    (tmp_path / file).write_text(json.dumps(results))
    table = tables.render(AIMS_MARKED, tmp_path)
    measured, aim, met = _aim_line(table, figure).split(" | ")[1:4]
    assert f"| {measured} | {aim} | {met} |" == line_end
    assert table.count("\n| ") == len(tables.AIMS) + 1  # the header, then every aim
    assert tables.render(table, tmp_path) == table


@pytest.mark.parametrize(
    "run,echo,cell",
    [
        # VerifyCode's aim of 5,000/s on 2 cores leaves 400 µs an operation
        ({"service": 448, "postgres": 17, "broker": 33, "loadgen": 234},
         {"service": 227, "postgres": 0.4, "broker": 7.7, "loadgen": 177},
         "732 / 400 / 412 *over*"),
        ({"service": 200, "postgres": 10, "broker": 10, "loadgen": 100},
         {"service": 150, "postgres": 0, "broker": 0, "loadgen": 100},
         "320 / 400 / 250"),
    ],
)  # fmt: skip
def test_a_rates_aim_shows_the_machine_cpu_an_operation_against_the_aims_budget(
    tmp_path: Path, run: dict[str, float], echo: dict[str, float], cell: str
):
    """The last column: every process's CPU per operation added, beside the most the
    aim's rate leaves one on the run's cores, and the echo reference's own, marked
    *over* when even an empty handler is above it. A figure of the service's tree
    beside its total (the issuer's ``serving``) is not added twice."""
    for name in AIM_FILES:
        shutil.copy(tables.RESULTS / name, tmp_path / name)
    results = json.loads((tmp_path / "verifier.json").read_text())
    results["verify_cpu_us"] = {**run, "serving": 10_000}
    results["echo_cpu_us"] = echo
    results["setup"]["cpus"] = 2
    (tmp_path / "verifier.json").write_text(json.dumps(results))
    table = tables.render(AIMS_MARKED, tmp_path)
    assert _aim_line(table, "VerifyCode, 64 callers").endswith(f"| {cell} |")
    # an aim that is not a rate has no budget
    assert _aim_line(table, "VerifyCode paced at 1,000/s, p99").endswith("| – |")
    assert tables.BUDGET_NOTE in table
    results["setup"]["cpus"] = 4  # twice the cores, twice the budget
    (tmp_path / "verifier.json").write_text(json.dumps(results))
    assert " / 800 / " in _aim_line(
        tables.render(AIMS_MARKED, tmp_path), "VerifyCode, 64 callers"
    )


def test_the_aims_table_waits_for_all_its_files_and_names_a_missing_figure(
    tmp_path: Path,
):
    for name in ("issuer.json", "group.json", "seal.json"):
        shutil.copy(tables.RESULTS / name, tmp_path / name)
    assert tables.render(AIMS_MARKED, tmp_path) == AIMS_MARKED  # no verifier.json yet
    results = json.loads((tables.RESULTS / "verifier.json").read_text())
    del results["propagation_p99_ms"]  # a figure of the aims table alone
    (tmp_path / "verifier.json").write_text(json.dumps(results))
    with pytest.raises(ValueError, match=r"'propagation_p99_ms' for the aims table"):
        tables.render(AIMS_MARKED, tmp_path)


_GONE = object()  # the figure deleted


def _set(results: dict, path: tuple[str, ...], value: object) -> None:
    for key in path[:-1]:
        results = results[key]
    if value is _GONE:
        del results[path[-1]]
    else:
        results[path[-1]] = value


@pytest.mark.parametrize(
    "file,path,value,message",
    [
        # the budget's cores: absent, null (os.cpu_count() may say None), 0 (every
        # echo would be marked over), text, a truth value
        ("verifier.json", ("setup", "cpus"), _GONE, "no figure 'setup.cpus'"),
        ("seal.json", ("setup", "cpus"), None, "'setup.cpus' for the aims table is None"),
        ("issuer.json", ("setup", "cpus"), 0, "'setup.cpus' for the aims table is 0"),
        ("verifier.json", ("setup", "cpus"), "2", "'setup.cpus' for the aims table is '2'"),
        ("verifier.json", ("setup", "cpus"), True, "is True: not a number"),
        # a process missing from an echo's CPU, or a figure below 0
        ("issuer.json", ("details", "echo_batch", "cpu_us", "loadgen"), _GONE,
         "no figure 'details.echo_batch.cpu_us.loadgen'"),
        ("seal.json", ("es256", "seal_cpu_us", "broker"), -1.0,
         "'es256.seal_cpu_us.broker' for the aims table is -1.0"),
        # a run that counted no operation writes 0 for every process (proccpu)
        ("verifier.json", ("echo_cpu_us",), dict.fromkeys(tables.PROCESSES, 0.0),
         "'echo_cpu_us' for the aims table is 0 for every process"),
        ("verifier.json", ("propagation_p99_ms",), float("nan"), "is nan"),
        ("group.json", ("n1", "group_apply_per_s"), None,
         "'n1.group_apply_per_s' for the aims table is None"),
    ],
)  # fmt: skip
def test_a_figure_the_aims_table_cannot_read_is_named_with_its_file(
    tmp_path: Path, file: str, path: tuple[str, ...], value: object, message: str
):
    """Not a traceback and not a wrong table: a budget of 0 cores would mark every
    echo *over*, an echo of 0 µs would hide it."""
    for name in AIM_FILES:
        shutil.copy(tables.RESULTS / name, tmp_path / name)
    results = json.loads((tmp_path / file).read_text())
    _set(results, path, value)
    (tmp_path / file).write_text(json.dumps(results))
    with pytest.raises(ValueError) as raised:
        tables.render(AIMS_MARKED, tmp_path)
    assert str(raised.value).startswith(f"{tmp_path / file}: ")
    assert message in str(raised.value)


def test_the_command_says_which_file_it_cannot_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """``python -m bench.tables --check`` on a file that is not JSON, or whose figure
    is not a number: one line naming the file, exit status 1, the README untouched."""
    readme = tmp_path / "README.md"
    readme.write_text(MARKED)
    (tmp_path / "issuer.json").write_text('{"echo_per_s": ')
    argv = ["bench.tables", "--check", "--results", str(tmp_path), "--readme"]
    monkeypatch.setattr("sys.argv", [*argv, str(readme)])
    with pytest.raises(SystemExit) as exited:
        tables.main()
    assert str(exited.value).startswith(f"python -m bench.tables: error: {tmp_path}/")
    assert "issuer.json: not JSON" in str(exited.value)
    results = json.loads((tables.RESULTS / "issuer.json").read_text())
    results["issue_per_s"]["sm2"] = "fast"
    (tmp_path / "issuer.json").write_text(json.dumps(results))
    monkeypatch.setattr("sys.argv", [*argv, str(readme)])
    with pytest.raises(SystemExit) as exited:
        tables.main()
    assert "issuer.json: a figure of the issuer table is not a number" in str(
        exited.value
    )
    assert readme.read_text() == MARKED
