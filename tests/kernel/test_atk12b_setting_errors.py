"""atk12b: the fixes after atk12 and nu12 attacked from outside: a start-up error
mapped to the setting that names its file (certseal.startfail.naming_the_setting) and a
DSN that is not one (certseal.storage.pool.create_pool).

Findings, each fixed and tested here:

- a DSN whose password holds a character a URI reserves (``/``, ``#``, ``?``, common
  in generated passwords) is printed, in part or whole, in the one-line error: asyncpg's
  parser quotes the piece it could not read, and create_pool puts that text in its
  message;
- an OSError about a setting's file that is not the setting's fault (too many open
  files, an I/O error) is made a wrong setting, exit 2, which the issuer's supervisor
  now takes as "stop the whole issuer" instead of restarting the child;
- an OSError about the empty file name is mapped to the first setting of the
  configuration whose value is empty (``kafka.ssl_cafile``), not one the service read;
- a secret file that is a folder (or a FIFO) is refused as ``secret-file`` naming the
  file but not the setting: that refusal quotes no path, so the mapping finds none;
- a DSN naming a root certificate that does not exist (``sslrootcert``) ends the start
  with "[Errno 2] No such file or directory", exit 1, naming neither file nor setting.
"""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from certseal.errors import CertsealError
from certseal.secretfiles import KEK, read_secret_file
from certseal.startfail import exit_status, naming_the_setting
from certseal.storage.pool import create_pool
from services.config import load

PASSWORD = "Hunter2xyz"


@pytest.mark.parametrize(
    "dsn",
    [
        # a '/' or '#' ends the authority: the password is read as the port
        f"postgresql://certseal:{PASSWORD}/rest@127.0.0.1:5432/certseal",
        f"postgresql://certseal:{PASSWORD}#rest@127.0.0.1:5432/certseal",
        # a '?' starts the query: the rest of the password is "a bad query field"
        f"postgresql://certseal:pre?{PASSWORD}@127.0.0.1:5432/certseal",
    ],
)
async def test_a_dsn_that_is_not_one_never_prints_its_password(dsn):
    with pytest.raises(CertsealError) as caught:
        await create_pool(dsn, min_size=1, max_size=1)
    assert caught.value.field == "database.dsn_file"
    assert PASSWORD not in str(caught.value)


@pytest.mark.parametrize(
    "code", [errno.EMFILE, errno.ENFILE, errno.EIO, errno.ENOMEM, errno.EAGAIN]
)
def test_an_os_error_that_is_not_the_settings_fault_is_not_exit_2(code):
    cfg = load(None)
    exc = OSError(code, "transient", cfg.tls.cert_file)
    assert exit_status(naming_the_setting(exc, cfg)) == 1


def test_a_missing_settings_file_is_still_exit_2_naming_it():
    """What held: the mapping itself (ENOENT, EACCES on the file a setting names)."""
    cfg = load(None)
    for code in (errno.ENOENT, errno.EACCES):
        mapped = naming_the_setting(OSError(code, "x", cfg.tls.cert_file), cfg)
        assert isinstance(mapped, CertsealError)
        assert mapped.field == "tls.cert_file"
        assert exit_status(mapped) == 2


def test_the_empty_file_name_is_not_mapped_to_an_unrelated_empty_setting():
    cfg = load(None)
    cfg.tls.ca_file = ""
    try:
        open("")  # noqa: SIM115 - the OSError an empty path setting gives
    except OSError as exc:
        mapped = naming_the_setting(exc, cfg)
    assert not (
        isinstance(mapped, CertsealError) and mapped.field == "kafka.ssl_cafile"
    ), mapped


def test_a_secret_file_that_is_a_folder_names_its_setting(tmp_path: Path):
    cfg = load(None)
    cfg.secrets.kek_file = str(tmp_path)
    with pytest.raises(CertsealError) as caught:
        read_secret_file(Path(cfg.secrets.kek_file), KEK)
    mapped = naming_the_setting(caught.value, cfg)
    assert isinstance(mapped, CertsealError)
    assert mapped.field == "secrets.kek_file"


def test_a_missing_secret_file_names_its_setting(tmp_path: Path):
    """What held: a secret file that does not exist is told by its setting."""
    cfg = load(None)
    cfg.secrets.kek_file = str(tmp_path / "absent")
    with pytest.raises(CertsealError) as caught:
        read_secret_file(Path(cfg.secrets.kek_file), KEK)
    mapped = naming_the_setting(caught.value, cfg)
    assert isinstance(mapped, CertsealError)
    assert mapped.field == "secrets.kek_file"
    assert exit_status(mapped) == 2


async def test_a_dsn_naming_a_missing_root_certificate_names_the_dsn_file(
    tmp_path: Path,
):
    dsn = (
        "postgresql://certseal@127.0.0.1:1/certseal"
        f"?sslmode=verify-full&sslrootcert={tmp_path / 'absent.pem'}"
    )
    with pytest.raises(CertsealError) as caught:
        await create_pool(dsn, min_size=1, max_size=1)
    assert caught.value.field == "database.dsn_file"
