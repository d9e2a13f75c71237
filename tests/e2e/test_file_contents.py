"""A setting that names a readable file holding the wrong thing (not a certificate,
not a key, another certificate's key) is a wrong setting: the service ends with exit
status 2 and one line naming that setting. Before, gRPC's server did not bind and the
error blamed ``<service>.listen`` ("cannot be listened on"), the console said
``[SSL] PEM lib``, and the seal service ``Incorrect padding`` (exit 1)
(certseal/tlsfiles.py, services/seal/certificates.py ``SealCa.from_files``)."""

from __future__ import annotations

import pytest

from tests.conftest import run_certseal
from tests.e2e.test_atk12_missing_files import on_free_ports
from tests.e2e.test_busy_ports import _start as _run_service

NOT_A_CERTIFICATE = (
    "-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n"
)


def wrong(cfg, what: str, tmp_path) -> str:
    """A file holding ``what``: ``garbage`` (a PEM armour around no certificate),
    ``certificate`` (a certificate where a key belongs), ``other-key`` (another
    identity's key)."""
    if what == "certificate":
        return cfg.tls.cert_file
    if what == "other-key":
        return cfg.verifier.key_file  # service:verifier's key, not [tls]'s
    path = tmp_path / "garbage.pem"
    path.write_text(NOT_A_CERTIFICATE)
    return str(path)


CASES = [
    ("issuer", "tls", "ca_file", "garbage"),
    ("issuer", "tls", "cert_file", "garbage"),
    ("issuer", "tls", "key_file", "garbage"),
    ("issuer", "tls", "key_file", "certificate"),
    ("issuer", "tls", "key_file", "other-key"),
    ("feed", "tls", "cert_file", "garbage"),
    ("tlog", "tls", "key_file", "other-key"),
    ("seal", "seal", "ca_cert_file", "garbage"),
    ("seal", "seal", "ca_key_file", "garbage"),
    ("seal", "seal", "ca_key_file", "other-key"),
    ("console", "console", "https_cert_file", "garbage"),
    ("console", "console", "https_key_file", "other-key"),
    ("console", "console", "client_ca_file", "garbage"),
    ("verifier", "verifier", "key_file", "other-key"),
    ("feed", "feed", "webhook_ca_file", "garbage"),
    ("seal", "seal", "trusted_ca_files", "garbage"),
    ("seal", "seal", "tsa_trusted_ca_files", "garbage"),
    ("verifier", "tls", "ca_file", "garbage"),
]


@pytest.mark.parametrize("case", CASES, ids=lambda case: "-".join(case))
async def test_a_file_holding_the_wrong_thing_exits_2_naming_its_setting(
    stack, config, tmp_path, case
):
    module, section, setting, what = case
    cfg = on_free_ports(config)
    cfg.verifier.data_dir = str(tmp_path / "verifier")
    if (module, setting) == ("verifier", "key_file"):
        cfg.verifier.cert_file = config.tls.cert_file  # its own pair: [tls]'s cert
    if (module, section) == ("console", "console"):
        cfg.console.https_cert_file = config.tls.cert_file
        cfg.console.https_key_file = config.tls.key_file
    path = wrong(config, what, tmp_path)
    many = setting.endswith("_files")  # a list of files
    setattr(getattr(cfg, section), setting, [path] if many else path)
    done = _run_service(f"services.{module}", cfg, tmp_path)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    errors = [line for line in done.stderr.splitlines() if "error: " in line]
    assert len(errors) == 1 and f"error: {section}.{setting}: {path}" in errors[0], (
        done.stderr
    )


@pytest.mark.parametrize("what", ["garbage", "other-key"])
async def test_the_cli_names_its_own_wrong_key_file(config, tmp_path, what):
    """The command's own identity (``[cli] key_file``): it said "is certseal
    running?" (gRPC only failed to connect), exit 1."""
    path = wrong(config, what, tmp_path)
    code, out = await run_certseal(
        config, tmp_path, "department", "list", key_file=path
    )
    assert code == 2, out
    assert f"error: cli.key_file: {path}" in out.splitlines()[-1], out
