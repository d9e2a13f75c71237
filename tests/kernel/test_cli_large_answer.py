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
