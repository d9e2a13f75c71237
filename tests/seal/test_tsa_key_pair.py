"""atk6: a TSA key that is not its certificate's key (e.g. the dev TSA's new EC P-256
key next to an older RSA certificate, or the other way round) is taken at start-up;
every token it signs then fails check_token (bad signature) far from the cause."""

import pytest

from certseal.devpki import DevCA
from certseal.errors import CertsealError
from services.seal.tsa import TsaServer


@pytest.mark.parametrize(
    ("cert_rsa", "key_rsa"), [(False, False), (False, True), (True, False)]
)
def test_a_key_that_is_not_the_certificates_is_refused(tmp_path, cert_rsa, key_rsa):
    ca = DevCA(tmp_path / "ca", name="test TSA CA")
    cert = ca.tsa_identity("tsa one", rsa_key=cert_rsa)
    key = ca.tsa_identity("tsa two", rsa_key=key_rsa)
    with pytest.raises(CertsealError) as raised:
        TsaServer(cert_file=str(cert.cert_file), key_file=str(key.key_file))
    assert raised.value.field == "seal.tsa_key_file"


def test_a_certificate_with_an_extension_twice_is_named(tmp_path):
    """atk24b F6, the same kind in the TSA's own certificate: cryptography's
    DuplicateExtension is no ValueError, and came out as a traceback at start."""
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    from services.seal.tsa import read_tsa_identity
    from tests.certificates import key_pem, twice

    key = ec.generate_private_key(ec.SECP256R1())
    tsa = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "tsa")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(tsa)
        .issuer_name(tsa)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True
        )
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "tsa.pem", tmp_path / "tsa.key"
    cert_file.write_bytes(twice(cert, key).public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key_pem(key))
    with pytest.raises(CertsealError) as raised:
        read_tsa_identity(str(cert_file), str(key_file))
    assert raised.value.field == "seal.tsa_cert_file"
    assert "malformed extensions" in raised.value.message
