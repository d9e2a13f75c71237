"""fix15b: more cases of the kinds atk15b found in the start checks of file settings.

- a setting's pair: every ``<x>cert_file``/``<x>key_file`` of every section, half
  set, is refused at load naming the empty one;
- a PEM bundle that would silently lose a certificate (a BEGIN line not at a line's
  start) is refused, for ``tls.ca_file`` and the seal's trust files alike;
- the checked bytes are the ones used: a channel is made through the check
  (``secure_channel`` names the setting), the verifier's bundle signer takes a pair
  with a byte order mark;
- a CA bundle for Python's ``ssl`` larger than 1 MiB (a system bundle with
  comments) is taken, as ``ssl`` takes it;
- a root-first TSA chain is told as out of order, not as "no timeStamping";
- the ``certseal run`` banner's DSN shows no password.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from certseal.config import KafkaConfig, dump_config
from certseal.errors import CertsealError
from certseal.rpc import secure_channel
from certseal.secretfiles import dsn_has_password, redact_dsn
from certseal.tlsfiles import read_certificates
from services.config import load
from services.seal.trust import load_trust_files
from services.seal.tsa import read_tsa_identity

BOM = b"\xef\xbb\xbf"

PAIRS = [
    ("tls", "cert_file", "key_file"),
    ("cli", "cert_file", "key_file"),
    ("issuer", "cert_file", "key_file"),
    ("seal", "cert_file", "key_file"),
    ("seal", "ca_cert_file", "ca_key_file"),
    ("seal", "sm2_ca_cert_file", "sm2_ca_key_file"),
    ("seal", "tsa_cert_file", "tsa_key_file"),
    ("console", "cert_file", "key_file"),
    ("console", "https_cert_file", "https_key_file"),
    ("feed", "cert_file", "key_file"),
    ("verifier", "cert_file", "key_file"),
    ("tlog", "cert_file", "key_file"),
]


@pytest.mark.parametrize("section,cert,key", PAIRS)
@pytest.mark.parametrize("empty", ["cert", "key"])
def test_half_of_any_pair_of_files_is_refused_naming_the_empty_one(
    tmp_path, section, cert, key, empty
):
    named, blank = (key, cert) if empty == "cert" else (cert, key)
    config_file = tmp_path / "half.toml"
    config_file.write_text(
        f'[{section}]\n{named} = "/somewhere/{named}.pem"\n{blank} = ""\n'
    )
    with pytest.raises(CertsealError) as refused:
        load(str(config_file))
    assert refused.value.field == f"{section}.{blank}", refused.value
    assert f"{section}.{named}" in refused.value.message


def test_both_or_neither_of_a_pair_is_taken(config, tmp_path):
    """The session stack's configuration (pairs set in full, SM2 CA and TSA too)
    and one with a pair emptied in full both load."""
    whole = tmp_path / "whole.toml"
    whole.write_text(dump_config(config))
    load(str(whole))
    config_file = tmp_path / "neither.toml"
    config_file.write_text('[seal]\nsm2_ca_cert_file = ""\nsm2_ca_key_file = ""\n')
    assert load(str(config_file)).seal.sm2_ca_key_file == ""


def mid_line_bundle(config, tmp_path) -> Path:
    """Two roots, the first BEGIN line after pasted text on the same line: PEM
    readers skip that block."""
    first = Path(config.seal.sm2_ca_cert_file).read_bytes()
    second = Path(config.seal.ca_cert_file).read_bytes()
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(b"# roots " + first + second)
    return bundle


@pytest.mark.parametrize(
    "field", ["seal.trusted_ca_files", "seal.tsa_trusted_ca_files"]
)
def test_a_trust_bundle_with_a_block_a_reader_skips_is_refused(config, tmp_path, field):
    bundle = mid_line_bundle(config, tmp_path)
    with pytest.raises(CertsealError) as refused:
        load_trust_files([str(bundle)], field)
    assert refused.value.field == field
    assert "BEGIN" in refused.value.message


def test_a_ca_bundle_with_a_block_a_reader_skips_is_refused(config, tmp_path):
    bundle = mid_line_bundle(config, tmp_path)
    with pytest.raises(CertsealError) as refused:
        read_certificates(str(bundle), "tls.ca_file")
    assert refused.value.field == "tls.ca_file"
    assert "BEGIN CERTIFICATE" in refused.value.message


def test_a_ca_bundle_with_a_byte_order_mark_keeps_every_certificate(config, tmp_path):
    first = Path(config.seal.sm2_ca_cert_file).read_bytes()
    second = Path(config.tls.ca_file).read_bytes()
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(BOM + first + second)
    data, certificates = read_certificates(str(bundle), "tls.ca_file")
    assert len(certificates) == 2 and not data.startswith(BOM)


@pytest.mark.parametrize("which", ["ca", "cert", "key"])
def test_a_channel_is_made_through_the_check(config, tmp_path, which):
    """secure_channel reads the identity as the start check does: a file that
    holds something else names its setting, never a channel whose every call
    fails."""
    files = {
        "ca": config.tls.ca_file,
        "cert": config.cli.cert_file,
        "key": config.cli.key_file,
    }
    wrong = tmp_path / "wrong.pem"
    wrong.write_text("not PEM\n")
    files[which] = str(wrong)
    fields = ("tls.ca_file", "cli.cert_file", "cli.key_file")
    with pytest.raises(CertsealError) as refused:
        secure_channel(
            "localhost:1", files["ca"], files["cert"], files["key"], fields=fields
        )
    assert refused.value.field == fields[("ca", "cert", "key").index(which)]


def test_the_bundle_signer_takes_a_pair_with_a_byte_order_mark(config, tmp_path):
    from services.verifier.app import bundle_signer

    cert = tmp_path / "verifier.pem"
    key = tmp_path / "verifier.key"
    cert.write_bytes(BOM + Path(config.tls.cert_file).read_bytes())
    key.write_bytes(BOM + Path(config.tls.key_file).read_bytes())
    assert bundle_signer(config, str(cert), str(key)) is not None


def test_a_kafka_ca_bundle_over_a_mebibyte_is_taken_as_ssl_takes_it(config, tmp_path):
    """A system bundle in text form with comments (``openssl x509 -text``) may pass
    1 MiB; ``ssl`` sets no limit."""
    bundle = tmp_path / "ca-bundle.crt"
    comment = b"# " + b"x" * 76 + b"\n"
    bundle.write_bytes(comment * 16_000 + Path(config.tls.ca_file).read_bytes())
    assert bundle.stat().st_size > 1024 * 1024
    settings = KafkaConfig(
        security_protocol="SSL",
        ssl_cafile=str(bundle),
        ssl_certfile=config.tls.cert_file,
        ssl_keyfile=config.tls.key_file,
    )
    assert settings.ssl_context() is not None


def test_a_root_first_tsa_chain_is_told_as_out_of_order(config, tmp_path):
    chain = tmp_path / "tsa-chain.pem"
    ca = Path(config.tls.ca_file).read_bytes()
    chain.write_bytes(ca + Path(config.seal.tsa_cert_file).read_bytes())
    with pytest.raises(CertsealError) as refused:
        read_tsa_identity(str(chain), config.seal.tsa_key_file)
    assert refused.value.field == "seal.tsa_cert_file"
    assert "out of order" in refused.value.message, refused.value


@pytest.mark.parametrize(
    "dsn,shown",
    [
        (
            "postgresql://postgres:Pw9secret@/certseal?host=/run/pg",
            "postgresql://postgres:***@/certseal?host=/run/pg",
        ),
        (
            "postgresql://certseal:Pw9secret@db.example:5432/certseal?sslmode=require",
            "postgresql://certseal:***@db.example:5432/certseal?sslmode=require",
        ),
        (
            "postgresql://certseal@db.example/certseal?password=Pw9secret",
            "postgresql://certseal@db.example/certseal?password=***",
        ),
        # no password at all (pgserver's "user:@"): nothing is withheld, no *** (nu)
        (
            "postgresql://postgres:@/certseal?host=/run/pg",
            "postgresql://postgres@/certseal?host=/run/pg",
        ),
        ("postgresql://postgres@db.example/certseal", None),
    ],
)
def test_a_shown_dsn_keeps_everything_but_the_password(dsn, shown):
    assert redact_dsn(dsn) == (shown or dsn)
    assert dsn_has_password(dsn) is ("***" in (shown or ""))


def test_the_run_banner_dsn_shows_no_password(config):
    dsn = Path(config.database.dsn_file).read_text().strip()
    password = dsn.split("://", 1)[1].rpartition("@")[0].partition(":")[2]
    shown = redact_dsn(dsn)
    assert "<withheld>" not in shown, shown
    assert (":***@" in shown) is bool(password), shown
    assert dsn_has_password(dsn) is bool(password)
    assert not password or password not in shown, shown


def test_ssl_is_handed_the_checked_files_not_a_second_read(config, tmp_path):
    """[kafka]'s context (as the console's HTTPS and the feed's webhooks): a CA
    bundle and a pair that start with a byte order mark pass the check, and ssl
    gets every root and the pair (its own PEM reader would skip the marked first
    root silently, and refuse the marked pair with '[SSL] PEM lib')."""
    bundle = tmp_path / "ca-bundle.pem"
    bundle.write_bytes(
        BOM
        + Path(config.seal.sm2_ca_cert_file).read_bytes()
        + Path(config.tls.ca_file).read_bytes()
    )
    cert = tmp_path / "client.pem"
    key = tmp_path / "client.key"
    cert.write_bytes(BOM + Path(config.tls.cert_file).read_bytes())
    key.write_bytes(BOM + Path(config.tls.key_file).read_bytes())
    settings = KafkaConfig(
        security_protocol="SSL",
        ssl_cafile=str(bundle),
        ssl_certfile=str(cert),
        ssl_keyfile=str(key),
    )
    context = settings.ssl_context()
    assert context is not None and len(context.get_ca_certs()) == 2
