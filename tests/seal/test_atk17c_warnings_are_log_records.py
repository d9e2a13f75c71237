"""atk17c: beside gRPC's own lines (f53662f), Python's warnings reached a service's
stderr as loose lines of their own format ("<file>:<line>: <Category>: <message>"
and the source line), which no log shipper of the JSON log parses. A stranger can
cause one: a PDF's timestamp token whose TSA certificate has a serial number that is
not positive makes cryptography warn (CryptographyDeprecationWarning) as VerifyPdf
reads it. A process that configured its logs writes every warning as one record."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

_SERIAL = 0x7A7A7A


def negative_serial_certificate() -> bytes:
    """A self-signed certificate whose serial number reads as negative."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "hostile TSA")])
    der = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(_SERIAL)
        .not_valid_before(dt.datetime(2020, 1, 1))
        .not_valid_after(dt.datetime(2030, 1, 1))
        .sign(key, hashes.SHA256())
        .public_bytes(serialization.Encoding.DER)
    )
    # INTEGER 0x7a7a7a -> 0xfa7a7a: the same length, the sign bit set
    return der.replace(b"\x02\x03\x7a\x7a\x7a", b"\x02\x03\xfa\x7a\x7a", 1)


_CHILD = """
import sys
from certseal import logs
from services.seal.timestamp import _tsa_certificate
logs.configure("INFO")
_tsa_certificate(sys.stdin.buffer.read())
"""


def test_a_warning_on_hostile_input_is_one_json_record():
    run = subprocess.run(
        [sys.executable, "-c", _CHILD],
        input=negative_serial_certificate(),
        capture_output=True,
        timeout=60,
        check=True,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": "."},
    )
    lines = run.stderr.decode().splitlines()
    records = [json.loads(line) for line in lines]  # every line is a JSON record
    assert [r["logger"] for r in records] == ["py.warnings"], lines
    assert "serial number" in records[0]["msg"]
    assert records[0]["level"] == "warning"
