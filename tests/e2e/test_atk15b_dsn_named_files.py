"""atk15b: ``database.dsn_file`` is read and checked at start (fix15,
certseal/secretfiles.py ``read_dsn_file``), but not the files its connection string
names, nor is the string kept out of every message.

A DSN asyncpg takes may name files in its query: ``sslrootcert`` (with
``sslmode=require`` or stricter), ``sslcert``, ``sslkey``, ``sslcrl``. asyncpg opens
them while it parses the string, before connecting. ``naming_the_dsn_file``
(certseal/storage/pool.py) turns a missing or unreadable one into
``database.dsn_file: names a file that cannot be read``, but

- one that holds no certificate raises ``ssl.SSLError`` (an OSError): the service
  exits 1 with ``services.issuer: error: [X509] PEM lib (_ssl.c:4154)``, naming no
  setting, and the CLI says ``error: database: PostgreSQL at ... is unreachable: is
  certseal running?`` (a setting's fault told as an outage);
- a FIFO blocks ``ssl``'s ``load_verify_locations`` for ever: the start hangs, with
  no line at all.

And the CLI's "unreachable" message (``certseal.cli.database_unreachable``) takes
the host as what follows the DSN's last ``@``: with the password in the query
(``?password=...``, a form asyncpg takes) and an ``@`` in it, it prints the
password's tail. And every refusal of asyncpg's parser (a ValueError) is told as
"characters such as / # ? @ : in the user name or password must be
percent-encoded", also ``sslmode=verify-full`` without a root certificate (no
``sslrootcert``, no ``~/.postgresql/root.crt``) or a misspelt ``sslmode``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from services.devstack import free_port
from tests.conftest import run_certseal
from tests.e2e.test_atk12_missing_files import on_free_ports
from tests.e2e.test_atk14b_file_settings import (
    NOT_A_CERTIFICATE,
    one_line_naming,
    start,
)


def dsn_naming(config, tmp_path, query: str) -> str:
    """A DSN file: the session stack's connection string and ``query``."""
    dsn = Path(config.database.dsn_file).read_text().strip()
    path = tmp_path / "database.dsn"
    path.write_text(dsn + ("&" if "?" in dsn else "?") + query + "\n")
    return str(path)


def root_certificate(tmp_path, what: str) -> Path:
    path = tmp_path / f"root-{what}.crt"
    if what == "garbage":
        path.write_text(NOT_A_CERTIFICATE)
    elif what == "fifo":
        os.mkfifo(path)
    return path


@pytest.mark.parametrize("what", ["garbage", "fifo"])
async def test_a_file_the_dsn_names_that_cannot_be_used_names_the_dsn_file(
    stack, config, tmp_path, what
):
    cfg = on_free_ports(config)
    root = root_certificate(tmp_path, what)
    cfg.database.dsn_file = dsn_naming(
        config, tmp_path, f"sslmode=require&sslrootcert={root}"
    )
    done = start("services.issuer", cfg, tmp_path, timeout=20)
    one_line_naming(done, "database.dsn_file")


async def test_a_command_names_the_dsn_file_for_a_file_it_names(
    stack, config, tmp_path
):
    cfg = on_free_ports(config)
    root = root_certificate(tmp_path, "garbage")
    cfg.database.dsn_file = dsn_naming(
        config, tmp_path, f"sslmode=require&sslrootcert={root}"
    )
    code, out = await run_certseal(cfg, tmp_path, "audit", "verify")
    assert code == 2, out
    assert "Traceback" not in out, out
    assert out.splitlines()[-1].startswith("error: database.dsn_file: "), out


async def test_an_unreachable_database_is_told_without_the_password(
    stack, config, tmp_path
):
    path = tmp_path / "database.dsn"
    # nobody listens on the port; the password is in the query, as asyncpg takes it
    path.write_text(
        f"postgresql://certseal@127.0.0.1:{free_port()}/certseal"
        "?password=Kq7@Zr9xTailOfThePassword\n"
    )
    cfg = on_free_ports(config)
    cfg.database.dsn_file = str(path)
    code, out = await run_certseal(cfg, tmp_path, "audit", "verify")
    assert code != 0, out
    assert "cannot connect to PostgreSQL at 127.0.0.1:" in out, out  # this path
    assert "TailOfThePassword" not in out and "Kq7" not in out, out


@pytest.mark.parametrize(
    "query,says",
    [
        ("sslmode=verify-full", "root"),
        ("sslmode=verify-ca", "root"),
        # asyncpg reads an underscore as a hyphen: this is verify-full, not misspelt
        ("sslmode=verify_full", "root"),
        ("sslmode=verify-fulll", "sslmode"),
        ("sslmode=requir", "sslmode"),
        ("sslmode=REQUIRE", "sslmode"),
    ],
)
async def test_a_dsn_setting_asyncpg_refuses_is_told_for_what_it_is(
    tmp_path, monkeypatch, query, says
):
    """verify-full with no sslrootcert and no ~/.postgresql/root.crt (asyncpg: 'root
    certificate file ... does not exist or cannot be accessed'), and a misspelt
    sslmode (``verify_full`` is no misspelling: asyncpg reads ``_`` as ``-``):
    neither is about the password's characters, and neither message of
    asyncpg's quotes the password."""
    from certseal.errors import CertsealError
    from certseal.storage.pool import create_pool

    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.postgresql/root.crt
    monkeypatch.delenv("PGSSLROOTCERT", raising=False)
    dsn = f"postgresql://certseal:pw@127.0.0.1:{free_port()}/certseal?{query}"
    with pytest.raises(CertsealError) as refused:
        await create_pool(dsn, min_size=1, max_size=1)
    assert refused.value.field == "database.dsn_file"
    assert "percent-encoded" not in refused.value.message, refused.value
    assert says in refused.value.message, refused.value


# -- more of the kind (fix15b) ---------------------------------------------------


def pem_files(tmp_path):
    from certseal.devpki import DevCA

    ca = DevCA(tmp_path / "pki")
    client = ca.identity("certseal")
    return str(ca.ca_file), str(client.cert_file), str(client.key_file)


@pytest.mark.parametrize(
    "setting,what",
    [
        ("sslrootcert", "garbage"),
        ("sslrootcert", "fifo"),
        ("sslrootcert", "missing"),
        ("sslrootcert", "directory"),
        ("sslcrl", "garbage"),
        ("sslcrl", "fifo"),
        ("sslcert", "garbage"),
        ("sslcert", "fifo"),
        ("sslkey", "garbage"),
        ("sslkey", "fifo"),
    ],
)
def test_each_file_a_dsn_names_is_read_and_parsed_with_the_dsn(tmp_path, setting, what):
    """read_dsn_file (every reader of the DSN) reads the files its query names as
    asyncpg would open them, and names the query setting: one line, no hang."""
    from certseal.errors import CertsealError
    from certseal.secretfiles import read_dsn_file

    ca, cert, key = pem_files(tmp_path)
    files = {"sslrootcert": ca, "sslcert": cert, "sslkey": key}
    bad = tmp_path / f"bad-{setting}"
    if what == "garbage":
        bad.write_text(NOT_A_CERTIFICATE)
    elif what == "fifo":
        os.mkfifo(bad)
    elif what == "directory":
        bad.mkdir()
    files[setting] = str(bad)
    query = "&".join(f"{name}={path}" for name, path in files.items())
    dsn = tmp_path / "database.dsn"
    dsn.write_text(f"postgresql://u:s3cretpw@127.0.0.1:1/db?sslmode=require&{query}")
    with pytest.raises(CertsealError) as refused:
        read_dsn_file(dsn)
    assert refused.value.field == "database.dsn_file"
    assert f"its {setting}: " in refused.value.message, refused.value
    assert "s3cretpw" not in str(refused.value)


@pytest.mark.parametrize(
    "mode", ["disable", "allow", "prefer", "require", "verify-full"]
)
def test_a_dsn_naming_usable_files_is_taken(tmp_path, mode):
    from certseal.secretfiles import read_dsn_file

    ca, cert, key = pem_files(tmp_path)
    dsn = tmp_path / "database.dsn"
    text = (
        f"postgresql://u:pw@127.0.0.1:1/db?sslmode={mode}&sslrootcert={ca}"
        f"&sslcert={cert}&sslkey={key}"
    )
    dsn.write_text(text + "\n")
    assert read_dsn_file(dsn) == text


def test_a_file_the_dsn_names_is_not_read_when_asyncpg_would_not_open_it(tmp_path):
    """sslmode=disable: asyncpg opens none of them, and neither does the check."""
    from certseal.secretfiles import read_dsn_file

    dsn = tmp_path / "database.dsn"
    text = f"postgresql://u:pw@127.0.0.1:1/db?sslmode=disable&sslrootcert={tmp_path}/no"
    dsn.write_text(text)
    assert read_dsn_file(dsn) == text


@pytest.mark.parametrize(
    "dsn",
    [
        "postgresql://certseal:Kq7@Zr9xTailOfThePassword@127.0.0.1:{port}/certseal",
        "postgresql://certseal:Kq7/Zr9xTailOfThePassword@127.0.0.1:{port}/certseal",
        "postgresql://certseal:Kq7?Zr9xTailOfThePassword@127.0.0.1:{port}/certseal",
        "postgresql://certseal:Kq7#Zr9xTailOfThePassword@127.0.0.1:{port}/certseal",
        "postgresql://certseal@127.0.0.1:{port}?password=Kq7@Zr9xTailOfThePassword",
        "postgresql://certseal@127.0.0.1:{port}/certseal"
        "?sslpassword=Kq7@Zr9xTailOfThePassword&password=Kq7@Zr9xTailOfThePassword",
    ],
)
def test_no_message_or_shown_dsn_quotes_a_password(dsn):
    """What the CLI says of an unreachable database and what ``certseal run``
    prints (redact_dsn) never hold a piece of a password, whatever characters it
    holds unencoded."""
    from certseal.cli import database_unreachable
    from certseal.secretfiles import redact_dsn

    text = dsn.format(port=free_port())
    for shown in (str(database_unreachable(text)), redact_dsn(text)):
        for piece in ("Kq7", "Zr9", "Tail", "Password"):
            assert piece not in shown, shown
