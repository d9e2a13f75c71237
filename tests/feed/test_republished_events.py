"""A republished event keeps its mark on every path out of the feed: the webhook JSON
carries the CloudEvents extension ``republished`` (docs/events.md, rule 5)."""

import datetime as dt
import json

from services.feed.events import cloudevent_json
from services.issuer.domain import Operation, Status
from services.issuer.service.republish import key_event_type, licence_event_type
from services.issuer.storage.rows import utc


def test_the_republished_mark_reaches_the_webhook_json():
    from certseal.events import LICENCE_EVENTS, cloudevent
    from certseal.v1 import events_pb2

    message = events_pb2.LicenceEvent(
        event_id="e1", lineage="L", identifier="I", lineage_version=3
    )
    record = cloudevent(
        topic=LICENCE_EVENTS,
        key="L",
        message=message,
        event_id="e1",
        event_type="licence.revoked",
        source="11440300MB2C93173U",
        time=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    )
    headers = {**record.headers, "ce_republished": "true"}
    body = json.loads(cloudevent_json(LICENCE_EVENTS, record.value, headers))
    assert body["republished"] == "true"
    assert body["type"] == "cn.gov.certseal.licence.revoked"
    assert body["specversion"] == "1.0" and "content-type" not in body
    plain = json.loads(cloudevent_json(LICENCE_EVENTS, record.value, record.headers))
    assert "republished" not in plain


def test_a_republished_licence_keeps_its_version_and_last_change():
    assert licence_event_type(Status.REVOKED_AS_SANCTION, Operation.CANCEL_REVOKE) == (
        "licence.revoked"
    )
    assert licence_event_type(Status.VALID, Operation.RENEW) == "licence.renewed"
    assert licence_event_type(Status.VALID, Operation.ISSUE) == "licence.issued"
    assert licence_event_type(Status.TRANSFERRED_OUT, Operation.TRANSFER_IN) == (
        "licence.transferred"
    )
    assert key_event_type("retired") == "key.retired"
    # PostgreSQL's infinity, as asyncpg reads it, is the aware instant written
    assert utc(dt.datetime.max) == dt.datetime.max.replace(tzinfo=dt.UTC)
