"""large49: a command's answer is never formatted on its way back from the call.

Python 3.11's ``asyncio.run`` (before CPython gh-112559's fix; this machine's 3.11.7)
formats its main task, its result's whole repr included, twice when it puts back the
Ctrl-C handler. The result was the answer: a sealed 60 MiB PDF's repr took 10 s of the
13 s ``seal pdf`` ran, after the answer had come, and twice the PDF's size in memory.
"""

from __future__ import annotations

from certseal import calls


class _Answer:
    """An answer that counts how often it is formatted."""

    def __init__(self) -> None:
        self.formatted = 0

    def __repr__(self) -> str:
        self.formatted += 1
        return "<answer>"


def test_the_answer_comes_back_unformatted(config):
    answer = _Answer()

    async def call(channel):  # no call is made: the channel is never used
        return answer

    got = calls.call_service(config, "localhost:1", call, service="issuer")
    assert got is answer
    assert answer.formatted == 0


def test_a_commands_own_run_comes_back_unformatted():
    answer = _Answer()

    async def work():
        return answer

    assert calls.run_unformatted(work()) is answer
    assert answer.formatted == 0


def test_no_command_module_takes_a_result_from_asyncio_run():
    """The kind, not the one example: every command's run (an audit listing's rows,
    the feed's entitlements, the console's accounts) goes through
    :func:`certseal.calls.run_unformatted`."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    commands = [root / "certseal" / "cli.py", *root.glob("services/**/cli*.py")]
    found = [
        f"{path.relative_to(root)}:{n}"
        for path in commands
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if "asyncio.run(" in line
    ]
    assert found == []
