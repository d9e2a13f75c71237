"""The DER header walk that runs before asn1crypto sees outside input (X.690)."""

import time

import pytest
from asn1crypto import x509

from certseal.der import MAX_DEPTH, MAX_HIGH_RUN, DerError, check, check_outside


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
    started = time.thread_time()
    with pytest.raises(DerError, match="tag number longer"):
        check(bomb)
    assert time.thread_time() - started < 0.01


def test_a_deep_megabyte_is_refused_in_one_pass():
    bomb = b"\x30\x84\x00\x0f\x42\x3a" * 1000 + b"\x05\x00"
    started = time.thread_time()
    with pytest.raises(DerError):
        check(bomb)
    assert time.thread_time() - started < 0.05


def test_a_real_certificate_passes(tmp_path):
    from certseal.devpki import DevCA

    ca = DevCA(tmp_path / "ca")
    der = x509.Certificate.load(
        __import__("ssl").PEM_cert_to_DER_cert(ca.ca_file.read_text())
    ).dump()
    check(der)


def test_every_truncation_of_a_certificate_is_refused(tmp_path):
    """The walk reads the common headers itself (short and long definite lengths)
    and leaves the rest to ``_header``: a certificate passes, and every truncation
    of it, which leaves some element running past its end, is refused."""
    from certseal.devpki import DevCA

    ca = DevCA(tmp_path / "ca")
    der = __import__("ssl").PEM_cert_to_DER_cert(ca.ca_file.read_text())
    check(der)
    for cut in range(1, len(der)):
        with pytest.raises(DerError, match=r"runs past|truncated"):
            check(der[:cut])


def test_padded_der_may_end_in_zeros_only():
    element = b"\x30\x03\x02\x01\x01"
    check(element + bytes(64), padded=True)  # a PDF signature's zero-padded /Contents
    check(element, padded=True)
    for bad in (element + b"\x00\x01", element + b"\x01", b"\x30\x05\x02\x01"):
        with pytest.raises(DerError):
            check(bad, padded=True)
    with pytest.raises(DerError, match="tag number"):
        check(b"\x30\x09\x1f" + b"\x81" * 6 + b"\x01\x00" + bytes(8), padded=True)


def test_a_long_tag_nested_in_a_primitive_value_is_refused_by_check_outside():
    def octets(body: bytes) -> bytes:
        return b"\x04" + _length(len(body)) + body

    nested_tag = b"\x30\x84" + (1_000_003).to_bytes(4, "big")
    nested_tag += b"\x1f" + b"\x81" * 1_000_000 + b"\x01\x00"
    check(octets(nested_tag))  # opaque to the walk
    started = time.monotonic()
    with pytest.raises(DerError, match="tag number"):
        check_outside(octets(nested_tag))
    assert time.monotonic() - started < 1.0
    check_outside(octets(b"\xff" * MAX_HIGH_RUN))  # at the bound
    with pytest.raises(DerError):
        check_outside(octets(b"\xff" * (MAX_HIGH_RUN + 1)))
    check_outside(octets(("示例公司" * 300).encode()))  # 3,600 bytes of UTF-8 CJK


@pytest.mark.parametrize(
    "data",
    [
        b"\x30\x80\x05\x00\x00\x00",
        b"\x30\x80\x30\x80\x02\x01\x05\x00\x00\x00\x00",
        b"\x30\x80\x30\x03\x02\x01\x05\xa0\x80\x04\x00\x00\x00\x00\x00",
        b"\x30\x06\x30\x80\x05\x00\x00\x00",  # indefinite inside definite
        b"\x24\x80\x04\x01\x61\x04\x01\x62\x00\x00",  # constructed OCTET STRING
    ],
)
def test_ber_indefinite_lengths_pass_when_asked(data):
    check(data, ber=True)
    check(data + b"\x00" * 9, ber=True, padded=True)
    with pytest.raises(DerError, match="indefinite"):
        check(data if data[1] == 0x80 else data[2:])  # DER still refuses them


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"\x30\x80\x05\x00", "end-of-contents missing"),
        (b"\x30\x80\x30\x80\x05\x00\x00\x00", "end-of-contents missing"),
        (b"\x04\x80\x00\x00", "primitive"),
        (b"\x30\x04\x30\x80\x05\x00\x00\x00", "end-of-contents"),  # EOC past parent
        (b"\x30\x80\x05\x00\x00\x00\x01", "after the element"),
        (b"\x30\x80" * (MAX_DEPTH + 1) + b"\x00\x00" * (MAX_DEPTH + 1), "deeper"),
        (b"\x30\x80\x1f\x81\x81\x81\x81\x01\x00\x00\x00", "tag number"),
        (b"\x30\x80\x04\x85\x01\x00\x00\x00\x00\x00\x00", "length longer"),
        (b"\x30\x80\x04\x05\x00\x00", "runs past"),
        (b"\x30\x80\x00\x00\x30\x80\x00\x00", "after the element"),
    ],
)
def test_bad_ber_shapes_are_refused(data, why):
    with pytest.raises(DerError, match=why):
        check(data, ber=True)


def test_a_deep_indefinite_megabyte_is_refused_in_one_pass():
    data = b"\x30\x80" * 500_000 + b"\x00\x00" * 500_000
    started = time.thread_time()
    with pytest.raises(DerError, match="deeper"):
        check_outside(data, ber=True, padded=True)
    assert time.thread_time() - started < 1
