"""The feed splits a usage record per issuing department and licence type, so an
integrator entitled to some departments sees only their uses (docs/events.md, "Usage
records")."""

import datetime as dt

from certseal.events import LICENCE_EVENTS, LICENCE_USAGE, uses_of
from certseal.identifiers import LicenceId
from certseal.timestamps import ts
from certseal.v1 import events_pb2
from services.feed.domain import Entitlement
from services.feed.events import cloudevent_json, event_meta, views
from services.verifier.events import usage_record

T0 = dt.datetime(2026, 11, 30, 14, 0, tzinfo=dt.UTC)
DEPT_A, DEPT_B = "11440300AAAAAAAAA1", "11440300BBBBBBBBB2"
TYPE_1, TYPE_2 = "1" * 21, "2" * 21


def use(dept: str, type_code: str, serial: int, nonce: bool = False):
    licence = LicenceId(type_code, dept, f"{serial:016d}", 1)
    return events_pb2.LicenceUse(
        lineage=licence.lineage,
        identifier=str(licence),
        verdict="VALID",
        code_kind="presentation" if nonce else "licence",
        nonce_hash="ab" * 32 if nonce else "",
        code_expires_at=ts(T0) if nonce else None,
    )


def split(uses):
    record = usage_record(
        uses, counter="dept:x", purpose="办事", group="g", now=T0, event_id="E"
    )
    return record, views(LICENCE_USAGE, record.key, dict(record.headers), record.value)


def test_a_request_of_several_departments_and_types_is_one_view_per_each():
    a1, b1, a1b, a2 = (
        use(DEPT_A, TYPE_1, 1),
        use(DEPT_B, TYPE_1, 2, nonce=True),
        use(DEPT_A, TYPE_1, 3),
        use(DEPT_A, TYPE_2, 4),
    )
    _record, parts = split([a1, b1, a1b, a2])
    assert len(parts) == 3
    events = [events_pb2.LicenceUsedEvent.FromString(p.value) for p in parts]
    # in the order of first use; each holds only its own uses
    assert [uses_of(e) for e in events] == [[a1, a1b], [b1], [a2]]
    assert [p.headers["ce_source"] for p in parts] == [
        f"/departments/{DEPT_A}",
        f"/departments/{DEPT_B}",
        f"/departments/{DEPT_A}",
    ]
    assert [p.headers["ce_id"] for p in parts] == ["E.1", "E.2", "E.3"]
    assert [e.event_id for e in events] == ["E.1", "E.2", "E.3"]
    assert [p.key for p in parts] == [
        a1.lineage.encode(),
        b1.lineage.encode(),
        a2.lineage.encode(),
    ]
    assert [p.headers["ce_subject"] for p in parts] == [
        a1.lineage,
        b1.lineage,
        a2.lineage,
    ]
    # a view of one use reads like a one-code record: singular fields, no uses
    assert events[1].lineage == b1.lineage and events[1].nonce_hash == "ab" * 32
    assert not events[1].uses and events[1].HasField("code_expires_at")
    # several uses: only in uses
    assert events[0].lineage == "" and len(events[0].uses) == 2
    # the request-level fields are in every view
    assert {(e.purpose, e.counter, e.verifier_group) for e in events} == {
        ("办事", "dept:x", "g")
    }
    assert len({p.headers["ce_time"] for p in parts}) == 1


def test_each_integrator_gets_only_its_departments_and_types():
    _record, parts = split(
        [use(DEPT_A, TYPE_1, 1), use(DEPT_B, TYPE_1, 2), use(DEPT_A, TYPE_2, 3)]
    )
    metas = [event_meta(LICENCE_USAGE, p.headers, p.value) for p in parts]
    assert [(m.department, m.licence_type) for m in metas] == [
        (DEPT_A, TYPE_1),
        (DEPT_B, TYPE_1),
        (DEPT_A, TYPE_2),
    ]

    def given(entitlement):
        return [
            u.identifier
            for p, m in zip(parts, metas, strict=True)
            if entitlement.allows(m)
            for u in uses_of(events_pb2.LicenceUsedEvent.FromString(p.value))
        ]

    used = frozenset({"licence.used"})
    only_a = Entitlement("integrator:a", frozenset({DEPT_A}), frozenset({"*"}), used)
    only_b = Entitlement("integrator:b", frozenset({DEPT_B}), frozenset({"*"}), used)
    a_type_1 = Entitlement(
        "integrator:a1", frozenset({DEPT_A}), frozenset({TYPE_1}), used
    )
    assert all(DEPT_A in i for i in given(only_a)) and len(given(only_a)) == 2
    assert len(given(only_b)) == 1 and DEPT_B in given(only_b)[0]
    assert len(given(a_type_1)) == 1 and TYPE_1 in given(a_type_1)[0]
    # the webhook body of a view is that view
    body = cloudevent_json(LICENCE_USAGE, parts[1].value, parts[1].headers)
    assert DEPT_A.encode() not in body and DEPT_B.encode() in body


def test_a_record_of_one_department_and_type_is_delivered_unchanged():
    for uses in (
        [use(DEPT_A, TYPE_1, 1)],
        [use(DEPT_A, TYPE_1, 1), use(DEPT_A, TYPE_1, 2)],
    ):
        record, parts = split(uses)
        assert len(parts) == 1
        assert parts[0].value == record.value and parts[0].key == record.key
        assert parts[0].headers == record.headers
    # other topics and values that do not parse: unchanged
    assert views(LICENCE_EVENTS, b"k", {"a": "b"}, b"v")[0].value == b"v"
    assert views(LICENCE_USAGE, b"k", {}, b"\xff\xff")[0].value == b"\xff\xff"


def test_an_unsplit_batch_of_several_types_needs_every_type():
    record = usage_record(
        [use(DEPT_A, TYPE_1, 1), use(DEPT_A, TYPE_2, 2)],
        counter="dept:x",
        purpose="办事",
        group="g",
        now=T0,
    )
    meta = event_meta(LICENCE_USAGE, dict(record.headers), record.value)
    used = frozenset({"licence.used"})
    one_type = Entitlement(
        "integrator:a1", frozenset({DEPT_A}), frozenset({TYPE_1}), used
    )
    every = Entitlement("integrator:a", frozenset({DEPT_A}), frozenset({"*"}), used)
    assert not one_type.allows(meta) and every.allows(meta)


def test_a_view_of_a_later_requests_uses_carries_their_time():
    """A record gathering several requests of one counter and purpose
    (services/verifier/gathering.py): a view whose first use came from a later request
    has that use's time, in ``occurred_at`` and ``ce_time``; the first request's view
    keeps the record's."""
    later = T0 + dt.timedelta(milliseconds=120)
    a1, b1 = use(DEPT_A, TYPE_1, 1), use(DEPT_B, TYPE_1, 2)
    b1.occurred_at.CopyFrom(ts(later))
    record, parts = split([a1, b1])
    events = [events_pb2.LicenceUsedEvent.FromString(p.value) for p in parts]
    assert [e.occurred_at for e in events] == [ts(T0), ts(later)]
    assert [p.headers["ce_time"] for p in parts] == [
        record.headers["ce_time"],
        "2026-11-30T14:00:00.120000Z",
    ]
