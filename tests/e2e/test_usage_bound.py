"""One request cannot publish more bytes than it carried (issue 13): a verification
request publishes one ``licence.used`` record (one claim per partition its accepted
presentation codes key to, services/verifier/claims.py), and its record bytes as read back from
the topic (key, value, every header) are at most the request's ``ByteSize()`` plus one
envelope (:data:`services.verifier.events.ENVELOPE_BYTES`), for the worst requests:
one code with the longest purpose (also through the console with the longest clerk
name, and as an image), and 500 distinct valid codes of many departments and every
suite, some of them presentation codes. A batch of presentation codes accepted by one
verifier group is REPLAYED at another (docs/events.md, "Usage records")."""

from __future__ import annotations

import asyncio
import secrets
import time
import urllib.parse

import pytest

from certseal.events import LICENCE_USAGE, uses_of
from certseal.v1 import events_pb2, verifier_pb2, verifier_pb2_grpc
from certseal.v1 import issuer_pb2 as pb
from services.verifier.access import CLERK_METADATA, COUNTER_METADATA
from services.verifier.events import ENVELOPE_BYTES
from tests.conftest import (
    EventWatcher,
    VerifierProcess,
    fresh_uscc,
    issue_request,
    make_department,
    serving_group,
)
from tests.e2e.test_verifier_hostile import channel_as

VALID = verifier_pb2.VERDICT_VALID
COUNTER = "11440300VERIFIERS1"  # the identity VerifierProcess calls with
ALLOWED = fresh_uscc()  # the counter the console acts for
SUITES = ("es256", "ed25519", "sm2")


@pytest.fixture(scope="module")
async def departments(operator, connect):
    """Six departments, two of each suite."""
    return [
        await make_department(operator, connect, suite=suite)
        for suite in SUITES
        for _ in range(2)
    ]


async def _group(stack, config, tmp_path_factory, name: str) -> VerifierProcess:
    home = tmp_path_factory.mktemp(name)
    return await serving_group(stack, config, home, name, counters=[COUNTER, ALLOWED])


@pytest.fixture(scope="module")
async def groups(stack, config, issuer, tmp_path_factory):
    x = await _group(stack, config, tmp_path_factory, "ux")
    y = await _group(stack, config, tmp_path_factory, "uy")
    yield x, y
    await x.stop()
    await y.stop()


def record_bytes(record) -> int:
    """Bytes of a record as read back: key, value, header names and values."""
    headers = sum(len(k.encode()) + len(v) for k, v in record.headers)
    return len(record.key or b"") + len(record.value) + headers


def purpose_of(tag: str, char: str = "办") -> str:
    """A 200-character CJK purpose that names this request."""
    return tag + char * (200 - len(tag))


async def licence_codes(dept, count: int) -> list[tuple[str, str]]:
    """(identifier, code) of ``count`` fresh licences of ``dept``."""
    reply = await dept.clients.issuer.IssueLicences(
        pb.IssueLicencesRequest(items=[issue_request(dept) for _ in range(count)])
    )
    identifiers = [r.licence.identifier for r in reply.results]
    assert len(identifiers) == count and all(identifiers)
    codes = []
    for start in range(0, count, 16):
        codes += await asyncio.gather(
            *(
                dept.clients.issuer.GetLicenceCode(
                    pb.GetLicenceCodeRequest(identifier=i)
                )
                for i in identifiers[start : start + 16]
            )
        )
    return [(i, c.text) for i, c in zip(identifiers, codes, strict=True)]


async def all_valid(stub, codes: list[str], within: float = 60) -> None:
    """Until the group's index answers VALID for every code (licence codes only:
    this uses them)."""
    deadline = time.monotonic() + within
    while True:
        verdicts = []
        for start in range(0, len(codes), 250):
            replies = await stub.VerifyCodes(
                verifier_pb2.VerifyCodesRequest(
                    codes=codes[start : start + 250], purpose="预热"
                )
            )
            verdicts += [r.verdict for r in replies.results]
        if verdicts == [VALID] * len(codes):
            return
        assert time.monotonic() < deadline, "the index never caught up"
        await asyncio.sleep(0.2)


async def presentation_codes(dept, identifiers: list[str]) -> list[str]:
    return [
        (
            await dept.clients.issuer.CreatePresentationCode(
                pb.CreatePresentationCodeRequest(identifier=i, ttl_seconds=600)
            )
        ).text
        for i in identifiers
    ]


async def published(usage: EventWatcher, purposes) -> dict[str, list]:
    """Every usage record of each purpose: waits for one of each, then until the
    watcher has read every partition up to its end (anything else those requests
    published was sent before their replies, so it is there by then)."""

    def of(records, purpose):
        return [
            r
            for r in records
            if events_pb2.LicenceUsedEvent.FromString(r.value).purpose == purpose
        ]

    await usage.wait_for(lambda rs: all(of(rs, p) for p in purposes), within=60)
    consumer = usage._consumer
    ends = await consumer.end_offsets(list(consumer.assignment()))

    def read_to_the_end(records):
        last: dict = {}
        for r in records:
            last[r.partition] = max(last.get(r.partition, -1), r.offset)
        return all(last.get(tp.partition, -1) >= end - 1 for tp, end in ends.items())

    await usage.wait_for(read_to_the_end, within=30)
    return {p: of(usage.records, p) for p in purposes}


@pytest.mark.timeout(900)  # issues and verifies 500 licences first
async def test_a_request_publishes_at_most_what_it_carried_plus_one_envelope(
    groups, departments, stack
):
    x, _y = groups
    started = time.monotonic()
    per_department = [await licence_codes(d, 84) for d in departments]
    licences = [pair for codes in per_department for pair in codes]
    issued = time.monotonic()
    await all_valid(x.stub, [code for _i, code in licences])
    print(
        f"issued in {issued - started:.0f} s, VALID {time.monotonic() - issued:.0f} s"
    )
    # 480 licence codes and 20 presentation codes of other licences: 500 distinct
    # valid codes of six departments and three suites
    shown = [
        code
        for d, codes in zip(departments, per_department, strict=True)
        for code in await presentation_codes(d, [i for i, _c in codes[:4]])
    ][:20]
    batch_codes = [code for _i, code in licences[: 500 - len(shown)]] + shown
    assert len(set(batch_codes)) == 500
    tag = secrets.token_hex(4)
    single_purpose = purpose_of(f"单-{tag}-", "𠀀")  # 4 bytes a character
    console_purpose = purpose_of(f"代-{tag}-")
    image_purpose = purpose_of(f"图-{tag}-")
    batch_purpose = purpose_of(f"批-{tag}-")
    one_code = licences[-1][1]
    presented = (await presentation_codes(departments[-1], [licences[-2][0]]))[0]
    clerk = "𠀀" * 64  # the longest clerk account name
    png = (
        await departments[-1].clients.issuer.GetLicenceCode(
            pb.GetLicenceCodeRequest(identifier=licences[-3][0])
        )
    ).png
    requests = {
        single_purpose: verifier_pb2.VerifyCodeRequest(
            code=one_code, purpose=single_purpose
        ),
        console_purpose: verifier_pb2.VerifyCodeRequest(
            code=presented, purpose=console_purpose
        ),
        image_purpose: verifier_pb2.VerifyImageRequest(
            image=png, purpose=image_purpose
        ),
        batch_purpose: verifier_pb2.VerifyCodesRequest(
            codes=batch_codes, purpose=batch_purpose
        ),
    }
    async with (
        EventWatcher(stack, LICENCE_USAGE) as usage,
        channel_as(stack, x, "service:console") as channel,
    ):
        reply = await x.stub.VerifyCode(requests[single_purpose])
        assert reply.result.verdict == VALID
        console = verifier_pb2_grpc.VerifierStub(channel)
        reply = await console.VerifyCode(
            requests[console_purpose],
            metadata=(
                (COUNTER_METADATA, f"dept:{ALLOWED}"),
                (CLERK_METADATA, urllib.parse.quote(clerk)),
            ),
        )
        assert reply.result.verdict == VALID
        reply = await x.stub.VerifyImage(requests[image_purpose])
        assert reply.result.verdict == VALID
        replies = await x.stub.VerifyCodes(requests[batch_purpose])
        assert [r.verdict for r in replies.results] == [VALID] * 500
        records = await published(usage, list(requests))
    measured = {}
    for purpose, request in requests.items():
        if purpose == batch_purpose:
            continue
        (record,) = records[purpose]  # one record per request
        size = record_bytes(record)
        measured[purpose[:1]] = (size, request.ByteSize())
        assert size <= request.ByteSize() + ENVELOPE_BYTES, (purpose[:8], size)
    # the batch accepts presentation codes: a claim per partition their lineages key
    # to (services/verifier/claims.py), the first carrying every other use; together
    # within what it carried plus, a record, one envelope and the purpose again
    claims = records[batch_purpose]
    partitions = len(usage._consumer.assignment())
    assert 1 <= len(claims) <= partitions
    size = sum(record_bytes(r) for r in claims)
    carried = requests[batch_purpose].ByteSize()
    extra = len(claims) * ENVELOPE_BYTES + (len(claims) - 1) * len(
        batch_purpose.encode()
    )
    assert size <= carried + extra, (size, carried, len(claims))
    measured["批"] = (size, carried)
    # the one-code records read as they always did: singular fields, no uses
    single = events_pb2.LicenceUsedEvent.FromString(records[single_purpose][0].value)
    assert single.identifier == licences[-1][0] and not single.uses
    by_console = events_pb2.LicenceUsedEvent.FromString(
        records[console_purpose][0].value
    )
    assert by_console.clerk == clerk and by_console.nonce_hash
    assert by_console.code_kind == "presentation"
    # the batch: every code once, in request order within a record, purpose once a
    # record, singular fields empty (or filled, a claim of one code)
    events = [events_pb2.LicenceUsedEvent.FromString(r.value) for r in claims]
    first = max(events, key=lambda e: len(uses_of(e)))
    batch_uses = [u for e in events for u in uses_of(e)]
    assert len(batch_uses) == 500
    assert [u.identifier for u in first.uses[:480]] == [i for i, _c in licences[:480]]
    assert sum(bool(u.nonce_hash) for u in batch_uses) == 20
    assert {u.identifier.split(".")[6] for u in batch_uses} == {
        d.code for d in departments
    }
    assert {e.purpose for e in events} == {batch_purpose}
    batch = first
    assert batch.purpose == batch_purpose
    assert size < carried  # a batch's uses are smaller than its codes
    print(f"usage record bytes vs request bytes: {measured}")


async def test_a_batch_of_presentations_accepted_in_one_group_is_replayed_in_another(
    groups, departments, stack
):
    x, y = groups
    dept_a, dept_b = departments[0], departments[3]
    licences = (await licence_codes(dept_a, 2)) + (await licence_codes(dept_b, 2))
    await all_valid(x.stub, [c for _i, c in licences])
    await all_valid(y.stub, [c for _i, c in licences])
    shown = await presentation_codes(dept_a, [licences[0][0], licences[1][0]])
    shown += await presentation_codes(dept_b, [licences[2][0], licences[3][0]])
    purpose = purpose_of(f"复-{secrets.token_hex(4)}-")
    async with EventWatcher(stack, LICENCE_USAGE) as usage:
        replies = await x.stub.VerifyCodes(
            verifier_pb2.VerifyCodesRequest(codes=shown, purpose=purpose)
        )
        assert [r.verdict for r in replies.results] == [VALID] * 4
        claims = (await published(usage, [purpose]))[purpose]
    # a claim per partition the four lineages key to (services/verifier/claims.py)
    assert (
        sum(
            len(uses_of(events_pb2.LicenceUsedEvent.FromString(r.value)))
            for r in claims
        )
        == 4
    )
    deadline = time.monotonic() + 30
    for record in claims:  # until y has applied x's usage records
        while True:
            status = await y.stub.GetIndexStatus(verifier_pb2.GetIndexStatusRequest())
            applied = {
                (p.topic, p.partition): p.applied_offset for p in status.partitions
            }
            if applied.get((record.topic, record.partition), -1) >= record.offset:
                break
            assert time.monotonic() < deadline, "y never applied the usage record"
            await asyncio.sleep(0.01)
    # every one of them, singly or again as a batch: REPLAYED at y
    for code in shown:
        reply = await y.stub.VerifyCode(
            verifier_pb2.VerifyCodeRequest(code=code, purpose="再次出示")
        )
        assert reply.result.verdict == verifier_pb2.VERDICT_REPLAYED
    again = await y.stub.VerifyCodes(
        verifier_pb2.VerifyCodesRequest(codes=shown, purpose="再次出示")
    )
    assert {r.verdict for r in again.results} == {verifier_pb2.VERDICT_REPLAYED}
