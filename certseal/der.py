"""A bounded walk over DER's tag-length-value headers (ITU-T X.690 §8, §10), run before
any ASN.1 library parses outside input.

asn1crypto parses DER correctly but not cheaply for every input: a tag number spread
over thousands of continuation bytes costs it time quadratic in their count (1 MB of
them took minutes), and deep nesting costs recursion. :func:`check` refuses those shapes
in one linear pass over the headers, allocating nothing: a tag number of more than
:data:`MAX_TAG_BYTES` bytes, a length of more than :data:`MAX_LENGTH_BYTES` bytes or in
the indefinite form (not DER; with ``ber``, CMS's BER, allowed for constructed
elements, each closed by end-of-contents within its parent), a length running past its
parent, nesting deeper than ``max_depth``, and bytes after the outermost element.

DER nested in a primitive value (a TSTInfo in its OCTET STRING, a certificate
extension's value) is opaque to the walk, yet asn1crypto parses it when asked;
:func:`check_outside` adds a linear scan that refuses any run of more than
:data:`MAX_HIGH_RUN` bytes with the top bit set, the only shape a long tag number can
take wherever it hides.
"""

from __future__ import annotations

#: bytes of a high-tag-number form (X.690 §8.1.2.4): 4 carry tag numbers up to 2^28,
#: far beyond any tag GB/T 38540, X.509 or CMS uses (the largest is [3])
MAX_TAG_BYTES = 4
#: bytes of a long-form length (X.690 §8.1.3.5): 4 bytes say up to 4 GiB
MAX_LENGTH_BYTES = 4
#: nesting levels a seal structure needs are about a dozen (SES_Signature → TBS_Sign →
#: SESeal → SES_SealInfo → property → certList …); 32 leaves room for extensions
MAX_DEPTH = 32
#: bytes with the top bit set in a row that outside DER may hold anywhere (nested DER
#: included): a tag number's continuation bytes are such a run. asn1crypto reads a
#: 4,096-byte tag number in about 3 ms (62,000 bytes: 0.65 s); random data (hashes,
#: signatures, keys) holds such a run with odds of 2^-4096, and text would need
#: 1,366 CJK characters in UTF-8 without one ASCII byte
MAX_HIGH_RUN = 4096
_HIGH_BITS = bytes(0 if b < 0x80 else 1 for b in range(256))
_HIGH_RUN = b"\x01" * (MAX_HIGH_RUN + 1)


class DerError(ValueError):
    """Bytes that are not DER of an acceptable shape (a ValueError, as asn1crypto's)."""


def check(
    data: bytes, *, max_depth: int = MAX_DEPTH, padded: bool = False, ber: bool = False
) -> None:
    """Raise :class:`DerError` unless ``data`` is exactly one DER element whose headers
    are all within the bounds above (``padded``: zero bytes may follow it, as in a PDF
    signature's ``/Contents``, ISO 32000-1 12.8.1). ``ber``: constructed elements may
    also have the indefinite length (X.690 §8.1.3.6, BER, which CMS allows: RFC 5652
    §1.2, and BouncyCastle writes), each closed by its end-of-contents octets within
    its parent; every other bound holds. Cost: one pass over the headers,
    O(len(data)).
    """
    if not data:
        raise DerError("empty input")
    size = len(data)
    #: the end offset of each open constructed element; -1: indefinite (ends at 00 00)
    ends = [size]
    limits = [size]  # the nearest definite end at or above each level
    end, limit = size, size  # ends[-1], limits[-1]: the innermost open element's
    pos = 0
    seen_root = False
    while True:
        while len(ends) > 1:
            if end == pos:
                pass
            elif end < 0 and pos + 2 <= limit and data[pos : pos + 2] == b"\x00\x00":
                pos += 2  # its end-of-contents octets (X.690 §8.1.5)
            else:
                break
            ends.pop()
            limits.pop()
            end, limit = ends[-1], limits[-1]
        if len(ends) == 1 and seen_root:
            rest = size - pos
            if padded and data.count(0, pos) == rest:
                return
            if rest == 0:
                return
            what = "are not zeros" if padded else "follow it"
            raise DerError(f"{rest} bytes after the element {what}")
        if pos >= limit:
            raise DerError("end-of-contents missing (indefinite length)")
        seen_root = True
        # read here, the forms nearly every element has (a tag number below 31, a
        # definite length of at most MAX_LENGTH_BYTES bytes, within its parent);
        # any other, and every error, is _header's
        first = data[pos]
        element_end = -1
        if first & 0x1F != 0x1F and pos + 1 < limit:
            length = data[pos + 1]
            if length < 0x80:
                contents = pos + 2
                element_end = contents + length
            elif 0 < (count := length & 0x7F) <= MAX_LENGTH_BYTES:
                contents = pos + 2 + count
                if contents <= limit:
                    element_end = contents + int.from_bytes(
                        data[pos + 2 : contents], "big"
                    )
        if 0 <= element_end <= limit:
            constructed = bool(first & 0x20)
        else:
            contents, constructed, element_end = _header(data, pos, limit, ber=ber)
        if constructed:
            if len(ends) > max_depth:
                raise DerError(f"nested deeper than {max_depth} levels")
            end = element_end
            if end >= 0:
                limit = end
            ends.append(end)
            limits.append(limit)
            pos = contents
        else:
            pos = element_end


def check_outside(
    data: bytes, *, max_depth: int = MAX_DEPTH, padded: bool = False, ber: bool = False
) -> None:
    """:func:`check`, then refuse a run of more than :data:`MAX_HIGH_RUN` bytes with
    the top bit set anywhere in ``data`` (a long tag number in DER nested inside a
    primitive value, which the walk does not enter). Linear in ``len(data)``."""
    check(data, max_depth=max_depth, padded=padded, ber=ber)
    at = data.translate(_HIGH_BITS).find(_HIGH_RUN)
    if at >= 0:
        raise DerError(
            f"more than {MAX_HIGH_RUN} bytes with the top bit set in a row at byte "
            f"{at} (a tag number that long is refused; MAX_HIGH_RUN)"
        )


def _header(
    data: bytes, pos: int, limit: int, *, ber: bool = False
) -> tuple[int, bool, int]:
    """(offset of the contents, constructed?, end of the element) of the TLV at
    ``pos``, which must end by ``limit``; the end is -1 for an indefinite length
    (``ber`` only, constructed only: X.690 §8.1.3.2)."""
    first = data[pos]
    pos += 1
    if first & 0x1F == 0x1F:  # high-tag-number form
        count = 0
        while True:
            if pos >= limit:
                raise DerError("truncated tag")
            count += 1
            if count > MAX_TAG_BYTES:
                raise DerError(f"tag number longer than {MAX_TAG_BYTES} bytes")
            more = data[pos] & 0x80
            pos += 1
            if not more:
                break
    if pos >= limit:
        raise DerError("truncated length")
    size = data[pos]
    pos += 1
    if size == 0x80:
        if not ber:
            raise DerError("indefinite length (not DER)")
        if not first & 0x20:
            raise DerError("indefinite length of a primitive element")
        return pos, True, -1
    if size & 0x80:
        count = size & 0x7F
        if count > MAX_LENGTH_BYTES:
            raise DerError(f"length longer than {MAX_LENGTH_BYTES} bytes")
        if pos + count > limit:
            raise DerError("truncated length")
        size = int.from_bytes(data[pos : pos + count], "big")
        pos += count
    end = pos + size
    if end > limit:
        raise DerError(f"length {size} runs past its container")
    return pos, bool(first & 0x20), end


def tlv(tag: int, content: bytes) -> bytes:
    """One DER element (X.690 section 8.1): ``tag`` (a one-byte identifier), the
    definite length, ``content``."""
    n = len(content)
    if n < 0x80:
        return bytes((tag, n)) + content
    length = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes((tag, 0x80 | len(length))) + length + content
