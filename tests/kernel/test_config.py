"""Configuration files: defaults, layering, and errors that name the setting."""

import pytest

from certseal.errors import CertsealError
from services.config import load as load_config


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
    with pytest.raises(CertsealError, match=r"unknown setting lisen in \[console\]"):
        load_config(typo)
    with pytest.raises(CertsealError, match="does not exist"):
        load_config([typo.parent / "missing.toml"])
    broken = tmp_path / "broken.toml"
    broken.write_text("[console\n")
    with pytest.raises(CertsealError, match=r"broken\.toml"):
        load_config(broken)


@pytest.mark.parametrize(
    "service",
    [
        "services.console",
        "services.seal",
        "services.verifier",
        "services.issuer",
        "services.feed",
        "services.tlog",
    ],
)
def test_a_service_given_a_bad_configuration_says_so_in_one_line(service, tmp_path):
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", service, "--config", str(tmp_path / "missing.toml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    # <prog>: error: <field>: as every other failed start (certseal/startfail.py)
    missing = tmp_path / "missing.toml"
    assert done.stderr.strip().splitlines()[-1] == (
        f"{service}: error: config: configuration file {missing} does not exist"
    )
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[issuer]\nworkers = "three"\n', r"\[issuer\] workers: expected int, got str"),
        ("[isuer]\nworkers = 3\n", r"unknown section \[isuer\]"),
        ('[verifier]\ncounters = "x"\n', r"\[verifier\] counters: expected array"),
        ("[kafka]\ntopic_partitions = 1.5\n", r"\[kafka\] topic_partitions"),
        ("database = 3\n", r"database.*expected object, got int"),
        ('[seal]\nlisten = "x"\nbogus = 1\n', r"unknown setting bogus in \[seal\]"),
    ],
)
def test_a_wrong_type_or_unknown_key_is_named(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(CertsealError, match=message) as raised:
        load_config(path)
    assert raised.value.kind.value == "INVALID_ARGUMENT"


def test_every_service_section_embeds_the_shared_one():
    from certseal.config import ServiceSection

    cfg = load_config(None)
    for name in ("issuer", "verifier", "seal", "feed"):
        section = getattr(cfg, name)
        assert isinstance(section, ServiceSection), name
        assert section.listen.startswith("127.0.0.1:5005"), name
    # above the one image limit (8 MiB): a phone photo meets VerifyImage's own message
    assert cfg.verifier.max_request_bytes == 8 * 1024 * 1024 + 256 * 1024
    assert cfg.seal.max_request_bytes == 64 * 1024 * 1024


def test_the_cli_layers_config_files_setting_by_setting(tmp_path, capsys):
    from services.cli import main

    base = tmp_path / "base.toml"
    base.write_text('[tls]\nca_file = "/nonexistent/ca.pem"\n')
    overlay = tmp_path / "overlay.toml"
    overlay.write_text('[tls]\ncert_file = "x"\n[issuer]\nworkers = "three"\n')
    status = main(
        [
            "--config",
            str(base),
            "--config",
            str(overlay),
            "dev",
            "identity",
            "operator:x",
        ]
    )
    assert status == 2
    assert "[issuer] workers: expected int, got str" in capsys.readouterr().err


def test_the_outbox_is_one_platform_setting_and_old_names_still_work(tmp_path):
    """One outbox table and one relay leader serve every service, so its settings are
    the platform's ([outbox]); [issuer] outbox_* from earlier versions move there."""
    old = tmp_path / "old.toml"
    old.write_text(
        "[issuer]\noutbox_retention_days = 30\noutbox_poll_interval_s = 0.2\n"
    )
    cfg = load_config(old)
    assert (cfg.outbox.retention_days, cfg.outbox.poll_interval_s) == (30, 0.2)
    both = tmp_path / "both.toml"
    both.write_text(
        "[issuer]\noutbox_retention_days = 30\n[outbox]\nretention_days = 14\n"
    )
    assert load_config(both).outbox.retention_days == 14  # the new name wins
    assert load_config(None).outbox.retention_days == 7
    assert load_config(None).outbox.linger_ms == 0.0
    linger = tmp_path / "linger.toml"
    linger.write_text("[outbox]\nlinger_ms = 2\n")
    assert load_config(linger).outbox.linger_ms == 2
    for name in ("issuer", "seal", "feed"):
        assert not hasattr(getattr(cfg, name), "outbox_retention_days")


def test_a_section_given_as_a_value_is_named(tmp_path):
    path = tmp_path / "scalar.toml"
    path.write_text("issuer = 3\n")
    with pytest.raises(
        CertsealError, match=r"^configuration: \[issuer\]: expected object"
    ):
        load_config(path)


def _numeric_settings() -> list[tuple[str, str, bool]]:
    """Every (section, setting, is_int) of the configuration whose value is a number."""
    import msgspec

    from services.config import Config

    found = []
    for section in msgspec.inspect.type_info(Config).fields:  # type: ignore[attr-defined]
        for field in getattr(section.type, "fields", ()):
            kind = field.type
            if isinstance(kind, msgspec.inspect.Metadata):
                kind = kind.type
            if isinstance(kind, msgspec.inspect.IntType | msgspec.inspect.FloatType):
                is_int = isinstance(kind, msgspec.inspect.IntType)
                found.append((section.name, field.name, is_int))
    return found


#: numbers a service checks at start with words of its own
#: (services/verifier/config.py check_settings) rather than by the schema's bounds
_CHECKED_AT_START = {
    ("verifier", name)
    for name in (
        "lag_unknown_after_s",
        "topic_replication_factor",
        "fetch_max_wait_ms",
        "idle_fetch_max_wait_ms",
        "licence_fetch_max_wait_ms",
        "usage_fetch_max_wait_ms",
        "usage_linger_ms",
    )
}


def test_the_kind_every_numeric_setting_has_bounds(tmp_path):
    """A count, size or time of any section, negative or absurdly large, is refused
    naming the setting, at load (the schema's bounds) or by the service's own start
    check: none is taken as it is (a negative [issuer] workers was read as 0, a
    negative interval made a busy loop, a queue of 0 refused every request); nor is a
    float that is not a number."""
    from services.verifier.config import check_settings

    settings = _numeric_settings()
    assert len(settings) > 60  # the walk found them
    taken = []
    for section, name, is_int in settings:
        for bad in (-1, 10**13) if is_int else (-1.0, 1e13, "nan"):
            value = bad
            path = tmp_path / f"{section}-{name}-{bad}.toml"
            path.write_text(f"[{section}]\n{name} = {value}\n")
            try:
                cfg = load_config(path)
                if (section, name) in _CHECKED_AT_START:
                    check_settings(cfg.verifier)
                taken.append(f"[{section}] {name} = {value}")
            except CertsealError as exc:
                assert name in str(exc) and section in str(exc), (section, name, exc)
    assert taken == []


def test_a_layered_configuration_names_the_file_that_set_the_wrong_value(tmp_path):
    """nu22 M3: with config.toml and local.toml (or --config twice) the error named
    the setting only, and the operator looked in the file that had it right."""
    base = tmp_path / "config.toml"
    base.write_text("[issuer]\nworkers = 0\n")
    overlay = tmp_path / "local.toml"
    overlay.write_text("[issuer]\nworkers = 65\n[seal]\nworkerz = 1\n")
    with pytest.raises(CertsealError) as caught:
        load_config([base, overlay])
    assert str(caught.value).endswith(f"(set in {overlay})"), caught.value
    overlay.write_text("[seal]\nworkerz = 1\n")
    with pytest.raises(CertsealError, match=r"unknown setting workerz in \[seal\]"):
        load_config([base, overlay])
    overlay.write_text("[issuer]\nmax_batch = 0\n")
    base.write_text("[issuer]\nworkers = -1\n")  # the base file's own mistake
    with pytest.raises(CertsealError) as caught:
        load_config([base, overlay])
    assert str(caught.value).endswith(f"(set in {base})"), caught.value
    base.write_text("")
    overlay.write_text("[console]\nverifier_targets = [1]\n")  # a list's item
    with pytest.raises(CertsealError) as caught:
        load_config([base, overlay])
    assert str(caught.value).endswith(f"(set in {overlay})"), caught.value


def test_a_value_given_by_an_old_name_is_told_by_that_name_and_its_file(tmp_path):
    """nu22/atk22b: a renamed setting out of bounds was told under its new name,
    which the file does not contain, and without the file of several."""
    base, local = tmp_path / "config.toml", tmp_path / "local.toml"
    base.write_text("[outbox]\nretention_days = 7\n")
    local.write_text("[issuer]\noutbox_poll_interval_s = 0\n")
    with pytest.raises(CertsealError) as caught:
        load_config([base, local])
    assert caught.value.message == (
        f"[outbox] poll_interval_s: must be more than 0 (set in {local}) "
        "(given as [issuer] outbox_poll_interval_s)"
    )
    with pytest.raises(CertsealError) as caught:
        load_config(local)  # one file: no file named, the old name still is
    assert caught.value.message == (
        "[outbox] poll_interval_s: must be more than 0 "
        "(given as [issuer] outbox_poll_interval_s)"
    )
    local.write_text(
        "[issuer]\noutbox_poll_interval_s = 1\n[outbox]\npoll_interval_s = 0\n"
    )
    with pytest.raises(CertsealError) as caught:
        load_config([base, local])  # the new name's value is the one at fault
    assert caught.value.message == (
        f"[outbox] poll_interval_s: must be more than 0 (set in {local})"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[isuer]\nworkers = 1\n", "unknown section [isuer] (did you mean issuer?)"),
        (
            "[issuer]\nworker = 2\n",
            "unknown setting worker in [issuer] (did you mean workers?; worker is a setting of [verifier])",
        ),
        (
            "[outbox]\nlinger = 2\n",
            "unknown setting linger in [outbox] (did you mean linger_ms?)",
        ),
        ("[issuer]\nfoo = 1\n", "unknown setting foo in [issuer]"),  # nothing close
        ("[zzz]\n", "unknown section [zzz]"),
        # a name another section has: not a look-alike of this one's (atk23b M2)
        (
            "[verifier]\nworkers = 2\n",
            "unknown setting workers in [verifier] (did you mean worker?; workers is a setting of [issuer], [seal])",
        ),
        (
            '[issuer]\nca_file = "x"\n',
            "unknown setting ca_file in [issuer] (ca_file is a setting of [tls])",
        ),
        # keys TOML quotes (atk23b L6)
        ('[issuer]\n"" = 1\n', 'unknown setting "" in [issuer]'),
        (
            '[issuer]\n"x - at `$.y`" = 1\n',
            'unknown setting "x - at `$.y`" in [issuer]',
        ),
        (
            '["issuer.x"]\na = 1\n',
            'unknown section ["issuer.x"] (did you mean issuer?)',
        ),
    ],
)
def test_an_unknown_name_is_told_with_the_name_it_likely_means(
    tmp_path, text, expected
):
    """nu23: a typo'd section or setting was named without the one meant."""
    path = tmp_path / "typo.toml"
    path.write_text(text)
    with pytest.raises(CertsealError) as caught:
        load_config(path)
    assert caught.value.message == expected
