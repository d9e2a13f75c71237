"""The verifier logs as every other service does: JSON lines (or ``make run``'s plain
lines), before Faust's worker starts and after. Found by a new user: a verifier's
start-up warning about an index built from another Kafka cluster was a bare line
without time or level (logging not yet set up), and every later line was Faust's own
coloured format, so a log shipper reading JSON lines lost the verifier's."""

from __future__ import annotations

import json
import logging
import logging.config
from pathlib import Path

from certseal import logs
from certseal.kafka import EMBEDDED_CLUSTER_PREFIX
from tests.conftest import verifier_process


async def _serve_over_an_index_built_from(
    stack, config, tmp_path, cluster_id: str
) -> tuple[Path, list[str]]:
    """Start a worker (at info) on a folder holding an index built from the Kafka
    cluster ``cluster_id``, until it serves; the folder and its log's lines."""
    worker = verifier_process(stack, config, tmp_path, "logs", "--log-level", "info")
    folder = tmp_path / "data" / worker.group
    folder.mkdir(parents=True)
    (folder / "kafka-cluster-id").write_text(cluster_id)
    (folder / "left-over").write_text("an index of that cluster")
    await worker.start()
    try:
        await worker.wait_serving()
    finally:
        await worker.stop()
    log = (tmp_path / f"{worker.group}.log").read_text(errors="replace")
    return folder, log.splitlines()


def _records(lines: list[str]) -> list[dict]:
    return [json.loads(line) for line in lines if line.startswith("{")]


async def test_start_up_and_faust_lines_are_json(stack, config, tmp_path):
    _, lines = await _serve_over_an_index_built_from(
        stack, config, tmp_path, "another-cluster"
    )
    records = _records(lines)
    dropped = [r for r in records if "another Kafka cluster" in r["msg"]]
    assert [r["level"] for r in dropped] == ["warning"], lines
    # Faust's own records (info: the worker starting, its app) in the same format
    assert any(r["logger"].startswith(("faust", "mode")) for r in records), lines
    # no record in Faust's format ("[2026-12-01 15:22:35,179] [pid] [LEVEL] ...")
    assert not [line for line in lines if line.startswith("[20")], lines
    assert not [line for line in lines if "another Kafka cluster" in line][1:]


async def test_an_index_of_the_embedded_brokers_last_start_is_rebuilt_quietly(
    stack, config, tmp_path
):
    """nu23: every ``make run`` warned that the index "was built from another Kafka
    cluster": the embedded broker is a new cluster at each start, so the rebuild is
    what should happen, and is said at info."""
    folder, lines = await _serve_over_an_index_built_from(
        stack, config, tmp_path, f"{EMBEDDED_CLUSTER_PREFIX}0123456789ab"
    )
    dropped = [r for r in _records(lines) if r["msg"].startswith(f"index in {folder}")]
    assert [(r["level"], "embedded broker" in r["msg"]) for r in dropped] == [
        ("info", True)
    ], lines
    assert not (folder / "left-over").exists()


def test_the_dict_config_formats_as_the_environment_says(monkeypatch):
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        for value, kind in (("text", logs.TextFormatter), ("", logs.JsonFormatter)):
            monkeypatch.setenv("CERTSEAL_LOG_FORMAT", value)
            logging.config.dictConfig(logs.dict_config("WARNING"))
            assert [type(h.formatter) for h in root.handlers] == [kind]
            assert root.level == logging.WARNING
            assert logging.getLogger("aiokafka").level == logging.WARNING
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
