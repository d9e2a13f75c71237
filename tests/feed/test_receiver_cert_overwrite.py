"""``certseal feed receiver-cert NAME`` writes ``server-NAME.key`` and ``.pem`` in the
dev CA's folder. It replaced an existing key without a word, so a receiver already
serving with it broke at its next handshake and the old key was gone. An existing key
is now kept unless ``--force`` is given: ``error: name: ...`` and exit 2, nothing
written."""

from __future__ import annotations

import asyncio
from pathlib import Path

from certseal.config import dump_config
from certseal.devpki import DevCA
from services import cli
from services.config import Config


def _config(tmp_path: Path) -> tuple[Path, Path]:
    ca = DevCA(tmp_path / "ca")
    cfg = Config()
    cfg.tls.ca_file = str(ca.ca_file)
    path = tmp_path / "cli.toml"
    path.write_text(dump_config(cfg))
    return path, ca.folder


async def _run(capsys, *argv: str) -> tuple[int, str]:
    status = await asyncio.to_thread(cli.main, list(argv))
    out = capsys.readouterr()
    return status, out.out + out.err


async def test_an_existing_receiver_key_is_kept_unless_forced(capsys, tmp_path):
    config, folder = _config(tmp_path)
    status, out = await _run(
        capsys, "--config", str(config), "feed", "receiver-cert", "hook"
    )
    assert status == 0, out
    key, cert = folder / "server-hook.key", folder / "server-hook.pem"
    first = (key.read_bytes(), cert.read_bytes())

    status, out = await _run(
        capsys, "--config", str(config), "feed", "receiver-cert", "hook"
    )
    assert status == 2, out
    assert out.startswith(f"error: name: {key} exists"), out
    assert "--force" in out
    assert (key.read_bytes(), cert.read_bytes()) == first  # nothing replaced

    status, out = await _run(
        capsys, "--config", str(config), "feed", "receiver-cert", "hook", "--force"
    )
    assert status == 0, out
    assert key.read_bytes() != first[0] and cert.read_bytes() != first[1]


async def test_a_certificate_without_its_key_is_refused_too(capsys, tmp_path):
    """Either file there: the pair is one identity, replaced together or not at all."""
    config, folder = _config(tmp_path)
    (folder / "server-other.pem").write_text("kept\n")
    status, out = await _run(
        capsys, "--config", str(config), "feed", "receiver-cert", "other"
    )
    assert status == 2 and out.startswith("error: name: "), out
    assert (folder / "server-other.pem").read_text() == "kept\n"
    assert not (folder / "server-other.key").exists()
