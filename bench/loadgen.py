"""Load generator (its own process): N concurrent callers over mTLS for a fixed time,
spread over the identities given (one channel or more each).

Prints one JSON object: requests, licences, errors, seconds and latency percentiles,
and with ``--watch NAME=PID[,PID]`` (repeatable) ``cpu_us``: the CPU microseconds per
licence (per code for verification) each named process tree spent in the measured
window, read from /proc (bench.proccpu), the load generator's own as ``loadgen``.
Against the echo reference (``--echo``) a batch counts the items it sent. With
``--once`` every code is sent once (single-use presentation codes): the warm-up and
the measured window take codes from the list in order, and a caller stops when none
is left (``exhausted`` says whether that cut the window short).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import gc
import json
import os
import random
import secrets
import time
from pathlib import Path
from typing import Any

import grpc
import uvloop

from bench import proccpu
from certseal.collector import settle_collector
from certseal.identifiers import random_resident_id
from certseal.rpc import secure_channel
from certseal.v1 import issuer_pb2 as pb
from certseal.v1 import issuer_pb2_grpc, licence_pb2, verifier_pb2, verifier_pb2_grpc

#: verdict numbers -> names, to report what the verifier answered
VERDICTS = {v.number: v.name for v in verifier_pb2.Verdict.DESCRIPTOR.values}


def request(type_code: str) -> pb.IssueLicenceRequest:
    message = pb.IssueLicenceRequest(
        type_code=type_code,
        holder=licence_pb2.Holder(
            name="张三丰",
            id_type="111",
            id_number=random_resident_id(),
        ),
    )
    message.fields["class"].string_value = "C1"
    message.fields["address"].string_value = "深圳市福田区福中三路"
    return message


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return 0.0
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


async def run(args: argparse.Namespace) -> dict[str, Any]:
    identities = list(zip(args.cert, args.key, strict=True))
    channels = [
        secure_channel(args.target, args.ca, *identities[n % len(identities)])
        for n in range(max(args.channels, len(identities)))
    ]
    stubs: list = [
        verifier_pb2_grpc.VerifierStub(c)
        if args.codes
        else issuer_pb2_grpc.IssuerStub(c)
        for c in channels
    ]
    codes: list[str] = args.code_list
    unused = collections.deque(codes)  # --once: the codes not sent yet
    exhausted = False
    latencies: list[float] = []
    verdicts: collections.Counter[str] = collections.Counter()
    errors = 0
    licences = 0
    deadline = 0.0

    interval = args.concurrency / args.rate if args.rate else 0.0

    async def caller(n: int) -> None:
        nonlocal errors, licences, exhausted
        stub = stubs[n % len(stubs)]
        next_at = time.perf_counter() + interval * n / max(1, args.concurrency)
        while time.perf_counter() < deadline:
            if interval:  # paced: a fixed request rate shared by all callers
                next_at += interval
                await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
            started = time.perf_counter()
            try:
                if codes and args.batch:
                    reply = await stub.VerifyCodes(
                        verifier_pb2.VerifyCodesRequest(
                            codes=random.sample(codes, args.batch), purpose="压测"
                        )
                    )
                    licences += args.batch if args.echo else len(reply.results)
                    verdicts.update(VERDICTS[r.verdict] for r in reply.results)
                elif codes:
                    if args.once and not unused:
                        exhausted = True
                        return
                    answer = await stub.VerifyCode(
                        verifier_pb2.VerifyCodeRequest(
                            code=unused.popleft()
                            if args.once
                            else random.choice(codes),
                            purpose="压测",
                        )
                    )
                    licences += 1
                    verdicts[VERDICTS[answer.result.verdict]] += 1
                elif args.batch:
                    reply = await stub.IssueLicences(
                        pb.IssueLicencesRequest(
                            items=[request(args.type_code) for _ in range(args.batch)]
                        )
                    )
                    licences += (
                        args.batch
                        if args.echo
                        else sum(r.HasField("licence") for r in reply.results)
                    )
                elif args.idempotency_keys:  # a fresh key per request, as the CLI
                    await stub.IssueLicence(
                        request(args.type_code),
                        metadata=(("idempotency-key", secrets.token_hex(16)),),
                    )
                    licences += 1
                else:
                    await stub.IssueLicence(request(args.type_code))
                    licences += 1
            except grpc.aio.AioRpcError:
                errors += 1
                continue
            latencies.append(time.perf_counter() - started)

    deadline = time.perf_counter() + args.warmup
    await asyncio.gather(*[caller(n) for n in range(args.concurrency)])
    # the load generator's own full collections walked every module, channel and
    # code it had made, and each pause stood in the latencies it was measuring
    settle_collector()
    pauses = CollectorPauses()
    latencies.clear()
    verdicts.clear()
    errors = licences = 0
    exhausted = False
    groups = {**proccpu.parse_groups(args.watch), "loadgen": [os.getpid()]}
    cpu_before = proccpu.sample(groups)
    started = time.perf_counter()
    deadline = started + args.seconds
    await asyncio.gather(*[caller(n) for n in range(args.concurrency)])
    elapsed = time.perf_counter() - started
    cpu_after = proccpu.sample(groups)
    pauses.stop()
    for channel in channels:
        await channel.close()
    latencies.sort()
    return {
        "requests": len(latencies),
        "licences": licences,
        "errors": errors,
        **({"verdicts": dict(verdicts)} if codes and not args.echo else {}),
        **({"exhausted": exhausted} if args.once else {}),
        "seconds": round(elapsed, 3),
        "requests_per_s": round(len(latencies) / elapsed, 1),
        "licences_per_s": round(licences / elapsed, 1),
        "p50_ms": round(percentile(latencies, 0.50) * 1000, 2),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 2),
        "cpu_us": proccpu.per_op_us(cpu_before, cpu_after, licences),
        "cpu_utilisation": proccpu.utilisation(cpu_before, cpu_after, elapsed),
        "loadgen_gc": pauses.figures(),
    }


class CollectorPauses:
    """The load generator's own cyclic-collector pauses from now to :meth:`stop`:
    a pause delays every answer it measures, so a run says how long they were."""

    def __init__(self) -> None:
        self._started = 0.0
        self._pauses: list[float] = []
        gc.callbacks.append(self._timed)

    def _timed(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self._pauses.append(time.perf_counter() - self._started)

    def stop(self) -> None:
        gc.callbacks.remove(self._timed)

    def figures(self) -> dict[str, float]:
        """Collections, their longest and their total, ms."""
        return {
            "collections": len(self._pauses),
            "max_ms": round(max(self._pauses, default=0.0) * 1000, 2),
            "total_ms": round(sum(self._pauses) * 1000, 1),
        }


def main() -> None:
    parser = argparse.ArgumentParser()
    for name in ("target", "ca"):
        parser.add_argument(f"--{name}", required=True)
    for name in ("cert", "key"):  # repeated: callers spread over the identities
        parser.add_argument(f"--{name}", required=True, action="append")
    parser.add_argument("--type-code", default="")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--channels", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--warmup", type=float, default=2)
    parser.add_argument("--batch", type=int, default=0)
    parser.add_argument("--rate", type=float, default=0, help="requests/s; 0: flat out")
    parser.add_argument("--codes", help="verify these codes (one per line) instead")
    parser.add_argument(
        "--once",
        action="store_true",
        help="send each code of --codes once (VerifyCode), stopping when none is left",
    )
    parser.add_argument(
        "--idempotency-keys",
        action="store_true",
        help="send a fresh idempotency key with every IssueLicence",
    )
    parser.add_argument(
        "--watch",
        action="append",
        default=[],
        help="NAME=PID[,PID]: report CPU per operation of these process trees",
    )
    parser.add_argument(
        "--echo", action="store_true", help="the target is bench.echo's reference"
    )
    args = parser.parse_args()
    if args.once and (not args.codes or args.batch):
        parser.error("--once: needs --codes and no --batch (one VerifyCode per code)")
    # one code per line: a code's Base45 may hold spaces (RFC 9285), so never split()
    args.code_list = (
        [c for c in Path(args.codes).read_text().splitlines() if c]
        if args.codes
        else []
    )
    print(json.dumps(uvloop.run(run(args))))


if __name__ == "__main__":
    main()
