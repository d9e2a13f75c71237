"""The event feed against the real stack: entitlements on every event, resumption from
a position token without a gap, and the errors a subscriber can meet."""

import asyncio

import grpc
import pytest

from certseal.rpc import secure_channel
from certseal.v1 import feed_pb2 as pb
from certseal.v1 import feed_pb2_grpc
from certseal.v1 import issuer_pb2 as ipb
from services.feed.app import FeedApp
from tests.conftest import issue_request, make_department, run_certseal


@pytest.fixture(scope="module")
async def feed_app(stack, config, issuer):
    config.feed.webhook_ca_file = str(stack.ca.ca_file)  # receivers use the dev CA
    config.feed.webhook_retry_window_h = 0.5 / 3600  # half a second, then parked
    config.feed.webhook_first_delay_s = 0.05
    # the receivers listen on loopback, which webhooks may reach only when allowed
    config.feed.webhook_allowed_hosts = ["localhost"]
    app = FeedApp(config, listen="127.0.0.1:0")
    await app.start()
    yield app
    await app.stop(grace=1)


@pytest.fixture(scope="module")
def channel_as(stack, feed_app):
    def channel(identity: str) -> grpc.aio.Channel:
        ident = stack.ca.identity(identity)
        return secure_channel(
            f"localhost:{feed_app.port}",
            str(stack.ca.ca_file),
            str(ident.cert_file),
            str(ident.key_file),
        )

    return channel


async def entitle(
    channel_as, integrator, departments, event_types, licence_types=("*",)
):
    async with channel_as("operator:admin") as channel:
        return await feed_pb2_grpc.EventFeedAdminStub(channel).SetEntitlement(
            pb.SetEntitlementRequest(
                entitlement=pb.Entitlement(
                    integrator=integrator,
                    departments=list(departments),
                    licence_types=list(licence_types),
                    event_types=list(event_types),
                )
            )
        )


async def withdraw(channel_as, integrator):
    """Every right of ``integrator`` withdrawn (RemoveEntitlement)."""
    async with channel_as("operator:admin") as channel:
        return await feed_pb2_grpc.EventFeedAdminStub(channel).RemoveEntitlement(
            pb.RemoveEntitlementRequest(integrator=integrator)
        )


async def collect(channel_as, identity, count, request=None, within=60.0):
    """The first ``count`` events a subscription delivers."""
    events = []
    async with channel_as(identity) as channel:
        stream = feed_pb2_grpc.EventFeedStub(channel).Subscribe(
            request or pb.SubscribeRequest(earliest=True)
        )
        async with asyncio.timeout(within):
            async for event in stream:
                events.append(event)
                if len(events) == count:
                    break
        stream.cancel()
    return events


async def test_each_integrator_gets_exactly_its_entitlement(
    operator, connect, channel_as
):
    police_dept = await make_department(operator, connect)
    other_dept = await make_department(operator, connect)
    for dept in (police_dept, other_dept):
        for _ in range(3):
            licence = (
                await dept.clients.issuer.IssueLicence(issue_request(dept))
            ).licence
        await dept.clients.issuer.RevokeLicence(
            ipb.RevokeLicenceRequest(
                identifier=licence.identifier,
                reason="x",
                kind=ipb.REVOCATION_KIND_REVOKE,
            )
        )
    await entitle(channel_as, "integrator:police", [police_dept.code], ["licence.*"])
    await entitle(
        channel_as, "integrator:archive", [other_dept.code], ["licence.revoked"]
    )
    police = await collect(channel_as, "integrator:police", 4)
    assert {e.source for e in police} == {f"/departments/{police_dept.code}"}
    assert sorted(e.type for e in police) == ["cn.gov.certseal.licence.issued"] * 3 + [
        "cn.gov.certseal.licence.revoked"
    ]
    archive = await collect(channel_as, "integrator:archive", 1)
    assert [(e.source, e.type) for e in archive] == [
        (f"/departments/{other_dept.code}", "cn.gov.certseal.licence.revoked")
    ]
    # narrowing by the subscriber's own filter
    revoked_only = await collect(
        channel_as,
        "integrator:police",
        1,
        pb.SubscribeRequest(earliest=True, event_types=["licence.revoked"]),
    )
    assert revoked_only[0].type == "cn.gov.certseal.licence.revoked"
    assert revoked_only[0].id and revoked_only[0].data and revoked_only[0].token


async def test_reconnect_with_the_token_misses_nothing(operator, connect, channel_as):
    dept = await make_department(operator, connect)
    lineages = set()
    for _ in range(10):
        reply = await dept.clients.issuer.IssueLicences(
            ipb.IssueLicencesRequest(items=[issue_request(dept) for _ in range(1000)])
        )
        lineages |= {r.licence.lineage for r in reply.results}
    assert len(lineages) == 10_000
    await entitle(channel_as, "integrator:bulk", [dept.code], ["licence.issued"])
    first = await collect(channel_as, "integrator:bulk", 4321)
    rest = await collect(
        channel_as,
        "integrator:bulk",
        10_000 - 4321,
        pb.SubscribeRequest(token=first[-1].token),
    )
    received = [e.subject for e in first + rest]
    assert len(received) == 10_000 and set(received) == lineages


async def test_subscription_errors(channel_as, connect):
    await entitle(
        channel_as, "integrator:limited", ["91350100M000100Y43"], ["licence.*"]
    )
    cases = (
        (
            "integrator:stranger",
            pb.SubscribeRequest(),
            grpc.StatusCode.PERMISSION_DENIED,
        ),
        (
            "dept:91350100M000100Y43",
            pb.SubscribeRequest(),
            grpc.StatusCode.PERMISSION_DENIED,
        ),
        (
            "integrator:limited",
            pb.SubscribeRequest(token="bogus"),
            grpc.StatusCode.INVALID_ARGUMENT,
        ),
        # a type outside the entitlement, or none the platform publishes: refused,
        # not a subscription that silently never delivers
        (
            "integrator:limited",
            pb.SubscribeRequest(event_types=["seal.registered"]),
            grpc.StatusCode.INVALID_ARGUMENT,
        ),
        (
            "integrator:limited",
            pb.SubscribeRequest(event_types=["licence.nonsense"]),
            grpc.StatusCode.INVALID_ARGUMENT,
        ),
        # a department or licence type no event carries, or outside the
        # entitlement, the same
        (
            "integrator:limited",
            pb.SubscribeRequest(departments=["9135010"]),
            grpc.StatusCode.INVALID_ARGUMENT,
        ),
        (
            "integrator:limited",
            pb.SubscribeRequest(departments=["91440300MA5FXXXX0U"]),
            grpc.StatusCode.INVALID_ARGUMENT,
        ),
        (
            "integrator:limited",
            pb.SubscribeRequest(licence_types=["T001"]),
            grpc.StatusCode.INVALID_ARGUMENT,
        ),
    )
    for identity, request, code in cases:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await collect(channel_as, identity, 1, request, within=10)
        assert err.value.code() is code, identity
        trailing = dict(err.value.trailing_metadata() or ())
        for field in ("event_types", "departments", "licence_types"):
            if getattr(request, field):
                assert trailing["certseal-error-field"] == field
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await register_webhook(channel_as, "typo", "https://localhost:9/h", "nope")
    assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert dict(err.value.trailing_metadata())["certseal-error-field"] == "departments"
    async with channel_as("operator:admin") as channel:
        admin = feed_pb2_grpc.EventFeedAdminStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await admin.SetEntitlement(
                pb.SetEntitlementRequest(
                    entitlement=pb.Entitlement(integrator="dept:x")
                )
            )
        assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        got = await admin.GetEntitlement(
            pb.GetEntitlementRequest(integrator="integrator:limited")
        )
        assert list(got.entitlement.event_types) == ["licence.*"]


async def test_events_tail_prints_a_readable_stream(
    config, feed_app, operator, connect, tmp_path
):
    import copy
    import sys

    from certseal.config import dump_config

    dept = await make_department(operator, connect)
    licence = (await dept.clients.issuer.IssueLicence(issue_request(dept))).licence
    cli_config = copy.deepcopy(config)
    cli_config.cli.feed_target = f"localhost:{feed_app.port}"
    config_file = tmp_path / "cli.toml"
    config_file.write_text(dump_config(cli_config))
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services",
        "--config",
        str(config_file),
        "events",
        "tail",
        "--since",
        "earliest",
        "--department",
        dept.code,
        stdout=asyncio.subprocess.PIPE,
    )
    lines = []
    try:
        async with asyncio.timeout(30):
            while not any("licence.issued" in line for line in lines):
                lines.append((await process.stdout.readline()).decode())
    finally:
        process.kill()
        await process.wait()
    # one readable line per event (its key's activation may come before or after:
    # order holds per lineage, not across topics)
    assert all(dept.code in line for line in lines)
    assert licence.identifier in lines[-1] and "valid (01)" in lines[-1]


class Receiver:
    """An HTTPS endpoint that fails its first ``failures`` requests (-1: all)."""

    def __init__(self, failures: int):
        self.failures = failures
        self.received: list[tuple[bytes, str]] = []
        self.refused = 0
        self.arrived = asyncio.Event()

    async def wait_for(self, count: int) -> None:
        """Until ``count`` events were accepted."""
        async with asyncio.timeout(30):
            while len(self.received) < count:
                self.arrived.clear()
                await self.arrived.wait()

    async def handle(self, request):
        from aiohttp import web

        body = await request.read()
        if self.failures < 0 or self.refused < self.failures:
            self.refused += 1
            return web.Response(status=503)
        self.received.append((body, request.headers["X-Certseal-Signature"]))
        self.arrived.set()
        return web.Response(status=204)


@pytest.fixture
async def receiver(stack):
    import ssl

    from aiohttp import web

    server_identity = stack.ca.identity("service:webhook-receiver", server=True)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(server_identity.cert_file, server_identity.key_file)
    runners = []

    async def start(failures: int) -> tuple[Receiver, str]:
        endpoint = Receiver(failures)
        app = web.Application()
        app.router.add_post("/hook", endpoint.handle)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
        await site.start()
        runners.append(runner)
        port = site._server.sockets[0].getsockname()[1]
        return endpoint, f"https://localhost:{port}/hook"

    yield start
    for runner in runners:
        await runner.cleanup()


async def register_webhook(channel_as, name, url, department):
    async with channel_as("operator:admin") as channel:
        await feed_pb2_grpc.EventFeedAdminStub(channel).RegisterWebhook(
            pb.RegisterWebhookRequest(
                name=name,
                integrator="integrator:hooks",
                url=url,
                secret=b"s" * 32,
                departments=[department],
            )
        )


async def test_webhook_retries_until_the_endpoint_recovers(
    operator, connect, channel_as, receiver
):
    import json
    import secrets
    import time

    from services.feed.signing import verify_signature

    dept = await make_department(operator, connect)
    await entitle(channel_as, "integrator:hooks", ["*"], ["licence.*"])
    endpoint, url = await receiver(failures=2)  # within the retry window
    name = f"hook-{secrets.token_hex(3)}"
    await register_webhook(channel_as, name, url, dept.code)
    stub = dept.clients.issuer
    licence = (await stub.IssueLicence(issue_request(dept))).licence
    await stub.SuspendLicence(ipb.SuspendLicenceRequest(identifier=licence.identifier))
    await stub.UnsuspendLicence(
        ipb.UnsuspendLicenceRequest(identifier=licence.identifier)
    )
    await endpoint.wait_for(3)
    assert endpoint.refused == 2
    events = [json.loads(body) for body, _ in endpoint.received]
    assert [e["type"] for e in events] == [
        "cn.gov.certseal.licence.issued",
        "cn.gov.certseal.licence.suspended",
        "cn.gov.certseal.licence.unsuspended",
    ]
    versions = [int(e["data"]["lineageVersion"]) for e in events]
    assert versions == sorted(versions)  # per-lineage order
    assert all(
        verify_signature(b"s" * 32, body, sig, now=time.time())
        for body, sig in endpoint.received
    )
    assert not verify_signature(b"x" * 32, *endpoint.received[0], now=time.time())


async def test_failing_webhook_parks_then_replays(
    operator, connect, channel_as, receiver
):
    import secrets

    dept = await make_department(operator, connect)
    await entitle(channel_as, "integrator:hooks", ["*"], ["licence.*"])
    endpoint, url = await receiver(failures=-1)
    name = f"hook-{secrets.token_hex(3)}"
    await register_webhook(channel_as, name, url, dept.code)
    for _ in range(2):
        await dept.clients.issuer.IssueLicence(issue_request(dept))
    async with channel_as("operator:admin") as channel:
        admin = feed_pb2_grpc.EventFeedAdminStub(channel)
        async with asyncio.timeout(30):
            while True:
                parked = (
                    await admin.ListParkedDeliveries(
                        pb.ListParkedDeliveriesRequest(webhook=name)
                    )
                ).parked
                if len(parked) == 2:
                    break
                await asyncio.sleep(0.1)  # retries with backoff are running
        assert {p.reason for p in parked} == {"HTTP 503"}
        assert {p.type for p in parked} == {"licence.issued"}
        endpoint.failures = 0  # the integrator fixes its endpoint
        replay = await admin.ReplayParkedDeliveries(
            pb.ReplayParkedDeliveriesRequest(webhook=name)
        )
        assert (replay.delivered, replay.still_failing) == (2, 0)
        await endpoint.wait_for(2)
        left = await admin.ListParkedDeliveries(
            pb.ListParkedDeliveriesRequest(webhook=name)
        )
        assert list(left.parked) == []
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await admin.RegisterWebhook(
                pb.RegisterWebhookRequest(
                    name="plain",
                    integrator="integrator:hooks",
                    url="http://x",
                    secret=b"s" * 32,
                )
            )
        assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        # a name no webhook can have is a mistake, not a webhook to look for
        for typed in (name.upper(), f"{name} ", "x" * 41):
            for call in (
                admin.ListParkedDeliveries(
                    pb.ListParkedDeliveriesRequest(webhook=typed)
                ),
                admin.ReplayParkedDeliveries(
                    pb.ReplayParkedDeliveriesRequest(webhook=typed)
                ),
            ):
                with pytest.raises(grpc.aio.AioRpcError) as err:
                    await call
                assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT
                assert err.value.details().startswith("name: use 1 to 40")


async def test_licence_used_events_reach_the_issuing_departments_integrator(
    stack, operator, connect, channel_as
):
    """A verifier publishes licence.used with its CloudEvents envelope, the licence's
    issuing authority as the source; the feed delivers it as published."""
    import datetime as dt

    from certseal.v1 import events_pb2
    from services.verifier.domain import Verdict, parse_code
    from services.verifier.events import kafka_headers, licence_used

    dept = await make_department(operator, connect)
    licence = (await dept.clients.issuer.IssueLicence(issue_request(dept))).licence
    text = (
        await dept.clients.issuer.GetLicenceCode(
            ipb.GetLicenceCodeRequest(identifier=licence.identifier)
        )
    ).text
    record = licence_used(
        parse_code(text),
        Verdict.VALID,
        counter="dept:11440300COUNTER01",
        purpose="窗口办事",
        group="feed-test",
        now=dt.datetime.now(dt.UTC),
        event_id="used-1-" + licence.lineage[-6:],
    )
    used = events_pb2.LicenceUsedEvent.FromString(record.value)
    producer = stack.config.kafka.settings("certseal-tests").producer()
    await producer.start()
    try:
        await producer.send_and_wait(
            record.topic, record.value, key=record.key, headers=kafka_headers(record)
        )
    finally:
        await producer.stop()
    await entitle(channel_as, "integrator:usage", [dept.code], ["licence.used"])
    (event,) = await collect(channel_as, "integrator:usage", 1)
    assert (event.type, event.source, event.subject, event.id) == (
        "cn.gov.certseal.licence.used",
        f"/departments/{dept.code}",
        licence.lineage,
        used.event_id,
    )
    assert events_pb2.LicenceUsedEvent.FromString(event.data).purpose == "窗口办事"


async def test_a_batch_usage_record_reaches_each_integrator_as_its_departments_part(
    stack, operator, connect, channel_as, receiver
):
    """One usage record of a request with codes of two departments: an integrator
    entitled to one department gets only that department's uses, on Subscribe and by
    webhook; one entitled to both gets both parts (docs/events.md, "Usage
    records")."""
    import datetime as dt
    import json
    import secrets

    from certseal.events import uses_of
    from certseal.v1 import events_pb2
    from services.verifier.domain import Verdict, parse_code
    from services.verifier.events import kafka_headers, licence_use, usage_record

    first = await make_department(operator, connect)
    second = await make_department(operator, connect)
    codes = []
    for dept, count in ((first, 2), (second, 1)):
        for _ in range(count):
            licence = (
                await dept.clients.issuer.IssueLicence(issue_request(dept))
            ).licence
            codes.append(
                (
                    await dept.clients.issuer.GetLicenceCode(
                        ipb.GetLicenceCodeRequest(identifier=licence.identifier)
                    )
                ).text
            )
    tag = secrets.token_hex(3)
    only_second, both = f"integrator:usage2-{tag}", f"integrator:usage12-{tag}"
    await entitle(channel_as, only_second, [second.code], ["licence.used"])
    await entitle(channel_as, both, [first.code, second.code], ["licence.used"])
    endpoint, url = await receiver(failures=0)
    async with channel_as("operator:admin") as channel:
        await feed_pb2_grpc.EventFeedAdminStub(channel).RegisterWebhook(
            pb.RegisterWebhookRequest(
                name=f"usage-{tag}", integrator=only_second, url=url, secret=b"u" * 32
            )
        )
    uses = [licence_use(parse_code(c), Verdict.VALID) for c in codes]
    record = usage_record(
        uses,
        counter="dept:11440300COUNTER01",
        purpose="批量核验",
        group="feed-test",
        now=dt.datetime.now(dt.UTC),
        event_id=f"batch-{tag}",
    )
    producer = stack.config.kafka.settings("certseal-tests").producer()
    await producer.start()
    try:
        await producer.send_and_wait(
            record.topic, record.value, key=record.key, headers=kafka_headers(record)
        )
    finally:
        await producer.stop()
    (event,) = await collect(channel_as, only_second, 1)
    assert (event.source, event.id, event.subject) == (
        f"/departments/{second.code}",
        f"batch-{tag}.2",
        uses[2].lineage,
    )
    view = events_pb2.LicenceUsedEvent.FromString(event.data)
    assert uses_of(view) == [uses[2]] and not view.uses  # one use: singular fields
    assert view.purpose == "批量核验" and view.event_id == f"batch-{tag}.2"
    assert first.code.encode() not in event.data
    parts = await collect(channel_as, both, 2)
    assert [e.id for e in parts] == [f"batch-{tag}.1", f"batch-{tag}.2"]
    assert uses_of(events_pb2.LicenceUsedEvent.FromString(parts[0].data)) == uses[:2]
    await endpoint.wait_for(1)
    bodies = [json.loads(body) for body, _ in endpoint.received]
    assert [b["id"] for b in bodies] == [f"batch-{tag}.2"]
    assert bodies[0]["data"]["lineage"] == uses[2].lineage
    assert first.code not in json.dumps(bodies[0])


async def test_a_webhook_never_delivers_outside_its_integrators_entitlement(
    operator, connect, channel_as, receiver
):
    import json
    import secrets

    allowed = await make_department(operator, connect)
    other = await make_department(operator, connect)
    await entitle(channel_as, "integrator:narrow", [allowed.code], ["licence.issued"])
    endpoint, url = await receiver(failures=0)
    async with channel_as("operator:admin") as channel:
        await feed_pb2_grpc.EventFeedAdminStub(channel).RegisterWebhook(
            pb.RegisterWebhookRequest(
                name=f"narrow-{secrets.token_hex(3)}",
                integrator="integrator:narrow",
                url=url,
                secret=b"n" * 32,
            )
        )
    await other.clients.issuer.IssueLicence(issue_request(other))
    await allowed.clients.issuer.IssueLicence(issue_request(allowed))
    await endpoint.wait_for(1)
    sources = {json.loads(body)["source"] for body, _ in endpoint.received}
    assert sources == {f"/departments/{allowed.code}"}


async def test_operator_cli_entitles_and_lists(config, feed_app, tmp_path):
    async def cli(*args: str) -> tuple[int, str]:
        return await run_certseal(
            config, tmp_path, "feed", *args, feed_target=f"localhost:{feed_app.port}"
        )

    code, out = await cli(
        "entitle",
        "integrator:cli",
        "--department",
        "*",
        "--licence-type",
        "*",
        "--type",
        "seal.*",
    )
    assert code == 0 and "events seal.*" in out, out
    code, out = await cli("kafka-users")
    manifest = out.split("name: integrator-cli", 1)[1].split("---")[0]
    assert code == 0 and "name: certseal.seal-events.v1" in manifest, out
    code, out = await cli("entitle", "dept:nope", "--type", "*")
    assert code == 2 and "error: integrator:" in out, out
    # what no event carries is refused, named as the option typed (nu24: a
    # mistyped department was entitled, silently nothing)
    code, out = await cli(
        "entitle", "integrator:cli", "--department", "*", "--department", "nope"
    )
    assert code == 2 and out.startswith("error: department: must be 18 "), out
    code, out = await cli("entitle", "integrator:cli", "--licence-type", "x")
    assert code == 2 and out.startswith("error: licence-type: 'x' is not a"), out
    code, out = await cli("entitle", "integrator:cli", "--type", "licence.revokd")
    assert code == 2 and out.startswith("error: type: 'licence.revokd' is not"), out
    code, out = await cli("parked", "no-such-hook")
    assert code == 1 and "not found" in out, out


async def test_kafka_users_grant_a_usage_only_integrator_the_usage_topic_only(
    config, feed_app, channel_as, tmp_path
):
    """``licence.used`` starts with ``licence.`` but is not on the licence-events
    topic: the KafkaUser of an integrator entitled to it alone reads the usage topic
    only (issue 13)."""
    await entitle(channel_as, "integrator:usage-acl", ["*"], ["licence.used"])
    code, out = await run_certseal(
        config,
        tmp_path,
        "feed",
        "kafka-users",
        feed_target=f"localhost:{feed_app.port}",
    )
    assert code == 0, out
    manifest = out.split("name: integrator-usage-acl\n", 1)[1].split("---")[0]
    topics = [
        line.split("name: ", 1)[1]
        for line in manifest.splitlines()
        if line.startswith("          name: ")
    ]
    assert topics == ["certseal.licence-usage.v1", "integrator-usage-acl"], manifest
