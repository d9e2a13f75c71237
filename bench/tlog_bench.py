"""Transparency log benchmark: ``make bench`` → bench/results/tlog.json.

The embedded stack and the log as its own process (``python -m services.tlog``, default
batch of 1,000 events per sequencer transaction). BENCH_LOG_LEAVES (default 1,000,000)
outbox rows of a logged topic are committed in SQL in chunks of 50,000 (marked
published: the relay sends nothing), which the outbox trigger queues; the clock runs
from the first commit until the log's head reaches every leaf, so ``log_append_per_s``
is the sequencer's whole path (entries, leaf hashes, interior nodes, COPY, signed
checkpoint per batch). Then ``inclusion_proof_ms`` and ``consistency_proof_ms`` are
GetInclusionProof / GetConsistencyProof calls over mTLS (as ``auditor:bench``) at the
full tree size, for 500 random leaves / first sizes, one at a time: each reads
O(log n) stored nodes in one query. Every inclusion proof is verified here against
the signed checkpoint; consistency proofs are checked for their O(log n) length.
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from bench.issuer_bench import identity_channel, start_stack_and_service, write_results
from certseal.checkpoints import NoteVerifier, open_checkpoint
from certseal.merkle import leaf_hash, verify_inclusion
from certseal.storage.pool import connect
from certseal.v1 import tlog_pb2 as pb
from certseal.v1 import tlog_pb2_grpc

LEAVES = int(os.environ.get("BENCH_LOG_LEAVES", "1000000"))
PROOFS = 500
CHUNK = 50_000


async def fill(dsn: str, count: int) -> dict[str, float]:
    conn = await connect(dsn)
    try:
        async with asyncio.timeout(120):
            while True:
                if await conn.fetchval("select to_regclass('tlog_head') is not null"):
                    break
                await asyncio.sleep(0.2)  # the log process is migrating
        started = time.perf_counter()
        for start in range(0, count, CHUNK):
            await conn.execute(
                """insert into outbox (topic, key, value, headers, published_at)
                   select 'certseal.licence-events.v1', ('bench-' || n)::bytea,
                          ('value-' || n)::bytea,
                          jsonb_build_object('ce_id', 'bench-' || n,
                              'ce_type', 'cn.gov.certseal.licence.issued',
                              'ce_subject', 'bench-lineage-' || n,
                              'ce_time', '2026-11-30T10:00:00Z'),
                          now()
                   from generate_series($1::bigint, $2::bigint) as n""",
                start,
                min(start + CHUNK, count) - 1,
            )
        committed = time.perf_counter() - started
        while (size := await conn.fetchval("select size from tlog_head")) < count:  # noqa: ASYNC110
            await asyncio.sleep(0.2)  # the sequencer's progress is in the table
        total = time.perf_counter() - started
        nodes = await conn.fetchval("select count(*) from tlog_nodes")
    finally:
        await conn.close()
    return {
        "log_append_per_s": round(size / total, 1),
        "log_commit_outbox_rows_per_s": round(count / committed, 1),
        "log_append_seconds": round(total, 1),
        "log_nodes_stored": nodes,
    }


async def proofs(stack, port: int, log_key: str) -> dict[str, float]:  # type: ignore[no-untyped-def]
    verifier = NoteVerifier.parse(log_key)
    rng = random.Random(9162)
    async with identity_channel(stack, port, "auditor:bench") as channel:
        stub = tlog_pb2_grpc.TransparencyLogStub(channel)
        cp = open_checkpoint(
            (await stub.GetCheckpoint(pb.GetCheckpointRequest())).checkpoint, verifier
        )
        inclusion: list[float] = []
        for index in (rng.randrange(cp.size) for _ in range(PROOFS)):
            t = time.perf_counter()
            reply = await stub.GetInclusionProof(
                pb.GetInclusionProofRequest(leaf_index=index, tree_size=cp.size)
            )
            inclusion.append((time.perf_counter() - t) * 1000)
            verify_inclusion(
                index,
                cp.size,
                leaf_hash(reply.leaf_data),
                list(reply.proof),
                cp.root_hash,
            )
        consistency: list[float] = []
        for first in (rng.randrange(1, cp.size) for _ in range(PROOFS)):
            t = time.perf_counter()
            reply = await stub.GetConsistencyProof(
                pb.GetConsistencyProofRequest(
                    first_tree_size=first, second_tree_size=cp.size
                )
            )
            consistency.append((time.perf_counter() - t) * 1000)
            assert len(reply.proof) <= 2 * cp.size.bit_length()
    inclusion.sort()
    consistency.sort()
    return {
        "inclusion_proof_ms": round(statistics.median(inclusion), 2),
        "inclusion_proof_p99_ms": round(inclusion[int(len(inclusion) * 0.99) - 1], 2),
        "consistency_proof_ms": round(statistics.median(consistency), 2),
        "proof_tree_size": cp.size,
    }


def main() -> None:
    home = Path(
        os.environ.get("BENCH_HOME") or tempfile.mkdtemp(prefix="certseal-bench-")
    )

    def tweak(cfg) -> None:  # type: ignore[no-untyped-def]
        cfg.tlog.poll_interval_s = 0.2

    stack, cfg, port, process = start_stack_and_service(home, "tlog", tweak=tweak)
    try:
        results = asyncio.run(fill(cfg.database.dsn(), LEAVES))
        results.update(asyncio.run(proofs(stack, port, cfg.cli.log_key)))
    finally:
        process.terminate()
        process.wait()
        stack.stop()
        if not os.environ.get("BENCH_HOME"):  # a home given is the caller's to keep
            shutil.rmtree(home, ignore_errors=True)
    write_results(
        "tlog",
        dict(results),
        {"leaves": LEAVES, "batch_size": cfg.tlog.batch_size, "proofs": PROOFS},
    )


if __name__ == "__main__":
    main()
