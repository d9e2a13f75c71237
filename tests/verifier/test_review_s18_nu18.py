"""Outside review (session 18) of a group of one rebuilding a fresh index before it
answered (52fc52a, undone): R1 (no offline bundle before the feed has read its
topic) and R2 (a restart keeps what a fresh build applied)."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest

from certseal.errors import CertsealError, ErrorKind
from services.verifier.diskindex import FOLDER as INDEX_FOLDER
from services.verifier.diskindex import DiskIndex, Record
from services.verifier.feed import LicenceFeed
from services.verifier.group import GroupIndex
from services.verifier.index import Freshness
from services.verifier.partitions import Ownership
from tests.verifier.fake_consumer import FakeConsumer
from tests.verifier.test_diskindex import event
from tests.verifier.test_group_answers import exporter_over

T = dt.datetime(2026, 12, 2, tzinfo=dt.UTC)


def _feed(index: DiskIndex, freshness: Freshness, end: int = 1000) -> LicenceFeed:
    return LicenceFeed(
        index,
        consumer_factory=lambda **kw: FakeConsumer(end=end),
        freshness=freshness,
        dead_letter=lambda record, problem: asyncio.sleep(0),
    )


# --- R1: an offline bundle is signed before the feed has read the partitions --------


async def test_no_offline_bundle_before_the_feed_has_read_the_topics_partitions(
    tmp_path,
):
    """52fc52a: 'No lookup is answered before the feed has read the topic's
    partitions' (get_many checks feed.partitions). The bundle export only checks
    ``lookup.rebuilding`` (feed.building), which is empty until start() has read the
    partitions: a group of one with a fresh index signs a bundle from its empty index
    (no revoked licence: offline counters accept every one for validity_s), and that
    snapshot is cached for refresh_s, so the export after the build still hands it
    out."""
    index = DiskIndex(tmp_path / INDEX_FOLDER)  # fresh
    freshness = Freshness()
    feed = _feed(index, freshness)  # not started: consumer.start() / metadata wait
    lookup = GroupIndex(index, feed, freshness, group="g", ownership=Ownership())
    exporter, signer = exporter_over(lookup, freshness, T)
    try:
        with pytest.raises(CertsealError) as before:
            await lookup.get_many([b"L"])
        assert before.value.kind is ErrorKind.UNAVAILABLE  # lookups: refused
        with pytest.raises(CertsealError) as err:
            await exporter.export(since_version=0, group="g")
        assert err.value.kind is ErrorKind.UNAVAILABLE
        assert signer.signed == []
    finally:
        index.close()


# --- R2: a province-sized group of one never passes its startup probe --------------


async def test_a_fresh_group_of_one_killed_mid_rebuild_keeps_what_it_applied(
    tmp_path,
):
    """52fc52a rebuilt a fresh index of a group of one, not SERVING until built, and
    a start killed mid-rebuild started again from nothing (m:complete named no
    partition: its stored offsets were dropped). deploy/k8s kills a pod not SERVING
    within its startupProbe (360 x 5 s = 30 min), and docs/operations.md puts a
    province's group-of-one build at about an hour: a new pod would never have become
    SERVING (R2). A group of one answers while it builds, its lag in every answer,
    and a restart keeps what it applied."""
    index = DiskIndex(tmp_path / INDEX_FOLDER)
    freshness = Freshness()
    feed = _feed(index, freshness)
    await asyncio.wait_for(feed.start(), 10)
    assert feed.built.is_set()  # answered from while it builds
    index.apply(
        [Record(0, n, f"L{n}".encode(), event(f"L{n}", 1), 0) for n in range(400)]
    )
    assert index.offsets() == {0: 399}
    await feed.stop()  # killed here (the startup probe's restart)
    again = _feed(index, Freshness())
    try:
        await asyncio.wait_for(again.start(), 10)
        assert index.offsets() == {0: 399}, "the 400 events applied were dropped"
        assert again.consumer.positions[again.assignment()[0]] == 400
    finally:
        index.close()
