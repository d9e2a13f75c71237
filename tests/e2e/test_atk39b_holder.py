# fixtures imported from the modules that define them are parameters here
# ruff: noqa: F811
"""Outside review atk39b_holder: the fixes of atk39holder (the seal service verifying a
licence file on behalf of its caller, the redemption under a lock, the authorisation
bounded by the licence's end) attacked again.

Each test asserts the correct behaviour and is marked xfail (strict) until the product
is fixed. The stack is the session's (tests/conftest.py); the world is
test_atk39_authz.py's (a fresh issuing department, holder, holder app and authorised
department per test).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import secrets

import grpc
import pytest

from certseal.licencefile import read_licence_metadata
from certseal.v1 import issuer_pb2 as pb
from certseal.v1 import seal_pb2 as seal_pb
from certseal.v1 import verifier_pb2
from services.issuer.authorisation import BEIJING
from tests.conftest import issue_request, verdict_everywhere
from tests.e2e.test_atk39_authz import (  # noqa: F401 (fixtures)
    HOLDER_NAME,
    authorise,
    holder_side,
    pdf_text,
    world,
)
from tests.e2e.test_atk39_holder import TEST_COUNTER, rows
from tests.e2e.test_holder_documents import (  # noqa: F401 (fixtures)
    verifier_group,
)

# -- 1. the seal service on behalf of a caller whose identity is not ASCII ---------------


async def test_a_caller_with_a_chinese_identity_gets_the_licence_files_verdict(
    world, seal_stub, verifier_group, issuer
):
    """docs/holder.md: "an unreachable verifier gives licence.detail instead of a
    verdict, never an error for the seals", and the usage record names who verified
    the file. A certificate may name ``app:政务钱包`` (``certseal.rpc.check_identity``
    allows any printable name without spaces); the seal service now puts that name in
    gRPC metadata, which must be ASCII, so the whole VerifyPdf fails (UNKNOWN): the
    caller gets no seal verdict at all."""
    document = (
        await world["app"].holder.GetLicenceDocument(
            pb.GetLicenceDocumentRequest(
                identifier=world["licence"].identifier, holder=world["holder"]
            )
        )
    ).document
    code = read_licence_metadata(document)["licence_code"]
    await verdict_everywhere(
        {"g": verifier_group.stub}, code, verifier_pb2.VERDICT_VALID, within=30
    )
    caller = f"app:政务钱包{secrets.token_hex(2)}"
    verified = await seal_stub(caller).VerifyPdf(seal_pb.VerifyPdfRequest(pdf=document))
    assert verified.seals, "no seal verdict"
    assert verified.licence.verdict == "VALID", verified.licence.detail
    async with asyncio.timeout(20):  # the file's verification reaches the record
        while True:
            committed = issuer.usage_consumer.next_commit()
            found = [
                r["counter"]
                for r in await rows(issuer, world, "verified")
                if r["counter"] != TEST_COUNTER
            ]
            if found:
                break
            await committed.wait()
    assert found == [caller]


# -- 2. an authorisation outlives a licence shortened after it -----------------------------


def copy_date(copy: bytes) -> dt.date:
    """The date the annotated copy's overlay says it is valid before."""
    text = pdf_text(copy).replace("\r", "").replace("\n", "")
    found = re.search(
        r"(\d{4})年(\d{1,2})月(\d{1,2})日(?:\d{1,2}时\d\d分)?前有效", text
    )
    assert found, text
    return dt.date(*(int(g) for g in found.groups()))


async def test_a_copy_redeemed_after_a_shortening_renewal_does_not_outrun_the_licence(
    world, holder_side
):
    """atk39holder 5 bounds the expiry by the licence's ``valid_until`` when the
    holder authorises. A renewal takes a given ``valid_until`` as it is
    (services/issuer/renewal.py), so the issuer can shorten the lineage afterwards:
    a licence valid 60 days, authorised for 30, renewed to end in 5 days. The
    redemption checks the licence is valid now, then seals a copy that reads valid
    to the 30th day: the date its reader checks by eye (docs/holder.md) outruns the
    licence again. The redemption should be refused, or the copy say the licence's
    end."""
    now = dt.datetime.now(dt.UTC)
    dept = world["dept"]
    request = issue_request(dept, name=HOLDER_NAME, id_number=world["holder"].id_number)
    request.valid_until.FromDatetime(now + dt.timedelta(days=60))
    licence = (await dept.clients.issuer.IssueLicence(request)).licence
    ask = authorise(world, identifier=licence.identifier)
    ask.expires_at.FromDatetime(now + dt.timedelta(days=30))
    auth = (await world["app"].holder.AuthoriseUse(ask)).authorisation
    renewal = pb.RenewLicenceRequest(identifier=licence.identifier)
    renewal.valid_until.FromDatetime(now + dt.timedelta(days=5))
    renewed = (await dept.clients.issuer.RenewLicence(renewal)).licence
    ends = renewed.valid_until.ToDatetime(tzinfo=dt.UTC)
    assert ends < auth.expires_at.ToDatetime(tzinfo=dt.UTC)  # the premise
    try:
        reply = await holder_side(
            f"dept:{world['other']}"
        ).redemption.RedeemAuthorisation(pb.RedeemAuthorisationRequest(code=auth.code))
    except grpc.aio.AioRpcError as exc:
        assert exc.code() is grpc.StatusCode.FAILED_PRECONDITION, exc.details()
        return
    assert copy_date(reply.annotated_copy) <= ends.astimezone(BEIJING).date(), (
        "the platform-sealed copy is valid past the licence's end"
    )
    # the fix: the copy says the licence's end, the earlier of the two
    assert copy_date(reply.annotated_copy) == ends.astimezone(BEIJING).date()


async def test_a_copy_of_a_licence_ending_after_the_authorisation_says_its_expiry(
    world, holder_side
):
    """The other side of the rule (docs/holder.md): the copy's "<date>前有效" is the
    earlier of the authorisation's expiry and the licence's ``valid_until``; a
    licence valid 60 days authorised for 30 gives a copy valid to the 30th day."""
    now = dt.datetime.now(dt.UTC)
    dept = world["dept"]
    request = issue_request(dept, name=HOLDER_NAME, id_number=world["holder"].id_number)
    request.valid_until.FromDatetime(now + dt.timedelta(days=60))
    licence = (await dept.clients.issuer.IssueLicence(request)).licence
    ask = authorise(world, identifier=licence.identifier)
    ask.expires_at.FromDatetime(now + dt.timedelta(days=30))
    auth = (await world["app"].holder.AuthoriseUse(ask)).authorisation
    reply = await holder_side(f"dept:{world['other']}").redemption.RedeemAuthorisation(
        pb.RedeemAuthorisationRequest(code=auth.code)
    )
    expires = auth.expires_at.ToDatetime(tzinfo=dt.UTC)
    assert expires < licence.valid_until.ToDatetime(tzinfo=dt.UTC)  # the premise
    assert copy_date(reply.annotated_copy) == expires.astimezone(BEIJING).date()


# -- 3. the licence revoked while the copy is made ---------------------------------------


async def test_no_redemption_completes_after_the_licence_was_revoked(
    world, holder_side, issuer, monkeypatch
):
    """atk39holder 2 made the redemption re-check the authorisation in the
    transaction that records it, so a withdrawal during rendering wins. The licence
    itself is checked once, before the copy is rendered (seconds): a licence the
    issuer revokes meanwhile is answered OK, the department receiving the holder's
    fields and a copy sealed by the platform of a licence already revoked, although a
    redemption of a revoked licence is FAILED_PRECONDITION (docs/holder.md)."""
    auth = (await world["app"].holder.AuthoriseUse(authorise(world))).authorisation
    files = issuer.service.holder._files
    original = files.annotated_copy

    async def while_rendering(*args, **kwargs):
        await world["dept"].clients.issuer.RevokeLicence(
            pb.RevokeLicenceRequest(
                identifier=world["licence"].identifier,
                reason="测试撤销",
                kind=pb.REVOCATION_KIND_REVOKE,
            )
        )
        return await original(*args, **kwargs)

    monkeypatch.setattr(files, "annotated_copy", while_rendering)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await holder_side(f"dept:{world['other']}").redemption.RedeemAuthorisation(
            pb.RedeemAuthorisationRequest(code=auth.code)
        )
    assert err.value.code() is grpc.StatusCode.FAILED_PRECONDITION, err.value.details()
    assert "no longer valid" in err.value.details()
    # audited as a denied redemption, and no use recorded
    assert not await rows(issuer, world, "redeemed")
    denied = await issuer.pool.fetch(
        """select details from audit_log where subject = $1
            and action = 'authorisation.redeem' and outcome = 'denied'""",
        auth.authorisation_id,
    )
    assert len(denied) == 1 and "licence_no_longer_valid" in str(denied[0]["details"])


async def test_no_redemption_completes_after_the_licence_was_renewed(
    world, holder_side, issuer, monkeypatch
):
    """The same lock sees a renewal committed while the copy was rendered: the copy
    and the shared fields are of a version no longer current (its end may have moved,
    atk39b_holder 2), so the redemption is refused ABORTED (redeem again), audited,
    nothing recorded; the next redemption gets the renewed version's copy."""
    auth = (await world["app"].holder.AuthoriseUse(authorise(world))).authorisation
    files = issuer.service.holder._files
    original = files.annotated_copy
    renewed = []

    async def while_rendering(*args, **kwargs):
        if not renewed:
            renewal = pb.RenewLicenceRequest(identifier=world["licence"].identifier)
            renewal.valid_until.FromDatetime(
                dt.datetime.now(dt.UTC) + dt.timedelta(days=200)
            )
            renewed.append(
                (await world["dept"].clients.issuer.RenewLicence(renewal)).licence
            )
        return await original(*args, **kwargs)

    monkeypatch.setattr(files, "annotated_copy", while_rendering)
    department = holder_side(f"dept:{world['other']}").redemption
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await department.RedeemAuthorisation(
            pb.RedeemAuthorisationRequest(code=auth.code)
        )
    assert err.value.code() is grpc.StatusCode.ABORTED, err.value.details()
    assert not await rows(issuer, world, "redeemed")
    again = await department.RedeemAuthorisation(
        pb.RedeemAuthorisationRequest(code=auth.code)
    )
    assert again.annotated_copy
    assert [r["identifier"] for r in await rows(issuer, world, "redeemed")] == [
        renewed[0].identifier
    ]
