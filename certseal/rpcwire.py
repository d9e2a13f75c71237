"""How a handler's request and answer cross the wire around certseal's interceptor.

A request whose bytes are not its message reaches the interceptor as an
:class:`Undecodable` (answered INVALID_ARGUMENT, not gRPC's UNKNOWN), and an answer
kept for an idempotency key is sent as the bytes stored (:class:`Stored`), marked in the
trailing metadata when it is an earlier call's (:func:`kept_answer`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc
from google.protobuf.message import DecodeError

from certseal.idempotency import KEPT_ANSWER_KEY


class Stored(bytes):
    """An answer's serialised bytes (the one stored with its idempotency key)."""


def kept_answer(stored: bytes, context: grpc.aio.ServicerContext) -> Stored:
    """``stored``, the answer an earlier call with the same key was given, as this
    call's answer, marked so in its trailing metadata (:data:`KEPT_ANSWER_KEY`)."""
    context.set_trailing_metadata(((KEPT_ANSWER_KEY, "1"),))
    return Stored(stored)


def stored_or(
    serialize: Callable[[Any], bytes] | None,
) -> Callable[[Any], bytes] | None:
    """``serialize``, passing an answer that is already bytes through unchanged."""
    if serialize is None:
        return None

    def serialize_answer(response: Any) -> bytes:
        if isinstance(response, Stored):
            return bytes(response)
        return serialize(response)

    return serialize_answer


class Undecodable:
    """A request whose bytes are not its message (a string that is not UTF-8, a
    truncated field): the interceptor answers INVALID_ARGUMENT, not gRPC's UNKNOWN."""

    def __init__(self, error: DecodeError):
        self.error = error


def decoding(
    deserialize: Callable[[bytes], Any] | None,
) -> Callable[[bytes], Any] | None:
    """``deserialize``, giving an :class:`Undecodable` instead of raising."""
    if deserialize is None:
        return None

    def decode(data: bytes) -> Any:
        try:
            return deserialize(data)
        except DecodeError as exc:
            return Undecodable(exc)

    return decode
