"""Renewal, amendment and transfer against the real database, with an injected clock:
a new version supersedes the current one at once, so it is valid from then (nu16 #1:
a licence valid 2026-12-02..2032-11-30, renewed, was superseded at once by a version
valid from 2032-11-30, leaving the holder six years without a valid licence)."""

import datetime as dt

import grpc
import pytest

from certseal import codes
from certseal.errors import CertsealError, ErrorKind
from certseal.rpc import Caller
from certseal.v1 import issuer_pb2 as pb
from services.issuer.domain import Action, Holder, LicenceRecord, Status
from services.issuer.renewal import STARTS_NOW
from services.issuer.service.issuance import IssueInput
from tests.conftest import issue_request

TYPE_DAYS = dt.timedelta(days=365)  # make_department's licence type


async def issued(world, days: int | None = None) -> LicenceRecord:
    """A licence issued now (the clock set back to the real time), valid for
    ``days`` (None: the type's validity)."""
    sender, _, clock, service = world
    clock.now = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=5)
    until = clock.now + dt.timedelta(days=days) if days else None
    return await service.issue(
        Caller("dept", sender.code),
        IssueInput(
            sender.type_code,
            Holder("王五", "111", "440301199001011234"),
            {"class": "C1"},
            valid_until=until,
        ),
    )


async def valid_now(issuer, record: LicenceRecord, now: dt.datetime) -> None:
    """The version, its stored code's nbf/exp included, is valid at ``now``."""
    assert record.status is Status.VALID and record.superseded_by is None
    assert record.valid_from <= now < record.valid_until
    stored = await issuer.store.get_licence(record.identifier)
    claims = codes.decode_code(stored.code).claims
    assert claims[codes.CWT_NBF] == int(record.valid_from.timestamp())
    assert claims[codes.CWT_EXP] == int(record.valid_until.timestamp())
    assert claims[codes.CWT_NBF] <= now.timestamp() < claims[codes.CWT_EXP]


async def test_a_renewal_is_valid_from_now_and_keeps_a_later_end(world, issuer):
    sender, _, clock, service = world
    old = await issued(world, 6 * 365)
    clock.now += dt.timedelta(hours=1)
    new = await service.new_version(
        Caller("dept", sender.code), old.lineage, Action.RENEW
    )
    assert (new.valid_from, new.valid_until) == (clock.now, old.valid_until)
    assert new.replaces == old.identifier and new.version == 2
    await valid_now(issuer, new, clock.now)
    superseded = await service.load(old.identifier, with_holder=False)
    assert superseded.superseded_by == new.identifier


async def test_a_renewal_near_the_end_gets_the_type_s_validity_from_now(world, issuer):
    sender, _, clock, service = world
    old = await issued(world, 30)
    clock.now += dt.timedelta(days=29)
    new = await service.new_version(
        Caller("dept", sender.code), old.identifier, Action.RENEW
    )
    assert (new.valid_from, new.valid_until) == (clock.now, clock.now + TYPE_DAYS)
    await valid_now(issuer, new, clock.now)


async def test_an_expired_licence_renewed_is_valid_from_now(world, issuer):
    sender, _, clock, service = world
    old = await issued(world, 30)
    clock.now += dt.timedelta(days=31)
    await service.change_status(
        "service:expiry-sweep", old.identifier, Action.EXPIRE, ""
    )
    new = await service.new_version(
        Caller("dept", sender.code), old.identifier, Action.RENEW
    )
    assert (new.valid_from, new.valid_until) == (clock.now, clock.now + TYPE_DAYS)
    await valid_now(issuer, new, clock.now)


async def test_an_explicit_start_now_or_earlier_is_taken(world, issuer):
    sender, _, clock, service = world
    old = await issued(world)
    clock.now += dt.timedelta(days=2)
    for start in (old.valid_from, clock.now):
        current = await service.load(
            await service.reader.resolve(old.lineage), with_holder=False
        )
        new = await service.new_version(
            Caller("dept", sender.code), old.lineage, Action.RENEW, valid_from=start
        )
        assert new.valid_from == start
        assert new.valid_until == max(current.valid_until, start + TYPE_DAYS)
        await valid_now(issuer, new, clock.now)


async def test_a_start_after_now_is_refused_and_changes_nothing(world):
    sender, _, clock, service = world
    old = await issued(world)
    for later in (dt.timedelta(microseconds=1), old.valid_until - clock.now):
        with pytest.raises(CertsealError) as err:
            await service.new_version(
                Caller("dept", sender.code),
                old.identifier,
                Action.RENEW,
                valid_from=clock.now + later,
            )
        assert err.value.kind is ErrorKind.INVALID_ARGUMENT
        assert err.value.field == "valid_from" and STARTS_NOW in err.value.message
    current = await service.load(old.identifier, with_holder=False)
    assert current.superseded_by is None and current.lineage_version == 1


async def test_over_rpc_a_later_start_is_invalid_argument_naming_valid_from(dept):
    licence = (await dept.clients.issuer.IssueLicence(issue_request(dept))).licence
    request = pb.RenewLicenceRequest(identifier=licence.identifier)
    request.valid_from.FromDatetime(dt.datetime.now(dt.UTC) + dt.timedelta(days=1))
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await dept.clients.issuer.RenewLicence(request)
    assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert err.value.details().startswith("valid_from: ")
    assert STARTS_NOW in err.value.details()
    trailing = dict(err.value.trailing_metadata() or ())
    assert trailing.get("certseal-error-field") == "valid_from"
    renewed = (
        await dept.clients.issuer.RenewLicence(
            pb.RenewLicenceRequest(identifier=licence.identifier)
        )
    ).licence
    start = renewed.valid_from.ToDatetime(dt.UTC)
    assert start <= dt.datetime.now(dt.UTC) < renewed.valid_until.ToDatetime(dt.UTC)
    assert renewed.valid_until.ToDatetime(dt.UTC) >= licence.valid_until.ToDatetime(
        dt.UTC
    )


async def test_amendment_and_transfer_carry_a_window_valid_now(world, issuer):
    """The other ways a version is replaced keep its window: what was valid is."""
    sender, receiver, clock, service = world
    old = await issued(world, 100)
    clock.now += dt.timedelta(days=1)
    amended = await service.new_version(
        Caller("dept", sender.code),
        old.identifier,
        Action.AMEND,
        changes={"class": "B2"},
    )
    assert (amended.valid_from, amended.valid_until) == (
        old.valid_from,
        old.valid_until,
    )
    await valid_now(issuer, amended, clock.now)
    clock.now += dt.timedelta(days=1)
    _, moved = await service.transfer(
        Caller("dept", sender.code), amended.identifier, receiver.code, "迁出"
    )
    assert (moved.valid_from, moved.valid_until) == (old.valid_from, old.valid_until)
    await valid_now(issuer, moved, clock.now)
