"""Restricted field values are readable from no topic by anyone but the verifiers
(security finding: integrators hold a raw Kafka Read ACL on certseal.licence-events.v1):
the issuer seals them with the index key, which only the issuer and the verifier groups
hold (certseal.indexkeys). Read raw as an integrator would, the record holds no
restricted value; a granted counter still gets it from VerifyCode; a blob that is
tampered, moved to another licence or sealed with an unknown key gives no restricted
value, and the verifier keeps SERVING. (The feed strips the blob:
tests/feed/test_field_rights_feed.py.)"""

from __future__ import annotations

import asyncio
import os
import secrets
from pathlib import Path

from aiokafka import AIOKafkaConsumer, TopicPartition
from grpc_health.v1 import health_pb2, health_pb2_grpc

from certseal.events import LICENCE_EVENTS
from certseal.indexkeys import IndexSealer
from certseal.secretfiles import read_secret_file
from certseal.v1 import events_pb2, verifier_pb2
from certseal.v1 import issuer_pb2 as pb
from tests.conftest import issue_request, text_field, verdict_everywhere
from tests.e2e.test_field_rights import PUBLIC, PURPOSE, VALID, counters, dept, setup

__all__ = ["counters", "dept", "setup"]  # the fixtures, shared with test_field_rights


async def issued(dept, setup) -> tuple[pb.Licence, str, str]:
    """A fresh licence whose restricted 'grade' is a value found nowhere else, its
    code, and the value; once the granted counter sees it."""
    value = f"GR-{secrets.token_hex(8)}"
    request = issue_request(dept)
    request.fields["grade"].CopyFrom(text_field(value))
    licence = (await dept.clients.issuer.IssueLicence(request)).licence
    code = await dept.clients.issuer.GetLicenceCode(
        pb.GetLicenceCodeRequest(identifier=licence.identifier)
    )
    await verdict_everywhere({"g": setup["stubs"]["granted"]}, code.text, VALID, 30)
    return licence, code.text, value


async def raw_records(config, lineages: set[str], within: float = 30.0) -> list:
    """Every record of ``lineages`` now on the licence topic, read from the beginning
    with a plain aiokafka consumer and no consumer group (an integrator's Read ACL)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=config.kafka.bootstrap_servers,
        auto_offset_reset="earliest",
        group_id=None,
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        partitions = [
            TopicPartition(LICENCE_EVENTS, p)
            for p in range(config.kafka.topic_partitions)
        ]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        found = []
        async with asyncio.timeout(within):
            while not all([await consumer.position(tp) >= ends[tp] for tp in ends]):
                batches = await consumer.getmany(timeout_ms=200)
                for batch in batches.values():
                    found += [r for r in batch if r.key.decode() in lineages]
    finally:
        await consumer.stop()
    assert {r.key.decode() for r in found} == lineages
    return found


async def fields_of(stub, code: str) -> dict[str, str]:
    reply = await stub.VerifyCode(
        verifier_pb2.VerifyCodeRequest(code=code, purpose=PURPOSE)
    )
    assert reply.result.verdict == VALID
    return dict(reply.result.fields)


async def test_an_integrator_reading_the_topic_finds_no_restricted_value(
    dept, setup, config
):
    licence, code, value = await issued(dept, setup)
    records = await raw_records(config, {licence.lineage})
    assert records
    for record in records:
        assert value.encode() not in record.value
        assert b"grade" not in record.value  # not even the field's name
        for name, header in record.headers:
            assert value.encode() not in header and value not in name
        event = events_pb2.LicenceEvent.FromString(record.value)
        assert not event.restricted_fields and event.HasField("restricted_sealed")
        assert event.restricted_sealed.kid.startswith("ik-")
    # the counter with a field right on 'grade' still gets it, the other does not
    assert await fields_of(setup["stubs"]["granted"], code) == {
        **PUBLIC,
        "grade": value,
    }
    assert await fields_of(setup["stubs"]["denied"], code) == PUBLIC


async def test_a_blob_tampered_moved_or_of_an_unknown_key_shows_no_value(
    dept, setup, config
):
    granted = setup["stubs"]["granted"]
    tampered, moved, unknown, kept = [await issued(dept, setup) for _ in range(4)]
    records = await raw_records(
        config, {t[0].lineage for t in (tampered, moved, unknown)}
    )
    latest = {}
    for record in records:
        event = events_pb2.LicenceEvent.FromString(record.value)
        latest[event.lineage] = (record, event)

    def forged(lineage: str, change) -> tuple[bytes, bytes, list]:
        """The lineage's event one version newer (so the index applies it), its
        blob changed by ``change``, with the original headers."""
        record, event = latest[lineage]
        new = events_pb2.LicenceEvent()
        new.CopyFrom(event)
        new.lineage_version = event.lineage_version + 1
        change(new)
        return record.key, new.SerializeToString(), list(record.headers)

    def flip(event: events_pb2.LicenceEvent) -> None:
        # sealed afresh for the new version with the real key, then one bit flipped
        key = read_secret_file(
            Path(config.issuer.index_key_file), "issuer.index_key_file"
        )
        sealed = IndexSealer(key).seal(
            b"\x0a\x0f\x0a\x05grade\x12\x06\x0a\x04FAKE",
            lineage=event.lineage,
            lineage_version=event.lineage_version,
        )
        event.restricted_sealed.nonce = sealed.nonce
        event.restricted_sealed.ciphertext = (
            bytes([sealed.ciphertext[0] ^ 1]) + sealed.ciphertext[1:]
        )

    def move(event: events_pb2.LicenceEvent) -> None:
        # the tampered licence's genuine blob, sealed for its own lineage
        event.restricted_sealed.CopyFrom(
            latest[tampered[0].lineage][1].restricted_sealed
        )

    def foreign(event: events_pb2.LicenceEvent) -> None:
        sealed = IndexSealer(os.urandom(32)).seal(
            b"", lineage=event.lineage, lineage_version=event.lineage_version
        )
        event.restricted_sealed.kid = sealed.kid
        event.restricted_sealed.nonce = sealed.nonce
        event.restricted_sealed.ciphertext = sealed.ciphertext

    producer = config.kafka.settings("certseal-tests").producer()
    await producer.start()
    try:
        for (licence, _code, _value), change in (
            (tampered, flip),
            (moved, move),
            (unknown, foreign),
        ):
            key, value, headers = forged(licence.lineage, change)
            await producer.send_and_wait(
                LICENCE_EVENTS, value=value, key=key, headers=headers
            )
    finally:
        await producer.stop()

    for _licence, code, _value in (tampered, moved, unknown):
        async with asyncio.timeout(30):
            # the verifier is another process: poll its answer
            while await fields_of(granted, code) != PUBLIC:  # noqa: ASYNC110
                await asyncio.sleep(0.1)
    # the verifier keeps serving, and a licence with an intact blob keeps its value
    health = health_pb2_grpc.HealthStub(setup["verifier"].channel)
    reply = await health.Check(health_pb2.HealthCheckRequest())
    assert reply.status == health_pb2.HealthCheckResponse.SERVING
    assert await fields_of(granted, kept[1]) == {**PUBLIC, "grade": kept[2]}
    verifier = setup["verifier"]
    log = (verifier.home / f"{verifier.group}.log").read_text(errors="replace")
    assert f"{tampered[0].lineage} not opened (tampered" in log
    assert f"{moved[0].lineage} not opened (tampered" in log
    assert f"{unknown[0].lineage} not opened (unknown_kid" in log
    key = read_secret_file(Path(config.issuer.index_key_file), "issuer.index_key_file")
    assert key.hex() not in log
