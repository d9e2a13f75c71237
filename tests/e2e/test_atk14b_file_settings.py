"""atk14b: settings that name a file, attacked from outside after a7b13b3/2033e6e
(certseal/tlsfiles.py, SealCa.from_files, load_trust_files). The rule: a file that
cannot be used ends the start with exit 2 and one line naming its setting; nothing
gRPC or ``ssl`` would have taken is refused. Each finding was xfail(strict=True); the ones fixed are these tests, the
others (dsn_file contents, the seal's TSA files, Kafka's SSL files, a rare-font file
that is no font, an SM2 CA key in PKCS#8) are tests/e2e/test_fix15_file_settings.py."""

from __future__ import annotations

import datetime as dt
import ssl
import subprocess
import sys
import threading
import time
from concurrent import futures
from pathlib import Path

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448
from cryptography.x509.oid import NameOID

from certseal.config import dump_config
from certseal.crypto import Suite
from certseal.devpki import DevCA
from certseal.errors import CertsealError
from certseal.tlsfiles import read_certificates, read_key_pair
from tests.e2e.test_atk12_missing_files import on_free_ports
from tests.verifier.test_bundle_token import token  # noqa: F401 (a fixture)

NOT_A_CERTIFICATE = (
    "-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n"
)


def one_line_naming(done: subprocess.CompletedProcess[str], setting: str) -> None:
    assert done.returncode == 2, done.stderr[-3000:]
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    errors = [line for line in done.stderr.splitlines() if "error: " in line]
    assert len(errors) == 1 and f"error: {setting}: " in errors[0], done.stderr[-3000:]


def start(module: str, cfg, tmp_path, timeout: float = 60):
    """The service's run, or its stderr so far once it says it is listening, or when
    it did not end in ``timeout`` (exit status None: it kept running, and is stopped
    here). A serving service is not waited on for the whole ``timeout``: three of
    these runs cost 90 s of the suite."""
    config_file = tmp_path / f"{module}.toml"
    config_file.write_text(dump_config(cfg))
    process = subprocess.Popen(
        [sys.executable, "-m", module, "--config", str(config_file)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    said: list[str] = []
    listening = threading.Event()

    def read() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            said.append(line)
            if "listening" in line:
                listening.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    deadline = time.monotonic() + timeout
    while process.poll() is None and not listening.is_set():
        if time.monotonic() > deadline:
            break
        listening.wait(0.05)
    code = process.poll()
    if code is None:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    reader.join(5)
    return subprocess.CompletedProcess(process.args, code, "", "".join(said))


# -- a working deployment refused (regression) -----------------------------------


def trusted_form(pem: bytes) -> bytes:
    """``openssl x509 -trustout``'s form of a certificate without trust settings (the
    same DER, labelled TRUSTED CERTIFICATE), as in RHEL's ca-bundle.trust.crt."""
    return pem.replace(b"BEGIN CERTIFICATE", b"BEGIN TRUSTED CERTIFICATE").replace(
        b"END CERTIFICATE", b"END TRUSTED CERTIFICATE"
    )


def test_a_ca_bundle_in_openssls_trusted_form_is_taken_as_grpc_takes_it(
    config, tmp_path
):
    ca = tmp_path / "ca.trust.pem"
    ca.write_bytes(trusted_form(Path(config.tls.ca_file).read_bytes()))
    cert, key = (
        Path(config.tls.cert_file).read_bytes(),
        Path(config.tls.key_file).read_bytes(),
    )
    # gRPC binds a server trusting it, and ssl loads it (webhook_ca_file, client_ca_file)
    server = grpc.server(futures.ThreadPoolExecutor(1))
    credentials = grpc.ssl_server_credentials(
        [(key, cert)], root_certificates=ca.read_bytes(), require_client_auth=True
    )
    assert server.add_secure_port("127.0.0.1:0", credentials) != 0
    server.stop(None)
    ssl.create_default_context(cafile=str(ca))
    # certseal refuses it: "tls.ca_file: ... holds no PEM certificate"
    _, certificates = read_certificates(str(ca), "tls.ca_file")
    assert len(certificates) == 1


# -- settings whose file is still used unchecked -----------------------------------


# the module-scoped token fixture of tests/verifier/test_bundle_token.py (imported)


@pytest.mark.parametrize(
    "what", ["garbage", "another-certificate", "another-ca", "another-group"]
)
async def test_a_verifier_bundle_cert_file_holding_the_wrong_thing_exits_2(
    stack,
    config,
    softhsm,
    token,  # noqa: F811 (the imported fixture)
    tmp_path,
    what,
):
    """Also a certificate of the token's key that counters would refuse every bundle
    of: issued by another CA than the platform's, or to a verifier of another group."""
    label = f"atk14b-{what}"
    public_key_der, _ = await token.generate(Suite.ES256, label=label)
    cfg = on_free_ports(config)
    cfg.verifier.data_dir = str(tmp_path / "data")
    cfg.verifier.bundle_key = label
    cfg.pkcs11 = softhsm.config(sessions=1)
    if what == "garbage":
        path = tmp_path / "bundle.pem"
        path.write_text(NOT_A_CERTIFICATE)
        cfg.verifier.bundle_cert_file = str(path)
    elif what == "another-ca":
        other = DevCA(tmp_path / "other-ca", name="another platform's CA")
        cfg.verifier.bundle_cert_file = str(
            other.certify("service:verifier", public_key_der, tmp_path / "b.pem")
        )
    elif what == "another-group":
        cfg.verifier.bundle_cert_file = str(
            stack.ca.certify(
                "service:verifier-not-this-group", public_key_der, tmp_path / "b.pem"
            )
        )
    else:  # a certificate, of another key than the token's
        cfg.verifier.bundle_cert_file = config.tls.cert_file
    done = start("services.verifier", cfg, tmp_path)
    assert done.returncode == 2, done.stderr[-3000:]
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    errors = [line for line in done.stderr.splitlines() if "error: " in line]
    assert len(errors) == 1 and "bundle_cert_file: " in errors[0], done.stderr[-3000:]


# -- a certificate that cannot be used ------------------------------------------------


def test_an_expired_server_certificate_names_its_setting(tmp_path):
    now = dt.datetime.now(dt.UTC)
    cert_file, key_file = pair_of(
        tmp_path,
        ec.generate_private_key(ec.SECP256R1()),
        now - dt.timedelta(days=30),
        now - dt.timedelta(days=1),
    )
    with pytest.raises(CertsealError) as refused:
        read_key_pair(cert_file, key_file, ("tls.cert_file", "tls.key_file"))
    assert refused.value.field == "tls.cert_file"


async def test_a_tls_cert_file_on_an_unsupported_curve_names_its_setting(
    stack, config, tmp_path
):
    assert config.seal.sm2_ca_cert_file  # the dev SM2 seal CA: a real certificate
    cfg = on_free_ports(config)
    cfg.tls.cert_file = config.seal.sm2_ca_cert_file
    done = start("services.issuer", cfg, tmp_path)
    one_line_naming(done, "tls.cert_file")


@pytest.mark.parametrize(
    "field",
    [
        "secrets.kek_file",
        "secrets.data_key_file",
        "issuer.index_key_file",
        "tlog.signing_key_file",
    ],
)
def test_a_secret_file_of_nul_bytes_names_its_setting(tmp_path, field):
    from certseal.secretfiles import read_secret_file

    path = tmp_path / "secret"
    path.write_bytes(b"\0" * 32)
    with pytest.raises(CertsealError) as refused:
        read_secret_file(path, field)
    assert refused.value.field == field


def test_a_chain_in_the_wrong_order_blames_the_certificate_file(config, tmp_path):
    chain = tmp_path / "chain.pem"
    chain.write_bytes(
        Path(config.tls.ca_file).read_bytes() + Path(config.tls.cert_file).read_bytes()
    )
    with pytest.raises(CertsealError) as refused:
        read_key_pair(
            str(chain), config.tls.key_file, ("tls.cert_file", "tls.key_file")
        )
    assert refused.value.field == "tls.cert_file", refused.value


@pytest.mark.parametrize("setting", ["ca_file", "cert_file", "key_file"])
def test_a_pem_file_with_a_byte_order_mark_is_used_or_named(
    stack, config, tmp_path, setting
):
    path = tmp_path / f"bom-{setting}.pem"
    path.write_bytes(b"\xef\xbb\xbf" + Path(getattr(config.tls, setting)).read_bytes())
    cfg = on_free_ports(config)
    setattr(cfg.tls, setting, str(path))
    done = start("services.issuer", cfg, tmp_path, timeout=30)
    if done.returncode is not None:  # refused: naming the file's setting
        one_line_naming(done, f"tls.{setting}")
    else:  # serving: the bytes gRPC got were usable
        assert "listening" in done.stderr, done.stderr[-3000:]


def pair_of(
    tmp_path,
    key,
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
) -> tuple[str, str]:
    """A self-signed certificate of ``key`` (valid from a day ago for 30 days unless
    given) and the key, as PEM files."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "service:issuer")])
    now = dt.datetime.now(dt.UTC)
    not_before = not_before or now - dt.timedelta(days=1)
    not_after = not_after or now + dt.timedelta(days=30)
    algorithm = None if isinstance(key, ed448.Ed448PrivateKey) else hashes.SHA256()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .sign(key, algorithm)
    )
    cert_file, key_file = tmp_path / "pair.pem", tmp_path / "pair.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return str(cert_file), str(key_file)


@pytest.mark.parametrize("kind", ["secp256k1", "ed448"])
def test_a_tls_key_grpc_cannot_use_names_its_setting(stack, config, tmp_path, kind):
    key = (
        ec.generate_private_key(ec.SECP256K1())
        if kind == "secp256k1"
        else ed448.Ed448PrivateKey.generate()
    )
    cfg = on_free_ports(config)
    cfg.tls.cert_file, cfg.tls.key_file = pair_of(tmp_path, key)
    done = start("services.issuer", cfg, tmp_path, timeout=30)
    assert done.returncode == 2, done.stderr[-3000:]
    errors = [line for line in done.stderr.splitlines() if "error: " in line]
    assert len(errors) == 1, done.stderr[-3000:]
    assert "error: tls.key_file: " in errors[0] or "error: tls.cert_file: " in errors[0]
