"""fix15: atk14b's five open findings, each a setting naming a file that holds the
wrong thing, and more of the same kind. The rule: a file that cannot be used ends
the start with exit 2 and one line ``error: <section>.<setting>: <problem>`` (the
CLI: ``error: <setting>: <problem>``, exit 2), never a traceback, another setting
blamed, a silent fallback, a hang or a retry loop.

- ``database.dsn_file`` empty, blank, not UTF-8, not one ``postgresql://`` URI
  (certseal/secretfiles.py ``read_dsn_file``; every reader goes through
  ``DatabaseConfig.dsn``);
- ``seal.tsa_cert_file`` / ``seal.tsa_key_file`` holding the wrong thing
  (services/seal/tsa.py ``read_tsa_identity``);
- ``[kafka] ssl_cafile`` / ``ssl_certfile`` / ``ssl_keyfile`` (certseal/config.py
  ``KafkaConfig.ssl_context``, made before any Kafka client);
- ``issuer.rare_font_file`` / ``console.rare_font_file`` that is no font
  (certseal/fontfiles.py);
- an SM2 CA key in PKCS#8 (services/seal/certificates.py): taken;
- the client identities toward other services (``issuer.cert_file`` /
  ``key_file`` with a ``seal_target``, ``seal.*`` with a ``verifier_target``,
  ``console.*``), read at start.
"""

from __future__ import annotations

import datetime as dt
import ssl
from pathlib import Path

import pytest
from asn1crypto import keys as asn1_keys
from asn1crypto import pem as asn1_pem
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from certseal.config import DatabaseConfig, KafkaConfig
from certseal.errors import CertsealError
from certseal.fontfiles import check_font_file
from certseal.secretfiles import read_dsn_file
from services.devstack import free_port
from services.seal.certificates import SealCa
from services.seal.tsa import read_tsa_identity
from tests.conftest import run_certseal
from tests.e2e.test_atk12_missing_files import on_free_ports
from tests.e2e.test_atk14b_file_settings import (
    NOT_A_CERTIFICATE,
    one_line_naming,
    pair_of,
    start,
)

RARE_FONT = Path("/usr/share/fonts/truetype/hanazono/HanaMinB.ttf")


def refused(call, field: str) -> CertsealError:
    """The CertsealError ``call()`` raised, asserted to name ``field``."""
    with pytest.raises(CertsealError) as caught:
        call()
    assert caught.value.field == field, caught.value
    assert "Traceback" not in str(caught.value)
    return caught.value


# -- database.dsn_file -------------------------------------------------------------

DSN_CONTENTS = {
    "empty": b"",
    "blank-line": b"\n",
    "white-space": b"  \t \n\n",
    "latin-1": "postgresql://u:pä@h/d\n".encode("latin-1"),
    "key-value": b"host=127.0.0.1 dbname=certseal user=certseal\n",
    "two-lines": b"postgresql://a@h/d\npostgresql://b@h/d\n",
    "nul": b"postgresql://a@h/d\0\n",
    "a-path": b"/run/secrets/certseal/database.dsn\n",
}


@pytest.mark.parametrize("what", ["empty", "blank-line", "latin-1", "key-value"])
async def test_a_dsn_file_that_holds_no_dsn_names_its_setting(
    stack, config, tmp_path, what
):
    """atk14b: an empty file was libpq's defaults ("Connection refused", exit 1), a
    non-UTF-8 one the codec's error; neither named database.dsn_file."""
    dsn_file = tmp_path / "database.dsn"
    dsn_file.write_bytes(DSN_CONTENTS[what])
    cfg = on_free_ports(config)
    cfg.database.dsn_file = str(dsn_file)
    done = start("services.issuer", cfg, tmp_path)
    one_line_naming(done, "database.dsn_file")


@pytest.mark.parametrize("what", sorted(DSN_CONTENTS))
def test_every_dsn_file_that_holds_no_dsn_is_refused_without_quoting_it(tmp_path, what):
    path = tmp_path / "database.dsn"
    path.write_bytes(DSN_CONTENTS[what])
    problem = refused(
        lambda: DatabaseConfig(dsn_file=str(path)).dsn(), "database.dsn_file"
    )
    assert str(path) in problem.message
    assert "pä" not in problem.message and "dbname" not in problem.message


def test_a_dsn_file_as_an_editor_writes_it_is_taken(tmp_path):
    """A byte order mark, CRLF and surrounding white space are not the DSN."""
    path = tmp_path / "database.dsn"
    path.write_bytes(b"\xef\xbb\xbf  postgresql://u:p%40ss@db:5432/certseal\r\n")
    assert read_dsn_file(path) == "postgresql://u:p%40ss@db:5432/certseal"
    path.write_bytes(b"POSTGRES://u@db/certseal")
    assert read_dsn_file(path) == "POSTGRES://u@db/certseal"


@pytest.mark.parametrize(
    "command", [("audit", "verify"), ("console", "account", "list")]
)
async def test_a_command_names_an_empty_dsn_file(stack, config, tmp_path, command):
    """The CLI reads the same file through the same reader: exit 2 naming it, not
    "PostgreSQL at the configured host is unreachable"."""
    dsn_file = tmp_path / "database.dsn"
    dsn_file.write_bytes(b"\n")
    cfg = on_free_ports(config)
    cfg.database.dsn_file = str(dsn_file)
    code, out = await run_certseal(cfg, tmp_path, *command)
    assert code == 2, out
    assert "Traceback" not in out, out
    assert out.splitlines()[-1].startswith("error: database.dsn_file: "), out


# -- seal.tsa_cert_file / seal.tsa_key_file ----------------------------------------


def wrong_tsa_file(config, tmp_path, what: str) -> str:
    path = tmp_path / f"tsa-{what}.pem"
    if what == "garbage":
        path.write_text(NOT_A_CERTIFICATE)
    elif what == "nul":
        path.write_bytes(b"\0" * 512)
    elif what == "empty-file":
        path.write_bytes(b"")
    elif what == "tls-key":
        return config.tls.key_file
    elif what == "tls-cert":
        return config.tls.cert_file
    return str(path)


@pytest.mark.parametrize(
    "setting,what",
    [
        ("tsa_cert_file", "garbage"),
        ("tsa_cert_file", "tls-key"),
        ("tsa_key_file", "nul"),
        ("tsa_key_file", "tls-key"),  # another certificate's key
    ],
)
async def test_a_tsa_file_holding_the_wrong_thing_names_its_setting(
    stack, config, tmp_path, setting, what
):
    """atk14b: 'Incorrect padding', 'Error parsing asn1crypto...', exit 1."""
    cfg = on_free_ports(config)
    cfg.seal.tsa_listen = f"127.0.0.1:{free_port()}"
    setattr(cfg.seal, setting, wrong_tsa_file(config, tmp_path, what))
    done = start("services.seal", cfg, tmp_path)
    one_line_naming(done, f"seal.{setting}")


@pytest.mark.parametrize(
    "setting,what,says",
    [
        ("tsa_cert_file", "garbage", "holds no X.509 certificate"),
        ("tsa_cert_file", "nul", "holds no X.509 certificate"),
        ("tsa_cert_file", "empty-file", "holds no X.509 certificate"),
        ("tsa_cert_file", "tls-key", "holds no X.509 certificate"),
        ("tsa_cert_file", "", "is empty"),
        ("tsa_key_file", "garbage", "holds no private key"),
        ("tsa_key_file", "nul", "holds no private key"),
        ("tsa_key_file", "tls-cert", "holds no private key"),
        ("tsa_key_file", "tls-key", "is not the key of the certificate"),
        ("tsa_key_file", "", "is empty"),
    ],
)
def test_every_tsa_file_holding_the_wrong_thing_is_named(
    config, tmp_path, setting, what, says
):
    files = {"tsa_cert_file": config.seal.tsa_cert_file}
    files["tsa_key_file"] = config.seal.tsa_key_file
    files[setting] = wrong_tsa_file(config, tmp_path, what) if what else ""
    problem = refused(
        lambda: read_tsa_identity(files["tsa_cert_file"], files["tsa_key_file"]),
        f"seal.{setting}",
    )
    assert says in problem.message, problem


def test_a_tsa_certificate_without_the_time_stamping_usage_is_refused(config):
    """The [tls] pair: a good certificate and its key, but no timeStamping usage
    (RFC 3161 2.3): every token's verifier would refuse it."""
    problem = refused(
        lambda: read_tsa_identity(config.tls.cert_file, config.tls.key_file),
        "seal.tsa_cert_file",
    )
    assert "timeStamping" in problem.message


def test_a_tsa_certificate_not_valid_now_is_refused(config):
    cert = x509.load_pem_x509_certificate(Path(config.seal.tsa_cert_file).read_bytes())
    later = cert.not_valid_after_utc + dt.timedelta(days=1)
    problem = refused(
        lambda: read_tsa_identity(
            config.seal.tsa_cert_file, config.seal.tsa_key_file, later
        ),
        "seal.tsa_cert_file",
    )
    assert "not now" in problem.message


def test_a_tsa_key_of_another_kind_or_encrypted_is_named(config, tmp_path):
    p384 = ec.generate_private_key(ec.SECP384R1())
    _cert_file, key_file = pair_of(tmp_path, p384)
    problem = refused(
        lambda: read_tsa_identity(config.seal.tsa_cert_file, key_file),
        "seal.tsa_key_file",
    )
    assert "RSA key of at least 2048 bits or an EC P-256 key" in problem.message
    own = serialization.load_pem_private_key(
        Path(config.seal.tsa_key_file).read_bytes(), None
    )
    locked = tmp_path / "locked.key"
    locked.write_bytes(
        own.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"secret"),
        )
    )
    problem = refused(
        lambda: read_tsa_identity(config.seal.tsa_cert_file, str(locked)),
        "seal.tsa_key_file",
    )
    assert "encrypted" in problem.message


@pytest.mark.parametrize("form", ["sec1-pem", "pkcs8-der"])
def test_the_tsa_key_in_another_form_is_taken(config, tmp_path, form):
    own = serialization.load_pem_private_key(
        Path(config.seal.tsa_key_file).read_bytes(), None
    )
    path = tmp_path / f"tsa.{form}"
    path.write_bytes(
        own.private_bytes(
            serialization.Encoding.PEM
            if form == "sec1-pem"
            else serialization.Encoding.DER,
            serialization.PrivateFormat.TraditionalOpenSSL
            if form == "sec1-pem"
            else serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    _cert, key, signer = read_tsa_identity(config.seal.tsa_cert_file, str(path))
    assert key["private_key_algorithm"]["algorithm"].native == "ec"
    assert signer.private_numbers() == own.private_numbers()


# -- [kafka] ssl_cafile / ssl_certfile / ssl_keyfile -----------------------------------


def kafka_ssl(config, **files: str) -> KafkaConfig:
    settings = {
        "ssl_cafile": config.tls.ca_file,
        "ssl_certfile": config.tls.cert_file,
        "ssl_keyfile": config.tls.key_file,
        **files,
    }
    return KafkaConfig(security_protocol="SSL", **settings)


async def test_a_kafka_ssl_file_holding_the_wrong_thing_names_its_setting(
    stack, config, tmp_path
):
    """atk14b: the issuer served and logged '[SSL] PEM lib' in a loop, never
    exiting."""
    garbage = tmp_path / "garbage.pem"
    garbage.write_text(NOT_A_CERTIFICATE)
    cfg = on_free_ports(config)
    cfg.kafka.security_protocol = "SSL"
    cfg.kafka.ssl_cafile = config.tls.ca_file
    cfg.kafka.ssl_certfile = config.tls.cert_file
    cfg.kafka.ssl_keyfile = str(garbage)
    done = start("services.issuer", cfg, tmp_path, timeout=30)
    one_line_naming(done, "kafka.ssl_keyfile")


@pytest.mark.parametrize("module", ["services.verifier", "services.feed"])
async def test_every_kafka_client_process_checks_the_ssl_files_first(
    stack, config, tmp_path, module
):
    """The verifier (Faust and its own consumers) and a ServiceProcess alike."""
    garbage = tmp_path / "garbage.pem"
    garbage.write_text(NOT_A_CERTIFICATE)
    cfg = on_free_ports(config)
    cfg.verifier.data_dir = str(tmp_path / "verifier")
    cfg.kafka.security_protocol = "SSL"
    cfg.kafka.ssl_cafile = str(garbage)
    done = start(module, cfg, tmp_path, timeout=60)
    one_line_naming(done, "kafka.ssl_cafile")


@pytest.mark.parametrize(
    "setting,what",
    [
        ("ssl_cafile", "garbage"),
        ("ssl_cafile", "key"),
        ("ssl_cafile", "missing"),
        ("ssl_certfile", "garbage"),
        ("ssl_certfile", "key"),
        ("ssl_keyfile", "garbage"),
        ("ssl_keyfile", "certificate"),
        ("ssl_keyfile", "other-key"),
        ("ssl_keyfile", "nul"),
    ],
)
def test_every_wrong_kafka_ssl_file_is_named(config, tmp_path, setting, what):
    path = tmp_path / "wrong.pem"
    if what == "garbage":
        path.write_text(NOT_A_CERTIFICATE)
    elif what == "nul":
        path.write_bytes(b"\0" * 512)
    elif what == "key":
        path = Path(config.tls.key_file)
    elif what == "certificate":
        path = Path(config.tls.cert_file)
    elif what == "other-key":
        path = Path(config.verifier.key_file)
    kafka = kafka_ssl(config, **{setting: str(path)})
    refused(kafka.ssl_context, f"kafka.{setting}")
    refused(lambda: kafka.settings("certseal-test"), f"kafka.{setting}")


def test_a_kafka_key_without_a_certificate_or_an_unknown_protocol_is_named(config):
    refused(kafka_ssl(config, ssl_certfile="").ssl_context, "kafka.ssl_keyfile")
    wrong = KafkaConfig(security_protocol="ssl")  # a typo: was plaintext to an SSL port
    refused(wrong.ssl_context, "kafka.security_protocol")


def test_kafka_ssl_files_ssl_takes_are_taken(config, tmp_path):
    """A certificate and its key in one file (ssl_keyfile empty), a key kind
    gRPC's TLS does not take but OpenSSL does (secp256k1), no CA file (the
    system's), and PLAINTEXT reading no file."""
    both = tmp_path / "client.pem"
    both.write_bytes(
        Path(config.tls.cert_file).read_bytes() + Path(config.tls.key_file).read_bytes()
    )
    context = kafka_ssl(config, ssl_certfile=str(both), ssl_keyfile="").ssl_context()
    assert isinstance(context, ssl.SSLContext)
    cert_file, key_file = pair_of(tmp_path, ec.generate_private_key(ec.SECP256K1()))
    settings = kafka_ssl(
        config, ssl_cafile="", ssl_certfile=cert_file, ssl_keyfile=key_file
    ).settings("certseal-test")
    assert settings.common()["ssl_context"] is settings.ssl_context
    plain = KafkaConfig(ssl_cafile="/nowhere", ssl_keyfile="/nowhere")
    assert plain.ssl_context() is None


# -- font settings -----------------------------------------------------------------


def not_a_font(tmp_path, what: str) -> Path:
    path = tmp_path / f"font-{what}.ttf"
    if what == "nul":
        path.write_bytes(b"\0" * 4096)
    elif what == "empty":
        path.write_bytes(b"")
    elif what == "html":
        path.write_text("<html><body>404 Not Found</body></html>\n")
    elif what == "truncated":
        path.write_bytes(RARE_FONT.read_bytes()[:5000])
    elif what == "folder":
        path.mkdir()
    return path


@pytest.mark.skipif(not RARE_FONT.is_file(), reason="make fonts: fonts-hanazono")
@pytest.mark.parametrize("what", ["nul", "empty", "html", "truncated", "folder"])
def test_a_font_file_that_is_no_font_is_named(tmp_path, what):
    path = not_a_font(tmp_path, what)
    refused(
        lambda: check_font_file(path, "issuer.rare_font_file"), "issuer.rare_font_file"
    )


@pytest.mark.skipif(not RARE_FONT.is_file(), reason="make fonts: fonts-hanazono")
def test_the_rare_font_is_a_font():
    assert 0x2000C in check_font_file(RARE_FONT, "issuer.rare_font_file")  # 𠀌


@pytest.mark.parametrize("module", ["issuer", "console"])
async def test_a_rare_font_file_that_is_no_font_is_named_at_start(
    stack, config, tmp_path, module
):
    """atk14b: the issuer started, and every licence file's render broke its
    worker pool (BrokenProcessPool, never recreated); the console served it."""
    font = tmp_path / "HanaMinB.ttf"
    font.write_bytes(b"\0" * 4096)
    cfg = on_free_ports(config)
    getattr(cfg, module).rare_font_file = str(font)
    done = start(f"services.{module}", cfg, tmp_path, timeout=60)
    one_line_naming(done, f"{module}.rare_font_file")


# -- the SM2 seal CA's key -----------------------------------------------------------


def sm2_key_forms(config, tmp_path) -> dict[str, Path]:
    sec1 = Path(config.seal.sm2_ca_key_file).read_bytes()
    _, _, body = asn1_pem.unarmor(sec1)
    private = asn1_keys.ECPrivateKey.load(body)
    curve = private["parameters"]
    info = asn1_keys.PrivateKeyInfo(
        {
            "version": 0,
            "private_key_algorithm": {"algorithm": "ec", "parameters": curve},
            "private_key": private,
        }
    )
    forms = {
        "pkcs8-pem": asn1_pem.armor("PRIVATE KEY", info.dump()),
        "pkcs8-der": info.dump(),
        "sec1-der": body,
    }
    paths = {}
    for name, data in forms.items():
        paths[name] = tmp_path / f"sm2.{name}"
        paths[name].write_bytes(data)
    return paths


@pytest.mark.parametrize("form", ["pkcs8-pem", "pkcs8-der", "sec1-der"])
def test_an_sm2_ca_key_in_pkcs8_or_der_is_taken(config, tmp_path, form):
    """atk14b: PKCS#8 (openssl genpkey -algorithm SM2, openssl pkey) was refused as
    'must be the EC P-256 or SM2 key of the certificate'."""
    assert config.seal.sm2_ca_cert_file
    path = sm2_key_forms(config, tmp_path)[form]
    fields = ("seal.sm2_ca_cert_file", "seal.sm2_ca_key_file")
    ca = SealCa.from_files(config.seal.sm2_ca_cert_file, str(path), fields)
    own = SealCa.from_files(
        config.seal.sm2_ca_cert_file, config.seal.sm2_ca_key_file, fields
    )
    assert ca.cert == own.cert


@pytest.mark.parametrize(
    "what,says",
    [
        ("garbage", "holds no EC P-256 or SM2 private key"),
        ("p384", "is not the key of the certificate"),
        ("other-sm2", "is not the key of the certificate"),
        ("encrypted", "is encrypted"),
        ("rsa", "key; the seal CA's key is EC P-256 or SM2"),
    ],
)
def test_a_wrong_sm2_ca_key_is_named_for_what_it_is(config, tmp_path, what, says):
    from cryptography.hazmat.primitives.asymmetric import rsa

    path = tmp_path / "wrong.key"
    if what == "garbage":
        path.write_text(NOT_A_CERTIFICATE.replace("CERTIFICATE", "PRIVATE KEY"))
    elif what == "other-sm2":
        path = Path(config.seal.sm2_ca_key_file)
        cert_file = config.seal.sm2_ca_cert_file
    else:
        key = (
            rsa.generate_private_key(65537, 2048)
            if what == "rsa"
            else ec.generate_private_key(ec.SECP384R1())
        )
        path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.BestAvailableEncryption(b"pw")
                if what == "encrypted"
                else serialization.NoEncryption(),
            )
        )
    cert_file = config.seal.sm2_ca_cert_file
    if what == "other-sm2":  # the SM2 key against the P-256 seal CA's certificate
        cert_file = config.seal.ca_cert_file
    fields = ("seal.sm2_ca_cert_file", "seal.sm2_ca_key_file")
    problem = refused(
        lambda: SealCa.from_files(cert_file, str(path), fields), "seal.sm2_ca_key_file"
    )
    assert says in problem.message, problem


# -- client identities toward other services -----------------------------------------


@pytest.mark.parametrize(
    "module,setting",
    [
        ("issuer", "key_file"),
        ("seal", "cert_file"),
        ("console", "key_file"),
    ],
)
async def test_a_wrong_client_identity_file_is_named_at_start(
    stack, config, tmp_path, module, setting
):
    """The issuer's identity toward the seal service (seal_target), the seal
    service's toward a verifier group (verifier_target), the console's toward
    every service: gRPC read them at the first call and failed every call."""
    garbage = tmp_path / "garbage.pem"
    garbage.write_text(NOT_A_CERTIFICATE)
    cfg = on_free_ports(config)
    cfg.issuer.seal_target = cfg.issuer.seal_target or cfg.seal.listen
    cfg.seal.verifier_target = cfg.seal.verifier_target or cfg.verifier.listen
    section = getattr(cfg, module)
    section.cert_file = section.cert_file or config.tls.cert_file
    section.key_file = section.key_file or config.tls.key_file
    setattr(section, setting, str(garbage))
    done = start(f"services.{module}", cfg, tmp_path, timeout=60)
    one_line_naming(done, f"{module}.{setting}")
