"""fixnu-c 4: with PostgreSQL away (the embedded stack stopped), the CLI and the
services said ``database.dsn_file: names a file that cannot be read (No such file or
directory)``: the dev DSN's host is a Unix socket folder, and a socket that is not
there is ENOENT, which ``naming_the_dsn_file`` took for a file the DSN names. A
connection failure is now told as one (``database: cannot connect to PostgreSQL at
<socket or host>: <reason>``), a file as the file's problem; and every setting that
needs no database is checked before connecting, so a configuration can be checked
offline.
"""

from __future__ import annotations

import copy
import re
import urllib.parse
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


def socket_folder_dsn(config, tmp_path) -> tuple[str, Path]:
    """A DSN file: the session stack's connection string with its socket folder
    replaced by an empty folder (what a stopped embedded stack leaves)."""
    dsn = Path(config.database.dsn_file).read_text().strip()
    parts = urllib.parse.urlsplit(dsn)
    query = dict(urllib.parse.parse_qsl(parts.query))
    assert query.get("host", "").startswith("/"), "the dev DSN names a socket folder"
    empty = tmp_path / "pg-stopped"
    empty.mkdir()
    query["host"] = str(empty)
    path = tmp_path / "database.dsn"
    path.write_text(
        urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))
        + "\n"
    )
    return str(path), empty


def database_away(config, tmp_path):
    cfg = on_free_ports(config)
    cfg.database.dsn_file, folder = socket_folder_dsn(config, tmp_path)
    return cfg, folder


async def test_a_command_says_the_database_cannot_be_reached(stack, config, tmp_path):
    cfg, folder = database_away(config, tmp_path)
    code, out = await run_certseal(cfg, tmp_path, "audit", "verify")
    assert code == 1, out
    assert "Traceback" not in out, out
    last = out.splitlines()[-1]
    assert last.startswith(
        f"error: database: cannot connect to PostgreSQL at {folder}/.s.PGSQL."
    ), out
    assert "no server socket there" in last, out
    assert "dsn_file:" not in out and "names a file" not in out, out


async def test_a_refused_tcp_connection_is_told_with_its_host(stack, config, tmp_path):
    port = free_port()
    path = tmp_path / "database.dsn"
    path.write_text(f"postgresql://certseal:s3cretpw@127.0.0.1:{port}/certseal\n")
    cfg = on_free_ports(config)
    cfg.database.dsn_file = str(path)
    code, out = await run_certseal(cfg, tmp_path, "console", "account", "list")
    assert code == 1, out
    assert out.splitlines()[-1].startswith(
        f"error: database: cannot connect to PostgreSQL at 127.0.0.1:{port}: "
        "connection refused"
    ), out
    assert "s3cretpw" not in out, out


@pytest.mark.parametrize("module", ["services.seal", "services.issuer"])
async def test_a_service_says_the_database_cannot_be_reached(
    stack, config, tmp_path, module
):
    cfg, folder = database_away(config, tmp_path)
    done = start(module, cfg, tmp_path, timeout=60)
    assert done.returncode == 1, done.stderr[-3000:]
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    errors = [line for line in done.stderr.splitlines() if "error: " in line]
    assert len(errors) == 1, done.stderr[-3000:]
    assert re.search(
        rf"error: database: cannot connect to PostgreSQL at {re.escape(str(folder))}"
        r"/\.s\.PGSQL\.\d+: no server socket there",
        errors[0],
    ), errors


def _bad_trust_file(cfg, tmp_path) -> str:
    bad = tmp_path / "not-a-ca.pem"
    bad.write_text(NOT_A_CERTIFICATE)
    cfg.seal.trusted_ca_files = [str(bad)]
    return "seal.trusted_ca_files"


def _missing_tsa_trust(cfg, tmp_path) -> str:
    cfg.seal.tsa_trusted_ca_files = [str(tmp_path / "no-such-tsa-ca.pem")]
    return "seal.tsa_trusted_ca_files"


def _missing_index_key(cfg, tmp_path) -> str:
    cfg.issuer.index_key_file = str(tmp_path / "no-such-index-key")
    return "issuer.index_key_file"


def _short_signing_key(cfg, tmp_path) -> str:
    key = tmp_path / "tlog.key"
    key.write_bytes(b"short")
    cfg.tlog.signing_key_file = str(key)
    return "tlog.signing_key_file"


def _bad_webhook_ca(cfg, tmp_path) -> str:
    bad = tmp_path / "webhook-ca.pem"
    bad.write_text(NOT_A_CERTIFICATE)
    cfg.feed.webhook_ca_file = str(bad)
    return "feed.webhook_ca_file"


def _bad_https_cert(cfg, tmp_path) -> str:
    bad = tmp_path / "https.pem"
    bad.write_text(NOT_A_CERTIFICATE)
    cfg.console.https_cert_file = str(bad)
    return "console.https_cert_file"


@pytest.mark.parametrize(
    "module,wrong",
    [
        ("services.seal", _bad_trust_file),
        ("services.seal", _missing_tsa_trust),
        ("services.issuer", _missing_index_key),
        ("services.tlog", _short_signing_key),
        ("services.feed", _bad_webhook_ca),
        ("services.console", _bad_https_cert),
    ],
)
async def test_a_wrong_setting_is_told_with_the_database_away(
    stack, config, tmp_path, module, wrong
):
    """Checked before connecting: the operator checks a configuration offline."""
    cfg, _ = database_away(config, tmp_path)
    cfg = copy.deepcopy(cfg)
    setting = wrong(cfg, tmp_path)
    done = start(module, cfg, tmp_path, timeout=60)
    one_line_naming(done, setting)
    assert "cannot connect" not in done.stderr, done.stderr[-3000:]


# -- the words, without processes -------------------------------------------------


@pytest.mark.parametrize(
    "dsn,shown",
    [
        ("postgresql://postgres:@/certseal?host=/x/pg", "/x/pg/.s.PGSQL.5432"),
        ("postgresql://u:pw@db:5433/x", "db:5433"),
        ("postgresql://u@%2Ftmp%2Fpg/x", "/tmp/pg/.s.PGSQL.5432"),
        ("postgresql://u:pw@[::1]:6/x", "[::1]:6"),
        ("postgresql://u@/x?host=a,b&port=1,2", "a:1, b:2"),
        ("postgresql://u:pw@h/x?host=/ignored", "h:5432"),
    ],
)
def test_where_postgresql_was_expected_is_shown(dsn, shown, monkeypatch):
    from certseal.secretfiles import dsn_address

    monkeypatch.delenv("PGHOST", raising=False)
    monkeypatch.delenv("PGPORT", raising=False)
    assert dsn_address(dsn) == shown


def test_a_file_named_by_the_environment_is_told_as_a_file(tmp_path, monkeypatch):
    """asyncpg takes PGSSLROOTCERT when the query names no sslrootcert; ssl's error
    names no file, so it is read with the DSN: not 'cannot connect'."""
    from certseal.errors import CertsealError
    from certseal.secretfiles import read_dsn_file

    monkeypatch.setenv("PGSSLROOTCERT", str(tmp_path / "no-such-root.crt"))
    dsn = tmp_path / "database.dsn"
    dsn.write_text("postgresql://u:s3cretpw@127.0.0.1:1/db?sslmode=require")
    with pytest.raises(CertsealError) as refused:
        read_dsn_file(dsn)
    assert refused.value.field == "database.dsn_file"
    assert "its sslrootcert (from PGSSLROOTCERT): " in refused.value.message


def test_a_file_under_dot_postgresql_is_read_as_asyncpg_opens_it(tmp_path, monkeypatch):
    from certseal.errors import CertsealError
    from certseal.secretfiles import read_dsn_file

    monkeypatch.setenv("HOME", str(tmp_path))
    for name in ("PGSSLROOTCERT", "PGSSLCRL", "PGSSLCERT", "PGSSLKEY"):
        monkeypatch.delenv(name, raising=False)
    dsn = tmp_path / "database.dsn"
    dsn.write_text("postgresql://u:pw@127.0.0.1:1/db?sslmode=require")
    assert read_dsn_file(dsn)  # none there: asyncpg skips them too
    (tmp_path / ".postgresql").mkdir()
    (tmp_path / ".postgresql" / "root.crt").write_text(NOT_A_CERTIFICATE)
    with pytest.raises(CertsealError) as refused:
        read_dsn_file(dsn)
    assert "its sslrootcert (~/.postgresql/root.crt): " in refused.value.message
