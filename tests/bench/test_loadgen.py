"""The load generator's ``--once`` mode (bench/loadgen.py): each code of the list is
sent once (single-use presentation codes), against the echo reference."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bench.reference import start_echo, stop

ROOT = Path(__file__).resolve().parent.parent.parent


def loadgen(stack, port: int, *extra: str) -> subprocess.CompletedProcess[str]:
    ident = stack.ca.identity("dept:11440300LOADGEN01")
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.loadgen",
            "--target",
            f"localhost:{port}",
            "--ca",
            str(stack.ca.ca_file),
            "--cert",
            str(ident.cert_file),
            "--key",
            str(ident.key_file),
            *extra,
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )


def test_once_sends_each_code_once_and_says_the_codes_ran_out(stack, tmp_path):
    """50 codes, 4 callers flat out for up to 10 s: exactly 50 requests, then the
    callers stop (long before the 10 s) and the report says the codes ran out."""
    codes = tmp_path / "codes.txt"
    codes.write_text("\n".join(f"code {n}" for n in range(50)))
    echo, port = start_echo(stack)
    try:
        out = loadgen(
            stack,
            port,
            *("--codes", str(codes), "--once", "--echo"),
            *("--concurrency", "4", "--warmup", "0", "--seconds", "10"),
        )
    finally:
        stop(echo)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["requests"] == 50 and result["errors"] == 0
    assert result["exhausted"] is True and result["seconds"] < 10


def test_once_without_codes_or_with_batches_is_refused(stack, tmp_path):
    codes = tmp_path / "codes.txt"
    codes.write_text("a\nb\n")
    for extra in (("--once",), ("--once", "--codes", str(codes), "--batch", "5")):
        out = loadgen(stack, 1, *extra)
        assert out.returncode == 2, out
        assert "error: --once: needs --codes and no --batch" in out.stderr
