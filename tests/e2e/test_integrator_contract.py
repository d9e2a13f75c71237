"""The integrator's contract, read as an integrator reads it: every record on every
topic an integrator can read, every webhook POST and every gRPC feed event is parsed by
the official CloudEvents Python SDK, 1.x and 2.x (each from PyPI, in a throwaway venv
of its own), and decoded by classes a fresh ``protoc`` made from ``protos/`` alone
(``tests/e2e/integrator/read_events.py`` imports nothing of certseal)."""

import asyncio
import base64
import json
import secrets
import ssl
import subprocess
import sys
import venv
from pathlib import Path

import pytest
from aiohttp import web

from certseal.events import LICENCE_EVENTS, LICENCE_USAGE, SEAL_EVENTS, TRUST_EVENTS
from certseal.rpc import secure_channel
from certseal.v1 import feed_pb2, feed_pb2_grpc, seal_pb2
from certseal.v1 import issuer_pb2 as ipb
from services.feed.app import FeedApp
from tests.conftest import (
    EventWatcher,
    issue_request,
    running,
    seal_owner,
    verdict_everywhere,
    verifier_process,
)

ROOT = Path(__file__).resolve().parents[2]
READER = Path(__file__).parent / "integrator" / "read_events.py"
SDKS = {"1": "cloudevents>=1.11,<2", "2": "cloudevents>=2,<3"}
VALID = 1  # verifier_pb2 verdict VALID


# Built SDK venvs are kept under .venv (ignored by git, rebuilt with it), one directory
# per content address: the requirement, this Python's version and the pip used. A venv
# is built into a temporary sibling and renamed into place only once complete, so a
# killed run never leaves a half-built venv behind.
SDK_CACHE = ROOT / ".venv" / "test-cache"


def _venv(requirement: str) -> Path:
    import hashlib
    import os
    import shutil
    import tempfile

    from pip import __version__ as pip_version

    address = hashlib.sha256(
        "\0".join((requirement, "protobuf", sys.version, pip_version)).encode()
    ).hexdigest()[:16]
    folder = SDK_CACHE / f"sdk-{address}"
    python = folder / "bin" / "python"
    if python.exists():
        return python
    SDK_CACHE.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix=f"sdk-{address}-", dir=SDK_CACHE))
    # No ensurepip in the venv: this Python's pip installs into it (--python), which
    # saves building a pip per venv; the venv still holds nothing of certseal.
    venv.create(building, with_pip=False)
    subprocess.run(
        [
            sys.executable,
            *("-m", "pip", "--python", str(building / "bin" / "python")),
            *("install", "--quiet", "--disable-pip-version-check"),
            requirement,
            "protobuf",
        ],
        check=True,
        capture_output=True,
    )
    try:
        os.rename(building, folder)
    except OSError:  # another run finished the same address first
        shutil.rmtree(building, ignore_errors=True)
    return python


@pytest.fixture(scope="module")
def sdk_pythons() -> dict[str, Path]:
    """A Python with the CloudEvents SDK 1.x, and one with 2.x; nothing of certseal."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(len(SDKS)) as pool:
        built = {major: pool.submit(_venv, req) for major, req in SDKS.items()}
        return {major: future.result() for major, future in built.items()}


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    """The protobuf classes of a fresh protoc run on ``protos/`` into a temp dir."""
    out = tmp_path_factory.mktemp("generated")
    protos = sorted(str(p) for p in (ROOT / "protos").rglob("*.proto"))
    subprocess.run(
        [
            sys.executable,
            *("-m", "grpc_tools.protoc", f"-I{ROOT / 'protos'}", f"--python_out={out}"),
            *protos,
        ],
        check=True,
    )
    return out


class Capture:
    """A webhook receiver that keeps every POST's headers and body."""

    def __init__(self) -> None:
        self.posts: list[tuple[dict[str, str], bytes]] = []
        self.arrived = asyncio.Event()

    async def wait_for(self, count: int) -> None:
        async with asyncio.timeout(60):
            while len(self.posts) < count:
                self.arrived.clear()
                await self.arrived.wait()

    async def handle(self, request: web.Request) -> web.Response:
        self.posts.append((dict(request.headers), await request.read()))
        self.arrived.set()
        return web.Response(status=204)


@pytest.fixture
async def capture(stack):
    server = stack.ca.identity("service:webhook-receiver", server=True)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(server.cert_file, server.key_file)
    receiver = Capture()
    app = web.Application()
    app.router.add_post("/hook", receiver.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    yield receiver, f"https://localhost:{port}/hook"
    await runner.cleanup()


@pytest.fixture(scope="module")
async def feed(stack, config, issuer):
    import copy

    cfg = copy.deepcopy(config)
    cfg.feed.webhook_ca_file = str(stack.ca.ca_file)
    cfg.feed.webhook_allowed_hosts = ["localhost"]
    app = FeedApp(cfg, listen="127.0.0.1:0")
    await app.start()
    yield app
    await app.stop(grace=1)


@pytest.fixture(scope="module")
async def verifier(stack, config, issuer, tmp_path_factory):
    home = tmp_path_factory.mktemp("contract-verifier")
    process = verifier_process(stack, config, home, "c")
    async with running(process):
        yield process


def channel_as(stack, port: int, identity: str):
    ident = stack.ca.identity(identity)
    return secure_channel(
        f"localhost:{port}",
        str(stack.ca.ca_file),
        str(ident.cert_file),
        str(ident.key_file),
    )


async def test_every_topic_webhook_and_feed_event_reads_with_both_sdks(
    stack, dept, operator, seal_stub, feed, verifier, capture, sdk_pythons, generated
):
    receiver, url = capture
    owner = await seal_owner(operator)
    async with channel_as(stack, feed.port, "operator:admin") as channel:
        admin = feed_pb2_grpc.EventFeedAdminStub(channel)
        await admin.SetEntitlement(
            feed_pb2.SetEntitlementRequest(
                entitlement=feed_pb2.Entitlement(
                    integrator="integrator:contract",
                    departments=["*"],
                    licence_types=["*"],
                    event_types=["*"],
                )
            )
        )
        await admin.RegisterWebhook(
            feed_pb2.RegisterWebhookRequest(
                name=f"contract-{secrets.token_hex(3)}",
                integrator="integrator:contract",
                url=url,
                secret=b"s" * 32,
                departments=[dept.code, owner],
            )
        )
    # one event of each kind: a key (trust), a licence, its use at a counter, a seal
    licence = (await dept.clients.issuer.IssueLicence(issue_request(dept))).licence
    code = (
        await dept.clients.issuer.GetLicenceCode(
            ipb.GetLicenceCodeRequest(identifier=licence.identifier)
        )
    ).text
    await verdict_everywhere({"c": verifier.stub}, code, VALID, within=60)
    seal = (
        await seal_stub(f"dept:{owner}").RegisterSeal(
            seal_pb2.RegisterSealRequest(
                seal_type="official", name="合同专用章", suite="sm2"
            )
        )
    ).seal
    wanted = {
        TRUST_EVENTS: dept.kid,
        LICENCE_EVENTS: licence.lineage,
        LICENCE_USAGE: licence.lineage,
        SEAL_EVENTS: seal.seal_id,
    }
    kafka = []
    for topic, key in wanted.items():
        async with EventWatcher(stack, topic) as watcher:
            records = await watcher.wait_for(
                lambda rs, key=key: any(r.key == key.encode() for r in rs), within=60
            )
        kafka += [
            {
                "topic": topic,
                "key": r.key.decode(),
                "headers": {k: base64.b64encode(v).decode() for k, v in r.headers},
                "value": base64.b64encode(r.value).decode(),
            }
            for r in records
            if r.key == key.encode()
        ]
    # the webhook: the key, the licence, its use and the seal
    await receiver.wait_for(4)
    # the gRPC feed, as an integrator
    feed_events = []
    async with channel_as(stack, feed.port, "integrator:contract") as channel:
        stream = feed_pb2_grpc.EventFeedStub(channel).Subscribe(
            feed_pb2.SubscribeRequest(earliest=True, departments=[dept.code, owner])
        )
        async with asyncio.timeout(60):
            async for event in stream:
                feed_events.append(event)
                if len(feed_events) == 4:
                    break
        stream.cancel()
    dump = {
        "kafka": kafka,
        "http": [
            {"headers": h, "body": base64.b64encode(b).decode()}
            for h, b in receiver.posts
        ],
        "feed": [
            {
                "id": e.id,
                "type": e.type,
                "source": e.source,
                "subject": e.subject,
                "topic": e.topic,
                "content_type": e.content_type,
                "data": base64.b64encode(e.data).decode(),
            }
            for e in feed_events
        ],
    }
    dump_file = generated.parent / f"dump-{secrets.token_hex(3)}.json"
    dump_file.write_text(json.dumps(dump))
    # structured mode, cleanly: no ce- header on a POST (SDK 2.x would read binary)
    assert all(
        not name.lower().startswith("ce-") for h, _ in receiver.posts for name in h
    )
    for major, python in sdk_pythons.items():
        process = await asyncio.create_subprocess_exec(
            *(str(python), "-I", str(READER), str(generated), str(dump_file)),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        stdout, stderr = await process.communicate()
        assert process.returncode == 0, (major, stderr.decode())
        read = json.loads(stdout)
        assert read["sdk"].startswith(f"{major}.")
        # every Kafka record, of all four topics, is a valid CloudEvent
        assert len(read["kafka"]) == len(kafka) >= 4
        by_type: dict[str, dict] = {}
        for record, event in zip(kafka, read["kafka"], strict=True):
            attrs = event["attributes"]
            assert attrs["specversion"] == "1.0"
            assert attrs["id"] == event["data"]["eventId"]
            assert attrs["type"].startswith("cn.gov.certseal.")
            assert attrs["source"].startswith("/departments/")
            assert attrs["subject"] == record["key"]
            assert attrs["datacontenttype"] == "application/protobuf"
            by_type[attrs["type"]] = event
        assert {
            "cn.gov.certseal.key.activated",
            "cn.gov.certseal.licence.issued",
            "cn.gov.certseal.licence.used",
            "cn.gov.certseal.seal.registered",
        } <= set(by_type)
        used = by_type["cn.gov.certseal.licence.used"]
        assert used["attributes"]["source"] == f"/departments/{dept.code}"
        # the reading rule (docs/events.md): its uses, else the singular fields as one
        # use (the polls above of one purpose may be gathered into one record)
        data = used["data"]
        lineages = [u["lineage"] for u in data.get("uses", [])] or [data["lineage"]]
        assert set(lineages) == {licence.lineage}
        assert [u["lineage"] for u in used["uses"]] == lineages
        # webhooks: structured JSON, data in proto3 JSON that the classes parse
        kafka_ids = {e["attributes"]["id"]: e for e in read["kafka"]}
        assert len(read["http"]) >= 4
        for post in read["http"]:
            attrs = post["attributes"]
            same = kafka_ids[attrs["id"]]
            assert attrs["type"] == same["attributes"]["type"]
            assert attrs["source"] == same["attributes"]["source"]
            assert post["data"] == same["data"]  # the same message, through JSON
        # the gRPC feed: the same attributes, the type with its prefix as on Kafka
        assert len(read["feed"]) == 4
        for item in read["feed"]:
            attrs = item["attributes"]
            same = kafka_ids[attrs["id"]]
            assert attrs["type"] == same["attributes"]["type"]
            assert item["data"] == same["data"]
