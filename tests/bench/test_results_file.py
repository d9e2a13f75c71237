"""A trial of a bench (any BENCH_* knob) writes NAME-trial.json, never the committed
results the README's tables are made from: a quick seal trial's two figures had
replaced bench/results/seal.json."""

from __future__ import annotations

import pytest

from bench.outputs import COMMITTED, RESULTS, results_file


@pytest.fixture
def no_knobs(monkeypatch):
    import os

    for key in [k for k in os.environ if k.startswith("BENCH_")]:
        monkeypatch.delenv(key)
    return monkeypatch


@pytest.mark.parametrize("name", sorted(COMMITTED))
def test_a_run_as_make_bench_makes_it_writes_the_committed_file(name, no_knobs):
    assert results_file(name) == RESULTS / f"{name}.json"


@pytest.mark.parametrize(
    "knob", ["BENCH_SEAL_QUICK", "BENCH_VERIFY_ONLY", "BENCH_SECONDS", "BENCH_PROFILE"]
)
@pytest.mark.parametrize("name", sorted(COMMITTED))
def test_a_trial_writes_beside_it(name, knob, no_knobs):
    no_knobs.setenv(knob, "1")
    assert results_file(name) == RESULTS / f"{name}-trial.json"


def test_out_names_the_file_and_other_benches_keep_their_name(no_knobs):
    no_knobs.setenv("BENCH_DOCUMENT_FORMAT", "ofd")
    assert results_file("document-ofd") == RESULTS / "document-ofd.json"
    no_knobs.setenv("BENCH_OUT", "mine")
    assert results_file("seal") == RESULTS / "mine.json"


def test_no_bench_writes_a_committed_file_but_through_results_file():
    # atk59: issuer_bench's full run still wrote issuer.json itself, so a run with
    # BENCH_SECONDS=3 replaced the committed figures
    import re
    from pathlib import Path

    names = "|".join(COMMITTED)
    direct = re.compile(rf"RESULTS\s*/\s*f?[\"']({names})\.json[\"']")
    for source in sorted(Path(RESULTS).parent.glob("*.py")):
        assert not direct.search(source.read_text()), source.name
