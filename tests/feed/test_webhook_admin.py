"""trial74: an operator could neither see the registered webhooks nor remove one, and a
webhook registered for a mistyped integrator was accepted silently, for good.
ListWebhooks (``certseal feed webhooks``) shows each webhook, never its secret, with
why its integrator's entitlement does not cover it; RemoveWebhook (``certseal feed
remove-webhook``) removes one, audited, and the dispatcher ends its delivery loop;
RegisterWebhook warns when the webhook posts nothing yet, offering the entitled name
a mistyped integrator is likely a typo of."""

from __future__ import annotations

import asyncio
import json
import secrets

import grpc
import pytest

from certseal.v1 import feed_pb2 as pb
from certseal.v1 import feed_pb2_grpc
from services.feed.dispatch import WebhookDispatcher
from services.feed.domain import Filter, Webhook
from tests.conftest import fresh_uscc, run_certseal
from tests.feed.test_service import channel_as, entitle, feed_app, receiver, withdraw

__all__ = ["channel_as", "feed_app", "receiver"]  # fixtures


async def _admin(channel_as, method: str, request):
    async with channel_as("operator:admin") as channel:
        return await getattr(feed_pb2_grpc.EventFeedAdminStub(channel), method)(request)


async def _register(
    channel_as, url, integrator, **wanted
) -> pb.RegisterWebhookResponse:
    return await _admin(
        channel_as,
        "RegisterWebhook",
        pb.RegisterWebhookRequest(
            name=f"adm-{secrets.token_hex(4)}",
            integrator=integrator,
            url=url,
            secret=b"k" * 32,
            **wanted,
        ),
    )


async def _entitled_hook(channel_as, receiver) -> tuple[str, str, str]:
    """(A fresh entitled integrator, a receiver's URL, a webhook of it there)."""
    integrator = f"integrator:adm-{secrets.token_hex(4)}"
    await entitle(channel_as, integrator, [fresh_uscc()], ["*"])
    _, url = await receiver(failures=0)
    return integrator, url, (await _register(channel_as, url, integrator)).name


async def test_a_webhook_for_a_mistyped_integrator_is_registered_with_a_warning(
    channel_as, receiver
):
    entitled = f"integrator:adm-{secrets.token_hex(4)}"
    await entitle(channel_as, entitled, [fresh_uscc()], ["*"])
    _, url = await receiver(failures=0)
    reply = await _register(channel_as, url, entitled + "x")
    assert reply.warning == (
        f"{entitled}x has no entitlement: the webhook posts nothing until an "
        f"operator gives one (certseal feed entitle); did you mean {entitled}?"
    ), reply.warning
    assert (await _register(channel_as, url, entitled)).warning == ""


async def test_webhooks_are_listed_with_why_they_are_outside_never_their_secret(
    channel_as, receiver
):
    kept, gone = fresh_uscc(), fresh_uscc()
    integrator = f"integrator:adm-{secrets.token_hex(4)}"
    nobody = f"integrator:adm-none-{secrets.token_hex(4)}"
    withdrawn = f"integrator:adm-gone-{secrets.token_hex(4)}"
    await entitle(channel_as, integrator, [kept, gone], ["*"])
    await entitle(channel_as, withdrawn, [kept], ["*"])
    _, url = await receiver(failures=0)
    within = (await _register(channel_as, url, integrator, departments=[kept])).name
    outside = (await _register(channel_as, url, integrator, departments=[gone])).name
    unentitled = (await _register(channel_as, url, nobody)).name
    revoked = (await _register(channel_as, url, withdrawn)).name
    await entitle(channel_as, integrator, [kept], ["*"])
    await withdraw(channel_as, withdrawn)
    listed = await _admin(channel_as, "ListWebhooks", pb.ListWebhooksRequest())
    by_name = {hook.name: hook for hook in listed.webhooks}
    assert {within, outside, unentitled, revoked} <= set(by_name)
    assert [h.name for h in listed.webhooks] == sorted(h.name for h in listed.webhooks)
    hook = by_name[within]
    assert (hook.integrator, hook.url, list(hook.departments)) == (
        integrator,
        url,
        [kept],
    )
    assert hook.outside == ""
    assert by_name[outside].outside.startswith(f"departments: '{gone}' is not among")
    assert by_name[unentitled].outside.startswith(f"{nobody} has no entitlement")
    assert "was withdrawn" in by_name[revoked].outside
    assert b"k" * 32 not in listed.SerializeToString()  # never a secret
    mine = await _admin(
        channel_as, "ListWebhooks", pb.ListWebhooksRequest(integrator=integrator)
    )
    assert {h.name for h in mine.webhooks} == {within, outside}
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await _admin(channel_as, "ListWebhooks", pb.ListWebhooksRequest(integrator="x"))
    assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT


async def test_a_removed_webhook_is_gone_audited_and_a_typo_is_named(
    channel_as, feed_app, receiver
):
    integrator, url, name = await _entitled_hook(channel_as, receiver)
    removed = await _admin(
        channel_as, "RemoveWebhook", pb.RemoveWebhookRequest(name=name)
    )
    assert removed.name == name
    listed = await _admin(channel_as, "ListWebhooks", pb.ListWebhooksRequest())
    assert name not in {h.name for h in listed.webhooks}
    actor, details = await feed_app.pool.fetchrow(
        "select actor, details from audit_log where action = 'feed.unhook' "
        "and subject = $1",
        name,
    )
    assert actor == "operator:admin", (actor, details)
    other = (await _register(channel_as, url, integrator)).name
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await _admin(
            channel_as, "RemoveWebhook", pb.RemoveWebhookRequest(name=other + "x")
        )
    assert err.value.code() is grpc.StatusCode.NOT_FOUND
    assert f"did you mean {other}?" in (err.value.details() or ""), err.value.details()
    with pytest.raises(grpc.aio.AioRpcError) as err:  # removed already
        await _admin(channel_as, "RemoveWebhook", pb.RemoveWebhookRequest(name=name))
    assert err.value.code() is grpc.StatusCode.NOT_FOUND


async def test_only_an_operator_removes_a_webhook_and_the_refusal_is_audited(
    channel_as, feed_app, receiver
):
    integrator, _, name = await _entitled_hook(channel_as, receiver)
    async with channel_as(integrator) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await feed_pb2_grpc.EventFeedAdminStub(channel).RemoveWebhook(
                pb.RemoveWebhookRequest(name=name)
            )
    assert err.value.code() is grpc.StatusCode.PERMISSION_DENIED
    outcome = await feed_app.pool.fetchval(
        "select outcome from audit_log where action = 'feed.unhook' and subject = $1",
        name,
    )
    assert outcome == "denied"
    listed = await _admin(channel_as, "ListWebhooks", pb.ListWebhooksRequest())
    assert name in {h.name for h in listed.webhooks}


class _Directory:
    def __init__(self, hooks: list[Webhook]):
        self.hooks = hooks

    async def webhooks(self) -> list[Webhook]:
        return list(self.hooks)

    async def entitlement(self, integrator: str):
        return None


class _Engine:
    """Delivery loops that run until cancelled, saying which ended."""

    def __init__(self):
        self.started: asyncio.Queue[str] = asyncio.Queue()
        self.ended: asyncio.Queue[str] = asyncio.Queue()

    def delivery(self, webhook: Webhook, entitlement):
        engine = self

        class _Loop:
            async def run(self, stop: asyncio.Event) -> None:
                engine.started.put_nowait(webhook.name)
                try:
                    await asyncio.Event().wait()
                finally:
                    engine.ended.put_nowait(webhook.name)

        return _Loop()


async def test_the_dispatcher_ends_the_loop_of_a_removed_webhook():
    hooks = [
        Webhook(name, "integrator:x", "https://h/x", Filter(), b"s" * 32)
        for name in ("kept", "removed")
    ]
    directory, engine = _Directory(hooks), _Engine()
    stop = asyncio.Event()
    dispatcher = WebhookDispatcher(directory=directory, engine=engine, poll_s=0.01)
    running = asyncio.create_task(dispatcher.run(stop))
    try:
        async with asyncio.timeout(10):
            assert {await engine.started.get() for _ in hooks} == {"kept", "removed"}
        directory.hooks = hooks[:1]
        async with asyncio.timeout(10):
            assert await engine.ended.get() == "removed"
        assert engine.ended.empty()  # the other runs on
    finally:
        stop.set()
        await asyncio.wait_for(running, 10)
    assert await engine.ended.get() == "kept"  # ended by the stop


async def test_the_cli_lists_warns_and_removes(
    config, feed_app, channel_as, receiver, tmp_path
):
    async def cli(*args: str) -> tuple[int, str]:
        return await run_certseal(
            config, tmp_path, "feed", *args, feed_target=f"localhost:{feed_app.port}"
        )

    integrator = f"integrator:adm-{secrets.token_hex(4)}"
    department = fresh_uscc()
    await entitle(channel_as, integrator, [department], ["*"])
    _, url = await receiver(failures=0)
    secret = tmp_path / "secret"
    secret.write_bytes(b"c" * 32)
    name = f"adm-{secrets.token_hex(4)}"
    code, out = await cli(
        "webhook", name, "--integrator", integrator + "x", "--url", url,
        "--secret-file", str(secret), "--department", department,
    )  # fmt: skip
    assert code == 0, out
    assert f"webhook {name} registered" in out, out
    assert f"warning: {integrator}x has no entitlement" in out, out
    code, out = await cli("webhooks", "--integrator", integrator + "x")
    assert code == 0, out
    assert out.splitlines()[0] == (
        f"{name}: {integrator}x at {url}; departments {department}; outside its "
        f"entitlement: {integrator}x has no entitlement: the webhook posts nothing "
        f"until an operator gives one (certseal feed entitle); did you mean "
        f"{integrator}?"
    ), out
    assert out.splitlines()[-1] == "1 webhook", out
    code, out = await cli("remove-webhook", name)
    assert code == 0, out
    assert (
        out.strip() == f"webhook {name} removed (its deliveries stop within a second)"
    )
    code, out = await cli("remove-webhook", name)
    assert code == 1 and f"webhook {name} not found" in out, out
    rows = await feed_app.pool.fetch(
        "select details from audit_log where action = 'feed.unhook' and subject = $1",
        name,
    )
    assert len(rows) == 1, [json.dumps(dict(r)) for r in rows]


async def test_webhooks_are_listed_a_page_at_a_time(channel_as, receiver):
    """atk74b F2: every webhook came in one answer, its filters up to 1,000 values a
    list each: ListWebhooks is paged as ListEntitlements is."""
    integrator, url, first = await _entitled_hook(channel_as, receiver)
    names = {first} | {
        (await _register(channel_as, url, integrator)).name for _ in range(2)
    }
    seen, token = [], ""
    for _ in range(3):
        reply = await _admin(
            channel_as,
            "ListWebhooks",
            pb.ListWebhooksRequest(
                integrator=integrator, page_size=2, page_token=token
            ),
        )
        seen += [hook.name for hook in reply.webhooks]
        token = reply.next_page_token
        if not token:
            break
    assert seen == sorted(names), seen
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await _admin(channel_as, "ListWebhooks", pb.ListWebhooksRequest(page_size=501))
    assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "page_size" in (err.value.details() or "")
