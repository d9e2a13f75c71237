"""Files named on a command line are regular files read within a bound (F5).

``certseal verify --offline --bundle X --image /dev/zero`` ended in MemoryError or was
killed, and a FIFO hung: the size check used ``stat().st_size``, 0 for both. Every CLI
read of outside input (images, bundles, documents, secret and password files,
configurations) now refuses what is not a regular file and reads at most its limit and
one byte.
"""

from __future__ import annotations

import functools
import os
import threading

import pytest

from certseal import bounds, files
from certseal.config import dump_config
from certseal.errors import CertsealError, ErrorKind
from certseal.files import read_regular_file
from services import cli
from services.config import Config


@pytest.fixture
def fifo(tmp_path):
    path = tmp_path / "scan.fifo"
    os.mkfifo(path)
    return path


def _no_hang(call, *args):
    """``call(*args)`` in a thread that must finish within 20 s; what it returns, or
    what it raises raised again here."""
    outcome: list[tuple[bool, object]] = []

    def run() -> None:
        try:
            outcome.append((True, call(*args)))
        except BaseException as exc:  # handed to the test's thread
            outcome.append((False, exc))

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(20)
    assert not worker.is_alive(), "the read hung"
    ok, value = outcome[0]
    if not ok:
        raise value  # type: ignore[misc]
    return value


@pytest.mark.parametrize("special", ["/dev/zero", "fifo", "folder"])
def test_only_regular_files_are_read(special, fifo, tmp_path):
    path = {"/dev/zero": "/dev/zero", "fifo": fifo, "folder": tmp_path}[special]
    with pytest.raises(CertsealError) as err:
        _no_hang(read_regular_file, path, "image", 100)
    assert (err.value.kind, err.value.field) == (ErrorKind.INVALID_ARGUMENT, "image")
    assert err.value.message == f"not a regular file: {path}"


def test_no_more_than_the_limit_and_one_byte_is_read(tmp_path, monkeypatch):
    big = tmp_path / "big.bin"
    big.write_bytes(b"x" * 5000)
    asked: list[int] = []
    real_read = os.read

    def counting_read(fd: int, n: int) -> bytes:
        asked.append(n)
        return real_read(fd, n)

    monkeypatch.setattr(files.os, "read", counting_read)
    with pytest.raises(CertsealError) as err:
        read_regular_file(big, "bundle", 100)
    # the file named (trial50: `seal pdf` of a file too large said only "file: is …")
    assert err.value.message == (
        f"{big} is 4.9 KiB (5,000 bytes); the limit is 100 bytes"
    )
    assert sum(asked) == 101
    assert read_regular_file(big, "bundle", 5000) == b"x" * 5000
    with pytest.raises(CertsealError, match=r"cannot read .*No such file"):
        read_regular_file(tmp_path / "none", "bundle", 100)


@pytest.mark.parametrize("special", ["/dev/zero", "fifo"])
def test_verify_image_refuses_a_device_or_fifo(special, fifo, tmp_path, capsys):
    path = "/dev/zero" if special == "/dev/zero" else str(fifo)
    bundle = tmp_path / "bundle.cbor"
    bundle.write_bytes(b"\x80")
    argv = ["verify", "--offline", "--bundle", str(bundle), "--image", path]
    assert _no_hang(cli.main, argv) == 2
    assert capsys.readouterr().err == f"error: image: not a regular file: {path}\n"


@pytest.mark.parametrize(
    ("argv", "field"),
    [
        (
            [
                *("--config", "{config}", "verify", "--offline"),
                *("--bundle", "{special}", "LC1:X"),
            ],
            "bundle",
        ),
        (["seal", "inspect", "{special}"], "file"),
        (["seal", "verify-pdf", "{special}"], "file"),
        (["--config", "{special}", "department", "list"], "config"),
    ],
)
@pytest.mark.parametrize("special", ["/dev/zero", "fifo"])
def test_every_cli_input_file_refuses_a_device_or_fifo(
    argv, field, special, fifo, capsys, tmp_path
):
    path = "/dev/zero" if special == "/dev/zero" else str(fifo)
    config = tmp_path / "config.toml"
    config.write_text(dump_config(Config()))
    argv = [a.format(special=path, config=config) for a in argv]
    status = _no_hang(cli.main, argv)
    err = capsys.readouterr().err
    assert status == 2, err
    assert err == f"error: {field}: not a regular file: {path}\n"


def test_the_bounds_hold_the_service_limits():
    assert bounds.MAX_DOCUMENT_FILE_BYTES >= 64 * 1024 * 1024
    assert bounds.MAX_IMAGE_BYTES < bounds.MAX_SMALL_FILE_BYTES * 16


@pytest.mark.parametrize("special", ["/dev/zero", "fifo"])
def test_secret_files_refuse_a_device_or_fifo(special, fifo):
    from pathlib import Path

    from certseal.secretfiles import read_secret_file
    from services.feed.cli import webhook_secret

    path = Path("/dev/zero" if special == "/dev/zero" else fifo)
    for read, field in (
        (webhook_secret, "secret-file"),  # the command's --secret-file
        (
            functools.partial(read_secret_file, field="secrets.kek_file"),
            "secrets.kek_file",
        ),
    ):
        with pytest.raises(CertsealError) as err:
            _no_hang(read, path)
        assert (err.value.field, err.value.message) == (
            field,
            f"not a regular file: {path}",
        )


@pytest.mark.parametrize("stale", ["file", "symlink", "fifo"])
def test_an_atomic_write_makes_its_scratch_afresh(tmp_path, stale):
    """``write_atomically`` writes ``<name>.tmp`` first: whatever a stale scratch is
    (a crash's leftover, a link to a file outside, a FIFO) is removed, never written
    through or waited on (atk18 F4)."""
    outside = tmp_path / "outside.txt"
    outside.write_bytes(b"not ours\n")
    target = tmp_path / "kept.cbor"
    scratch = tmp_path / "kept.cbor.tmp"
    if stale == "file":
        scratch.write_bytes(b"half")
    elif stale == "symlink":
        scratch.symlink_to(outside)
    else:
        os.mkfifo(scratch)
    done = threading.Event()

    def write() -> None:
        files.write_atomically(target, b"new\n")
        done.set()

    thread = threading.Thread(target=write, daemon=True)
    thread.start()
    thread.join(5)
    assert done.is_set(), "the write waited on its scratch"
    assert target.read_bytes() == b"new\n" and not target.is_symlink()
    assert outside.read_bytes() == b"not ours\n"
    assert not scratch.exists()


def test_an_atomic_write_replaces_the_file_whole(tmp_path):
    target = tmp_path / "member"
    target.write_bytes(b"old, longer than the new\n")
    files.write_atomically(target, b"new\n")
    assert target.read_bytes() == b"new\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["member"]


def test_an_atomic_write_over_a_folder_is_an_os_error(tmp_path):
    (tmp_path / "x").mkdir()
    with pytest.raises(IsADirectoryError):
        files.write_atomically(tmp_path / "x", b"y")
    assert not (tmp_path / "x.tmp").exists() or (tmp_path / "x.tmp").is_file()
