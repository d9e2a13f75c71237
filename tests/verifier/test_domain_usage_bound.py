"""The size arithmetic of a usage record (docs/events.md, "Usage records"): one record
per request, at most the bytes the request carried plus one envelope
(:data:`services.verifier.events.ENVELOPE_BYTES`); a use that would break the bound is
left out, never published."""

import datetime as dt

import pytest

from certseal.events import uses_of
from certseal.identifiers import LICENCE_OID_PREFIX, LicenceId
from certseal.timestamps import ts
from certseal.v1 import events_pb2, verifier_pb2
from services.verifier.events import (
    ENVELOPE_BYTES,
    bounded_usage,
    record_bytes,
    usage_bound,
    usage_record,
)

T0 = dt.datetime(2026, 11, 30, 14, 0, tzinfo=dt.UTC)
PURPOSE = "办" * 200  # the longest purpose: 600 bytes of UTF-8
CLERK = "𠀀" * 64  # the longest clerk account: 256 bytes of UTF-8
COUNTER = "operator:" + "o" * 55  # a 64-character counter identity
GROUP = "g" * 64


def use(n: int, *, presentation: bool = True, verdict: str = "NOT_YET_VALID"):
    """A use as large as one can be: 21-character type, 18-character department,
    16-character serial, the longest verdict, a nonce hash and an expiry."""
    licence = LicenceId(f"{n:021d}", f"{n:018d}", f"{n:016d}", 999)
    return events_pb2.LicenceUse(
        lineage=licence.lineage,
        identifier=str(licence),
        verdict=verdict,
        code_kind="presentation" if presentation else "licence",
        nonce_hash="f" * 64 if presentation else "",
        code_expires_at=ts(T0 + dt.timedelta(days=36500)) if presentation else None,
    )


def record(uses, **kw):
    kw = {"counter": COUNTER, "purpose": PURPOSE, "group": GROUP, "now": T0} | kw
    return usage_record(uses, clerk=CLERK, via="service:console", **kw)


def test_the_bound_is_what_the_request_carried_plus_one_envelope():
    assert ENVELOPE_BYTES == 1024
    assert usage_bound(0) == 1024
    request = verifier_pb2.VerifyCodeRequest(code="LC1:" + "A" * 300, purpose=PURPOSE)
    assert usage_bound(request.ByteSize()) == 4 + 300 + 600 + 6 + 1024


def test_record_bytes_are_key_value_and_every_header_name_and_value():
    one = record([use(1)])
    headers = sum(len(k.encode()) + len(v.encode()) for k, v in one.headers.items())
    assert record_bytes(one) == len(one.key) + len(one.value) + headers
    assert headers > 250 and len(one.key) == 72  # the colleague's 281 and 72


@pytest.mark.parametrize("count", [1, 2, 17, 500])
def test_the_envelope_covers_everything_but_the_uses_and_the_purpose(count):
    """Whatever the request-level fields hold at their longest, a record is its uses
    (each at most its serialized size and 3 bytes of framing), its purpose and less
    than one envelope."""
    uses = [use(n) for n in range(count)]
    built = record(uses)
    carried_by_uses = sum(u.ByteSize() + 3 for u in uses)
    envelope = record_bytes(built) - carried_by_uses - len(PURPOSE.encode())
    assert 0 < envelope <= ENVELOPE_BYTES
    assert envelope > ENVELOPE_BYTES // 2  # the constant is not loose by 2x either


def test_one_use_fills_the_singular_fields_and_more_fill_uses_only():
    single = events_pb2.LicenceUsedEvent.FromString(record([use(1)]).value)
    assert single.lineage == use(1).lineage and single.nonce_hash == "f" * 64
    assert single.verdict == "NOT_YET_VALID" and not single.uses
    assert uses_of(single) == [use(1)]
    batch_record = record([use(1), use(2, presentation=False)])
    batch = events_pb2.LicenceUsedEvent.FromString(batch_record.value)
    assert list(batch.uses) == [use(1), use(2, presentation=False)]
    assert (batch.lineage, batch.identifier, batch.verdict, batch.nonce_hash) == (
        "",
        "",
        "",
        "",
    )
    assert not batch.HasField("code_expires_at")
    assert batch.purpose == PURPOSE and batch.counter == COUNTER
    # key and source are the first use's
    assert batch_record.key == use(1).lineage.encode()
    assert batch_record.headers["ce_source"] == f"/departments/{1:018d}"
    assert uses_of(batch) == [use(1), use(2, presentation=False)]
    with pytest.raises(ValueError):
        record([])


def test_a_record_from_before_uses_reads_as_one_use():
    old = events_pb2.LicenceUsedEvent(
        event_id="e",
        lineage=LICENCE_OID_PREFIX + "X",
        identifier="I",
        verdict="VALID",
        code_kind="licence",
    )
    assert uses_of(old) == [
        events_pb2.LicenceUse(
            lineage=old.lineage, identifier="I", verdict="VALID", code_kind="licence"
        )
    ]
    assert uses_of(events_pb2.LicenceUsedEvent(event_id="e")) == []


def test_within_the_bound_everything_is_published():
    uses = [use(n) for n in range(500)]
    carried = sum(u.ByteSize() + 3 for u in uses) + len(PURPOSE.encode())
    built, left_out = bounded_usage(
        uses,
        limit=usage_bound(carried),
        counter=COUNTER,
        clerk=CLERK,
        via="service:console",
        purpose=PURPOSE,
        group=GROUP,
        now=T0,
    )
    assert left_out == 0 and built is not None
    assert len(events_pb2.LicenceUsedEvent.FromString(built.value).uses) == 500
    assert record_bytes(built) <= usage_bound(carried)


@pytest.mark.parametrize("short_by", [1, 300, 10_000, 10**6])
def test_a_record_over_its_bound_leaves_uses_out_and_stays_within_it(short_by):
    uses = [use(n) for n in range(40)]
    needed = record_bytes(record(uses)) - ENVELOPE_BYTES
    carried = needed - short_by
    built, left_out = bounded_usage(
        uses,
        limit=usage_bound(carried),
        counter=COUNTER,
        clerk=CLERK,
        via="service:console",
        purpose=PURPOSE,
        group=GROUP,
        now=T0,
    )
    assert left_out >= 1
    if built is None:
        assert left_out == 40
        # not even one use fits
        assert record_bytes(record(uses[:1])) > usage_bound(carried)
    else:
        kept = uses_of(events_pb2.LicenceUsedEvent.FromString(built.value))
        assert kept == uses[: 40 - left_out]  # from the end
        assert record_bytes(built) <= usage_bound(carried)
        # and as many as fit: one more would not
        more = record(uses[: len(kept) + 1])
        assert record_bytes(more) > usage_bound(carried)
