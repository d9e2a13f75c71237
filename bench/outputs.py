"""Where the benchmarks write their figures: ``bench/results/``, the committed files
the README's tables are made from (``python -m bench.tables``) only by a run as
``make bench`` makes it."""

from __future__ import annotations

import os
from pathlib import Path

RESULTS = Path(__file__).parent / "results"

#: the results the README's tables are made from (``python -m bench.tables``), as
#: committed: only a run as ``make bench`` makes it writes them
COMMITTED = frozenset({"issuer", "verifier", "seal", "group", "server_model"})


def results_file(name: str) -> Path:
    """Where a bench writes its figures: ``bench/results/NAME.json``. A trial of one
    of :data:`COMMITTED` (any ``BENCH_*`` knob set, which narrows or changes what is
    measured: ``BENCH_SEAL_QUICK=1``, ``BENCH_VERIFY_ONLY=1``) writes
    ``NAME-trial.json`` instead, never the committed figures (a quick trial's two
    figures had replaced seal.json's); ``BENCH_OUT`` names the file outright."""
    knobs = [k for k in os.environ if k.startswith("BENCH_") and k != "BENCH_OUT"]
    if os.environ.get("BENCH_OUT"):
        name = os.environ["BENCH_OUT"]
    elif name in COMMITTED and knobs:
        name = f"{name}-trial"
    RESULTS.mkdir(exist_ok=True)
    return RESULTS / f"{name}.json"
