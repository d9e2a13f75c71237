"""A PKCS#11 module built on OpenSSL leaves errors on the OpenSSL error queue of the
thread that initialised it (SoftHSM2 asks OpenSSL 3 for engines it no longer has), and
Python's ssl reads that queue after loading CA certificates: the next CA bundle that
thread loaded failed with "[ENGINE: NO_SUCH_ENGINE] no such engine" (the feed's
webhook CA in a test process where an issuer had opened its token; found by running
the suite in two pytest-xdist workers). Opening a token through certseal.hsm clears
the queue (certseal.hsm_calls.clear_openssl_errors).

Each case runs in a process of its own: a module is initialised once per process, and
only its first initialisation leaves the errors."""

import subprocess
import sys

import pytest

from certseal.devpki import DevCA
from tests.softhsm import SoftHsm

LOAD_CA = """
import ssl
from pathlib import Path
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

pem = Path({ca!r}).read_bytes()
der = x509.load_pem_x509_certificate(pem).public_bytes(Encoding.DER)
try:
    ssl.create_default_context(cadata=der)
except ssl.SSLError as exc:
    print("refused:", exc)
else:
    print("loaded")
"""

RAW = """
import pkcs11
pkcs11.lib({module!r}).get_token(token_label={label!r})
"""

THROUGH_CERTSEAL = """
from certseal.errors import CertsealError
from certseal.hsm import Pkcs11Token
try:
    Pkcs11Token.open(
        module={module!r}, token_label={label!r}, pin_file={pin_file!r}, suites=["es256"]
    )
except CertsealError as exc:
    print("token refused:", exc.field)
"""


def _run(softhsm: SoftHsm, opening: str, ca: str, pin_file: str = "") -> str:
    values = {
        "module": softhsm.module,
        "label": softhsm.label,
        "pin_file": pin_file or str(softhsm.pin_file),
        "ca": ca,
    }
    script = opening.format(**values) + LOAD_CA.format(**values)
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.fixture
def ca_file(tmp_path) -> str:
    return str(DevCA(tmp_path).ca_file)


def test_a_module_opened_raw_leaves_errors_that_ssl_reports(softhsm, ca_file):
    # what the clearing is for: without it the CA bundle is refused
    out = _run(softhsm, RAW, ca_file)
    assert "NO_SUCH_ENGINE" in out, (
        f"{out}: this SoftHSM2 no longer leaves OpenSSL errors behind, so the two "
        "tests below no longer show the clearing at work; find another module that "
        "does, or drop the three"
    )


def test_a_token_opened_through_certseal_leaves_ssl_working(softhsm, ca_file):
    assert _run(softhsm, THROUGH_CERTSEAL, ca_file) == "loaded"


def test_a_token_refused_still_leaves_ssl_working(softhsm, ca_file):
    wrong = str(softhsm.wrong_pin_file)
    out = _run(softhsm, THROUGH_CERTSEAL, ca_file, pin_file=wrong)
    assert out.splitlines() == ["token refused: pkcs11.pin_file", "loaded"], out
