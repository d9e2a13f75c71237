"""``certseal config check`` (services/config_check.py): a configuration checked as
the services' starts check it, with no database, broker or service running; every
problem named by its setting, each on its line, exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.x509.oid import ExtendedKeyUsageOID

from certseal.config import dump_config
from certseal.devpki import DevCA, Identity
from certseal.secretfiles import ANSWERS_KEY, DATA_KEY, KEK, read_secret_file
from services.cli import main
from services.config import Config
from services.devstack import DevStack

SERVICES = ("issuer", "verifier", "seal", "feed", "console", "tlog")


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A complete configuration, ``config.toml``, with every file it names, as
    ``make run`` writes one (but PostgreSQL and the broker are never started: the
    DSN names a port nobody listens on)."""
    stack = DevStack(tmp_path / "stack")
    cfg: Config = stack.config
    secrets = stack.home / "secrets"
    secrets.mkdir(mode=0o700, parents=True)
    dsn = secrets / "database.dsn"
    dsn.write_text("postgresql://certseal:pw@127.0.0.1:9/certseal\n")
    cfg.database.dsn_file = str(dsn)
    cfg.secrets.kek_file = str(secrets / "kek")
    cfg.secrets.data_key_file = str(secrets / "data-key")
    read_secret_file(Path(cfg.secrets.kek_file), KEK, create=True)
    read_secret_file(Path(cfg.secrets.data_key_file), DATA_KEY, create=True)
    cfg.secrets.answers_key_file = str(secrets / "answers-key")
    read_secret_file(Path(cfg.secrets.answers_key_file), ANSWERS_KEY, create=True)
    server = stack.ca.identity("service:certseal", server=True)
    cfg.tls.ca_file = str(stack.ca.ca_file)
    cfg.tls.cert_file, cfg.tls.key_file = str(server.cert_file), str(server.key_file)
    stack.configure(cfg)
    cfg.verifier.data_dir = str(tmp_path / "verifier")
    (tmp_path / "config.toml").write_text(dump_config(cfg))
    return tmp_path


def check(
    capsys: pytest.CaptureFixture[str], home: Path, overlay: str = "", *options: str
) -> tuple[int, list[str], list[str]]:
    """Run ``certseal --config config.toml [--config overlay.toml] config check
    OPTIONS``: its exit status, stdout lines and stderr lines."""
    configs = ["--config", str(home / "config.toml")]
    if overlay:
        (home / "overlay.toml").write_text(overlay)
        configs += ["--config", str(home / "overlay.toml")]
    status = main([*configs, "config", "check", *options])
    out, err = capsys.readouterr()
    return status, out.splitlines(), err.splitlines()


def test_a_good_configuration_passes_for_every_service(capsys, home):
    status, out, err = check(capsys, home)
    assert (status, err) == (0, [])
    assert out == [
        "ok: issuer",
        "ok: verifier (group default)",
        "ok: seal",
        "ok: feed",
        "ok: console",
        "ok: tlog",
        "ok: cli",  # make run's file gives [cli]
    ]


def test_the_verifier_is_checked_as_its_worker_of_a_group(capsys, home):
    overlay = '[verifier]\ngroup_size = 2\npeers = ["v-{ordinal}.h:50052"]\n'
    status, out, err = check(
        capsys,
        home,
        overlay,
        "--service",
        "verifier",
        "--group",
        "a",
        "--worker",
        "v-1",
    )
    assert (status, out, err) == (0, ["ok: verifier (group a, worker v-1)"], [])


@pytest.mark.parametrize(
    ("overlay", "service", "expected"),
    [
        (  # a range
            "[verifier]\nlag_unknown_after_s = 1.0\n",
            "verifier",
            "error: verifier.lag_unknown_after_s: must be between 2 and 3,600 s "
            "(got 1.0)",
        ),
        (  # a fetch wait
            "[verifier]\nlicence_fetch_max_wait_ms = 0\n",
            "verifier",
            "error: verifier.licence_fetch_max_wait_ms: must be between 1 and "
            "60,000 ms (got 0)",
        ),
        (  # peers that do not match group_size
            '[verifier]\ngroup_size = 3\nworker = "v-0"\npeers = ["a:1", "b:2"]\n',
            "verifier",
            "error: verifier.peers: give one address per worker, by ordinal, or one "
            "with {ordinal} in it (3 workers; got 2)",
        ),
        (  # a worker's name without its ordinal in a partitioned group
            '[verifier]\ngroup_size = 2\npeers = ["a:1", "b:2"]\nworker = "v"\n',
            "verifier",
            "error: verifier.worker: a group of 2 workers needs a worker name ending "
            "in its ordinal, e.g. verifier-default-0 (got 'v')",
        ),
        (  # a group name that would reach outside data_dir
            '[verifier]\ngroup = "../x"\n',
            "verifier",
            "error: verifier.group: letters, digits, '.', '_' and '-' only",
        ),
        (  # a field rights rule
            '[verifier]\nfield_rights = ["nonsense"]\n',
            "verifier",
            "error: field_rights: rule 'nonsense' is not TYPE:DEPARTMENT:FIELD,FIELD",
        ),
        (  # the log's origin, its signed notes' key name (named "origin" before)
            '[tlog]\norigin = "certseal log"\n',
            "tlog",
            "error: tlog.origin: a key name has no spaces and no '+'",
        ),
        (  # a listen address
            '[tlog]\nlisten = "127.0.0.1:99999"\n',
            "tlog",
            "error: tlog.listen: '127.0.0.1:99999' is not host:port with a port from "
            "0 to 65,535",
        ),
        (  # two listens of one process on one port (nu22: the start blamed
            # "another process")
            '[issuer]\nlisten = "127.0.0.1:9464"\nmetrics_listen = "0.0.0.0:9464"\n',
            "issuer",
            "error: issuer.metrics_listen: 0.0.0.0:9464 takes the port of "
            "issuer.listen (127.0.0.1:9464); give each its own port",
        ),
        (  # a supervised issuer's children's metrics ports (atk23 F2)
            '[issuer]\nworkers = 1\nlisten = "127.0.0.1:41001"\n'
            'metrics_listen = "127.0.0.1:41000"\n',
            "issuer",
            "error: issuer.metrics_listen: 127.0.0.1:41000 gives its worker processes "
            "and relay the metrics ports 41001 to 41002, one of them issuer.listen's "
            "(127.0.0.1:41001); move one of the two",
        ),
        (
            '[issuer]\nworkers = 2\nmetrics_listen = "127.0.0.1:65534"\n',
            "issuer",
            "error: issuer.metrics_listen: 127.0.0.1:65534 gives its 2 worker "
            "processes and relay the metrics ports 65535 to 65537, past 65,535",
        ),
        (
            '[verifier]\nprobe_listen = "127.0.0.1:50052"\n',
            "verifier",
            "error: verifier.probe_listen: 127.0.0.1:50052 takes the port of "
            "verifier.listen",
        ),
        (
            '[console]\nmetrics_listen = "127.0.0.1:8443"\n',
            "console",
            "error: console.metrics_listen: 127.0.0.1:8443 takes the port of "
            "console.listen",
        ),
        (  # a number outside its bounds (the schema's: the check stops there)
            "[seal]\ntsa_timeout_s = 0.0\n",
            "seal",
            "error: configuration: [seal] tsa_timeout_s: must be more than 0",
        ),
        (  # a verifier group given as a URL (nu22 M5)
            '[console]\nverifier_targets = ["http://x:1"]\n',
            "console",
            "error: console.verifier_targets: 'http://x:1' is not host:port",
        ),
        (  # a metrics source without its scheme (nu22 M5)
            '[console]\nmetrics_sources = ["issuer=127.0.0.1:9464"]\n',
            "console",
            "error: console.metrics_sources: 'issuer=127.0.0.1:9464' is not NAME=URL",
        ),
        (  # the console's other targets (atk22b F2)
            '[console]\nissuer_target = "http://issuer:50051"\n',
            "console",
            "error: console.issuer_target: 'http://issuer:50051' is not host:port",
        ),
        (  # the verifier's log target (atk22b F2)
            '[verifier]\nlog_target = "https://tlog:50056"\n',
            "verifier",
            "error: verifier.log_target: 'https://tlog:50056' is not host:port",
        ),
        (  # a metrics source whose host is no host (atk22b F5)
            '[console]\nmetrics_sources = ["issuer=http://999.1.1.1:9464/metrics"]\n',
            "console",
            "error: console.metrics_sources: 'issuer=http://999.1.1.1:9464/metrics'",
        ),
        (  # a service another dials, given as a URL
            '[issuer]\nseal_target = "https://seal:50053"\n',
            "issuer",
            "error: issuer.seal_target: 'https://seal:50053' is not host:port",
        ),
        (  # the console's metrics sources
            '[console]\nmetrics_sources = ["issuer"]\n',
            "console",
            "error: console.metrics_sources: 'issuer' is not NAME=URL",
        ),
        (  # a PKCS#11 setting, checked without loading a module
            '[pkcs11]\nmodule = "/nonexistent/libsofthsm2.so"\nsessions = 0\n',
            "issuer",
            "error: configuration: [pkcs11] sessions: must be at least 1",
        ),
    ],
)
def test_a_wrong_setting_is_named(capsys, home, overlay, service, expected):
    status, out, err = check(capsys, home, overlay, "--service", service)
    assert status == 2
    assert out == []
    assert len(err) == 1 and err[0].startswith(expected), err


def test_a_missing_tls_file_is_named_for_each_service_once(capsys, home):
    """The [tls] pair every gRPC service presents: one line, however many services
    read it; the console and the verifier, which present their own, pass."""
    status, out, err = check(capsys, home, f'[tls]\nkey_file = "{home}/absent.key"\n')
    assert status == 2
    assert out == ["ok: verifier (group default)", "ok: console", "ok: cli"]
    assert err == [
        f"error: tls.key_file: cannot read '{home}/absent.key': "
        f"No such file or directory (set in {home}/overlay.toml)"
    ]


def test_a_key_not_matching_its_certificate_is_named(capsys, home):
    other = home / "stack" / "tls" / "service_certseal.key"
    overlay = f'[console]\nhttps_key_file = "{other}"\n'
    status, out, err = check(capsys, home, overlay, "--service", "console")
    assert (status, out) == (2, [])
    assert len(err) == 1
    assert err[0].startswith(
        f"error: console.https_key_file: {other} is not the key of the certificate "
        "in console.https_cert_file"
    )


def test_a_dsn_file_with_two_lines_is_named(capsys, home):
    dsn = home / "two.dsn"
    dsn.write_text("postgresql://a@db/one\npostgresql://a@db/two\n")
    overlay = f'[database]\ndsn_file = "{dsn}"\n'
    status, out, err = check(capsys, home, overlay, "--service", "tlog")
    assert (status, out) == (2, [])
    assert err == [
        f"error: database.dsn_file: {dsn} holds more than one line; give one DSN "
        f"(set in {home}/overlay.toml)"
    ]


@pytest.mark.parametrize(
    ("overlay", "expected"),
    [
        (
            "[verifier]\nlag_unknown_afer_s = 3.0\n",
            "error: configuration: unknown setting lag_unknown_afer_s in [verifier]",
        ),
        ("[verifer]\ngroup = 'a'\n", "error: configuration: unknown section [verifer]"),
        (
            '[issuer]\nworkers = "2"\n',
            "error: configuration: [issuer] workers: expected int, got str",
        ),
        (
            f'[seal]\nsm2_ca_cert_file = "{__file__}"\nsm2_ca_key_file = ""\n',
            "error: seal.sm2_ca_key_file: is empty while seal.sm2_ca_cert_file is set",
        ),
    ],
)
def test_a_schema_error_stops_the_check_with_its_setting(
    capsys, home, overlay, expected
):
    status, out, err = check(capsys, home, overlay)
    assert (status, out) == (2, [])
    assert len(err) == 1 and err[0].startswith(expected), err


def test_a_renamed_setting_given_beside_its_new_name_is_noted_as_ignored(capsys, home):
    """nu22 M4: the new name wins (every file make run writes gives it), so the old
    one's value (here out of bounds) was dropped unseen, with a note saying it was
    read."""
    overlay = "[outbox]\npoll_interval_s = 1.0\n[issuer]\noutbox_poll_interval_s = 0\n"
    status, out, err = check(capsys, home, overlay, "--service", "issuer")
    assert (status, out) == (0, ["ok: issuer"])
    assert err == [
        "note: issuer.outbox_poll_interval_s: ignored: outbox.poll_interval_s, its "
        "name now, is given too and wins; remove issuer.outbox_poll_interval_s"
    ]


def test_every_independent_problem_is_reported(capsys, home):
    dsn = home / "blank.dsn"
    dsn.write_text("\n")
    overlay = (
        f'[database]\ndsn_file = "{dsn}"\n'
        "[verifier]\nlag_unknown_after_s = 7200.0\nusage_linger_ms = -1\n"
        "fetch_max_wait_ms = 0\n"  # each wait apart (nu22 L6: one hid the next)
        f'cert_file = "{home}/absent.crt"\n'
        f'[tlog]\nsigning_key_file = "{home}/absent-log.key"\n'
        "[console]\nverifier_targets = []\n"
    )
    status, out, err = check(capsys, home, overlay)
    assert (status, out) == (2, ["ok: cli"])
    fields = [line.split(": ")[1] for line in err]
    assert fields == [
        "database.dsn_file",  # the issuer's first, and only once for every service
        "verifier.fetch_max_wait_ms",
        "verifier.usage_linger_ms",
        "verifier.lag_unknown_after_s",
        "verifier.cert_file",  # its common name
        "console.verifier_targets",
        "tlog.signing_key_file",
    ], err
    assert all(line.startswith("error: ") for line in err)


def test_a_service_not_chosen_is_not_checked(capsys, home):
    overlay = "[verifier]\nlag_unknown_after_s = 1.0\n"
    status, out, err = check(
        capsys, home, overlay, "--service", "feed", "--service", "tlog"
    )
    assert (status, out, err) == (0, ["ok: feed", "ok: tlog"], [])


def test_an_unknown_service_is_refused_by_the_parser(capsys, home):
    with pytest.raises(SystemExit) as stopped:
        main(
            ["--config", str(home / "config.toml"), "config", "check", "--service", "x"]
        )
    assert stopped.value.code == 2
    assert "error: service: invalid choice: 'x'" in capsys.readouterr().err


def test_a_font_file_that_is_no_font_is_named(capsys, home):
    overlay = f'[issuer]\nrare_font_file = "{__file__}"\n'
    overlay += f'[console]\nrare_font_file = "{__file__}"\n'
    status, out, err = check(capsys, home, overlay, "--service", "issuer")
    assert (status, out) == (2, [])
    assert len(err) == 1 and err[0].startswith("error: issuer.rare_font_file: "), err
    status, out, err = check(capsys, home, overlay, "--service", "console")
    assert (status, out) == (2, [])
    assert len(err) == 1 and err[0].startswith("error: console.rare_font_file: "), err


@pytest.mark.parametrize(
    ("service", "given", "presents"),
    [
        ("issuer", "service_seal", "service:issuer"),  # nu22: passed the check
        ("seal", "service_issuer", "service:seal"),
        ("seal", "service_console", "service:seal"),
    ],
)
def test_a_client_certificate_of_another_identity_is_named(
    capsys, home, service, given, presents
):
    """The identity a service presents to the one it calls is the one that callee
    authorises (the issuer signs licence files as service:issuer; the verifier acts
    for service:seal as the platform): another service's certificate, which passed,
    would be refused at every call or act with that service's rights."""
    cert = home / "stack" / "tls" / f"{given}.pem"
    key = home / "stack" / "tls" / f"{given}.key"
    overlay = f'[{service}]\ncert_file = "{cert}"\nkey_file = "{key}"\n'
    status, out, err = check(capsys, home, overlay, "--service", service)
    assert (status, out) == (2, [])
    name = given.replace("_", ":", 1)
    assert err == [
        f"error: {service}.cert_file: {cert} names {name!r}; give the certificate "
        f"of {presents}, the identity the service it calls authorises (set in "
        f"{home}/overlay.toml)"
    ]


def test_a_data_dir_that_exists_where_nothing_can_be_made_is_named(capsys, home):
    """nu22: ``/proc`` exists and root may write it, so it passed, and the start then
    refused it; the worker's folder is now probed as the start would use it."""
    status, out, err = check(
        capsys, home, '[verifier]\ndata_dir = "/proc"\n', "--service", "verifier"
    )
    assert (status, out) == (2, [])
    assert len(err) == 1, err
    assert err[0].startswith("error: verifier.data_dir: no folder can be made in /proc")


def test_a_start_check_error_names_the_file_that_gives_the_setting(capsys, home):
    """nu22: of several files (config.toml, then local.toml), the one to edit was
    named for a schema error only; one file names none, and an option (--group)
    that replaced the setting names no file."""
    overlay = '[verifier]\nlag_unknown_after_s = 1.0\ngroup = "../x"\n'
    status, out, err = check(capsys, home, overlay, "--service", "verifier")
    assert out == []
    assert status == 2
    assert len(err) == 2, err
    assert err[0].startswith("error: verifier.group: letters, digits")
    assert err[0].endswith(f"(got '../x') (set in {home}/overlay.toml)")
    assert err[1] == (
        "error: verifier.lag_unknown_after_s: must be between 2 and 3,600 s (got "
        f"1.0) (set in {home}/overlay.toml)"
    )
    _, _, err = check(capsys, home, overlay, "--service", "verifier", "--group", "../y")
    assert err[0].endswith("(got '../y')")
    # an empty option is refused, not taken for the setting the file gives (atk57)
    with pytest.raises(SystemExit) as stopped:
        check(capsys, home, overlay, "--service", "verifier", "--group", "")
    assert stopped.value.code == 2
    assert capsys.readouterr().err == ("error: group: is empty: give a value\n")
    (home / "one.toml").write_text((home / "config.toml").read_text() + overlay)
    status = main(["--config", str(home / "one.toml"), "config", "check"])
    assert "set in" not in capsys.readouterr().err
    assert status == 2


def test_a_client_certificate_the_callee_would_refuse_in_the_handshake_is_named(
    capsys, home
):
    """atk23 F3: a certificate naming service:issuer from another CA, or one only
    for TLS servers, passed, and every call then failed UNAVAILABLE "Socket closed"."""
    other = DevCA(home / "other-ca", name="another CA")
    foreign = other.identity("service:issuer")
    overlay = (
        f'[issuer]\ncert_file = "{foreign.cert_file}"\n'
        f'key_file = "{foreign.key_file}"\n'
    )
    status, out, err = check(capsys, home, overlay, "--service", "issuer")
    assert (status, out) == (2, [])
    assert err == [
        f"error: issuer.cert_file: {foreign.cert_file} is not issued by a CA of "
        f"tls.ca_file ({home}/stack/tls/ca.pem): one of the two settings is wrong, "
        f"and no handshake with the service it calls succeeds (set in "
        f"{home}/overlay.toml)"
    ]
    server_only = Identity(home / "server-only.pem", home / "server-only.key")
    platform = DevCA(home / "stack" / "tls")  # the CA [tls] ca_file names
    platform._issue(
        server_only, "service:console", [ExtendedKeyUsageOID.SERVER_AUTH], []
    )
    overlay = (
        f'[console]\ncert_file = "{server_only.cert_file}"\n'
        f'key_file = "{server_only.key_file}"\n'
    )
    status, out, err = check(capsys, home, overlay, "--service", "console")
    assert (status, out) == (2, [])
    assert len(err) == 1 and "lacks clientAuth" in err[0], err


# -- [cli]: what the certseal commands present and dial (nu23) --------------------


def test_a_cli_section_is_checked_only_when_given_or_asked_for(capsys, home):
    text = (home / "config.toml").read_text()
    start = text.index("[cli]")
    end = text.find("\n[", start + 1)
    (home / "config.toml").write_text(text[:start] + (text[end:] if end > 0 else ""))
    status, out, err = check(capsys, home)
    assert (status, err) == (0, [])
    assert "ok: cli" not in out and len(out) == len(SERVICES)
    status, out, err = check(capsys, home, "", "--service", "cli")
    assert (status, out) == (2, [])
    assert err == [
        "error: cli.cert_file: give the certificate the certseal commands present (a "
        "platform operator's, common name operator:<name>), and its key_file (not "
        "set in the files: its default)"
    ]


def test_a_cli_identity_the_services_would_refuse_is_named(capsys, home):
    foreign = DevCA(home / "other-ca", name="another CA").identity("operator:ops")
    overlay = (
        f'[cli]\ncert_file = "{foreign.cert_file}"\nkey_file = "{foreign.key_file}"\n'
    )
    status, out, err = check(capsys, home, overlay, "--service", "cli")
    assert (status, out) == (2, [])
    assert len(err) == 1, err
    assert err[0].startswith(f"error: cli.cert_file: {foreign.cert_file} is not issued")
    assert err[0].endswith(f"(set in {home}/overlay.toml)")
    nobody = Identity(home / "nobody.pem", home / "nobody.key")
    DevCA(home / "stack" / "tls")._issue(
        nobody, "root", [ExtendedKeyUsageOID.CLIENT_AUTH], []
    )
    overlay = (
        f'[cli]\ncert_file = "{nobody.cert_file}"\nkey_file = "{nobody.key_file}"\n'
    )
    status, out, err = check(capsys, home, overlay, "--service", "cli")
    assert (status, out) == (2, [])
    assert len(err) == 1, err
    assert err[0].startswith(
        "error: cli.cert_file: client certificate common name 'root' is not an identity"
    )


def test_cli_targets_and_the_log_key_are_named_when_wrong(capsys, home):
    overlay = (
        '[cli]\nissuer_target = "http://issuer:50051"\nlog_key = "x+zz+abc"\n'
        '[cli.verifier_groups]\ndesk = "counter-7"\nhall = "hall.example:50052"\n'
    )
    status, out, err = check(capsys, home, overlay, "--service", "cli")
    assert (status, out) == (2, [])
    assert [line.split(":")[1].strip() for line in err] == [
        "cli.issuer_target",
        "cli.verifier_groups.desk",
        "cli.log_key",
    ], err
    assert all(line.endswith(f"(set in {home}/overlay.toml)") for line in err), err


def test_an_operators_own_file_is_checked_as_a_workstations(capsys, home):
    """nu24: a file of [cli] and [tls] alone (what an operator's workstation has)
    was checked for every service too, and reported the stack's missing secrets."""
    blocks = (home / "config.toml").read_text().split("\n\n")
    own = home / "workstation.toml"
    own.write_text(
        "\n\n".join(b for b in blocks if b.startswith(("[tls]\n", "[cli]\n")))
    )
    status = main(["--config", str(own), "config", "check"])
    out, err = capsys.readouterr()
    assert (status, out.splitlines()) == (0, ["ok: cli"]), err
    assert err.startswith("note: the files give no service's settings, only [cli]")
    # a setting no file gives is said to be its default (nu25: read as given)
    bare = home / "bare.toml"
    ident = DevCA(home / "stack" / "tls").identity("operator:ops")
    bare.write_text(
        f'[cli]\ncert_file = "{ident.cert_file}"\nkey_file = "{ident.key_file}"\n'
    )
    status = main(["--config", str(bare), "config", "check"])
    out, err = capsys.readouterr()
    assert status == 2, err
    assert "error: tls.ca_file: " in err
    assert "(not set in the files: its default)" in err.split("tls.ca_file")[1]
    # asked for, a service's settings are checked as ever
    status = main(["--config", str(own), "config", "check", "--service", "issuer"])
    out, err = capsys.readouterr()
    assert status == 2 and "note:" not in err, err
