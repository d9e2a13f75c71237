"""atk34b: ``certseal verify --codes FILE`` (services/verifier/cli_batch.py) against
hostile files and a verifier whose answers do not match the codes sent.

The verifier is faked at the stub: no server, no network; each test says what the
fake answered and what a counter must see."""

from __future__ import annotations

import asyncio
import types
from typing import Any

import pytest

from certseal.v1 import verifier_pb2, verifier_pb2_grpc
from services import cli
from services.verifier import cli_batch


def _run(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    path: str,
    answer: Any,
) -> tuple[int, str, str]:
    """``certseal verify --codes path`` against a fake verifier: ``answer(codes)``
    gives the results of one VerifyCodes request."""
    requests: list[list[str]] = []

    class Stub:
        def __init__(self, channel: Any) -> None:
            pass

        async def VerifyCodes(self, request: Any) -> Any:
            requests.append(list(request.codes))
            return verifier_pb2.VerifyCodesResponse(
                results=answer(list(request.codes), len(requests))
            )

    def call_service(cfg: Any, target: str, call: Any, **_: Any) -> Any:
        return asyncio.run(call(None))

    monkeypatch.setattr(verifier_pb2_grpc, "VerifierStub", Stub)
    monkeypatch.setattr(cli_batch, "call_service", call_service)
    monkeypatch.setattr(cli_batch, "load", lambda args: types.SimpleNamespace())
    argv = ["verify", "--purpose", "窗口办事", "--verifier", "localhost:1"]
    status = cli.main([*argv, "--codes", path])
    out, err = capsys.readouterr()
    return status, out, err


def _valid(identifier: str) -> Any:
    return verifier_pb2.VerificationResult(
        verdict=verifier_pb2.VERDICT_VALID, identifier=identifier, group="g"
    )


def _malformed() -> Any:
    return verifier_pb2.VerificationResult(
        verdict=verifier_pb2.VERDICT_MALFORMED, group="g"
    )


@pytest.mark.parametrize("missing", [1, "all"])
def test_a_verifier_answering_fewer_results_than_codes_is_an_error_not_a_traceback(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Any,
    missing: Any,
) -> None:
    path = tmp_path / "codes.txt"
    path.write_text("LC1:A\nLC1:B\nLC1:C\n")

    def answer(codes: list[str], n: int) -> list[Any]:
        return [] if missing == "all" else [_valid("X") for _ in codes[1:]]

    try:
        status, out, err = _run(monkeypatch, capsys, str(path), answer)
    except (ValueError, IndexError) as exc:  # the traceback a user would see
        pytest.fail(f"raised {exc!r}")
    assert status == 1, (out, err)
    assert err.startswith("error: "), err
    assert "VALID" not in out.replace("codes:", "")


def test_each_request_s_results_are_paired_with_its_own_codes(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Any
) -> None:
    monkeypatch.setattr(cli_batch, "BATCH", 2)
    path = tmp_path / "codes.txt"
    path.write_text("LC1:GOOD1\nLC1:BROKEN\nLC1:GOOD2\n")

    def answer(codes: list[str], n: int) -> list[Any]:
        # request 1 (GOOD1, BROKEN) is answered for GOOD1 only; request 2 (GOOD2)
        # is answered twice: the totals match, the pairs do not
        if n == 1:
            return [_valid("GOOD1")]
        return [_valid("GOOD2"), _valid("GOOD2")]

    status, out, err = _run(monkeypatch, capsys, str(path), answer)
    assert "line 2: VALID" not in out, out
    assert status != 0
    assert err.startswith("error: "), err


@pytest.mark.parametrize("inside", ["\x0c", "\x0b", "\x1c", "\x85", "\u2028"])
def test_a_line_number_is_the_file_s_line_whatever_a_line_holds(
    tmp_path: Any, inside: str
) -> None:
    import argparse

    path = tmp_path / "codes.txt"
    path.write_text(f"LC1:A{inside}B\nLC1:C\n", encoding="utf-8")
    codes = cli_batch.read_codes(argparse.Namespace(codes=str(path)))
    assert [n for n, _ in codes] == [1, 2], codes
    assert codes[-1] == (2, "LC1:C")


def test_the_utf8_error_names_the_file_s_line(tmp_path: Any) -> None:
    """held: the line of undecodable bytes is counted by \\n, as an editor counts."""
    import argparse

    from certseal.errors import CertsealError

    path = tmp_path / "codes.txt"
    path.write_bytes(b"LC1:A\x0cB\n\xff\n")
    with pytest.raises(CertsealError) as caught:
        cli_batch.read_codes(argparse.Namespace(codes=str(path)))
    assert caught.value.message == "line 2 is not UTF-8 text"


def test_a_mix_of_verdicts_counts_each_and_exits_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Any
) -> None:
    """held: 500 and 501 codes are one and two requests; a MALFORMED among VALIDs
    exits 1 and no code is answered twice."""
    for count, requests in ((500, 1), (501, 2)):
        path = tmp_path / "codes.txt"
        path.write_text("".join(f"LC1:{i}\n" for i in range(count)))
        seen: list[int] = []

        def answer(codes: list[str], n: int, seen: list[int] = seen) -> list[Any]:
            seen.append(n)
            return [_malformed() if c == "LC1:7" else _valid(c) for c in codes]

        status, out, err = _run(monkeypatch, capsys, str(path), answer)
        assert status == 1, err
        assert len(seen) == requests
        assert out.rstrip().endswith(f"{count} codes: {count - 1} VALID, 1 MALFORMED")


def test_a_request_that_fails_names_its_lines_and_keeps_the_answers_before_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Any
) -> None:
    """atk57: a run whose second request failed (the broker paused: a claim
    undecided) printed one error for the whole file, naming no line, and not the
    verdicts of the request answered before it, whose uses were recorded."""
    from certseal.errors import CertsealError, ErrorKind

    monkeypatch.setattr(cli_batch, "BATCH", 2)
    path = tmp_path / "codes.txt"
    path.write_text("LC1:A\n\nLC1:B\nLC1:C\nLC1:D\nLC1:E\nLC1:F\n")

    def answer(codes: list[str], n: int) -> list[Any]:
        if n == 2:
            raise CertsealError(
                ErrorKind.UNAVAILABLE, "could not be claimed", field="codes"
            )
        return [_valid(c) for c in codes]

    status, out, err = _run(monkeypatch, capsys, str(path), answer)
    assert status == 1, (out, err)
    lines = out.splitlines()
    assert [x for x in lines if x.startswith("line ")] == [
        "line 1: VALID LC1:A",
        "line 3: VALID LC1:B",
    ]
    assert lines[-1] == "2 codes: 2 VALID"
    assert err == (
        "error: codes: lines 4 to 5 not verified, and the 2 codes after them not "
        "sent (the 2 before are answered above): could not be claimed\n"
    )


def test_ctrl_c_during_a_later_request_keeps_the_answers_before_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Any
) -> None:
    """atk59: a Ctrl-C during request 3 dropped the answers of requests 1 and 2,
    whose uses were recorded."""
    monkeypatch.setattr(cli_batch, "BATCH", 2)
    path = tmp_path / "codes.txt"
    path.write_text("".join(f"LC1:{n}\n" for n in range(5)))

    def answer(codes: list[str], n: int) -> list[Any]:
        if n == 3:
            raise KeyboardInterrupt
        return [_valid(c) for c in codes]

    status, out, err = _run(monkeypatch, capsys, str(path), answer)
    assert status == 130
    # atk60: what the count leaves out is said
    assert err == (
        "interrupted: line 5 not verified (the 4 before are answered above): "
        "interrupted (Ctrl-C) before its answer: its presentation codes may be "
        "claimed already (a retry may say REPLAYED)\n"
    )
    out = out.splitlines()
    assert [x for x in out if x.startswith("line ")] == [
        f"line {n + 1}: VALID LC1:{n}" for n in range(4)
    ]
    assert out[-1] == "4 codes: 4 VALID"


def test_the_places_the_verifier_names_are_said_as_the_file_s_lines(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Any
) -> None:
    """atk59 F4: the server's codes[i] are places in its request, which skips blank
    lines and starts again at every request: the CLI says them as lines."""
    from services.verifier.undecided import unavailable

    monkeypatch.setattr(cli_batch, "BATCH", 2)
    path = tmp_path / "codes.txt"
    path.write_text("LC1:A\r\n\r\nLC1:B\r\n  \r\nLC1:C\r\nLC1:D\r\n")

    def answer(codes: list[str], n: int) -> list[Any]:
        if n == 2:
            raise unavailable("waited").of_codes([1])
        return [_valid(c) for c in codes]

    status, out, err = _run(monkeypatch, capsys, str(path), answer)
    assert status == 1, (out, err)
    assert err.startswith(
        "error: codes: lines 5 to 6 not verified (the 2 before are answered above): "
        "1 presentation code of this request could not be claimed (waited; "
    ), err
    assert "could not be claimed (waited; 1 attempt, " in err, err
    assert err.endswith("ask the holder for a new code. It is line 6\n"), err


def test_a_first_request_that_fails_names_its_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Any
) -> None:
    from certseal.errors import CertsealError, ErrorKind

    path = tmp_path / "codes.txt"
    path.write_text("\nLC1:A\n")

    def answer(codes: list[str], n: int) -> list[Any]:
        raise CertsealError(ErrorKind.UNAVAILABLE, "away", field="verifier")

    status, out, err = _run(monkeypatch, capsys, str(path), answer)
    assert (status, out) == (1, "")
    assert err == "error: verifier: line 2 not verified: away\n"


def test_an_empty_codes_file_name_is_named_as_codes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["verify", "--purpose", "窗口办事", "--verifier", "localhost:1"]
    with pytest.raises(SystemExit) as stopped:  # by the parser (atk57)
        cli.main([*argv, "--codes", ""])
    assert stopped.value.code == 2
    assert capsys.readouterr().err.startswith("error: codes: is empty"), "named"


def test_a_file_of_too_many_codes_is_refused_without_holding_them_all(
    tmp_path: Any,
) -> None:
    import argparse
    import tracemalloc

    from certseal.errors import CertsealError

    path = tmp_path / "codes.txt"
    path.write_bytes(b"ab\n" * (4 * 1024 * 1024 // 3))
    tracemalloc.start()
    try:
        with pytest.raises(CertsealError) as caught:
            cli_batch.read_codes(argparse.Namespace(codes=str(path)))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert caught.value.field == "codes" and "the limit is 100000" in str(caught.value)
    # the file's bytes and its text are ~8 MB; a few times that is fair
    assert peak < 40_000_000, f"peak {peak / 1e6:.0f} MB"


def test_each_group_that_answered_is_said_with_its_freshness(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Any
) -> None:
    """Requests of one run may reach different groups (a load balancer in front of
    several): each one that answered is said, not only the first request's."""
    path = tmp_path / "codes.txt"
    path.write_text("".join(f"LC1:{n}\n" for n in range(cli_batch.BATCH + 1)))

    def answer(codes: list[str], n: int) -> list[Any]:
        result = _valid("X")
        result.group = f"group-{n}"
        result.freshness.lag_events = 7 * n
        return [result for _ in codes]

    status, out, _ = _run(monkeypatch, capsys, str(path), answer)
    assert status == 0
    said = [line for line in out.splitlines() if line.startswith("answered")]
    assert len(said) == 2
    assert "group group-1 " in said[0] and "7 events behind" in said[0]
    assert "group group-2 " in said[1] and "14 events behind" in said[1]


def test_the_attempts_go_beside_the_reason_whatever_brackets_it_holds() -> None:
    """atk60: a reason holding brackets of its own had the attempts put inside them."""
    import time

    from certseal.errors import CertsealError, ErrorKind
    from services.verifier.cli import with_attempts
    from services.verifier.undecided import UNDECIDED

    said = CertsealError(
        ErrorKind.UNAVAILABLE,
        "the presentation code could not be claimed (group x did not answer "
        "(DEADLINE_EXCEEDED: y)); retry later",
        reason=UNDECIDED,
    )
    shown = with_attempts(said, time.monotonic()).message
    assert shown.startswith(
        "the presentation code could not be claimed (group x did not answer "
        "(DEADLINE_EXCEEDED: y); 1 attempt, 0.0 s in all); retry later"
    ), shown
