"""Whether bytes that do not read as a bundle file are one cut short or damaged:
``bundle fetch --out`` replaces such a file with a full bundle, so it must not take
another file for one (kept apart from :mod:`services.verifier.storage` by size)."""

from __future__ import annotations

from services.verifier.bundle import is_bundle_message

#: a tagged COSE_Sign1 (tag 18, an array of 4: RFC 9052 §4.2), as a message starts
_SIGN1 = b"\xd2\x84"


def _head(data: bytes, at: int) -> tuple[int, int, int] | None:
    """The CBOR head at ``at``: its major type, its argument and where what follows
    it starts; None when the bytes end within it or it has an indefinite length."""
    if at >= len(data):
        return None
    first = data[at]
    info = first & 0x1F
    if info < 24:
        return first >> 5, info, at + 1
    if info > 27:
        return None
    size = 1 << (info - 24)
    if at + 1 + size > len(data):
        return None
    return (
        first >> 5,
        int.from_bytes(data[at + 1 : at + 1 + size], "big"),
        at + 1 + size,
    )


def starts_as_bundle_file(data: bytes) -> bool:
    """Whether ``data`` is a bundle file cut short or damaged, not another file
    (trial49): a CBOR array whose items, as far as they go, are byte strings each
    holding a tagged COSE_Sign1, every whole one a trust bundle's message
    (:func:`~services.verifier.bundle.is_bundle_message`), at least one item begun
    (atk50: a CBOR array merely holding ``D2 84`` near its start, ``[210, [1, 2, 3,
    4]]``, or a bundle's message followed by anything else, was replaced)."""
    head = _head(data, 0)
    if head is None or head[0] != 4 or head[1] == 0:
        return False
    at = head[2]
    for index in range(head[1]):
        item = _head(data, at)
        if item is None:
            # the bytes end between messages, or in the head of one
            return index > 0 and (at >= len(data) or data[at] >> 5 == 2)
        major, size, start = item
        body = data[start : start + size]
        if major != 2 or not _SIGN1.startswith(body[:2]):
            return False
        if start + size > len(data):
            return True  # this message cut short
        if not is_bundle_message(body):
            return False
        at = start + size
    return True  # every message whole: bytes after them (damaged)
