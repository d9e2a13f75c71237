"""COSE_Sign1 framing (RFC 9052): the one place certseal builds and parses it.

Pure: CBOR in, CBOR out, no keys and no I/O. A caller signs the bytes of
:func:`sig_structure` with whatever holds its key (a :class:`certseal.crypto.Signer`,
which may be an HSM and is async, or a verifier's TLS key) and frames the signature with
:func:`encode_sign1`; a reader calls :func:`parse_sign1` and verifies
:meth:`Sign1.to_be_signed`. Used by the licence and presentation codes
(:mod:`certseal.codes`) and by the verifiers' offline trust bundles.

SM2-SM3 has no registered COSE algorithm, which is why no COSE library does this for us.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import cbor2

from certseal import cbor

SIGN1_TAG = 18
"""The CBOR tag of a COSE_Sign1 message (RFC 9052 section 2)."""

HEADER_ALG = 1
"""Header label ``alg`` (RFC 9052 section 3.1)."""

HEADER_KID = 4
"""Header label ``kid`` (RFC 9052 section 3.1)."""

HEADER_X5CHAIN = 33
"""Header label ``x5chain``: a DER certificate or chain (RFC 9360 section 2)."""

FRAME_LIMITS = cbor.CborLimits(max_depth=2, max_items=64)
"""The shape of the COSE_Sign1 array (depth 1, with its unprotected header map at depth
2) and of a protected header (a flat map): certseal writes at most 9 items in either, so
64 is generous; the payload is an opaque byte string here, bounded by its caller."""

_SIGN1_TAG_BYTE = bytes([0xC0 | SIGN1_TAG])


class CoseError(ValueError):
    """Bytes that are not a COSE_Sign1 message; the message says what is wrong."""


@dataclass(frozen=True, slots=True)
class Sign1:
    """A parsed, not yet verified, COSE_Sign1 message.

    ``protected`` is the serialized protected header exactly as received (the signature
    covers these bytes, not their decoding); ``header`` is its decoded map.
    """

    protected: bytes
    header: dict[Any, Any]
    payload: bytes
    signature: bytes

    def to_be_signed(self) -> bytes:
        """The Sig_structure the signature covers (RFC 9052 section 4.4)."""
        return sig_structure(self.protected, self.payload)


def encode_protected(header: Mapping[int, Any]) -> bytes:
    """The serialized protected header: the CBOR map in the given order (RFC 9052 3)."""
    return cbor2.dumps(dict(header))


def sig_structure(protected: bytes, payload: bytes) -> bytes:
    """The bytes a COSE_Sign1 signature covers (RFC 9052 section 4.4).

    ``["Signature1", protected, external_aad, payload]`` with an empty external_aad:
    certseal binds nothing outside the message.
    """
    return cbor2.dumps(["Signature1", protected, b"", payload])


def encode_sign1(protected: bytes, payload: bytes, signature: bytes) -> bytes:
    """A tagged COSE_Sign1 message with an empty unprotected header (RFC 9052 4.2).

    Written directly in CBOR's preferred (shortest) encoding, RFC 8949 section 4.1:
    tag 18 (0xd2), an array of four (0x84), the protected header's byte string, the
    empty map (0xa0), the payload's and the signature's byte strings; byte for byte
    what ``cbor2.dumps`` gives, without building the tag and list objects.
    """
    return b"".join(
        (
            b"\xd2\x84",
            _byte_string_head(len(protected)),
            protected,
            b"\xa0",
            _byte_string_head(len(payload)),
            payload,
            _byte_string_head(len(signature)),
            signature,
        )
    )


def _byte_string_head(length: int) -> bytes:
    """The head of a CBOR byte string (major type 2) of ``length`` bytes, in its
    shortest form (RFC 8949 sections 3.1 and 4.2.1)."""
    if length < 24:
        return bytes((0x40 | length,))
    if length < 0x100:
        return bytes((0x58, length))
    if length < 0x10000:
        return b"\x59" + length.to_bytes(2, "big")
    if length < 0x100000000:
        return b"\x5a" + length.to_bytes(4, "big")
    return b"\x5b" + length.to_bytes(8, "big")


def parse_sign1(message: bytes) -> Sign1:
    """Parse a COSE_Sign1 message, tagged (18) or untagged (RFC 9052 sections 2, 4.2).

    Raises :class:`CoseError` when ``message`` is not exactly one COSE_Sign1 in the
    strict CBOR :mod:`certseal.cbor` accepts (no other tag, no shared references, no
    indefinite lengths, nothing after it, within :data:`FRAME_LIMITS`), is not an array
    of four, has fields of the wrong types, or its protected header is not a CBOR map
    (an empty protected header stands for an empty map).
    """
    body = message[1:] if message[:1] == _SIGN1_TAG_BYTE else message
    tag = cbor.leading_tag(body)
    if tag is not None:
        raise CoseError(f"CBOR tag {tag} is not COSE_Sign1")
    try:
        obj = cbor.loads(body, FRAME_LIMITS)
    except cbor.CborError as exc:
        raise CoseError(f"not CBOR ({exc})") from None
    if not (isinstance(obj, list) and len(obj) == 4):
        raise CoseError("COSE_Sign1 must be an array of 4")
    protected, unprotected, payload, signature = obj
    if not all(isinstance(x, bytes) for x in (protected, payload, signature)):
        raise CoseError("COSE_Sign1 fields have the wrong types")
    if not isinstance(unprotected, dict):
        raise CoseError("unprotected header is not a map")
    if unprotected:  # certseal signs every header it reads (and writes none unsigned)
        raise CoseError("unprotected header is not empty")
    try:
        header = cbor.loads(protected, FRAME_LIMITS) if protected else {}
    except cbor.CborError as exc:
        raise CoseError(f"protected header is not CBOR ({exc})") from None
    if not isinstance(header, dict):
        raise CoseError("protected header is not a map")
    return Sign1(protected, header, payload, signature)
