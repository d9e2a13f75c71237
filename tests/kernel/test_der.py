"""The DER header walk that runs before asn1crypto sees outside input (X.690)."""

import time

import pytest
from asn1crypto import x509

from certseal.der import MAX_DEPTH, DerError, check


def nested(depth: int) -> bytes:
    """``depth`` SEQUENCEs, one inside the other, around a NULL."""
    data = b"\x05\x00"
    for _ in range(depth):
        data = b"\x30" + _length(len(data)) + data
    return data


def _length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def test_well_formed_der_passes():
    check(b"\x05\x00")
    check(nested(MAX_DEPTH))
    check(b"\x30\x06\x02\x01\x01\x04\x01\xff")
    check(b"\x9f\x1f\x01\x00")  # [31] in the high-tag-number form, 1 byte
    check(b"\x04\x81\x80" + b"\x00" * 128)  # long-form length


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"", "empty"),
        (b"\x05\x00\x00", "after the element"),
        (b"\x05\x00\x05\x00", "after the element"),
        (b"\x30\x80\x05\x00\x00\x00", "indefinite"),
        (b"\x04\x85\x01\x00\x00\x00\x00", "length longer"),
        (b"\x04\x84\xff\xff\xff\xff", "runs past"),
        (b"\x30\x03\x04\x05\x00", "runs past"),
        (b"\x1f\x81\x81\x81\x81\x01\x00", "tag number longer"),
        (b"\x1f\x81", "truncated tag"),
        (b"\x04", "truncated length"),
        (b"\x04\x82\x01", "truncated length"),
        (nested(MAX_DEPTH + 1), "nested deeper"),
    ],
)
def test_bad_shapes_are_refused(data, why):
    with pytest.raises(DerError, match=why):
        check(data)


def test_a_megabyte_of_tag_continuation_bytes_is_refused_at_once():
    """The shape that took asn1crypto minutes (quadratic in the continuation bytes)."""
    bomb = b"\x3f" + b"\x81" * 1_000_000 + b"\x01\x00"
    started = time.perf_counter()
    with pytest.raises(DerError, match="tag number longer"):
        check(bomb)
    assert time.perf_counter() - started < 0.01


def test_a_deep_megabyte_is_refused_in_one_pass():
    bomb = b"\x30\x84\x00\x0f\x42\x3a" * 1000 + b"\x05\x00"
    started = time.perf_counter()
    with pytest.raises(DerError):
        check(bomb)
    assert time.perf_counter() - started < 0.05


def test_a_real_certificate_passes(tmp_path):
    from certseal.devpki import DevCA

    ca = DevCA(tmp_path / "ca")
    der = x509.Certificate.load(
        __import__("ssl").PEM_cert_to_DER_cert(ca.ca_file.read_text())
    ).dump()
    check(der)
