"""The webhook signature recipe of docs/events.md ("Verifying a delivery"), run as
written (it imports nothing of certseal) against POSTs the feed's own delivery code
sends to a real HTTPS receiver: it accepts them, dedupes on the signed body's ``id``,
and refuses a changed body, another secret and a capture replayed past the tolerance.
The feed's helper enforces the same tolerance, and the CLI's secret is the file's bytes."""

import datetime as dt
import re
import ssl
import time
from pathlib import Path

import pytest
from aiohttp import web

from certseal.errors import CertsealError, ErrorKind
from certseal.events import LICENCE_EVENTS, cloudevent, new_event_id
from certseal.v1 import events_pb2
from services.feed.cli import webhook_secret
from services.feed.domain import Filter, Webhook
from services.feed.egress import EgressPolicy
from services.feed.events import cloudevent_json
from services.feed.signing import SIGNATURE_TOLERANCE_S, verify_signature
from services.feed.webhooks import RequestTimeouts, client_session, post

DOCS = Path(__file__).resolve().parents[2] / "docs" / "events.md"
SECRET = b"0123456789abcdef0123456789abcdef"


def recipe():
    """The docs' Python block after ``<!-- recipe: verify-delivery -->``, executed."""
    text = DOCS.read_text()
    block = re.search(
        r"<!-- recipe: verify-delivery -->\s*```python\n(.*?)```", text, re.S
    )
    assert block, "docs/events.md lost its recipe"
    source = block.group(1)
    assert "certseal" not in source and len(source.splitlines()) <= 20
    namespace: dict = {}
    exec(compile(source, str(DOCS), "exec"), namespace)
    return namespace["verify_delivery"], namespace["TOLERANCE_S"]


@pytest.fixture
async def delivered(stack):
    """Two real deliveries: (headers, body) as the receiver got them."""
    received: list[tuple[dict[str, str], bytes]] = []

    async def handle(request: web.Request) -> web.Response:
        received.append((dict(request.headers), await request.read()))
        return web.Response(status=204)

    server = stack.ca.identity("service:webhook-receiver", server=True)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(server.cert_file, server.key_file)
    app = web.Application()
    app.router.add_post("/hook", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    webhook = Webhook(
        "recipe", "integrator:x", f"https://localhost:{port}/hook", Filter(), SECRET
    )
    egress = EgressPolicy(allowed_hosts=["localhost"])
    client = ssl.create_default_context(cafile=str(stack.ca.ca_file))
    try:
        async with client_session(client, egress, RequestTimeouts()) as session:
            for _ in range(2):
                event_id = new_event_id()
                record = cloudevent(
                    topic=LICENCE_EVENTS,
                    key="1.2.156.3.2.1.T001.91350100M000100Y43.000001",
                    message=events_pb2.LicenceEvent(
                        event_id=event_id, type="licence.issued", lineage_version=7
                    ),
                    event_id=event_id,
                    event_type="licence.issued",
                    source="91350100M000100Y43",
                    time=dt.datetime.now(dt.UTC),
                )
                body = cloudevent_json(record.topic, record.value, record.headers)
                assert await post(session, webhook, body, time.time(), egress) == ""
    finally:
        await runner.cleanup()
    return received


async def test_the_docs_recipe_verifies_real_deliveries(delivered):
    verify_delivery, tolerance = recipe()
    assert tolerance == SIGNATURE_TOLERANCE_S == 300
    seen: set = set()
    for headers, body in delivered:
        assert not [h for h in headers if h.lower().startswith("ce-")]
        signature = headers["X-Certseal-Signature"]
        event = verify_delivery(SECRET, body, signature, seen)
        assert event["type"] == "cn.gov.certseal.licence.issued"
        assert event["data"]["lineageVersion"] == "7"  # proto3 JSON: int64 as string
        # at-least-once: the same delivery again is a duplicate, by the signed id
        assert verify_delivery(SECRET, body, signature, seen) is None
    assert len(seen) == 2

    headers, body = delivered[0]
    signature = headers["X-Certseal-Signature"]
    stamp = int(signature.split(",")[0].removeprefix("t="))
    with pytest.raises(ValueError, match="bad signature"):
        verify_delivery(
            SECRET,
            body.replace(b"licence.issued", b"licence.revoked"),
            signature,
            set(),
        )
    with pytest.raises(ValueError, match="bad signature"):
        verify_delivery(SECRET + b"\n", body, signature, set())
    # the tolerance, at and just past its edge, either way
    assert verify_delivery(SECRET, body, signature, set(), now=stamp + 300)
    assert verify_delivery(SECRET, body, signature, set(), now=stamp - 300)
    for now in (stamp + 301, stamp - 301, stamp + 600):
        with pytest.raises(ValueError, match="tolerance"):
            verify_delivery(SECRET, body, signature, set(), now=now)

    # the platform's own helper enforces the same tolerance
    assert verify_signature(SECRET, body, signature, now=stamp + 300)
    assert not verify_signature(SECRET, body, signature, now=stamp + 301)
    assert not verify_signature(SECRET, body, signature, now=stamp - 301)
    assert not verify_signature(SECRET, body + b" ", signature, now=stamp)
    assert not verify_signature(SECRET, body, signature + "0", now=stamp)


def test_the_secret_is_the_files_exact_bytes(tmp_path):
    exact = tmp_path / "exact"
    exact.write_bytes(SECRET)
    assert webhook_secret(exact) == SECRET
    for name, content in (
        ("echoed", SECRET + b"\n"),
        ("crlf", SECRET + b"\r\n"),
        ("padded", b" " + SECRET),
    ):
        path = tmp_path / name
        path.write_bytes(content)
        with pytest.raises(CertsealError) as err:
            webhook_secret(path)
        assert (err.value.kind, err.value.field) == (
            ErrorKind.INVALID_ARGUMENT,
            "secret-file",
        )
        assert "printf" in err.value.message
