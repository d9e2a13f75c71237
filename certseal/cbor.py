"""A strict, bounded CBOR reader (RFC 8949) for structures that come from outside.

cbor2 decodes every CBOR feature it knows, including shared references (tags 28/29),
whose expansion into hashable map keys doubles with each nesting level: a 190-character
code never finished decoding. Codes and trust bundles need none of that. This reader
accepts only the shapes certseal's formats define and refuses everything else with
:class:`CborError`, before allocating for it:

- integers (major types 0 and 1), definite-length byte and UTF-8 text strings, arrays
  and maps, ``false``, ``true`` and ``null``;
- map keys that are integers or text, each once;
- no tags (the COSE_Sign1 tag 18 is read by :mod:`certseal.cose` before this reader
  sees the array), no indefinite lengths, no floats, ``undefined`` or simple values;
- at most ``limits.max_depth`` nested arrays and maps and ``limits.max_items`` data
  items, every declared length within the bytes that remain, and no trailing bytes.

Its cost is linear in the input: each item is read once and nothing is shared or
expanded. Pure: bytes in, Python values out. Writing stays with cbor2.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from certseal.bounds import (
    MAX_BUNDLE_CBOR_DEPTH,
    MAX_BUNDLE_CBOR_ITEMS,
    MAX_CODE_CBOR_DEPTH,
    MAX_CODE_CBOR_ITEMS,
)


class CborError(ValueError):
    """Bytes that are not CBOR of an accepted shape; the message says what is wrong."""


@dataclass(frozen=True, slots=True)
class CborLimits:
    """How much one structure may hold; see :mod:`certseal.bounds` for the values."""

    max_depth: int
    """Arrays and maps nested in one another (a top-level array is depth 1)."""
    max_items: int
    """Data items in all: every integer, string, array, map, key and value."""


CODE_LIMITS = CborLimits(MAX_CODE_CBOR_DEPTH, MAX_CODE_CBOR_ITEMS)
"""The limits of a code's CBOR structures (COSE_Sign1, protected header, claims)."""

BUNDLE_LIMITS = CborLimits(MAX_BUNDLE_CBOR_DEPTH, MAX_BUNDLE_CBOR_ITEMS)
"""The limits of an offline trust bundle file and of each message's payload."""

_SIMPLE = {20: False, 21: True, 22: None}


def loads(data: bytes, limits: CborLimits = CODE_LIMITS) -> Any:
    """The one CBOR data item that is all of ``data``; :class:`CborError` otherwise."""
    reader = _Reader(bytes(data), limits)
    value = reader.item(0)
    if reader.pos != len(reader.data):
        raise CborError(f"{len(reader.data) - reader.pos} bytes after the CBOR item")
    return value


def leading_tag(data: bytes) -> int | None:
    """The number of the tag ``data`` starts with, or None when it starts otherwise."""
    reader = _Reader(bytes(data[:9]), CODE_LIMITS)
    try:
        major, arg = reader.head()
    except CborError:
        return None
    return arg if major == 6 else None


class _Reader:
    __slots__ = ("data", "items", "limits", "pos")

    def __init__(self, data: bytes, limits: CborLimits):
        self.data = data
        self.pos = 0
        self.items = 0
        self.limits = limits

    def _take(self, n: int) -> bytes:
        end = self.pos + n
        if end > len(self.data):
            raise CborError("truncated: a length runs past the end")
        chunk = self.data[self.pos : end]
        self.pos = end
        return chunk

    def head(self) -> tuple[int, int]:
        """(major type, argument) of the next item's head."""
        initial = self._take(1)[0]
        major, info = initial >> 5, initial & 0x1F
        if info < 24:
            return major, info
        if info == 31:
            raise CborError("indefinite lengths and break codes are not accepted")
        if major == 7:  # floats and 1-byte simple values: none in certseal's formats
            raise CborError(f"float or simple value (0x{initial:02x}) is not accepted")
        if info <= 27:
            return major, int.from_bytes(self._take(1 << (info - 24)), "big")
        raise CborError(f"reserved additional information {info}")

    def _count(self, n: int) -> None:
        self.items += n
        if self.items > self.limits.max_items:
            raise CborError(f"more than {self.limits.max_items} data items")

    def _length(self, n: int) -> int:
        # each element takes at least one byte: a larger count cannot be honest
        if n > len(self.data) - self.pos:
            raise CborError(f"declared length {n} exceeds the bytes that remain")
        return n

    def item(self, depth: int) -> Any:
        self._count(1)
        major, arg = self.head()
        if major == 0:
            return arg
        if major == 1:
            return -1 - arg
        if major == 2:
            return self._take(self._length(arg))
        if major == 3:
            try:
                return self._take(self._length(arg)).decode("utf-8")
            except UnicodeDecodeError:
                raise CborError("text string is not UTF-8") from None
        if major in (4, 5):
            if depth >= self.limits.max_depth:
                raise CborError(f"nested deeper than {self.limits.max_depth}")
            if major == 4:
                return [self.item(depth + 1) for _ in range(self._length(arg))]
            return self._map(self._length(arg), depth + 1)
        if major == 6:
            raise CborError(f"tag {arg} is not accepted here")
        if arg in _SIMPLE:
            return _SIMPLE[arg]
        raise CborError(f"simple value {arg} is not accepted")

    def _map(self, n: int, depth: int) -> dict[Any, Any]:
        result: dict[Any, Any] = {}
        for _ in range(n):
            key = self.item(depth)
            if not isinstance(key, int | str) or isinstance(key, bool):
                raise CborError("map keys must be integers or text")
            if key in result:
                raise CborError(f"duplicate map key {key!r}")
            result[key] = self.item(depth)
        return result
