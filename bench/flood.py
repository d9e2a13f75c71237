"""Hostile load (its own process): N requests always in flight from one counter.

The mix of issue 13: a CBOR bomb code (shared references nested 60 deep), a batch of
100 of them, a real code with junk after its zlib stream, a 13,000 × 13,000 pixel bomb
PNG and a white PNG of the most pixels allowed (decoded in full before the reader finds
no QR code). Prints one JSON object: the outcomes by status code and the seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import struct
import time
import zlib

import base45
import cbor2
import grpc
from PIL import Image

from certseal import cose
from certseal.bounds import MAX_IMAGE_PIXELS
from certseal.rpc import secure_channel
from certseal.v1 import verifier_pb2, verifier_pb2_grpc


def cbor_bomb_code(depth: int = 60) -> str:
    """An LC1 code of 190 characters whose claims nest shared references (tags 28/29)."""
    claims = b"\x80"
    for level in range(depth):
        claims = b"\x82\xd8\x1c" + claims + b"\xd8\x1d" + cbor2.dumps(depth - 1 - level)
    protected = cose.encode_protected({cose.HEADER_ALG: -7, cose.HEADER_KID: b"k" * 8})
    message = cose.encode_sign1(protected, b"\xa1" + claims + b"\x01", b"\0" * 64)
    return "LC1:" + base45.b45encode(zlib.compress(message, 9)).decode()


def junk_after_signed(code: str) -> str:
    """``code`` with bytes appended after the zlib stream inside the Base45."""
    raw = base45.b45decode(code[4:])
    return "LC1:" + base45.b45encode(raw + b"junk").decode()


def pixel_bomb(side: int = 13_000) -> bytes:
    """A small PNG that declares ``side`` × ``side`` grey and alpha pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    squash = zlib.compressobj(9)
    row = b"\0" * (1 + side * 2)
    idat = b"".join(squash.compress(row) for _ in range(side)) + squash.flush()
    header = struct.pack(">IIBBBBB", side, side, 8, 4, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", idat)
        + chunk(b"IEND", b"")
    )


def largest_blank_png() -> bytes:
    """A white PNG of :data:`~certseal.bounds.MAX_IMAGE_PIXELS` pixels."""
    side = int(MAX_IMAGE_PIXELS**0.5)
    out = io.BytesIO()
    Image.new("L", (side, side), 255).save(out, format="PNG")
    return out.getvalue()


async def run(args: argparse.Namespace) -> dict[str, object]:
    channel = secure_channel(args.target, args.ca, args.cert, args.key)
    stub = verifier_pb2_grpc.VerifierStub(channel)
    bomb = cbor_bomb_code()
    requests = [
        (stub.VerifyCode, verifier_pb2.VerifyCodeRequest(code=bomb, purpose="x")),
        (
            stub.VerifyCode,
            verifier_pb2.VerifyCodeRequest(
                code=junk_after_signed(args.code), purpose="x"
            ),
        ),
        (
            stub.VerifyCodes,
            verifier_pb2.VerifyCodesRequest(codes=[bomb] * 100, purpose="x"),
        ),
        (
            stub.VerifyImage,
            verifier_pb2.VerifyImageRequest(image=pixel_bomb(), purpose="x"),
        ),
        (
            stub.VerifyImage,
            verifier_pb2.VerifyImageRequest(image=largest_blank_png(), purpose="x"),
        ),
    ]
    outcomes: dict[str, int] = {}
    deadline = time.monotonic() + args.seconds

    async def attacker(n: int) -> None:
        call, request = requests[n % len(requests)]
        while time.monotonic() < deadline:
            try:
                await call(request, timeout=60)
                status = "OK"
            except grpc.aio.AioRpcError as exc:
                status = exc.code().name
            outcomes[status] = outcomes.get(status, 0) + 1

    started = time.monotonic()
    await asyncio.gather(*(attacker(n) for n in range(args.in_flight)))
    await channel.close()
    return {"outcomes": outcomes, "seconds": round(time.monotonic() - started, 2)}


def main() -> None:
    parser = argparse.ArgumentParser()
    for name in ("target", "ca", "cert", "key", "code"):
        parser.add_argument(f"--{name}", required=True)
    parser.add_argument("--in-flight", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=10)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args))))


if __name__ == "__main__":
    main()
