"""`certseal events tail`: one readable line for every topic the feed carries."""

from types import SimpleNamespace

import pytest

from certseal.v1 import events_pb2
from services.feed.cli import _summary

EVENTS = [
    (
        "certseal.licence-events.v1",
        events_pb2.LicenceEvent(identifier="1.2.156.3005.2.X", status=3, reason="伪造"),
        "1.2.156.3005.2.X revoked (03) 伪造",
    ),
    (  # the same words as every other command: revoked as a sanction (07)
        "certseal.licence-events.v1",
        events_pb2.LicenceEvent(identifier="1.2.156.3005.2.Z", status=7, reason="x"),
        "1.2.156.3005.2.Z revoked as a sanction (07) x",
    ),
    (
        "certseal.trust-events.v1",
        events_pb2.TrustEvent(kid="00aa", suite="sm2"),
        "key 00aa sm2",
    ),
    (
        "certseal.licence-usage.v1",
        events_pb2.LicenceUsedEvent(
            identifier="1.2.156.3005.2.Y",
            verdict="VALID",
            counter="dept:11440300COUNTER01",
            purpose="窗口办事",
        ),
        "1.2.156.3005.2.Y VALID by dept:11440300COUNTER01 (窗口办事)",
    ),
    (  # a request of several codes: the first three, and how many more
        "certseal.licence-usage.v1",
        events_pb2.LicenceUsedEvent(
            counter="dept:11440300COUNTER01",
            purpose="批量",
            uses=[
                events_pb2.LicenceUse(
                    lineage=f"1.2.156.3005.2.T.D.{n}",
                    identifier=f"1.2.156.3005.2.T.D.{n}.001.X",
                    verdict="VALID",
                )
                for n in range(5)
            ],
        ),
        "1.2.156.3005.2.T.D.0.001.X VALID, 1.2.156.3005.2.T.D.1.001.X VALID, "
        "1.2.156.3005.2.T.D.2.001.X VALID and 2 more by dept:11440300COUNTER01 (批量)",
    ),
    (  # trial2b: the seal's kind and suite, no trailing space without a digest
        "certseal.seal-events.v1",
        events_pb2.SealEvent(
            type="seal.registered", seal_id="s-1", seal_type="official",
            suite="sm2", status="active",
        ),
        "s-1 official sm2 active",
    ),
    (
        "certseal.seal-events.v1",
        events_pb2.SealEvent(
            type="seal.revoked", seal_id="s-1", seal_type="official", suite="sm2",
            status="revoked", reason="印章遗失",
        ),
        "s-1 official sm2 revoked 印章遗失",
    ),
    (
        "certseal.seal-events.v1",
        events_pb2.SealEvent(
            type="document.sealed", seal_id="s-1", seal_type="official",
            suite="sm2", status="active", document_digest="ab" * 32,
        ),
        "s-1 official sm2 active abababababababab",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("topic", "message", "line"), EVENTS)
def test_every_topic_prints_a_line(topic, message, line):
    event = SimpleNamespace(topic=topic, data=message.SerializeToString())
    assert _summary(event) == line


def test_an_unknown_topic_or_an_undecodable_value_is_a_line_too():
    unknown = SimpleNamespace(
        topic="certseal.future-events.v1", subject="k1", data=b"\x01\x02"
    )
    assert _summary(unknown) == "k1 (certseal.future-events.v1, 2 bytes)"
    broken = SimpleNamespace(
        topic="certseal.licence-usage.v1", subject="lineage-1", data=b"\xff\xff\xff"
    )
    line = _summary(broken)
    assert line.startswith("lineage-1 (undecodable certseal.licence-usage.v1 value")


def test_events_tail_refuses_an_unknown_type_or_identity(capsys):
    """Through the entry point: ``--type`` must name an event type the platform
    publishes (or a pattern matching one), ``--as`` an integrator or operator; exit 2
    before anything is called."""
    from services import cli

    for argv, expected in (
        (["--type", "nonsense"], "error: type: 'nonsense' is not an event type"),
        (["--type", "bogus.*"], "error: type: 'bogus.*' is not an event type"),
        (["--as", "dept:91350100M000100Y43"], "error: as: 'dept:91350100M000100Y43'"),
    ):
        status = cli.main(["events", "tail", *argv])
        err = capsys.readouterr().err
        assert status == 2 and err.startswith(expected), (argv, err)


def test_every_type_the_feed_carries_fits_its_column():
    """trial2b: ``licence.authorisation_revoked`` overran the 22-character type
    column, shifting the department and summary of its lines."""
    from google.protobuf.timestamp_pb2 import Timestamp

    from services.feed.cli import _line
    from services.feed.domain import EVENT_TOPICS

    lines = []
    for kind in sorted(EVENT_TOPICS):
        event = SimpleNamespace(
            time=Timestamp(seconds=1_764_900_000),
            type=f"cn.gov.certseal.{kind}",
            source="/departments/91350100M000100Y43",
            topic="certseal.future-events.v1",
            subject="k1",
            data=b"",
        )
        lines.append(_line(event))
    starts = {line.index("91350100M000100Y43") for line in lines}
    assert len(starts) == 1, lines
    assert all(line == line.rstrip() for line in lines)
