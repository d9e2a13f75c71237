"""Republishing benchmark: ``make bench`` → bench/results/republish.json.

The embedded stack and the issuer as its own process; one licence is issued through the
API and copied in SQL into BENCH_REPUBLISH_LICENCES lineages (default 100,000: the
stored rows are what republishing reads, however they were issued). Then the operator's
``IssuerAdmin/Republish`` runs in calls of 100,000 events until done, and the clock
stops when the outbox relay has published every row to the broker (acks=all).
``republish_per_s`` is lineages per second over that whole time; docs/operations.md
("Kafka lost") scales it to 1,000,000 licences.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import time
from pathlib import Path

from bench.issuer_bench import (
    identity_channel,
    setup_department,
    start_stack_and_issuer,
    wait_serving,
    write_results,
)
from certseal.storage.outbox import unpublished_rows
from certseal.storage.pool import connect
from certseal.v1 import issuer_pb2 as pb
from certseal.v1 import issuer_pb2_grpc, licence_pb2

LICENCES = int(os.environ.get("BENCH_REPUBLISH_LICENCES", "100000"))


async def seed(stack, port: int, dsn: str, count: int) -> None:  # type: ignore[no-untyped-def]
    """``count`` lineages, each one current licence (copies of one issued licence)."""
    async with identity_channel(stack, port, "operator:admin") as channel:
        await wait_serving(channel)
        admin = issuer_pb2_grpc.IssuerAdminStub(channel)
        code, type_code = await setup_department(admin, "es256")
    async with identity_channel(stack, port, f"dept:{code}") as channel:
        request = pb.IssueLicenceRequest(
            type_code=type_code,
            holder=licence_pb2.Holder(
                name="张三", id_type="111", id_number="44030519900101123X"
            ),
        )
        request.fields["class"].string_value = "C1"
        issuer = issuer_pb2_grpc.IssuerStub(channel)
        template = (await issuer.IssueLicence(request)).licence.identifier
    conn = await connect(dsn)
    try:
        await conn.execute(
            """insert into licences
               select 'BENCH' || lpad(n::text, 12, '0'), 'BENCHL' || lpad(n::text, 12, '0'),
                      version, type_code, issuer_code, holder_ref, holder_display_name,
                      private_data, clear_fields, valid_from, valid_until, status,
                      status_reason, last_operation, issued_at, updated_at, replaces,
                      superseded_by, transferred_to, kid, code, lineage_version
               from licences, generate_series(1, $2) as n where identifier = $1""",
            template,
            count - 1,
        )
        await conn.execute(
            """insert into lineages
               select lineage, identifier, lineage_version, issuer_code from licences
               where identifier like 'BENCH%'"""
        )
        await conn.execute("analyze")
    finally:
        await conn.close()


async def republish(stack, port: int, dsn: str) -> dict[str, float]:  # type: ignore[no-untyped-def]
    conn = await connect(dsn)
    try:
        lineages = await conn.fetchval("select count(*) from lineages")
        started = time.perf_counter()
        async with identity_channel(stack, port, "operator:admin") as channel:
            admin = issuer_pb2_grpc.IssuerAdminStub(channel)
            reply = await admin.Republish(
                pb.RepublishRequest(restart=True, max_events=100_000), timeout=600
            )
            while not reply.done:
                reply = await admin.Republish(
                    pb.RepublishRequest(max_events=100_000), timeout=600
                )
        written = time.perf_counter() - started
        while await unpublished_rows(conn):  # noqa: ASYNC110 - the relay's progress is in the table
            await asyncio.sleep(0.2)
        total = time.perf_counter() - started
    finally:
        await conn.close()
    return {
        "republish_per_s": round(lineages / total, 1),
        "republish_outbox_write_per_s": round(lineages / written, 1),
        "republish_seconds": round(total, 1),
        "republish_lineages": lineages,
        "republish_1m_licences_minutes": round(1_000_000 / (lineages / total) / 60, 1),
    }


def main() -> None:
    home = Path(
        os.environ.get("BENCH_HOME") or tempfile.mkdtemp(prefix="certseal-rbench-")
    )
    stack, cfg, port, issuer = start_stack_and_issuer(home, workers=1)
    try:
        dsn = cfg.database.dsn()
        asyncio.run(seed(stack, port, dsn, LICENCES))
        results = asyncio.run(republish(stack, port, dsn))
    finally:
        issuer.terminate()
        issuer.wait()
        stack.stop()
        if not os.environ.get("BENCH_HOME"):  # a home given is the caller's to keep
            shutil.rmtree(home, ignore_errors=True)
    write_results("republish", dict(results), {"licences": LICENCES})


if __name__ == "__main__":
    main()
