"""atk12: a setting that names a file that does not exist is a wrong setting: the
service ends with exit status 2 and one line ``services.<name>: error:
<section>.<setting>: <problem>`` (certseal.startfail.exit_status: "a file that does not
exist"). Most such settings ended with exit 1 and ``[Errno 2] No such file or
directory`` naming no setting (the console's naming not even the file); the secret
files exited 2 naming ``secret-file``, not the setting (certseal.process.
naming_the_setting, certseal.files.check_readable)."""

from __future__ import annotations

import copy

import pytest

from services.devstack import free_port
from tests.e2e.test_busy_ports import _start as _run_service


def on_free_ports(config):
    """A copy of ``config`` whose services listen and export metrics on free ports
    (the session's stack and a ``make run`` hold the defaults)."""
    cfg = copy.deepcopy(config)
    for name in ("issuer", "seal", "console", "feed", "tlog", "verifier"):
        getattr(cfg, name).listen = f"127.0.0.1:{free_port()}"
        getattr(cfg, name).metrics_listen = f"127.0.0.1:{free_port()}"
    return cfg


MISSING = [
    ("issuer", "database", "dsn_file"),
    ("issuer", "tls", "ca_file"),
    ("issuer", "tls", "cert_file"),
    ("feed", "tls", "key_file"),
    ("seal", "seal", "ca_key_file"),
    ("console", "console", "https_cert_file"),
    ("issuer", "issuer", "index_key_file"),
    ("tlog", "tlog", "signing_key_file"),
]


@pytest.mark.parametrize("case", MISSING, ids=lambda case: ".".join(case[1:]))
async def test_a_setting_naming_a_missing_file_exits_2_naming_it(
    stack, config, tmp_path, case
):
    module, section, setting = case
    cfg = on_free_ports(config)
    missing = tmp_path / "absent"
    setattr(getattr(cfg, section), setting, str(missing))
    done = _run_service(f"services.{module}", cfg, tmp_path)
    stderr = done.stderr
    errors = [line for line in stderr.splitlines() if ": error: " in line]
    assert done.returncode == 2, stderr
    assert errors == [
        f"services.{module}: error: {section}.{setting}: {errors[0].split(': ', 3)[-1]}"
    ], stderr
    assert str(missing) in errors[0], stderr


SECRETS = [
    ("issuer", "secrets", "kek_file"),
    ("issuer", "secrets", "data_key_file"),
    ("issuer", "issuer", "index_key_file"),
    ("feed", "secrets", "kek_file"),
    ("seal", "secrets", "kek_file"),
    ("tlog", "tlog", "signing_key_file"),
    ("issuer", "secrets", "answers_key_file"),
    ("seal", "secrets", "answers_key_file"),
    ("feed", "secrets", "answers_key_file"),
]


@pytest.mark.parametrize("case", SECRETS, ids=lambda case: "-".join(case))
async def test_a_secret_file_of_the_wrong_size_exits_2_naming_its_setting(
    stack, config, tmp_path, case
):
    """A key file that holds another length than 32 bytes (a key pasted as hex or
    base64, a file cut short) is a wrong setting too: exit 2, the setting named (it
    exited 1 naming only the file)."""
    module, section, setting = case
    cfg = on_free_ports(config)
    pasted = tmp_path / "key.b64"
    pasted.write_text("q83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq80=\n")
    setattr(getattr(cfg, section), setting, str(pasted))
    done = _run_service(f"services.{module}", cfg, tmp_path)
    errors = [line for line in done.stderr.splitlines() if ": error: " in line]
    assert done.returncode == 2, done.stderr
    assert errors == [
        f"services.{module}: error: {section}.{setting}: {pasted} must hold exactly "
        "32 bytes, has 45"
    ], done.stderr
