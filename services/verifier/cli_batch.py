"""``certseal verify --codes FILE``: scanned codes, one a line, verified online in
batches through VerifyCodes, one answer line a code and a count of the verdicts.

For a counter or an auditor with many codes at once (a day's paper forms, an archive):
the same verdicts and checks as ``certseal verify`` gives one code, each code's use
recorded with the purpose given, as VerifyCode records it.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

from certseal.calls import call_service
from certseal.cli import load
from certseal.cli_options import say
from certseal.errors import CertsealError, ErrorKind, invalid
from certseal.filekinds import PNG, refuse_other_kind
from certseal.files import read_input_file, without_bom
from certseal.text import one_line
from services.verifier.undecided import on_lines

BATCH = 500
"""Codes a VerifyCodes request carries at most (the verifier's limit,
``services.verifier.servicer.MAX_BATCH``)."""

MAX_CODES_FILE_BYTES = 16 * 1024 * 1024
"""Bytes of a codes file (or standard input) read at most: tens of thousands of
ordinary codes, and still 1,800 of the longest a verifier reads."""

MAX_CODES = 100_000
"""Codes a run verifies at most (200 requests)."""


def read_codes(args: argparse.Namespace) -> list[tuple[int, str]]:
    """The codes of ``--codes FILE`` (``-``: standard input) as (line number, text),
    blank lines left out and each line's surrounding white space removed.

    INVALID_ARGUMENT (``codes``) for a file that cannot be read, is plainly a
    picture, PDF, OFD or signature (named as what it is), is empty or over
    :data:`MAX_CODES_FILE_BYTES`, is not UTF-8 (naming the line), or holds no code or
    more than :data:`MAX_CODES`."""
    if args.codes == "-":
        data = sys.stdin.buffer.read(MAX_CODES_FILE_BYTES + 1)
        if len(data) > MAX_CODES_FILE_BYTES:
            raise invalid(
                "codes", f"standard input is over {MAX_CODES_FILE_BYTES} bytes"
            )
    else:
        data = read_input_file(args.codes, "codes", MAX_CODES_FILE_BYTES)
    refuse_other_kind(  # a picture, PDF, OFD or signature given for the codes
        data,
        "standard input" if args.codes == "-" else args.codes,
        "codes",
        "a text file of scanned codes",
        {PNG: " (verify --image takes it)"},
    )
    data = without_bom(data)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        bad = data[: exc.start].count(b"\n") + 1
        raise invalid("codes", f"line {bad} is not UTF-8 text") from None
    codes: list[tuple[int, str]] = []
    for number, line in _lines(text):
        if not line.strip():
            continue
        if len(codes) == MAX_CODES:  # refused before every line is held (atk34b A5)
            raise invalid(
                "codes", f"holds too many codes: the limit is {MAX_CODES} a run"
            )
        codes.append((number, line.strip()))
    if not codes:
        raise invalid("codes", "holds no code: give one scanned code a line")
    return codes


def _lines(text: str) -> Iterator[tuple[int, str]]:
    """``text``'s lines with their numbers, ended by ``\\n`` (a ``\\r`` before it
    dropped) and nothing else: a form feed or U+2028 inside a line is part of it, as
    an editor numbers lines (atk34b A3); one line at a time."""
    start, number = 0, 0
    while start <= len(text):
        end = text.find("\n", start)
        end = len(text) if end == -1 else end
        number += 1
        yield number, text[start:end].removesuffix("\r")
        start = end + 1


def _answer_line(number: int, result: Any, verdict: str) -> str:
    """One code's answer: its line, verdict and licence, and for a verdict other
    than VALID the first check that failed."""
    parts = [f"line {number}: {verdict}"]
    if result.identifier:
        parts.append(result.identifier)
    if result.type_code:
        parts.append(result.type_name or result.type_code)
    if result.holder_display_name:
        parts.append(f"holder {result.holder_display_name}")
    failed = next((c for c in result.checks if not c.passed), None)
    if verdict != "VALID" and failed is not None:
        parts.append(f"({failed.name}: {failed.detail})")
    return " ".join(parts)


def cmd_verify_codes(args: argparse.Namespace) -> int:
    """Verify every code of ``--codes FILE`` at the verifier; exit 0 only when every
    one is VALID from an index whose lag is known, else 1 (2 for bad input)."""
    for option, given in (("code", args.code), ("image", args.image)):
        if given:
            raise invalid(
                option, "has no place with --codes: the codes come from the file"
            )
    for option, given in (("offline", args.offline), ("bundle", args.bundle)):
        if given:
            raise invalid(
                option,
                "has no place with --codes: a file of codes is verified online "
                "only, through the verifier's VerifyCodes",
            )
    if not args.purpose:
        raise invalid("purpose", "is required: the purpose of use (用证事由)")
    codes = read_codes(args)
    from certseal.v1 import verifier_pb2, verifier_pb2_grpc
    from services.verifier.cli import verifier_target, with_attempts

    cfg = load(args)

    began: list[float] = []  # when the last request was made
    results: list[Any] = []  # every answered request's, in order, as they come

    async def call(channel: Any) -> None:
        stub = verifier_pb2_grpc.VerifierStub(channel)
        for at in range(0, len(codes), BATCH):
            began.append(time.monotonic())
            sent = [text for _, text in codes[at : at + BATCH]]
            request = verifier_pb2.VerifyCodesRequest(codes=sent, purpose=args.purpose)
            answered = (await stub.VerifyCodes(request)).results
            # paired per request, never across them (atk34b A1, A2)
            if len(answered) != len(sent):
                raise CertsealError(
                    ErrorKind.UNAVAILABLE,
                    f"answered {len(answered)} results for the {len(sent)} codes "
                    "sent: none of its answers is relied on",
                    field="verifier",
                )
            results.extend(answered)

    target, setting = verifier_target(cfg, args)
    try:
        call_service(cfg, target, call, service="verifier", setting=setting)
    except (CertsealError, KeyboardInterrupt) as exc:
        # the requests answered before it stand (their uses are recorded): said,
        # then which lines the failed request held and which were never sent (a
        # Ctrl-C: 130, as for any command)
        if results:
            _report(codes[: len(results)], results, target, args.group)
        if isinstance(exc, KeyboardInterrupt):  # what the count above leaves out
            print(
                one_line(
                    f"interrupted: {_left(codes, len(results))}: interrupted (Ctrl-C) "
                    "before its answer: its presentation codes may be claimed already "
                    "(a retry may say REPLAYED)"
                ),
                file=sys.stderr,
            )
            raise
        exc = with_attempts(exc, began[-1] if began else None)
        raise _unverified(exc, codes, len(results)) from None
    return _report(codes, results, target, args.group)


def _left(codes: list[tuple[int, str]], done: int) -> str:
    """The lines of ``codes`` a run leaves unverified once ``done`` were answered:
    the next request's, those never sent after them, and the answered ones above."""
    failed = codes[done : done + BATCH]
    later = len(codes) - done - len(failed)
    where = (
        f"line {failed[0][0]}"
        if len(failed) == 1
        else f"lines {failed[0][0]} to {failed[-1][0]}"
    )
    said = f"{where} not verified" + (
        f", and the {later} code{'s' if later > 1 else ''} after them not sent"
        if later
        else ""
    )
    if done:
        said += f" (the {done} before {'are' if done > 1 else 'is'} answered above)"
    return said


def _unverified(
    exc: CertsealError, codes: list[tuple[int, str]], done: int
) -> CertsealError:
    """``exc`` (a request of ``codes`` failed after ``done`` were answered) said with
    the lines it leaves unverified (:func:`_left`), the verifier's places of codes
    said as those lines."""
    lines = [number for number, _ in codes[done : done + BATCH]]
    message = f"{_left(codes, done)}: {on_lines(exc.message, lines)}"
    error = CertsealError(exc.kind, message, field=exc.field)
    error.reason, error.attempt, error.retried = exc.reason, exc.attempt, exc.retried
    return error


def _report(
    codes: list[tuple[int, str]], results: list[Any], target: str, group: str | None
) -> int:
    """Print each group that answered, a line a code and the count of verdicts;
    exit status 0 only when every one is VALID from an index whose lag is known."""
    from certseal.v1 import verifier_pb2
    from services.verifier.cli import print_answered, warn_lag_unknown

    answered: set[str] = set()
    for result in results:  # each group that answered, as `verify` says the one
        if result.group not in answered:
            answered.add(result.group)
            print_answered(result, target, group)
    verdicts: Counter[str] = Counter()
    unknown_lag = False
    for (number, _), result in zip(codes, results, strict=True):
        verdict = verifier_pb2.Verdict.Name(result.verdict).removeprefix("VERDICT_")
        verdicts[verdict] += 1
        unknown_lag |= verdict == "VALID" and result.freshness.lag_unknown
        say(_answer_line(number, result, verdict))
    counted = ", ".join(f"{n} {verdict}" for verdict, n in verdicts.most_common())
    print(f"{len(codes)} code{'s' if len(codes) > 1 else ''}: {counted}")
    if unknown_lag:
        warn_lag_unknown()
        return 1
    return 0 if set(verdicts) == {"VALID"} else 1
