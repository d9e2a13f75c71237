"""One list of event types (``certseal.events.EVENT_TYPES``): every type docs/events.md
documents is in it with its topic, publishers are held to it, and ``certseal events
tail --type`` accepts every documented type the feed carries (fixnu-b 3:
``licence.authorised`` was refused as "not an event type" while the feed delivered
it)."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest

from certseal.events import DIRECTORY_EVENTS, EVENT_TYPES, LICENCE_EVENTS, cloudevent
from certseal.v1 import events_pb2
from services.feed.domain import EVENT_TOPICS, FEED_TOPICS

DOCS = Path(__file__).parents[2] / "docs" / "events.md"


def documented_types() -> list[str]:
    """The types docs/events.md's "Types" section lists (``licence.issued | renewed``:
    the prefix carries over to the short names)."""
    section = DOCS.read_text().split("\n## Types\n", 1)[1].split("\n## ", 1)[0]
    types = []
    for listed in re.findall(r"^- `([^`]+)`", section, re.MULTILINE):
        prefix = ""
        for name in (n.strip() for n in listed.split("|")):
            if "." in name:
                prefix = name.split(".", 1)[0] + "."
                types.append(name)
            else:
                types.append(prefix + name)
    return types


def test_the_documented_types_are_the_published_ones():
    documented = documented_types()
    assert "licence.authorised" in documented  # the parse finds them at all
    assert sorted(documented) == sorted(EVENT_TYPES)


def test_the_feed_carries_every_type_of_the_topics_it_reads():
    assert {t for t, topic in EVENT_TYPES.items() if topic in FEED_TOPICS} == set(
        EVENT_TOPICS
    )
    assert EVENT_TOPICS["licence.authorised"] == LICENCE_EVENTS
    assert EVENT_TOPICS["licence.authorisation_revoked"] == LICENCE_EVENTS


@pytest.mark.parametrize("event_type", documented_types())
def test_events_tail_takes_every_documented_type_the_feed_carries(
    event_type, capsys, tmp_path
):
    """Through the entry point: a type the feed carries passes ``--type`` (the
    command goes on to read its configuration, missing here); one of the directory
    topic, which the feed does not carry, is refused saying so."""
    from services import cli

    missing = str(tmp_path / "none.toml")
    status = cli.main(["--config", missing, "events", "tail", "--type", event_type])
    err = capsys.readouterr().err
    assert status == 2
    if EVENT_TYPES[event_type] == DIRECTORY_EVENTS:
        assert err.startswith(
            f"error: type: {event_type!r}: published on {DIRECTORY_EVENTS}, which the "
            "event feed does not carry"
        ), err
    else:
        assert err.startswith("error: config: "), err


def test_a_publisher_cannot_publish_an_unlisted_type_or_on_another_topic():
    def publish(event_type: str, topic: str) -> None:
        cloudevent(
            topic=topic,
            key="k",
            message=events_pb2.LicenceEvent(),
            event_id="e",
            event_type=event_type,
            source="D",
            time=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        )

    publish("licence.authorised", LICENCE_EVENTS)
    with pytest.raises(ValueError, match=r"licence\.lent"):
        publish("licence.lent", LICENCE_EVENTS)
    with pytest.raises(ValueError, match=r"licence\.used"):
        publish("licence.used", LICENCE_EVENTS)
