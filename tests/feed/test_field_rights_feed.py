"""Restricted field values travel on the licence topic to the verifiers' index, sealed
with the index key the feed does not hold; the event feed removes the sealed blob (and
clear values of events written before sealing) before an integrator receives the
event, by subscription or by webhook (issue 13: a field a counter has no right to is
obtainable through no path)."""

from __future__ import annotations

import json
import secrets

from certseal.events import LICENCE_EVENTS
from certseal.v1 import events_pb2, licence_pb2
from services.feed.events import cloudevent_json, integrator_view
from tests.conftest import EventWatcher, issue_request, make_department
from tests.feed import test_service as feed

# the feed's fixtures (a FeedApp for this module, channels, a webhook receiver)
feed_app, channel_as, receiver = feed.feed_app, feed.channel_as, feed.receiver


def test_integrator_view_drops_restricted_values_only():
    event = events_pb2.LicenceEvent(
        lineage="L",
        identifier="L.001.X",
        lineage_version=1,
        type_code="T",
        restricted_fields={"grade": licence_pb2.FieldValue(string_value="等级G7")},
    )
    view = events_pb2.LicenceEvent.FromString(
        integrator_view(LICENCE_EVENTS, event.SerializeToString())
    )
    assert not view.restricted_fields
    event.ClearField("restricted_fields")
    assert view == event
    sealed = events_pb2.LicenceEvent(
        lineage="L",
        lineage_version=1,
        restricted_sealed=events_pb2.SealedFields(
            kid="ik-0011223344556677", nonce=bytes(12), ciphertext=b"\x99" * 20
        ),
    )
    view = events_pb2.LicenceEvent.FromString(
        integrator_view(LICENCE_EVENTS, sealed.SerializeToString())
    )
    assert not view.HasField("restricted_sealed")
    assert view == events_pb2.LicenceEvent(lineage="L", lineage_version=1)
    body = json.loads(cloudevent_json(LICENCE_EVENTS, sealed.SerializeToString(), {}))
    assert body["data"] == {"lineage": "L", "lineageVersion": "1"}
    other = b"\x0a\x01x"  # another topic's value is delivered as it is
    assert integrator_view("certseal.trust-events.v1", other) == other
    body = json.loads(
        cloudevent_json(
            LICENCE_EVENTS,
            events_pb2.LicenceEvent(
                lineage="L",
                restricted_fields={
                    "grade": licence_pb2.FieldValue(string_value="等级G7")
                },
            ).SerializeToString(),
            {},
        )
    )
    assert body["data"] == {"lineage": "L"}


async def test_integrators_never_receive_restricted_values(
    stack, operator, connect, channel_as, receiver
):
    dept = await make_department(operator, connect, restricted=True)
    integrator = f"integrator:fr-{secrets.token_hex(3)}"
    await feed.entitle(channel_as, integrator, [dept.code], ["licence.*"])
    await feed.entitle(channel_as, "integrator:hooks", ["*"], ["licence.*"])
    endpoint, url = await receiver(failures=0)
    await feed.register_webhook(
        channel_as, f"fr-{secrets.token_hex(3)}", url, dept.code
    )
    async with EventWatcher(stack, LICENCE_EVENTS) as watcher:
        licence = (await dept.clients.issuer.IssueLicence(issue_request(dept))).licence
        records = await watcher.wait_for(
            lambda rs: any(r.key == licence.lineage.encode() for r in rs)
        )
    # the topic carries the value sealed, for the verifiers' index ...
    published = next(r for r in records if r.key == licence.lineage.encode())
    assert "等级G7".encode() not in published.value
    assert events_pb2.LicenceEvent.FromString(published.value).HasField(
        "restricted_sealed"
    )
    # ... the subscription and the webhook not even sealed
    delivered = (await feed.collect(channel_as, integrator, 1))[0]
    event = events_pb2.LicenceEvent.FromString(delivered.data)
    assert event.identifier == licence.identifier and not event.restricted_fields
    assert not event.HasField("restricted_sealed")
    assert "等级G7".encode() not in delivered.data
    await endpoint.wait_for(1)
    body, _signature = endpoint.received[0]
    assert json.loads(body)["data"]["identifier"] == licence.identifier
    assert "等级G7".encode() not in body and b"restricted" not in body
    assert b"ciphertext" not in body
