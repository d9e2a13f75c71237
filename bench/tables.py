"""The README's measured-performance tables, generated from ``bench/results/*.json``.

The README holds each table between ``<!-- bench:NAME -->`` and ``<!-- /bench:NAME -->``
markers; nothing between them is typed by hand. After ``make bench``::

    python -m bench.tables            # rewrite the tables in README.md
    python -m bench.tables --check    # exit 1 if README.md differs from the results

A results file that is missing (its bench not run yet) leaves its table as it is.
Every throughput row carries its ratio to the same-run echo reference (``*_vs_echo``)
and the CPU microseconds per operation of the service, PostgreSQL, the broker and the
load generator (``*_cpu_us``).
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
README = ROOT / "README.md"
SUITES = ("ed25519", "es256", "sm2")
PROCESSES = ("service", "postgres", "broker", "loadgen")

HEADER = (
    "| figure | value | vs echo | CPU µs/op: service | PostgreSQL | broker "
    "| load generator |\n|---|---|---|---|---|---|---|"
)


def _num(value: Any) -> str:
    """A figure as the README writes it: thousands separated, at most one decimal
    below 100, none above."""
    if value is None:
        return "–"
    if isinstance(value, float) and abs(value) < 100 and value != int(value):
        return f"{value:,.1f}" if abs(value) >= 10 else f"{value:,.2f}"
    return f"{round(value):,}"


def _ratio(value: Any) -> str:
    return "–" if value is None else f"{value:.2f}"


def row(
    figure: str, value: Any, vs_echo: Any = None, cpu: Mapping[str, float] | None = None
) -> str:
    """One table row: the figure, its value, its ratio to echo and its CPU per op."""
    cells = [figure, _num(value), _ratio(vs_echo)]
    cells += [_num((cpu or {}).get(p)) if cpu else "–" for p in PROCESSES]
    return "| " + " | ".join(cells) + " |"


def _echo_paced(results: Mapping[str, Any], key: str) -> str:
    """ ", echo at that rate: p99 N ms" when the run measured the echo reference paced
    at the same rate (runs before 2026-12-02 did not)."""
    return f", echo at that rate: p99 {_num(results[key])} ms" if key in results else ""


def _measured(results: Mapping[str, Any]) -> str:
    setup = results.get("setup", {})
    return (
        f"Measured {setup.get('measured_at', '?')}, {setup.get('cpus', '?')} CPUs, "
        f"Python {setup.get('python', '?')}"
    )


def issuer_table(r: Mapping[str, Any]) -> str:
    """The issuance table from ``issuer.json``."""
    rows = [
        row("echo reference, 64 callers, per s", r["echo_per_s"], 1.0, r["echo_cpu_us"])
    ]
    for suite in SUITES:
        rows.append(
            row(
                f"IssueLicence {suite}, 64 callers, per s "
                f"(p99 {_num(r['issue_p99_ms'][suite])} ms)",
                r["issue_per_s"][suite],
                r["issue_vs_echo"][suite],
                r["issue_cpu_us"][suite],
            )
        )
    rows += [
        row(
            "IssueLicence es256 with an idempotency key each, per s",
            r["issue_with_key_es256_per_s"],
            r["issue_with_key_es256_vs_echo"],
            r["issue_with_key_es256_cpu_us"],
        ),
        row(
            "IssueLicences of 500 (es256, 4 callers), licences/s "
            f"(echo: {_num(r['batch_echo_per_s'])})",
            r["batch_issue_per_s"],
            r["batch_issue_vs_echo"],
            r["batch_issue_cpu_us"],
        ),
        row(
            "IssueLicence es256 paced at 500/s: p99 ms "
            f"(achieved {_num(r['paced_500_per_s_achieved_per_s'])}/s"
            f"{_echo_paced(r, 'paced_500_per_s_echo_p99_ms')})",
            r["paced_500_per_s_issue_p99_ms"],
            None,
            r["paced_500_per_s_issue_cpu_us"],
        ),
        row(
            "IssueLicence es256 paced at 300/s: p99 ms",
            r["paced_300_per_s_issue_p99_ms"],
        ),
        row("commit → topic at 300/s: p99 ms", r["commit_to_publish_p99_ms"]),
        row(
            "commit → topic at 500/s: p99 ms",
            r["commit_to_publish_at_500_per_s_p99_ms"],
        ),
        row(
            "commit → topic at saturation: p99 ms",
            r["commit_to_publish_at_saturation_p99_ms"],
        ),
    ]
    return "\n".join([_measured(r) + ":", "", HEADER, *rows])


def verifier_table(r: Mapping[str, Any]) -> str:
    """The verification table from ``verifier.json``."""
    rows = [
        row(
            "echo reference, 64 callers, per s", r["echo_per_s"], 1.0, r["echo_cpu_us"]
        ),
        row(
            f"VerifyCode, 64 callers, per s (p99 {_num(r['verify_p99_ms'])} ms)",
            r["verify_per_s"],
            r["verify_vs_echo"],
            r["verify_cpu_us"],
        ),
        row(
            "VerifyCode paced at 1,000/s: p99 ms "
            f"(achieved {_num(r['paced_1000_per_s_achieved_per_s'])}/s"
            f"{_echo_paced(r, 'paced_1000_per_s_echo_p99_ms')})",
            r["paced_1000_per_s_verify_p99_ms"],
            None,
            r["paced_1000_per_s_verify_cpu_us"],
        ),
        row(
            "VerifyCodes of 500 (4 callers), codes/s "
            f"(echo: {_num(r['batch_echo_per_s'])})",
            r["batch_verify_per_s"],
            r["batch_verify_vs_echo"],
            r["batch_verify_cpu_us"],
        ),
    ]
    if "presentation_verify_p99_ms" in r:  # results from before the phase have none
        rows.append(
            row(
                "VerifyCode of presentation codes (each once, claimed) paced at "
                f"{_num(r['presentation_rate_per_s'])}/s: p99 ms (p50 "
                f"{_num(r['presentation_verify_p50_ms'])} ms, achieved "
                f"{_num(r['presentation_achieved_per_s'])}/s, not VALID: "
                f"{_num(r['presentation_not_valid'])})",
                r["presentation_verify_p99_ms"],
                None,
                r["presentation_verify_cpu_us"],
            )
        )
    return "\n".join([_measured(r) + ":", "", HEADER, *rows])


def seal_table(r: Mapping[str, Any]) -> str:
    """The seal table from ``seal.json``: 1 KB documents, 16 callers."""
    echo = r["echo_per_s"]
    rows = [
        row(
            "echo reference, SealDocument requests, per s",
            echo["seal_per_s"],
            1.0,
            r["echo_cpu_us"]["seal"],
        ),
        row(
            "echo reference, VerifySealedDocument requests, per s",
            echo["verify_seal_per_s"],
            1.0,
            r["echo_cpu_us"]["verify_seal"],
        ),
    ]
    for suite in SUITES:
        figures = r[suite]
        rows.append(
            row(
                f"SealDocument 1 KB {suite}, per s",
                figures["seal_per_s"],
                figures["seal_vs_echo"],
                figures["seal_cpu_us"],
            )
        )
        rows.append(
            row(
                f"VerifySealedDocument 1 KB {suite}, first verification, per s",
                figures["verify_seal_per_s"],
                figures["verify_seal_vs_echo"],
                figures["verify_seal_cpu_us"],
            )
        )
        if "verify_seal_repeat_per_s" in figures:  # results before kept verifications
            rows.append(
                row(
                    f"VerifySealedDocument 1 KB {suite}, the same 64 again, per s",
                    figures["verify_seal_repeat_per_s"],
                    figures["verify_seal_repeat_vs_echo"],
                    figures["verify_seal_repeat_cpu_us"],
                )
            )
    return "\n".join([_measured(r) + ":", "", HEADER, *rows])


def group_table(r: Mapping[str, Any]) -> str:
    """The verifier group table from ``group.json``: one group built from the licence
    topic by one worker and by two (partitioned apply, docs/architecture.md §6)."""
    one, two = r["n1"], r["n2"]

    def per_worker(figures: Mapping[str, Any], key: str) -> str:
        return " / ".join(_num(v) for v in figures[key])

    lines = [
        "| figure | one worker (N = 1) | two workers (N = 2) |",
        "|---|---|---|",
        f"| group apply through the broker, events/s | {_num(one['group_apply_per_s'])} "
        f"| {_num(two['group_apply_per_s'])} "
        f"({_ratio(r['group_apply_n2_vs_n1'])} × N = 1) |",
        f"| apply CPU µs per event, all workers | {_num(one['group_apply_cpu_us'])} "
        f"| {_num(two['group_apply_cpu_us'])} |",
        f"| entries held per worker | {per_worker(one, 'worker_entries')} "
        f"| {per_worker(two, 'worker_entries')} |",
        f"| RSS per worker, MB | {per_worker(one, 'worker_rss_mb')} "
        f"| {per_worker(two, 'worker_rss_mb')} |",
        f"| recovery, process start → SERVING, s | {_num(one['recovery_s'])} "
        f"| {_num(two['recovery_s'])} |",
        f"| peer lookup of one lineage (LookupEntries), p50 / p99 ms | – "
        f"| {_num(two['peer_lookup_p50_ms'])} / {_num(two['peer_lookup_p99_ms'])} |",
    ]
    setup = r.get("setup", {})
    head = f"{_measured(r)}, {_num(setup.get('events'))} licence events"
    return "\n".join([head + ":", "", *lines])


#: bench.echo's models as the server-model table names them
MODEL_NAMES = {
    "aio": "grpc.aio on uvloop (every service; the reference)",
    "sync": "gRPC's synchronous server, handler on its threads",
    "sync-bridged": "synchronous server, handler awaiting an asyncio loop",
}


def server_model_table(r: Mapping[str, Any]) -> str:
    """The server-model table from ``server_model.json``: the echo server in each of
    ``bench.echo``'s process models, flat out and paced (bench.server_model_bench)."""
    flat, paced = [], []
    for model, name in MODEL_NAMES.items():
        figures = r["models"][model]
        flat.append(
            row(
                f"{name}, 64 callers, per s (p99 {_num(figures['p99_ms'])} ms)",
                figures["per_s"],
                figures["vs_echo"],
                figures["cpu_us"],
            )
        )
        paced.append(
            row(
                f"{name}, paced at 1,000/s: p99 ms",
                figures["paced_1000_per_s_p99_ms"],
                None,
                figures["paced_1000_per_s_cpu_us"],
            )
        )
    setup = r.get("setup", {})
    head = f"{_measured(r)}, median of {setup.get('rounds', '?')} interleaved rounds"
    return "\n".join([head + ":", "", HEADER, *flat, *paced])


@dataclass(frozen=True)
class Aim:
    """One of issue 17's aims: the figure at ``path`` in the results ``file`` is at
    least (``at_least``) or at most ``bound``, in ``unit``. A rate's aim names where
    the file holds the CPU per operation of the measured run (``cpu``) and of the
    same-run echo reference (``echo_cpu``): dicts of µs by process."""

    figure: str
    file: str
    path: tuple[str, ...]
    bound: float
    at_least: bool
    unit: str
    cpu: tuple[str, ...] = ()
    echo_cpu: tuple[str, ...] = ()

    def measured(self, results: Mapping[str, Mapping[str, Any]]) -> float:
        """The figure in ``results`` (results file name -> its figures);
        :class:`BadFigure` when it is missing or not a number at least 0."""
        return _number(results, self.file, self.path)

    def met(self, value: float) -> bool:
        return value >= self.bound if self.at_least else value <= self.bound

    def machine_cpu(
        self, results: Mapping[str, Mapping[str, Any]]
    ) -> tuple[float, float, float] | None:
        """For a rate's aim: (the machine's CPU µs per operation in the run, the
        most the aim's rate leaves an operation, the echo reference's), each
        summed over :data:`PROCESSES` (the service's tree, PostgreSQL, the broker,
        the load generator: every process of the run shares the machine). The
        budget is the run's ``setup.cpus`` × 1,000,000 µs / the aim's rate: a
        necessary bound, since no run uses every core all the time. None for an
        aim that is not a rate with its CPU measured."""
        if not self.cpu:
            return None
        cpus = _number(results, self.file, ("setup", "cpus"))
        if cpus <= 0:  # a budget of 0 would mark every echo over
            raise BadFigure(self.file, ("setup", "cpus"), f"is {cpus:g}: not above 0")
        return (
            _machine_us(results, self.file, self.cpu),
            cpus * 1_000_000 / self.bound,
            _machine_us(results, self.file, self.echo_cpu),
        )


class BadFigure(ValueError):
    """A figure of a results file that is missing (``problem`` None) or not what
    the aims table can read."""

    def __init__(self, file: str, path: tuple[str, ...], problem: str | None = None):
        self.file, self.path, self.problem = file, path, problem
        where = f"{'.'.join(path)!r} for the aims table"
        super().__init__(
            f"no figure {where}" if problem is None else f"figure {where} {problem}"
        )


def _number(
    results: Mapping[str, Mapping[str, Any]], file: str, path: tuple[str, ...]
) -> float:
    """The number at ``path`` in ``file``'s figures: finite and at least 0 (every
    figure the aims table reads is a rate, a time, a size or CPU time)."""
    value: Any = results[file]
    for key in path:
        if not isinstance(value, Mapping) or key not in value:
            raise BadFigure(file, path)
        value = value[key]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadFigure(file, path, f"is {value!r}: not a number")
    if not math.isfinite(value) or value < 0:
        raise BadFigure(file, path, f"is {value!r}: not a number at least 0")
    return float(value)


def _machine_us(
    results: Mapping[str, Mapping[str, Any]], file: str, path: tuple[str, ...]
) -> float:
    """CPU µs per operation of every process of a run, from the dict at ``path``
    (``cpu_us`` may also name parts of the service's tree, such as its serving
    process: not added twice). A dict of zeros is a run that counted no operation
    (bench.proccpu.per_op_us): :class:`BadFigure`, not a run that cost nothing."""
    total = sum(_number(results, file, (*path, p)) for p in PROCESSES)
    if total <= 0:
        raise BadFigure(file, path, "is 0 for every process: no operation counted")
    return total


def _aims() -> tuple[Aim, ...]:
    """Issue 17's aims on this machine, in its order (issuance, verification, the
    verifier group, seals)."""
    per_s, ms = "/s", " ms"
    aims = [
        Aim(f"IssueLicence {suite}, 64 callers", "issuer.json",
            ("issue_per_s", suite), 1000 if suite == "sm2" else 1500, True, per_s,
            ("issue_cpu_us", suite), ("echo_cpu_us",))
        for suite in SUITES
    ]  # fmt: skip
    aims += [
        Aim("IssueLicence es256 paced at 500/s, p99", "issuer.json",
            ("paced_500_per_s_issue_p99_ms",), 20, False, ms),
        Aim("IssueLicences of 500, licences", "issuer.json",
            ("batch_issue_per_s",), 10_000, True, per_s,
            ("batch_issue_cpu_us",), ("details", "echo_batch", "cpu_us")),
        Aim("commit → topic at 300/s paced, p99", "issuer.json",
            ("commit_to_publish_p99_ms",), 10, False, ms),
        Aim("commit → topic at saturation, p99", "issuer.json",
            ("commit_to_publish_at_saturation_p99_ms",), 50, False, ms),
        Aim("VerifyCode, 64 callers", "verifier.json",
            ("verify_per_s",), 5000, True, per_s,
            ("verify_cpu_us",), ("echo_cpu_us",)),
        Aim("VerifyCode, 64 callers, of the echo reference's rate", "verifier.json",
            ("verify_vs_echo",), 0.6, True, ""),
        Aim("VerifyCode paced at 1,000/s, p99", "verifier.json",
            ("paced_1000_per_s_verify_p99_ms",), 5, False, ms),
        Aim("VerifyCodes of 500, codes", "verifier.json",
            ("batch_verify_per_s",), 100_000, True, per_s,
            ("batch_verify_cpu_us",), ("batch_echo_cpu_us",)),
        Aim("index apply, one group of one worker, events", "group.json",
            ("n1", "group_apply_per_s"), 20_000, True, per_s),
        Aim("recovery of 1,000,000 entries, restart → SERVING", "verifier.json",
            ("recovery_s",), 5, False, " s"),
        Aim("index memory, RSS growth per million entries", "verifier.json",
            ("index_rss_mb_per_million",), 100, False, " MB"),
        Aim("revocation → REVOKED at two groups, p99", "verifier.json",
            ("propagation_p99_ms",), 20, False, ms),
    ]  # fmt: skip
    for verb, key in (
        ("SealDocument", "seal"),
        ("VerifySealedDocument, first verification,", "verify_seal"),
    ):
        aims += [
            Aim(f"{verb} 1 KB {suite}", "seal.json", (suite, f"{key}_per_s"),
                700 if suite == "sm2" else 1000, True, per_s,
                (suite, f"{key}_cpu_us"), ("echo_cpu_us", key))
            for suite in SUITES
        ]  # fmt: skip
    return tuple(aims)


AIMS = _aims()


def aims_table(results: Mapping[str, Mapping[str, Any]]) -> str:
    """Issue 17's aims beside what the results files measured, and whether each is
    met; ``results``: results file name -> its figures. A rate's row also gives the
    machine's CPU per operation against what the aim's rate leaves one
    (:meth:`Aim.machine_cpu`)."""
    lines = [
        "| figure | measured | aim | met | machine CPU µs/op: run / aim's budget "
        "/ echo |",
        "|---|---|---|---|---|",
    ]
    for aim in AIMS:
        value = aim.measured(results)
        shown = _ratio(value) if not aim.unit else _num(value) + aim.unit
        bound = _ratio(aim.bound) if not aim.unit else _num(aim.bound) + aim.unit
        lines.append(
            f"| {aim.figure} | {shown} | {'≥' if aim.at_least else '≤'} {bound} "
            f"| {'yes' if aim.met(value) else '**no**'} "
            f"| {_budget(aim.machine_cpu(results))} |"
        )
    files = sorted({aim.file for aim in AIMS})
    head = "From " + ", ".join(
        f"`{f}` ({results[f].get('setup', {}).get('measured_at', '?')})" for f in files
    )
    return "\n".join([head + ":", "", *lines, "", BUDGET_NOTE])


#: under the aims table: how to read its last column
BUDGET_NOTE = (
    "Machine CPU µs/op adds the CPU per operation of the processes the bench watched: "
    "the service's, PostgreSQL's, the broker's and the load generator's (in "
    "`verifier.json` the service is the group's worker; the issuer running beside it "
    "is not counted, so there the figures are floors). The aim's budget is cores × "
    "1,000,000 µs / the aim: at the CPU an operation it measured, a run above it would "
    "need more than the machine's cores to reach the aim, however its processes shared "
    "them. *over*: the same run's echo reference, an empty grpc.aio handler over the "
    "same mTLS driven by the same load generator, is itself above the budget, so no "
    "grpc.aio handler would have met the aim in that run; the echo's CPU a call moves "
    "with the shared machine from run to run, so *over* is said of that run only."
)


def _budget(cpu: tuple[float, float, float] | None) -> str:
    """The machine-CPU cell: run / budget / echo, the echo marked *over* when it
    alone is above the budget."""
    if cpu is None:
        return "–"
    run, budget, echo = cpu
    over = " *over*" if echo > budget else ""
    return f"{_num(run)} / {_num(budget)} / {_num(echo)}{over}"


TABLES: dict[str, tuple[str, Callable[[Mapping[str, Any]], str]]] = {
    "issuer": ("issuer.json", issuer_table),
    "verifier": ("verifier.json", verifier_table),
    "seal": ("seal.json", seal_table),
    "group": ("group.json", group_table),
    "server_model": ("server_model.json", server_model_table),
}


def _put(readme: str, name: str, table: str) -> str:
    """``readme`` with the table between its ``name`` markers replaced."""
    pattern = re.compile(
        rf"(<!-- bench:{name} -->\n)(?:.*?\n)?(<!-- /bench:{name} -->)", re.DOTALL
    )
    return pattern.sub(lambda m: m.group(1) + table + "\n" + m.group(2), readme)


def render(readme: str, results: Path = RESULTS) -> str:
    """``readme`` with every marked table regenerated from the files in ``results``.

    A table whose results file (for the aims table: any of its files) is missing is
    left as it is. Raises ValueError naming the table when a results file lacks a
    figure it needs.
    """
    loaded: dict[str, Mapping[str, Any]] = {}
    for file in {f for f, _ in TABLES.values()} | {aim.file for aim in AIMS}:
        if (results / file).exists():
            try:
                loaded[file] = json.loads((results / file).read_text())
            except ValueError as exc:  # JSONDecodeError names no file
                raise ValueError(f"{results / file}: not JSON ({exc})") from exc
    for name, (file, build) in TABLES.items():
        if file in loaded:
            try:
                table = build(loaded[file])
            except KeyError as exc:
                raise ValueError(
                    f"{results / file}: no figure {exc} for the {name} table"
                ) from exc
            except (TypeError, ValueError, AttributeError) as exc:
                raise ValueError(
                    f"{results / file}: a figure of the {name} table is not a "
                    f"number, or not a number it can write ({exc})"
                ) from exc
            readme = _put(readme, name, table)
    if all(aim.file in loaded for aim in AIMS):
        try:
            table = aims_table(loaded)
        except BadFigure as exc:
            raise ValueError(f"{results / exc.file}: {exc}") from exc
        readme = _put(readme, "aims", table)
    return readme


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.tables")
    parser.add_argument("--check", action="store_true", help="exit 1 if out of date")
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--readme", type=Path, default=README)
    args = parser.parse_args()
    current = args.readme.read_text()
    try:
        wanted = render(current, args.results)
    except ValueError as exc:  # a results file the tables cannot read: say which
        sys.exit(f"{parser.prog}: error: {exc}")
    if args.check:
        if wanted != current:
            sys.exit(f"{args.readme}: the bench tables differ from {args.results}")
        return
    args.readme.write_text(wanted)


if __name__ == "__main__":
    main()
