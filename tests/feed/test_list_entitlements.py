"""ListEntitlements and ``certseal feed entitlements``: an operator sees every
integrator's entitlement, by integrator, a page at a time (atk57: no call listed
them, so ``events tail --as`` refused a mistyped integrator naming only those with a
dev identity, not those entitled)."""

from __future__ import annotations

import asyncio
import secrets

import grpc
import pytest

from certseal.v1 import feed_pb2 as pb
from certseal.v1 import feed_pb2_grpc
from tests.conftest import run_certseal
from tests.feed.test_cli_tail import tail_as
from tests.feed.test_service import channel_as, entitle, feed_app

__all__ = ["channel_as", "feed_app"]  # fixtures


async def _pages(admin, size: int) -> list[list[str]]:
    """Every page of ListEntitlements at ``size``, as integrators."""
    pages, token = [], ""
    while True:
        reply = await admin.ListEntitlements(
            pb.ListEntitlementsRequest(page_size=size, page_token=token)
        )
        pages.append([e.integrator for e in reply.entitlements])
        token = reply.next_page_token
        if not token:
            return pages
        assert len(pages) < 1_000, "the pages never end"


async def test_every_entitlement_is_listed_once_in_order_a_page_at_a_time(channel_as):
    mark = secrets.token_hex(3)
    mine = [f"integrator:list-{mark}-{n}" for n in range(3)]
    for integrator in mine:
        await entitle(channel_as, integrator, ["*"], ["licence.revoked"])
    async with channel_as("operator:admin") as channel:
        admin = feed_pb2_grpc.EventFeedAdminStub(channel)
        pages = await _pages(admin, 2)
        listed = [name for one in pages for name in one]
        assert all(len(one) <= 2 for one in pages) and pages[-1]
        assert listed == sorted(set(listed))  # in order, none twice
        assert set(mine) <= set(listed)
        # the whole list in one page says the same, and what each one allows
        whole = await admin.ListEntitlements(pb.ListEntitlementsRequest(page_size=500))
        # (the first 500: test_tail_looks_for_a_mistyped_integrator_past_the_first_page
        # adds 502 to the session's feed, sorted after these)
        assert [e.integrator for e in whole.entitlements] == listed[:500]
        shown = {e.integrator: e for e in whole.entitlements}
        assert list(shown[mine[0]].event_types) == ["licence.revoked"]
        assert list(shown[mine[0]].departments) == ["*"]


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (pb.ListEntitlementsRequest(page_size=501), "page_size"),
        (pb.ListEntitlementsRequest(page_token="not hex"), "page_token"),
        (pb.ListEntitlementsRequest(page_token="00"), "page_token"),  # atk59: NUL
    ],
)
async def test_a_bad_page_is_invalid_argument_naming_it(channel_as, request_, field):
    async with channel_as("operator:admin") as channel:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await feed_pb2_grpc.EventFeedAdminStub(channel).ListEntitlements(request_)
    assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert dict(err.value.trailing_metadata())["certseal-error-field"] == field


async def test_an_integrator_cannot_list_the_entitlements(channel_as):
    integrator = f"integrator:peek-{secrets.token_hex(3)}"
    await entitle(channel_as, integrator, ["*"], ["licence.*"])
    async with channel_as(integrator) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await feed_pb2_grpc.EventFeedAdminStub(channel).ListEntitlements(
                pb.ListEntitlementsRequest()
            )
    assert err.value.code() is grpc.StatusCode.PERMISSION_DENIED


async def test_the_cli_lists_them_and_tail_names_an_entitled_integrator(
    config, feed_app, channel_as, stack, tmp_path
):
    # entitled by the operator, with no dev identity made for it
    integrator = f"integrator:only-entitled-{secrets.token_hex(3)}"
    await entitle(channel_as, integrator, ["*"], ["seal.*"])
    assert not stack.ca.holds(integrator)
    target = {"feed_target": f"localhost:{feed_app.port}"}

    shown, page = f"{integrator}: departments *; licence types *; events seal.*", []
    for _ in range(100):  # the session's other tests entitle many (one adds 502)
        code, out = await run_certseal(
            config, tmp_path, "feed", "entitlements", *page, **target
        )
        assert code == 0, out
        lines = out.splitlines()
        # "N integrators", or "50 integrators on this page" and the next page's token
        counted = next(x for x in lines if x.split(" ", 1)[-1].startswith("integr"))
        assert 1 <= int(counted.split()[0]) <= 50, out
        if shown in lines or not lines[-1].startswith("more: --page-token "):
            break
        assert counted == "50 integrators on this page", out
        page = ["--page-token", lines[-1].split()[-1]]
    assert shown in lines, out

    typo = integrator[:-1]
    code, out = await tail_as(config, tmp_path, feed_app, typo)
    assert code == 2, out
    assert out.startswith(
        f"error: as: the stack knows no {typo}; did you mean {integrator}? (its "
        "integrators, entitled or with a dev identity: "
    ), out
    assert not stack.ca.holds(typo)


async def test_tail_looks_for_a_mistyped_integrator_past_the_first_page(
    config, feed_app, channel_as, stack, tmp_path
):
    """``events tail --as`` read only the first 500 entitlements: the nearest name to a
    typo, sorted after them, was not offered and the count said 500. It reads every
    page (services.feed.cli_as.LISTED_PAGES)."""
    run = secrets.token_hex(3)
    async with channel_as("operator:admin") as channel:
        admin = feed_pb2_grpc.EventFeedAdminStub(channel)
        for start in range(0, 501, 50):  # 501 entitled before the one looked for
            await asyncio.gather(
                *(
                    admin.SetEntitlement(
                        pb.SetEntitlementRequest(
                            entitlement=pb.Entitlement(
                                integrator=f"integrator:zbulk-{run}-{n:03}",
                                departments=["*"],
                                licence_types=["*"],
                                event_types=["seal.*"],
                            )
                        )
                    )
                    for n in range(start, min(start + 50, 501))
                )
            )
    # after every bulk one; the bulk ones after the other tests' (their first page)
    last = f"integrator:zzz-last-{run}"
    await entitle(channel_as, last, ["*"], ["seal.*"])
    entitled = sum(len(page) for page in await _pages_as(channel_as))
    assert entitled > 501
    typo = last[:-1]
    code, out = await tail_as(config, tmp_path, feed_app, typo)
    assert code == 2, out
    assert out.startswith(
        f"error: as: the stack knows no {typo}; did you mean {last}? (its "
    ), out
    counted = int(out.split(", … (", 1)[1].split(")", 1)[0])
    assert counted >= entitled, out  # every entitled one, and the dev identities


async def _pages_as(channel_as) -> list[list[str]]:
    async with channel_as("operator:admin") as channel:
        return await _pages(feed_pb2_grpc.EventFeedAdminStub(channel), 500)
