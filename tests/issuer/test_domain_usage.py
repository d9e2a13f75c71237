"""The usage record's pure rules (services/issuer/usage.py): page keys, the retention
boundary, department of a counter, clipping. No I/O."""

from __future__ import annotations

import datetime as dt

import pytest

from services.issuer.usage import (
    MAX_TEXT,
    UsageEntry,
    UsageKind,
    after_key,
    department_of,
    micros,
    retention_cutoff,
    use_entry_id,
)

T0 = dt.datetime(2026, 11, 30, 8, 0, 0, 123456, tzinfo=dt.UTC)


def entry(**kw) -> UsageEntry:
    base = {
        "entry_id": "e/1",
        "lineage": "L",
        "identifier": "I",
        "kind": UsageKind.VERIFIED,
        "occurred_at": T0,
    }
    return UsageEntry(**{**base, **kw})


def test_a_page_key_reads_back_to_its_time_and_id():
    key = entry(entry_id="abc|def/2").page_key
    assert after_key(key) == (T0, "abc|def/2")
    assert after_key("") is None


def test_page_keys_sort_as_their_entries():
    earlier = entry(occurred_at=T0 - dt.timedelta(microseconds=1), entry_id="z")
    later = entry(occurred_at=T0, entry_id="a")
    same_time = entry(occurred_at=T0, entry_id="b")
    keys = [e.page_key for e in (same_time, later, earlier)]
    assert sorted(keys) == [earlier.page_key, later.page_key, same_time.page_key]


@pytest.mark.parametrize(
    "bad", ["x", "123|a", "0000000000000000000a|id", "00000000000000000001|", "|x"]
)
def test_a_forged_page_key_is_refused(bad):
    with pytest.raises(ValueError):
        after_key(bad)


def test_micros_counts_from_the_epoch():
    assert micros(dt.datetime(1970, 1, 1, tzinfo=dt.UTC)) == 0
    assert micros(dt.datetime(1970, 1, 2, 0, 0, 1, 5, tzinfo=dt.UTC)) == (
        86_401_000_005
    )


def test_retention_keeps_an_entry_exactly_at_the_cutoff():
    now = T0
    cutoff = retention_cutoff(now, 180)
    assert cutoff == now - dt.timedelta(days=180)
    at_cutoff = now - dt.timedelta(days=180)
    assert not at_cutoff < cutoff  # kept
    assert (at_cutoff - dt.timedelta(microseconds=1)) < cutoff  # pruned
    assert not (at_cutoff + dt.timedelta(microseconds=1)) < cutoff


def test_department_of_a_counter_identity():
    assert department_of("dept:11440300MA5F00000X") == "11440300MA5F00000X"
    assert department_of("service:console") == ""
    assert department_of("operator:admin") == ""
    assert department_of("dept") == ""


def test_entry_ids_of_uses_are_stable():
    assert use_entry_id("ev", 1) == "ev/1"
    assert use_entry_id("ev", 2) != use_entry_id("ev", 1)


def test_clipping_cuts_every_text_and_keeps_the_rest():
    long = "用" * (MAX_TEXT + 10)
    clipped = entry(purpose=long, clerk=long).clipped()
    assert clipped.purpose == long[:MAX_TEXT] and clipped.clerk == long[:MAX_TEXT]
    assert clipped.occurred_at == T0 and clipped.kind is UsageKind.VERIFIED
    assert entry().clipped() == entry()
