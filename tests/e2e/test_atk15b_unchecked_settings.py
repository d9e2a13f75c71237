"""atk15b: settings naming a file or folder that fix15's start-up checks still let
through.

- ``verifier.data_dir`` (services/verifier/__main__.py ``_check_files``): refused
  when it exists and is no folder, but ``Path.exists()`` is False for a symbolic
  link loop, a dangling link (a volume not mounted behind it) and a path under a
  regular file; ``prepare_data_dir`` then fails in ``mkdir`` with a traceback, exit
  1 (``OSError: [Errno 40] Too many levels of symbolic links``, ``NotADirectoryError``,
  ``FileExistsError``).
- A service's own pair (``[feed] cert_file``/``key_file``, every ServiceSection) is
  used only when both are set (``ServiceSection.identity``): with one of them set,
  the service silently presents the ``[tls]`` pair and never reads the file named,
  whatever it holds. The seal's SM2 CA likewise: ``sm2_ca_key_file`` without
  ``sm2_ca_cert_file`` is ignored, and SM2 seals chain to the P-256 CA. ``[kafka]``
  refuses the same half pair ("names a key but kafka.ssl_certfile is empty: set both
  (mTLS) or neither").
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from certseal.config import dump_config
from tests.e2e.test_atk12_missing_files import on_free_ports
from tests.e2e.test_atk14b_file_settings import (
    NOT_A_CERTIFICATE,
    one_line_naming,
    start,
)


def data_dir_of(tmp_path, what: str) -> str:
    if what == "symlink-loop":
        os.symlink(tmp_path / "loop", tmp_path / "loop")
        return str(tmp_path / "loop")
    if what == "dangling-symlink":  # a volume that is not mounted
        os.symlink(tmp_path / "unmounted" / "verifier", tmp_path / "verifier")
        return str(tmp_path / "verifier")
    if what == "nothing-can-be-made-there":  # /proc: writable for root, yet no mkdir
        return f"/proc/certseal-{os.getpid()}"
    (tmp_path / "a-file").write_text("not a folder\n")
    return str(tmp_path / "a-file" / "verifier")


@pytest.mark.parametrize(
    "what",
    ["symlink-loop", "dangling-symlink", "under-a-file", "nothing-can-be-made-there"],
)
async def test_a_verifier_data_dir_that_cannot_be_a_folder_names_its_setting(
    stack, config, tmp_path, what
):
    cfg = on_free_ports(config)
    cfg.verifier.data_dir = data_dir_of(tmp_path, what)
    done = start("services.verifier", cfg, tmp_path, timeout=60)
    one_line_naming(done, "verifier.data_dir")


@pytest.mark.parametrize(
    "module,setting,other",
    [
        ("feed", "feed.cert_file", "feed.key_file"),
        ("seal", "seal.sm2_ca_key_file", "seal.sm2_ca_cert_file"),
    ],
)
async def test_half_a_pair_of_files_is_refused(
    stack, config, tmp_path, module, setting, other
):
    garbage = tmp_path / "garbage.pem"
    garbage.write_text(NOT_A_CERTIFICATE)
    cfg = on_free_ports(config)
    for name, value in ((setting, str(garbage)), (other, "")):
        section, field = name.split(".")
        setattr(getattr(cfg, section), field, value)
    done = start(f"services.{module}", cfg, tmp_path, timeout=20)
    assert done.returncode == 2, done.stderr[-3000:]  # None: it started
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    errors = [line for line in done.stderr.splitlines() if "error: " in line]
    assert len(errors) == 1, done.stderr[-3000:]
    assert f"error: {setting}: " in errors[0] or f"error: {other}: " in errors[0]


@pytest.mark.parametrize(
    ("module", "setting", "taken"),
    [
        ("tlog", "tlog.metrics_listen", "listen"),
        ("issuer", "issuer.metrics_listen", "listen"),
        ("verifier", "verifier.metrics_listen", "listen"),
        ("console", "console.metrics_listen", "listen"),
        ("seal", "seal.tsa_listen", "listen"),
    ],
)
async def test_two_listens_of_one_process_on_one_port_are_refused_at_start(
    stack, config, tmp_path, module, setting, taken
):
    """nu22: a start given one port twice bound the first, failed on the second and
    said another process listened there."""
    cfg = on_free_ports(config)
    section, field = setting.split(".")
    values = getattr(cfg, section)
    setattr(values, field, getattr(values, taken))
    done = start(f"services.{module}", cfg, tmp_path, timeout=30)
    one_line_naming(done, setting)
    assert f"takes the port of {section}.{taken}" in done.stderr


def test_a_verifier_flag_giving_a_port_twice_is_refused(config, tmp_path):
    """The worker's --listen/--metrics-listen/--probe-listen flags replace the
    settings after the configuration's checks: the ports are compared as the flags
    left them."""
    cfg = on_free_ports(config)
    config_file = tmp_path / "verifier.toml"
    config_file.write_text(dump_config(cfg))
    command = [sys.executable, "-m", "services.verifier", "--config", str(config_file)]
    command += ["--probe-listen", cfg.verifier.listen]
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=60, check=False
    )
    one_line_naming(done, "verifier.probe_listen")
    assert "takes the port of verifier.listen" in done.stderr


def test_a_supervisor_whose_children_would_take_its_listen_port_refuses(
    config, tmp_path
):
    """atk23 F2: the first child was started with the gRPC port as its metrics
    port, and said so naming a value no file holds."""
    cfg = on_free_ports(config)
    cfg.issuer.workers = 1
    host, _, port = cfg.issuer.listen.rpartition(":")
    cfg.issuer.metrics_listen = f"{host}:{int(port) - 1}"
    done = start("services.issuer", cfg, tmp_path, timeout=30)
    one_line_naming(done, "issuer.metrics_listen")
    assert f"one of them issuer.listen's ({cfg.issuer.listen})" in done.stderr


def test_children_of_a_supervisor_on_any_free_port_take_any_free_port(config):
    cfg = on_free_ports(config)
    cfg.issuer.workers, cfg.issuer.metrics_listen = 2, "127.0.0.1:0"
    assert [cfg.issuer.child_metrics_listen(i) for i in range(3)] == 3 * [
        "127.0.0.1:0"
    ]  # not ports 1 to 3
    cfg.issuer.check_child_ports()
