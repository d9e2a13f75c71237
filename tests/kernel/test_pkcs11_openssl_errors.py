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
import textwrap

import pytest

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
from certseal.hsm import Pkcs11Token
token = Pkcs11Token.open(
    module={module!r}, token_label={label!r}, pin_file={pin_file!r}, suites=["es256"]
)
"""


def _run(softhsm: SoftHsm, opening: str, ca: str) -> str:
    values = {
        "module": softhsm.module,
        "label": softhsm.label,
        "pin_file": str(softhsm.pin_file),
        "ca": ca,
    }
    script = textwrap.dedent(opening).format(**values) + LOAD_CA.format(**values)
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.fixture
def ca_file(stack) -> str:
    return str(stack.ca.ca_file)


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
    opening = THROUGH_CERTSEAL.replace(
        "{pin_file!r}", repr(str(softhsm.wrong_pin_file))
    )
    refused = (
        "from certseal.errors import CertsealError\ntry:\n"
        + textwrap.indent(textwrap.dedent(opening), "    ")
        + "except CertsealError as exc:\n    print('token refused:', exc.field)\n"
    )
    out = _run(softhsm, refused, ca_file)
    assert out.splitlines() == ["token refused: pkcs11.pin_file", "loaded"], out
