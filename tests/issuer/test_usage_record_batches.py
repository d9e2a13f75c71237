"""The usage record's consumer side without the broker: a consumed batch that brings
no entry to keep (licence.issued events, entries past retention) opens no PostgreSQL
transaction, and one that does is written whole, in one store call."""

from __future__ import annotations

import datetime as dt

from services.issuer.service.usage import UsageRecord
from services.issuer.usage import UsageEntry, UsageKind

NOW = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.UTC)


class CountingStore:
    """Stands in for IssuerStore: counts the transactions the record asks for."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    async def record_usage_from_topics(self, entries, recorded_at) -> int:
        self.calls.append([e.entry_id for e in entries])
        return len(entries)


def entry(entry_id: str, at: dt.datetime) -> UsageEntry:
    return UsageEntry(
        entry_id=entry_id,
        lineage="1.2.156.3005.2.TEST.X.1",
        identifier="x",
        kind=UsageKind.VERIFIED,
        occurred_at=at,
    )


def usage_record(store: CountingStore) -> UsageRecord:
    return UsageRecord(
        store=store,  # type: ignore[arg-type]
        reader=None,  # type: ignore[arg-type]
        auditor=None,  # type: ignore[arg-type]
        clock=lambda: NOW,
        retention_days=180,
    )


async def test_a_batch_with_nothing_to_keep_opens_no_transaction():
    store = CountingStore()
    record = usage_record(store)
    assert await record.record([]) == 0
    old = entry("old/1", NOW - dt.timedelta(days=181))
    assert await record.record([old]) == 0  # past retention: dropped
    assert store.calls == []


async def test_a_batch_with_entries_is_one_store_call_without_the_expired_ones():
    store = CountingStore()
    record = usage_record(store)
    kept, old = entry("new/1", NOW), entry("old/1", NOW - dt.timedelta(days=181))
    assert await record.record([kept, old]) == 1
    assert store.calls == [["new/1"]]
