"""Plain codes' uses gathered into one usage record (services/verifier/gathering.py),
end to end on the real broker and issuer: a counter's verifications of one purpose
within ``[verifier] usage_linger_ms`` are one ``licence.used`` record, each later
one with its own time; another purpose is another record; the holder's app shows
every verification at its own time; a worker stopped gracefully within the window
still publishes what it gathered (docs/events.md, "Usage records")."""

from __future__ import annotations

import asyncio
import secrets

import pytest

from certseal import identifiers
from certseal.events import LICENCE_USAGE, use_time, uses_of
from certseal.timestamps import from_ts
from certseal.v1 import events_pb2, licence_pb2, verifier_pb2
from certseal.v1 import issuer_pb2 as pb
from services.verifier.events import ENVELOPE_BYTES
from tests.conftest import (
    EventWatcher,
    VerifierProcess,
    issue_request,
    serving_group,
    verdict_everywhere,
)

VALID = verifier_pb2.VERDICT_VALID
VERIFIED = pb.LICENCE_USAGE_KIND_VERIFIED
LINGER_MS = 3_000  # long enough that requests a few milliseconds apart share it


async def _group(stack, config, tmp_path_factory) -> VerifierProcess:
    home = tmp_path_factory.mktemp("gathered")
    return await serving_group(stack, config, home, "gather", usage_linger_ms=LINGER_MS)


@pytest.fixture
async def group(stack, config, issuer, tmp_path_factory):
    process = await _group(stack, config, tmp_path_factory)
    yield process
    await process.stop()


async def _licence(dept, operator, connect):
    """A licence, its code, and a holder app's ListLicenceUsage request for it."""
    number = identifiers.random_resident_id()
    licence = (
        await dept.clients.issuer.IssueLicence(issue_request(dept, id_number=number))
    ).licence
    code = (
        await dept.clients.issuer.GetLicenceCode(
            pb.GetLicenceCodeRequest(identifier=licence.identifier)
        )
    ).text
    app_name = f"app:gather-{secrets.token_hex(3)}"
    await operator.admin.GrantHolderApp(
        pb.GrantHolderAppRequest(app=app_name, type_code=dept.type_code)
    )
    request = pb.ListLicenceUsageRequest(
        identifier=licence.identifier,
        holder=licence_pb2.Holder(id_type="111", id_number=number),
    )
    return code, connect(app_name).issuer, request


def _of(records, purpose: str) -> list:
    return [
        r
        for r in records
        if events_pb2.LicenceUsedEvent.FromString(r.value).purpose == purpose
    ]


async def test_one_purposes_verifications_in_the_window_are_one_record_each_timed(
    stack, dept, operator, connect, issuer, group
):
    code, app, listing = await _licence(dept, operator, connect)
    await verdict_everywhere({"g": group.stub}, code, VALID, within=60)
    tag = secrets.token_hex(3)
    gathered, alone = f"办理-{tag}", f"核验-{tag}"
    async with EventWatcher(stack, LICENCE_USAGE) as usage:
        requests = []
        for purpose in (gathered, gathered, alone, gathered):
            request = verifier_pb2.VerifyCodeRequest(code=code, purpose=purpose)
            reply = await group.stub.VerifyCode(request)
            assert reply.result.verdict == VALID
            requests.append(request)
        records = await usage.wait_for(
            lambda rs: _of(rs, gathered) and _of(rs, alone),
            within=LINGER_MS / 1000 + 30,
        )
        (record,) = _of(records, gathered)  # three requests, one record
        (single,) = _of(records, alone)
    event = events_pb2.LicenceUsedEvent.FromString(record.value)
    uses = uses_of(event)
    assert len(uses) == 3 and {u.verdict for u in uses} == {"VALID"}
    assert not uses[0].HasField("occurred_at")  # the first request's: the record's
    times = [from_ts(use_time(event, u)) for u in uses]
    assert times == sorted(times) and times[0] == from_ts(event.occurred_at)
    # within the three requests' bounds (each carried its code and purpose)
    size = (
        len(record.key)
        + len(record.value)
        + sum(len(k) + len(v) for k, v in record.headers)
    )
    carried = sum(r.ByteSize() for r in requests if r.purpose == gathered)
    assert size <= carried + 3 * ENVELOPE_BYTES
    # a record of one use reads as it always did
    one = events_pb2.LicenceUsedEvent.FromString(single.value)
    assert one.identifier == uses[0].identifier and not one.uses

    # the holder's app: every verification, each at its own time
    async with asyncio.timeout(30):
        while True:
            committed = issuer.usage_consumer.next_commit()
            shown = [
                u
                for u in (await app.ListLicenceUsage(listing)).uses
                if u.kind == VERIFIED and u.purpose == gathered
            ]
            if len(shown) == 3:
                break
            await committed.wait()
    assert sorted(from_ts(u.occurred_at) for u in shown) == times


async def test_a_graceful_stop_publishes_what_the_window_still_held(
    stack, config, dept, operator, connect, issuer, tmp_path_factory
):
    process = await _group(stack, config, tmp_path_factory)
    try:
        code, _app, _listing = await _licence(dept, operator, connect)
        await verdict_everywhere({"g": process.stub}, code, VALID, within=60)
        purpose = f"停止前-{secrets.token_hex(3)}"
        async with EventWatcher(stack, LICENCE_USAGE) as usage:
            reply = await process.stub.VerifyCode(
                verifier_pb2.VerifyCodeRequest(code=code, purpose=purpose)
            )
            assert reply.result.verdict == VALID
            await process.stop()  # SIGTERM well within the 3 s window
            try:
                records = await usage.wait_for(lambda rs: _of(rs, purpose), within=30)
            except TimeoutError:
                raise AssertionError(process.log_tail()) from None
        (record,) = _of(records, purpose)
        assert uses_of(events_pb2.LicenceUsedEvent.FromString(record.value))
    finally:
        await process.stop()
