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
