"""Webhook egress (issue 13, kind 5): a webhook cannot be turned against the platform's
own network.

- URLs are validated at registration (https, a host, no user info, no fragment, a port
  in range, a bounded length), INVALID_ARGUMENT naming ``url``;
- a host that is or resolves to a loopback, link-local, private, unique-local,
  multicast, unspecified or otherwise non-global address (IPv4, IPv6, IPv4 inside
  IPv6) is refused unless ``[feed] webhook_allowed_hosts`` lists it;
- it is checked again before every connection, and the connection goes to the checked
  address (an injected resolver changes its answer between registration and delivery);
- no redirect is followed: a 3xx is a failed delivery;
- parked reasons do not tell a closed port from an open or a non-TLS one.
"""

from __future__ import annotations

import asyncio
import copy
import ipaddress
import secrets
import socket
import ssl

import grpc
import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult

from certseal.devstack import free_port
from certseal.errors import CertsealError, ErrorKind
from certseal.rpc import secure_channel
from certseal.text import with_article
from certseal.v1 import feed_pb2 as pb
from certseal.v1 import feed_pb2_grpc
from services.feed.app import FeedApp
from services.feed.domain import Filter, Webhook, parse_webhook_url
from services.feed.egress import EgressPolicy, EgressRefused
from services.feed.webhooks import (
    CONNECTION_ERROR,
    REFUSED,
    TIMEOUT,
    RequestTimeouts,
    client_session,
    post,
)
from tests.conftest import issue_request, make_department

INTEGRATOR = "integrator:egress"


class MapResolver(AbstractResolver):
    """A DNS stand-in: each name answers the addresses the test put in ``answers``."""

    def __init__(self, answers: dict[str, list[str]]):
        self.answers = answers
        self.asked: list[str] = []

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        self.asked.append(host)
        if host not in self.answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [
            ResolveResult(
                hostname=host,
                host=address,
                port=port,
                family=socket.AF_INET6 if ":" in address else socket.AF_INET,
                proto=0,
                flags=0,
            )
            for address in self.answers[host]
        ]

    async def close(self) -> None:
        pass


# -- URLs, pure ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("", "is required"),
        ("http://hooks.example.org/in", "must be an https:// URL"),
        ("ftp://hooks.example.org/in", "must be an https:// URL"),
        ("hooks.example.org/in", "must be an https:// URL"),
        ("https:///in", "must name a host"),
        ("https://user:pw@hooks.example.org/in", "user name or password"),
        ("https://user@hooks.example.org/in", "user name or password"),
        ("https://hooks.example.org/in#top", "must not have a fragment"),
        ("https://hooks.example.org:0/in", "port 0"),
        ("https://hooks.example.org:70000/in", "a port 1 to 65535"),
        ("https://hooks.example.org:-1/in", "a port 1 to 65535"),
        ("https://hooks.example.org:http/in", "a port 1 to 65535"),
        ("https://hooks.example.org/" + "a" * 2100, "more than 2048 characters"),
        ("https://hooks.example.org/\x00", "printable ASCII"),
        ("https://hooks.example.org/a b", "printable ASCII"),
        ("https://hooks.example.org/\u202e", "printable ASCII"),
        ("https://bücher.example/in", "printable ASCII"),
        ("https://hooks_1.example.org/in", "not a valid host name"),
        ("https://-hooks.example.org/in", "not a valid host name"),
        ("https://hooks..example.org/in", "not a valid host name"),
        # numeric forms a resolver reads as 127.0.0.1
        ("https://127.1/in", "not a valid IPv4 address"),
        ("https://2130706433/in", "not a valid IPv4 address"),
        ("https://0177.0.0.1/in", "not a valid IPv4 address"),
        ("https://0x7f000001/in", "not a valid host name"),
        ("https://0x7f.0.0.1/in", "not a valid host name"),
        ("https://[127.0.0.1]/in", "not a valid URL"),
        ("https://[fe80::1%25eth0]/in", "IPv6 zone"),
    ],
)
def test_registration_refuses_bad_urls(url, problem):
    with pytest.raises(CertsealError) as err:
        parse_webhook_url(url)
    assert (err.value.kind, err.value.field) == (ErrorKind.INVALID_ARGUMENT, "url")
    assert problem in err.value.message, err.value.message


@pytest.mark.parametrize(
    ("url", "host", "port"),
    [
        ("https://hooks.example.org/in?x=1", "hooks.example.org", 443),
        ("HTTPS://Hooks.Example.ORG:8443/in", "hooks.example.org", 8443),
        ("https://hooks.example.org./in", "hooks.example.org", 443),
        ("https://xn--bcher-kva.example/in", "xn--bcher-kva.example", 443),
        ("https://93.184.216.34/in", "93.184.216.34", 443),
        ("https://[2606:4700::1111]:444/in", "2606:4700::1111", 444),
    ],
)
def test_registration_accepts_sane_urls(url, host, port):
    parsed = parse_webhook_url(url)
    assert (parsed.url, parsed.host, parsed.port) == (url, host, port)


# -- addresses: each class, by the policy ----------------------------------------------

REFUSED_ADDRESSES = [
    ("127.0.0.1", "loopback"),
    ("127.255.0.9", "loopback"),
    ("::1", "loopback"),
    ("10.1.2.3", "private"),
    ("172.16.0.1", "private"),
    ("172.31.255.254", "private"),
    ("192.168.1.1", "private"),
    ("169.254.169.254", "link-local"),  # the cloud metadata service
    ("fe80::1", "link-local"),
    ("fd00:ec2::254", "unique-local"),
    ("fc00::1", "unique-local"),
    ("fec0::1", "site-local"),
    ("224.0.0.1", "multicast"),
    ("ff02::1", "multicast"),
    ("0.0.0.0", "unspecified"),
    ("0.1.2.3", "unspecified"),
    ("::", "unspecified"),
    ("255.255.255.255", "reserved"),
    ("240.0.0.1", "reserved"),
    ("100.64.0.1", "non-global"),  # carrier-grade NAT
    ("192.0.2.1", "non-global"),  # documentation
    ("198.18.0.1", "non-global"),  # benchmarking
    ("2001:db8::1", "non-global"),
    ("2001::1", "non-global"),  # Teredo
    ("100::1", "reserved"),  # discard-only
    ("::127.0.0.1", "reserved"),  # IPv4-compatible (deprecated)
    # an IPv4 address inside an IPv6 one is judged as that IPv4 address
    ("::ffff:127.0.0.1", "loopback"),
    ("::ffff:10.0.0.1", "private"),
    ("::ffff:169.254.169.254", "link-local"),
    ("64:ff9b::a9fe:a9fe", "link-local"),  # NAT64 of 169.254.169.254
    ("2002:c0a8:101::1", "private"),  # 6to4 of 192.168.1.1
]
GLOBAL_ADDRESSES = [
    "93.184.216.34",
    "8.8.8.8",
    "2606:4700::1111",
    "::ffff:93.184.216.34",
    "64:ff9b::808:808",
]


def _url(address: str, port: int = 443) -> str:
    host = f"[{address}]" if ":" in address else address
    return f"https://{host}:{port}/in"


@pytest.mark.parametrize(("address", "kind"), REFUSED_ADDRESSES)
async def test_the_policy_refuses_each_address_class(address, kind):
    # as a name that resolves to it, and as a literal
    policy = EgressPolicy(resolver=MapResolver({"hooks.example.org": [address]}))
    for url in ("https://hooks.example.org/in", _url(address)):
        with pytest.raises(CertsealError) as err:
            await policy.check_url(url)
        assert (err.value.kind, err.value.field) == (ErrorKind.INVALID_ARGUMENT, "url")
        assert f"{with_article(kind)} address" in err.value.message, err.value.message
        assert "webhook_allowed_hosts" in err.value.message


@pytest.mark.parametrize("address", GLOBAL_ADDRESSES)
async def test_the_policy_accepts_global_addresses(address):
    policy = EgressPolicy(resolver=MapResolver({"hooks.example.org": [address]}))
    assert (await policy.check_url("https://hooks.example.org/in")).port == 443
    assert (await policy.check_url(_url(address))).literal == ipaddress.ip_address(
        address
    )


async def test_every_address_of_a_name_is_checked():
    policy = EgressPolicy(
        resolver=MapResolver({"mixed.example.org": ["93.184.216.34", "10.0.0.8"]})
    )
    with pytest.raises(CertsealError) as err:
        await policy.check_url("https://mixed.example.org/in")
    assert "10.0.0.8, a private address" in err.value.message


async def test_a_name_that_does_not_resolve_is_refused():
    policy = EgressPolicy(resolver=MapResolver({}))
    with pytest.raises(CertsealError) as err:
        await policy.check_url("https://nowhere.example.org/in")
    assert err.value.field == "url" and "does not resolve" in err.value.message


async def test_a_dns_timeout_at_registration_is_unavailable():
    class Hanging(MapResolver):
        async def resolve(self, host, port=0, family=socket.AF_INET):
            await asyncio.Event().wait()

    policy = EgressPolicy(resolver=Hanging({}), resolve_timeout_s=0.05)
    with pytest.raises(CertsealError) as err:
        await policy.check_url("https://slow.example.org/in")
    assert err.value.kind is ErrorKind.UNAVAILABLE


async def test_the_operator_allows_a_host_explicitly():
    answers = {"receiver.internal": ["10.0.0.9"], "localhost": ["127.0.0.1"]}
    policy = EgressPolicy(
        allowed_hosts=["Receiver.Internal.", "localhost", "127.0.0.1"],
        resolver=MapResolver(answers),
    )
    for url in (
        "https://receiver.internal/in",
        "https://RECEIVER.internal./in",
        "https://localhost:8443/in",
        "https://127.0.0.1/in",
    ):
        await policy.check_url(url)
    # only the hosts listed: another name or address is still refused
    with pytest.raises(CertsealError):
        await policy.check_url("https://127.0.0.2/in")
    with pytest.raises(EgressRefused):
        await policy.resolve("other.internal", 443)


async def test_the_resolver_answers_the_checked_addresses_every_time():
    """No cache: a name whose answer changes after a check is checked again."""
    answers = {"rebind.example.org": ["93.184.216.34"]}
    checked = EgressPolicy(resolver=MapResolver(answers)).resolver()
    first = await checked.resolve("rebind.example.org", 443)
    assert [r["host"] for r in first] == ["93.184.216.34"]
    answers["rebind.example.org"] = ["127.0.0.1"]
    with pytest.raises(EgressRefused, match=r"127\.0\.0\.1, a loopback address"):
        await checked.resolve("rebind.example.org", 443)


# -- delivery: one POST and its reason, against real sockets ---------------------------


@pytest.fixture
async def endpoints(stack):
    """Start HTTPS (dev CA, for localhost) or plain HTTP handlers on loopback."""
    identity = stack.ca.identity("service:webhook-receiver", server=True)
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(identity.cert_file, identity.key_file)
    runners: list[web.AppRunner] = []

    async def start(handler, *, tls: bool = True) -> int:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", handler)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(
            runner, "127.0.0.1", 0, ssl_context=server_tls if tls else None
        )
        await site.start()
        runners.append(runner)
        return site._server.sockets[0].getsockname()[1]

    yield start
    for runner in runners:
        await runner.cleanup()


@pytest.fixture
async def raw_servers():
    """Plain TCP listeners on loopback that do what a non-HTTP service would."""
    servers: list[asyncio.Server] = []
    held: list[asyncio.StreamWriter] = []

    async def start(greeting: bytes | None) -> int:
        async def handle(reader, writer):
            held.append(writer)
            if greeting is not None:
                writer.write(greeting)
                await writer.drain()
                writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        servers.append(server)
        return server.sockets[0].getsockname()[1]

    yield start
    for writer in held:
        writer.close()
    for server in servers:
        server.close()


def _closed_port() -> int:
    return free_port()


async def _post(
    stack, url: str, *, answers=None, allowed=("localhost",), timeouts=None
):
    """One POST as the feed makes it; its reason ('' when delivered)."""
    policy = EgressPolicy(
        allowed_hosts=allowed,
        resolver=MapResolver(answers or {"localhost": ["127.0.0.1"]}),
    )
    tls = ssl.create_default_context(cafile=str(stack.ca.ca_file))
    webhook = Webhook("reasons", INTEGRATOR, url, Filter(), b"k" * 32)
    async with client_session(
        tls, policy, timeouts or RequestTimeouts(total_s=6.0, connect_s=3.0)
    ) as session:
        return await post(session, webhook, b"{}", 0.0, policy)


async def test_parked_reasons_do_not_tell_ports_apart(stack, endpoints, raw_servers):
    async def fails(request):
        return web.Response(status=500)

    async def slow(request):
        await asyncio.sleep(12)  # answers long after the post's total timeout (6 s)
        return web.Response(status=204)

    async def plain(request):
        return web.Response(status=204)

    closed = _closed_port()
    silent = await raw_servers(None)  # accepts, never answers
    ssh = await raw_servers(b"SSH-2.0-OpenSSH_9.6\r\n")  # speaks first, not TLS
    http = await endpoints(plain, tls=False)  # HTTP without TLS
    ports = {"closed": closed, "silent": silent, "ssh": ssh, "http": http}
    reasons = {
        name: await _post(stack, f"https://localhost:{port}/in")
        for name, port in ports.items()
    }
    assert reasons == dict.fromkeys(ports, CONNECTION_ERROR)
    assert CONNECTION_ERROR == "delivery failed: connection error"
    # an HTTPS endpoint that answered: its status; one that answered too late: timeout
    assert await _post(stack, f"https://localhost:{await endpoints(fails)}/in") == (
        "HTTP 500"
    )
    assert await _post(stack, f"https://localhost:{await endpoints(slow)}/in") == (
        TIMEOUT
    )
    assert TIMEOUT == "delivery failed: timeout"


async def test_a_redirect_is_not_followed(stack, endpoints):
    stolen: list[bytes] = []

    async def steal(request):
        stolen.append(await request.read())
        return web.Response(status=204)

    loot = await endpoints(steal, tls=False)
    for status, location in (
        (307, f"http://127.0.0.1:{loot}/steal"),
        (308, f"http://127.0.0.1:{loot}/steal"),
        (302, f"http://localhost:{loot}/steal"),
        (303, f"https://localhost:{loot}/steal"),
    ):

        async def redirect(request, status=status, location=location):
            return web.Response(status=status, headers={"Location": location})

        port = await endpoints(redirect)
        assert await _post(stack, f"https://localhost:{port}/in") == f"HTTP {status}"
    assert stolen == []


async def test_delivery_connects_to_the_checked_address_only(stack, endpoints):
    delivered: list[bytes] = []

    async def accept(request):
        delivered.append(await request.read())
        return web.Response(status=204)

    port = await endpoints(accept)
    url = f"https://localhost:{port}/in"
    # the connection goes where the injected resolver said, not where the system's does
    assert await _post(stack, url, answers={"localhost": ["127.0.0.1"]}) == ""
    assert await _post(stack, url, answers={"localhost": ["127.0.0.3"]}) == (
        CONNECTION_ERROR
    )
    # not allowed explicitly: localhost is loopback, refused before any connection
    assert await _post(stack, url, allowed=()) == REFUSED
    assert await _post(stack, f"https://127.0.0.1:{port}/in", allowed=()) == REFUSED
    assert await _post(stack, f"https://[::1]:{port}/in", allowed=()) == REFUSED
    assert len(delivered) == 1


# -- the whole path: registration over gRPC, deliveries parked -------------------------


@pytest.fixture(scope="module")
def dns():
    """The feed's webhook DNS, which tests change between registration and delivery."""
    return MapResolver({"localhost": ["127.0.0.1"]})


@pytest.fixture(scope="module")
async def egress_feed(stack, config, issuer, dns):
    cfg = copy.deepcopy(config)
    cfg.feed.webhook_ca_file = str(stack.ca.ca_file)
    cfg.feed.webhook_retry_window_h = 0.1 / 3600
    cfg.feed.webhook_first_delay_s = 0.05
    cfg.feed.webhook_timeout_s = 2.0
    cfg.feed.webhook_connect_timeout_s = 1.0
    cfg.feed.webhook_allowed_hosts = ["localhost"]
    app = FeedApp(cfg, listen="127.0.0.1:0", webhook_resolver=dns)
    await app.start()
    yield app
    await app.stop(grace=1)


@pytest.fixture(scope="module")
def admin(stack, egress_feed):
    ident = stack.ca.identity("operator:admin")
    channel = secure_channel(
        f"localhost:{egress_feed.port}",
        str(stack.ca.ca_file),
        str(ident.cert_file),
        str(ident.key_file),
    )
    return feed_pb2_grpc.EventFeedAdminStub(channel)


def _register(
    url: str, department: str = "", name: str = ""
) -> pb.RegisterWebhookRequest:
    return pb.RegisterWebhookRequest(
        name=name or f"egress-{secrets.token_hex(3)}",
        integrator=INTEGRATOR,
        url=url,
        secret=b"e" * 32,
        departments=[department] if department else [],
    )


@pytest.mark.parametrize(("address", "kind"), REFUSED_ADDRESSES)
async def test_register_webhook_refuses_each_address_class(admin, dns, address, kind):
    name = f"c{secrets.token_hex(4)}.example.org"
    dns.answers[name] = [address]
    for url in (f"https://{name}/in", _url(address)):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await admin.RegisterWebhook(_register(url))
        assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert err.value.details().startswith("url: ")
        assert f"{with_article(kind)} address" in err.value.details(), (
            err.value.details()
        )


async def test_register_webhook_refuses_bad_urls(admin):
    for url in (
        "http://hooks.example.org/in",
        "https://u:p@hooks.example.org/in",
        "https://hooks.example.org/in#x",
        "https://hooks.example.org:99999/in",
        "https://" + "a" * 3000,
    ):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await admin.RegisterWebhook(_register(url))
        assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT, url
        assert err.value.details().startswith("url: "), err.value.details()


async def _parked_reason(admin, name: str, within: float = 60.0) -> str:
    async with asyncio.timeout(within):
        while True:
            parked = (
                await admin.ListParkedDeliveries(
                    pb.ListParkedDeliveriesRequest(webhook=name)
                )
            ).parked
            if parked:
                return parked[0].reason
            await asyncio.sleep(0.1)  # the retries with backoff are running


async def test_redirects_and_rebinding_are_parked_not_followed(
    stack, admin, dns, endpoints, operator, connect
):
    """A 307 to plain HTTP on loopback, a closed port, and a name that resolved to a
    global address at registration and to loopback (where a receiver listens) at
    delivery: each event is parked with a reason that names no port's behaviour, and
    nothing reaches loopback."""
    reached: list[bytes] = []

    async def receive(request):
        reached.append(await request.read())
        return web.Response(status=204)

    listener = await endpoints(receive)
    plain = await endpoints(receive, tls=False)

    async def redirect(request):
        raise web.HTTPTemporaryRedirect(f"http://127.0.0.1:{plain}/stolen")

    redirecting = await endpoints(redirect)
    dept = await make_department(operator, connect)
    await admin.SetEntitlement(
        pb.SetEntitlementRequest(
            entitlement=pb.Entitlement(
                integrator=INTEGRATOR,
                departments=["*"],
                licence_types=["*"],
                event_types=["licence.*"],
            )
        )
    )
    rebind = f"r{secrets.token_hex(4)}.example.org"
    dns.answers[rebind] = ["93.184.216.34"]  # global at registration
    hooks = {
        "redirect": f"https://localhost:{redirecting}/in",
        "closed": f"https://localhost:{_closed_port()}/in",
        "rebind": f"https://{rebind}:{listener}/in",
    }
    names = {}
    for kind, url in hooks.items():
        names[kind] = f"{kind}-{secrets.token_hex(3)}"
        await admin.RegisterWebhook(_register(url, dept.code, names[kind]))
    dns.answers[rebind] = ["127.0.0.1"]  # loopback at delivery
    await dept.clients.issuer.IssueLicence(issue_request(dept))
    reasons = {kind: await _parked_reason(admin, name) for kind, name in names.items()}
    assert reasons == {
        "redirect": "HTTP 307",
        "closed": "delivery failed: connection error",
        "rebind": "delivery failed: address not allowed",
    }
    assert reached == []
    # replaying refuses the same way, and still reaches nothing
    replay = await admin.ReplayParkedDeliveries(
        pb.ReplayParkedDeliveriesRequest(webhook=names["rebind"])
    )
    assert (replay.delivered, replay.still_failing) == (0, 1)
    assert reached == []
    # the event itself was a real one, for the department the webhooks filter on
    parked = (
        await admin.ListParkedDeliveries(
            pb.ListParkedDeliveriesRequest(webhook=names["redirect"])
        )
    ).parked
    assert [p.type for p in parked] == ["licence.issued"]
