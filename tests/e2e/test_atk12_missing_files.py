"""atk12: a setting that names a file that does not exist is a wrong setting: the
service ends with exit status 2 and one line ``services.<name>: error:
<section>.<setting>: <problem>`` (certseal.process.exit_status: "a file that does not
exist"). Most such settings still end with exit 1 and ``[Errno 2] No such file or
directory`` naming no setting (the console's names not even the file), often after
the service has migrated its database; the secret files exit 2 but name
``secret-file``, not the setting."""

from __future__ import annotations

import asyncio
import copy
import sys

import pytest

from certseal.config import dump_config
from services.devstack import free_port

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
    cfg = copy.deepcopy(config)
    for name in ("issuer", "seal", "console", "feed", "tlog"):
        getattr(cfg, name).listen = f"127.0.0.1:{free_port()}"
        getattr(cfg, name).metrics_listen = f"127.0.0.1:{free_port()}"
    missing = tmp_path / "absent"
    setattr(getattr(cfg, section), setting, str(missing))
    config_file = tmp_path / "service.toml"
    config_file.write_text(dump_config(cfg))
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", f"services.{module}", "--config", str(config_file)),
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(120):  # a bound on a start that fails at once
            _, err = await process.communicate()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    stderr = err.decode(errors="replace")
    errors = [line for line in stderr.splitlines() if ": error: " in line]
    assert process.returncode == 2, stderr
    assert errors == [
        f"services.{module}: error: {section}.{setting}: {errors[0].split(': ', 3)[-1]}"
    ], stderr
    assert str(missing) in errors[0], stderr
