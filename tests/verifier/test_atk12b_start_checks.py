"""atk12b: what a verifier worker now checks before Faust starts, attacked from
outside (services/verifier/start_checks.py ``check_files``, services/verifier/broker.py
``partition_mismatches``). A false refusal is worse than the traceback it replaced: a
verifier that served before no longer starts.

Findings, each fixed and tested here:

- a broker on which the platform's topics are not made yet but any other topic is (a
  shared cluster) ends the partition check with a KeyError, so the verifier ends with
  a traceback: ``describe_topics([])`` is a metadata request for every topic;
- ``[verifier] bundle_cert_file`` is checked whenever it is set, but the worker reads
  it only when ``[verifier] bundle_key`` is set (app.bundle_signer): a verifier that
  signs bundles with its TLS pair and keeps a stale bundle_cert_file is refused.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from aiokafka.admin import NewTopic

from certseal.devpki import DevCA
from certseal.errors import CertsealError
from certseal.events import LICENCE_EVENTS, default_topics
from certseal.kafka import ensure_topics
from services.config import Config, load
from services.devstack import DevStack
from services.verifier.broker import partition_mismatches
from services.verifier.start_checks import check_files

PARTITIONS = 4


@pytest.fixture
def empty_broker(tmp_path: Path):
    """A broker of its own, with no topic yet, and a configuration pointing at it."""
    broker = DevStack(tmp_path / "broker", topic_partitions=PARTITIONS)
    port = broker._start_broker()
    cfg = load(None)
    cfg.kafka.bootstrap_servers = f"127.0.0.1:{port}"
    cfg.kafka.topic_partitions = PARTITIONS
    yield cfg
    broker.stop()


async def _make_topic(cfg: Config, topic: NewTopic) -> None:
    admin = cfg.kafka.settings("atk12b").admin()
    await admin.start()
    try:
        await admin.create_topics([topic])
    finally:
        await admin.close()


async def test_no_topic_made_yet_is_no_mismatch(empty_broker):
    """What held: a broker with no topic at all is no refusal."""
    assert await partition_mismatches(empty_broker) == []


async def test_a_shared_broker_without_the_platforms_topics_is_no_mismatch(
    empty_broker,
):
    await _make_topic(empty_broker, NewTopic("another-application", 3, 1))
    assert await partition_mismatches(empty_broker) == []


async def test_topics_of_another_count_are_a_mismatch(empty_broker):
    """What held: topics made with another count are found, and only they."""
    await ensure_topics(
        empty_broker.kafka.settings("atk12b").admin, default_topics(PARTITIONS * 2)
    )
    mismatches = await partition_mismatches(empty_broker)
    assert any(m.startswith(f"{LICENCE_EVENTS} has 8 ") for m in mismatches)


def _files_config(tmp_path: Path) -> Config:
    cfg = load(None)
    ca = DevCA(tmp_path / "ca")
    pair = ca.identity("service:verifier", server=True)
    cfg.tls.ca_file = str(ca.ca_file)
    cfg.tls.cert_file, cfg.tls.key_file = str(pair.cert_file), str(pair.key_file)
    index_key = tmp_path / "index-key"
    index_key.write_bytes(os.urandom(32))
    cfg.verifier.index_key_files = [str(index_key)]
    cfg.verifier.data_dir = str(tmp_path / "verifier")
    return cfg


def test_readable_files_pass_and_a_missing_one_is_named(tmp_path: Path):
    """What held: the files the worker reads are checked, each by its setting."""
    cfg = _files_config(tmp_path)
    check_files(cfg)
    cfg.verifier.cert_file = str(tmp_path / "absent.crt")
    cfg.verifier.key_file = cfg.tls.key_file
    with pytest.raises(CertsealError) as caught:
        check_files(cfg)
    assert caught.value.field == "verifier.cert_file"


def test_a_bundle_cert_file_the_worker_does_not_read_is_not_refused(tmp_path: Path):
    cfg = _files_config(tmp_path)
    cfg.verifier.bundle_key = ""  # bundles signed with the TLS pair
    cfg.verifier.bundle_cert_file = str(tmp_path / "token-era-bundle.crt")
    check_files(cfg)
