"""aiokafka's connection failures name their exception when its text is empty
(certseal.logs.EmptyReasonsNamed): a broker that hangs left "Unable connect to node
with id 1: " with nothing after the colon (trial)."""

from __future__ import annotations

import logging
import re
import subprocess
import sys
from pathlib import Path

from certseal.logs import EmptyReasonsNamed, dict_config

REPO = Path(__file__).resolve().parents[2]

#: a process whose logging certseal configures, and an aiokafka client whose broker
#: takes the connection and never answers (a listening socket nobody accepts on)
_CHILD = """
import asyncio, socket
from certseal import logs
logs.configure()
from aiokafka.client import AIOKafkaClient
listener = socket.socket()
listener.bind(("127.0.0.1", 0))
listener.listen()
port = listener.getsockname()[1]
async def main():
    client = AIOKafkaClient(
        bootstrap_servers=f"127.0.0.1:{port}", request_timeout_ms=300
    )
    try:
        await client.bootstrap()
    except Exception as exc:
        print("raised", type(exc).__name__)
    await client.close()
asyncio.run(main())
"""


def test_a_hanging_broker_s_connection_failure_names_its_exception():
    done = subprocess.run(
        [sys.executable, "-c", _CHILD],
        cwd=REPO,
        env={"CERTSEAL_LOG_FORMAT": "text", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "raised KafkaConnectionError" in done.stdout, (done.stdout, done.stderr)
    said = re.search(
        r'aiokafka: Unable connect to "127\.0\.0\.1:\d+": (.*)', done.stderr
    )
    assert said is not None, done.stderr
    assert said[1] == "TimeoutError", done.stderr


def _filtered(name: str, *args: object) -> str:
    record = logging.LogRecord(name, logging.ERROR, __file__, 1, "%s: %s", args, None)
    assert EmptyReasonsNamed().filter(record)
    return record.getMessage()


def test_only_an_empty_exception_of_a_kafka_logger_is_named():
    assert _filtered("aiokafka", 1, TimeoutError()) == "1: TimeoutError"
    # one with words keeps them; a value that is no exception is left alone
    assert _filtered("aiokafka.conn", 1, OSError("refused")) == "1: refused"
    assert _filtered("aiokafka", 1, "") == "1: "
    # another library's records are not ours to change
    assert _filtered("asyncpg", 1, TimeoutError()) == "1: "


def test_the_framework_s_logging_has_it_too():
    # Faust's worker sets logging up from dict_config (the verifier)
    filters = dict_config()["handlers"]["default"]["filters"]  # type: ignore[index]
    assert filters.index("reasons_named") < filters.index("throttled")
