"""The licence index's consumer waits ``[verifier] licence_fetch_max_wait_ms`` per
fetch while events flow (a revocation on the topic reaches the index within about
that), the replay guard's ``usage_fetch_max_wait_ms``, apart from Faust's
``fetch_max_wait_ms`` (trust and directory topics)."""

from __future__ import annotations

import asyncio

from services.config import Config
from services.verifier.app import create_app
from services.verifier.diskindex import DiskIndex
from services.verifier.feed import LicenceFeed
from services.verifier.index import Freshness
from services.verifier.transport import FETCH_WAIT_ATTRIBUTE
from tests.verifier.test_feed_start import _Consumer


def test_the_licence_feed_has_its_own_shorter_fetch_wait(tmp_path):
    cfg = Config()
    cfg.verifier.group = "fw"
    cfg.verifier.data_dir = str(tmp_path)
    assert cfg.verifier.licence_fetch_max_wait_ms < cfg.verifier.fetch_max_wait_ms
    cfg.verifier.licence_fetch_max_wait_ms = 7
    cfg.verifier.fetch_max_wait_ms = 30
    cfg.verifier.usage_fetch_max_wait_ms = 90
    state = create_app(cfg)
    try:
        assert state.feed._busy_ms == 7
        assert getattr(state.app, FETCH_WAIT_ATTRIBUTE) == 30  # Faust's consumer
        assert state.presentations._busy_ms == 90  # the replay guard's
    finally:
        state.index.close()


def test_the_replay_guard_waits_longer_than_the_answers_depend_on():
    """No answer waits for the guard's feed (a claim reads its gap itself), and its
    fetches are the broker's largest load under verification: its wait is the
    longest of the busy ones."""
    cfg = Config().verifier
    assert cfg.usage_fetch_max_wait_ms > cfg.fetch_max_wait_ms
    assert cfg.usage_fetch_max_wait_ms < cfg.idle_fetch_max_wait_ms


async def test_the_feed_consumer_is_made_with_the_busy_wait(tmp_path):
    made: list[dict] = []
    gate = asyncio.Event()
    gate.set()

    def factory(**kw):
        made.append(kw)
        return _Consumer(asyncio.Event(), gate)

    index = DiskIndex(tmp_path / "ix")
    feed = LicenceFeed(
        index,
        consumer_factory=factory,
        freshness=Freshness(),
        dead_letter=lambda record, problem: asyncio.sleep(0),
        fetch_max_wait_ms=7,
        idle_fetch_max_wait_ms=200,
    )
    try:
        await asyncio.wait_for(feed.start(), 10)
        assert made[0]["fetch_max_wait_ms"] == 7
    finally:
        index.close()
