"""What the usage record's consumer makes of each record, and the entry of an
authorisation event (no broker: the mapping from events to entries,
services/issuer/usage_consumer.py and services/issuer/events.py)."""

from __future__ import annotations

import datetime as dt

import pytest
from google.protobuf.message import DecodeError

from certseal.events import LICENCE_EVENTS, LICENCE_USAGE, SEAL_EVENTS
from certseal.timestamps import ts, utcnow
from certseal.v1 import events_pb2
from services.issuer.events import AUTHORISATION_CE_TYPES as EVENT_CE_TYPES
from services.issuer.events import authorisation_usage_entries
from services.issuer.storage.usage import AUTHORISATION_CE_TYPES
from services.issuer.usage import UsageKind
from services.issuer.usage_consumer import entries_of


def used(**kw) -> bytes:
    return events_pb2.LicenceUsedEvent(
        event_id="ev",
        type="licence.used",
        counter="dept:11440300MA5F00000X",
        purpose="办事",
        verifier_group="g",
        occurred_at=ts(utcnow()),
        **kw,
    ).SerializeToString()


def test_a_one_use_record_is_one_entry():
    (entry,) = entries_of(LICENCE_USAGE, used(lineage="L", identifier="I"))
    assert (entry.entry_id, entry.lineage, entry.kind) == (
        "ev/1",
        "L",
        UsageKind.VERIFIED,
    )
    assert entry.department_code == "11440300MA5F00000X"


def test_a_batch_is_an_entry_per_use_in_order():
    uses = [events_pb2.LicenceUse(lineage=x, identifier=x + ".1") for x in "ABC"]
    entries = entries_of(LICENCE_USAGE, used(uses=uses))
    assert [(e.lineage, e.entry_id) for e in entries] == [
        ("A", "ev/1"),
        ("B", "ev/2"),
        ("C", "ev/3"),
    ]


def test_records_without_an_id_a_time_or_a_lineage_give_nothing():
    assert entries_of(LICENCE_USAGE, used()) == []
    no_time = events_pb2.LicenceUsedEvent(event_id="e", lineage="L")
    assert entries_of(LICENCE_USAGE, no_time.SerializeToString()) == []


def test_records_of_other_topics_are_not_uses_and_not_decoded():
    assert entries_of(LICENCE_EVENTS, b"\xff not protobuf") == []
    assert entries_of(SEAL_EVENTS, b"anything") == []


def test_an_authorisation_event_is_one_entry_with_its_event_id():
    event = events_pb2.LicenceEvent(
        event_id="e1",
        type="licence.authorised",
        lineage="L",
        identifier="L.1",
        actor_department="app:11440300MA5F00000X",
        occurred_at=ts(utcnow()),
        authorisation=events_pb2.AuthorisationChange(
            authorisation_id="au-1", department_code="D", counter="c", purpose="p"
        ),
    )
    (entry,) = authorisation_usage_entries(event.SerializeToString())
    assert (entry.entry_id, entry.kind, entry.department_code, entry.reference) == (
        "e1",
        UsageKind.AUTHORISED,
        "D",
        "au-1",
    )
    assert (entry.counter, entry.purpose, entry.actor) == (
        "c",
        "p",
        "app:11440300MA5F00000X",
    )


def test_other_licence_events_and_ones_without_a_time_give_no_entry():
    issued = events_pb2.LicenceEvent(
        event_id="e", type="licence.issued", lineage="L", occurred_at=ts(utcnow())
    )
    assert authorisation_usage_entries(issued.SerializeToString()) == []
    untimed = events_pb2.LicenceEvent(
        event_id="e", type="licence.authorised", lineage="L"
    )
    assert authorisation_usage_entries(untimed.SerializeToString()) == []
    with pytest.raises(DecodeError):
        authorisation_usage_entries(b"\xff\xff\xff")


def test_the_storage_reads_the_outbox_rows_of_the_authorisation_types():
    """The outbox look-up's literal ``ce_type`` list (matched by migration 0009's
    partial index) is the events' own."""
    assert AUTHORISATION_CE_TYPES == EVENT_CE_TYPES


def test_an_undecodable_usage_record_raises_decode_error():
    with pytest.raises(DecodeError):
        entries_of(LICENCE_USAGE, b"\xff\xff\xff")


def test_a_gathered_use_of_a_later_request_is_stored_at_its_own_time():
    """services/verifier/gathering.py: a record of several requests' uses, each later
    request's with its own occurred_at; the others at the record's."""
    first, later = utcnow(), utcnow() + dt.timedelta(milliseconds=150)
    uses = [
        events_pb2.LicenceUse(lineage="A", identifier="A.1"),
        events_pb2.LicenceUse(lineage="B", identifier="B.1", occurred_at=ts(later)),
    ]
    value = events_pb2.LicenceUsedEvent(
        event_id="ev", type="licence.used", occurred_at=ts(first), uses=uses
    ).SerializeToString()
    assert [e.occurred_at for e in entries_of(LICENCE_USAGE, value)] == [first, later]
