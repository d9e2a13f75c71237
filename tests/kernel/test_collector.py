"""certseal.collector: what a service process does to the cyclic collector once it
is ready to serve (a verifier worker's full collections stalled every request for
56 to 91 ms before)."""

import subprocess
import sys

SETTLE = """
import gc, json
from certseal.collector import settle_collector
kept = [[] for _ in range(10_000)]  # start-up's objects, alive as long as the process
before = gc.get_threshold()
settle_collector({young})
print(json.dumps({{"frozen": gc.get_freeze_count(), "before": before,
                  "after": gc.get_threshold(), "young_tracked": gc.get_count()[0]}}))
"""


def _settled(young: str) -> dict:
    import json

    done = subprocess.run(
        [sys.executable, "-c", SETTLE.format(young=young)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(done.stdout)


def test_what_start_up_made_is_frozen_and_the_young_threshold_set():
    settled = _settled("young=3_000")
    assert settled["frozen"] >= 10_000  # the kept lists and everything imported
    assert settled["after"] == [3_000, *settled["before"][1:]]
    assert settled["young_tracked"] < 100  # collected, then frozen: nothing young


def test_without_a_young_threshold_it_keeps_the_interpreters():
    settled = _settled("")
    assert settled["frozen"] >= 10_000
    assert settled["after"] == settled["before"]
