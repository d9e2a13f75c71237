"""atk12: the verifier is the service whose wrong settings were already "exit 2, one
line" (certseal.startfail.exit_status: "as the verifier does"), but only for those it
checked before Faust started (its ports). A wrong setting read once Faust ran ended
it with Faust's traceback and exit 1; a broker that was down (not a setting: exit 1
is right) with a traceback too. Now checked before Faust starts
(services/verifier/__main__.py _check_files, services/verifier/broker.py)."""

from __future__ import annotations

import copy

import pytest

from services.devstack import free_port
from tests.e2e.test_busy_ports import _start as _run_service


async def _start(cfg, tmp_path) -> tuple[int, str]:
    done = _run_service("services.verifier", cfg, tmp_path)
    return done.returncode, done.stderr


def _verifier(config, tmp_path):
    cfg = copy.deepcopy(config)
    cfg.verifier.data_dir = str(tmp_path / "verifier")
    cfg.verifier.listen = f"127.0.0.1:{free_port()}"
    cfg.verifier.metrics_listen = f"127.0.0.1:{free_port()}"
    return cfg


@pytest.mark.parametrize(
    "setting",
    [
        "verifier.index_key_files",
        "verifier.log_key",
        "verifier.bundle_cert_file",
        "verifier.data_dir",
        "tls.ca_file",
    ],
)
async def test_a_wrong_verifier_setting_read_after_faust_starts_exits_2(
    stack, config, tmp_path, setting
):
    cfg = _verifier(config, tmp_path)
    absent = str(tmp_path / "absent")
    if setting == "verifier.index_key_files":
        cfg.verifier.index_key_files = [absent]
    elif setting == "verifier.log_key":
        cfg.verifier.log_target = cfg.tlog.listen
        cfg.verifier.log_key = "not a verifier key"
    elif setting == "verifier.bundle_cert_file":
        cfg.verifier.bundle_key = "some-key"
        cfg.verifier.bundle_cert_file = absent
    elif setting == "verifier.data_dir":
        (tmp_path / "a-file").write_text("not a folder")
        cfg.verifier.data_dir = str(tmp_path / "a-file")
    else:
        cfg.tls.ca_file = absent
    code, stderr = await _start(cfg, tmp_path)
    assert code == 2, stderr
    assert "Traceback" not in stderr, stderr
    errors = [line for line in stderr.splitlines() if "error: " in line]
    assert len(errors) == 1, stderr
    assert f"error: {setting}: " in errors[0], stderr


async def test_a_verifier_whose_broker_is_down_exits_1_with_one_line(
    stack, config, tmp_path
):
    cfg = _verifier(config, tmp_path)
    cfg.kafka.bootstrap_servers = f"127.0.0.1:{free_port()}"
    code, stderr = await _start(cfg, tmp_path)
    assert code == 1, stderr  # not the operator's setting: not 2
    assert "Traceback" not in stderr, stderr


async def test_a_partition_count_other_than_the_topics_is_refused(
    stack, config, tmp_path
):
    """nu12: [kafka] topic_partitions raised after the topics were made (24 against
    the topics' count, a quarter of it for the trust and directory topics): the worker's tables could
    not follow their topics (Faust's PartitionsMismatch), its trust list stayed
    empty and every valid licence was UNKNOWN_ISSUER behind SERVING. It now refuses
    to start, naming the setting and the topics."""
    cfg = _verifier(config, tmp_path)
    cfg.kafka.topic_partitions = 24
    code, stderr = await _start(cfg, tmp_path)
    assert code == 2, stderr
    assert "Traceback" not in stderr, stderr
    assert "error: kafka.topic_partitions: 24 does not match" in stderr, stderr
    trust = max(1, config.kafka.topic_partitions // 4)  # what the stack made
    assert f"certseal.trust-events.v1 has {trust} partitions, not 6" in stderr, stderr


async def test_an_index_key_file_of_the_wrong_size_exits_2_naming_the_setting(
    stack, config, tmp_path
):
    cfg = _verifier(config, tmp_path)
    pasted = tmp_path / "index-key.hex"
    pasted.write_text("00" * 32)
    cfg.verifier.index_key_files = [str(pasted)]
    code, stderr = await _start(cfg, tmp_path)
    assert code == 2, stderr
    assert "Traceback" not in stderr, stderr
    errors = [line for line in stderr.splitlines() if "error: " in line]
    assert errors == [
        "services.verifier: error: verifier.index_key_files: "
        f"{pasted} must hold exactly 32 bytes, has 64"
    ], stderr
