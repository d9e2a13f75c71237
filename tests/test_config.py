"""Configuration files: defaults, layering, and errors that name the setting."""

import pytest

from certseal.config import load_config
from certseal.errors import CertsealError


def test_later_files_replace_settings_one_by_one(tmp_path):
    base = tmp_path / "base.toml"
    base.write_text('[console]\nlisten = "0.0.0.0:8443"\nrefresh_s = 5.0\n')
    overlay = tmp_path / "console.toml"
    overlay.write_text('[console]\nverifier_targets = ["verifier-gz:50052"]\n')
    cfg = load_config([base, overlay])
    assert cfg.console.listen == "0.0.0.0:8443" and cfg.console.refresh_s == 5.0
    assert cfg.console.verifier_targets == ["verifier-gz:50052"]
    assert cfg.issuer.listen == "127.0.0.1:50051"  # untouched: the default
    assert load_config(None).console.verifier_targets == ["127.0.0.1:50052"]


def test_errors_name_the_file_or_setting(tmp_path):
    typo = tmp_path / "typo.toml"
    typo.write_text('[console]\nlisen = "x"\n')
    with pytest.raises(
        CertsealError, match=r"unknown setting\(s\) lisen in \[console\]"
    ):
        load_config(typo)
    with pytest.raises(CertsealError, match="does not exist"):
        load_config([typo.parent / "missing.toml"])
    broken = tmp_path / "broken.toml"
    broken.write_text("[console\n")
    with pytest.raises(CertsealError, match=r"broken\.toml"):
        load_config(broken)


@pytest.mark.parametrize("service", ["services.console", "services.seal"])
def test_a_service_given_a_bad_configuration_says_so_in_one_line(service, tmp_path):
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", service, "--config", str(tmp_path / "missing.toml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert f"{service}: error: configuration file" in done.stderr
    assert "Traceback" not in done.stderr
