"""What the console shows, without a browser or a server."""

import datetime as dt

import pytest

from certseal.v1 import licence_pb2, verifier_pb2
from services.console.convert import licence_view
from services.console.domain import (
    LICENCE_STATUSES,
    LICENCE_VERDICTS,
    SEAL_VERDICTS,
    GroupStatus,
    History,
    LicenceView,
    OutboxStatus,
    PartitionLag,
    TopicRates,
    outbox_status,
    wording,
)
from services.seal.domain import SealVerdict
from services.verifier.domain import Verdict

NOW = dt.datetime(2026, 11, 22, 10, 0, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize("verdict", list(Verdict))
def test_every_licence_verdict_has_wording_in_both_languages(verdict):
    text = LICENCE_VERDICTS[verdict.value]
    assert text.title_zh and text.title_en and text.reason_zh and text.reason_en
    assert (text.tone == "ok") is (verdict is Verdict.VALID)


@pytest.mark.parametrize("verdict", list(SealVerdict))
def test_every_seal_verdict_has_wording(verdict):
    text = SEAL_VERDICTS[verdict.value]
    assert text.title_zh and text.reason_en
    assert (text.tone == "ok") is (verdict is SealVerdict.VALID)


def test_an_unknown_verdict_is_never_shown_as_valid():
    shown = wording(LICENCE_VERDICTS, "SOMETHING_NEW")
    assert shown["verdict"] == "SOMETHING_NEW" and shown["tone"] == "bad"


def test_a_licence_view_carries_what_was_returned_and_the_index_age():
    view = LicenceView(
        verdict="VALID",
        checks=[{"name": "signature", "passed": True, "detail": ""}],
        identifier="1.2.156.3005.2.X",
        type_code="T",
        issuer_code="I",
        holder_display_name="张*丰",
        fields={"z": "1", "a": "2"},
        valid_from=NOW - dt.timedelta(days=1),
        valid_until=None,
        code_kind="licence",
        index_time=NOW - dt.timedelta(seconds=2.5),
        index_lag_events=3,
        verified_at=NOW,
        purpose="窗口办事",
        counter="dept:X",
    ).to_json()
    assert view["title_zh"] == "有效" and view["tone"] == "ok"
    assert list(view["fields"]) == ["a", "z"]
    assert view["index"] == {
        "last_event_time": "2026-11-22T09:59:57.500000Z",
        "lag_events": 3,
        "lag_unknown": False,
        "lag_measured_at": None,
        "age_s": 2.5,
    }
    assert view["valid_from"] == "2026-11-21T10:00:00Z" and view["valid_until"] is None
    assert view["verified_at"] == "2026-11-22T10:00:00Z"


def test_a_group_whose_lag_is_unknown_says_so_and_counts_its_whole_age():
    """A verifier cut off from its broker (services.verifier.ends): the operator
    page says its lag is unknown, not "0.0 s behind" (atk21 F6)."""
    group = GroupStatus(
        target="t",
        group="g",
        serving=False,
        partitions=(PartitionLag("certseal.trust-events.v1", 0, 9, 10, 0),),
        last_event_time=NOW - dt.timedelta(minutes=30),
        lag_unknown=True,
    )
    shown = group.to_json(NOW)
    assert shown["lag_unknown"] is True
    # not "0.0 s behind" (atk21 F6): whatever came since may be pending
    assert shown["lag_seconds"] == 1800.0


def test_group_lag_in_events_and_seconds():
    behind = GroupStatus(
        target="t",
        group="g",
        serving=True,
        partitions=(
            PartitionLag("certseal.licence-events.v1", 0, 9, 15, 5),
            PartitionLag("certseal.licence-events.v1", 1, 3, 4, 0),
        ),
        last_event_time=NOW - dt.timedelta(seconds=4),
    )
    assert behind.lag_events == 5 and behind.lag_seconds(NOW) == 4.0
    current = GroupStatus(
        target="t",
        group="g",
        serving=True,
        partitions=(PartitionLag("x", 0, 3, 4, 0),),
        last_event_time=NOW - dt.timedelta(hours=3),  # quiet, not behind
    )
    assert current.lag_seconds(NOW) == 0.0
    down = GroupStatus(target="127.0.0.1:1", group="", serving=False, error="x")
    assert down.to_json(NOW)["group"] == "127.0.0.1:1"


METRICS = """\
# HELP certseal_outbox_backlog Committed events not yet published
# TYPE certseal_outbox_backlog gauge
certseal_outbox_backlog 12.0
# HELP certseal_outbox_relay_lag_seconds Age of the oldest unpublished event
# TYPE certseal_outbox_relay_lag_seconds gauge
certseal_outbox_relay_lag_seconds 0.75
# HELP certseal_outbox_published_events_total Events the relay published
# TYPE certseal_outbox_published_events_total counter
certseal_outbox_published_events_total 3456.0
# HELP certseal_rpc_requests_total RPCs handled
# TYPE certseal_rpc_requests_total counter
certseal_rpc_requests_total{code="OK",method="/x"} 9.0
"""


def test_outbox_figures_from_prometheus_text():
    status = outbox_status("issuer", "http://x/metrics", METRICS)
    assert (status.backlog, status.relay_lag_s, status.published) == (12, 0.75, 3456)
    assert status.up and status.to_json()["name"] == "issuer"
    assert status.leading is None  # a process that does not say


@pytest.mark.parametrize("value,leading", [("1.0", True), ("0.0", False)])
def test_the_card_says_whether_the_process_leads_the_relay(value, leading):
    """One relay publishes every service's rows: only the leader's published count
    moves (trial51), so each card says which it is."""
    text = METRICS + (
        "# TYPE certseal_outbox_relay_leading gauge\n"
        f"certseal_outbox_relay_leading {value}\n"
    )
    status = outbox_status("seal", "u", text)
    assert status.leading is leading and status.to_json()["leading"] is leading


def test_topic_rates_from_end_offsets():
    rates = TopicRates()
    assert rates.update(10.0, {"a": 100, "b": 5}) == {}
    assert rates.update(12.0, {"a": 300, "b": 5}) == {"a": 100.0, "b": 0.0}
    # a topic recreated (offsets went back) is no negative rate
    assert rates.update(13.0, {"a": 0, "b": 6}) == {"a": 0.0, "b": 1.0}
    assert rates.update(13.0, {"a": 10, "b": 6}) == {}  # no time passed


def test_history_keeps_the_last_samples():
    history = History(3)
    group = GroupStatus(target="t", group="g", serving=True)
    outbox = OutboxStatus(name="seal", url="u", up=True, backlog=2)
    for n in range(5):
        history.add(NOW + dt.timedelta(seconds=n), [group], [outbox], {"a": n})
    assert [s["rates"]["a"] for s in history.samples] == [2, 3, 4]
    assert history.samples[-1]["lag"] == {"g": 0}
    assert history.samples[-1]["backlog"] == {"seal": 2}


def test_a_lag_not_known_is_kept_as_none_not_as_zero():
    """A group cut off from its broker, or not answering, has no lag to draw: the
    chart shows a gap there, not a group caught up (0)."""
    history = History(4)
    behind = (PartitionLag("t", 0, 5, 9, 4),)
    known = GroupStatus(target="t", group="g", serving=True, partitions=behind)
    cut_off = GroupStatus(
        target="t", group="g", serving=False, partitions=behind, lag_unknown=True
    )
    away = GroupStatus(target="t", group="", serving=False, error="UNAVAILABLE: down")
    for status in (known, cut_off, away):
        history.add(NOW, [status], [], {})
    assert [s["lag"] for s in history.samples] == [{"g": 4}, {"g": None}, {"t": None}]
    down = OutboxStatus(name="seal", url="u", up=False, error="refused")
    history.add(NOW, [], [down, OutboxStatus(name="issuer", url="u", up=True)], {})
    assert history.samples[-1]["backlog"] == {"seal": None, "issuer": 0.0}


STATUS_CODES = [
    f"{value:02d}"
    for value in licence_pb2.LicenceStatus.values()
    if value != licence_pb2.LICENCE_STATUS_UNSPECIFIED
]


def test_every_status_of_the_catalogue_has_its_own_words():
    assert sorted(LICENCE_STATUSES) == sorted(STATUS_CODES)
    for words in (
        [w.title_zh for w in LICENCE_STATUSES.values()],
        [w.title_en for w in LICENCE_STATUSES.values()],
        [w.reason_zh for w in LICENCE_STATUSES.values()],
        [w.reason_en for w in LICENCE_STATUSES.values()],
    ):
        assert len(set(words)) == len(words), words
    assert {c for c, w in LICENCE_STATUSES.items() if w.tone == "ok"} == {"01"}


def _revoked(status: int, *, failed: str = "status") -> dict:
    result = verifier_pb2.VerificationResult(
        verdict=verifier_pb2.VERDICT_REVOKED,
        checks=[
            verifier_pb2.VerificationCheck(name="signature", passed=True),
            verifier_pb2.VerificationCheck(name=failed, passed=False, detail="x"),
        ],
        status=status,  # type: ignore[arg-type]
    )
    return licence_view(
        result, verified_at=NOW, purpose="p", counter="dept:X"
    ).to_json()


def test_revoked_as_a_sanction_07_is_not_worded_as_revoked_03():
    sanctioned = _revoked(licence_pb2.LICENCE_STATUS_REVOKED_AS_SANCTION)
    revoked = _revoked(licence_pb2.LICENCE_STATUS_REVOKED)
    assert (sanctioned["status"], sanctioned["verdict"]) == ("07", "REVOKED")
    assert sanctioned["title_zh"] == "已吊销" and "吊销" in sanctioned["reason_zh"]
    assert revoked["title_zh"] == "已撤销" and "撤销" in revoked["reason_zh"]
    assert sanctioned["title_en"] != revoked["title_en"]
    assert sanctioned["tone"] == revoked["tone"] == "bad"


@pytest.mark.parametrize("code", STATUS_CODES)
def test_each_status_is_shown_in_its_words_when_it_decided(code):
    shown = _revoked(int(code))
    assert shown["title_zh"] == LICENCE_STATUSES[code].title_zh


def test_a_verdict_not_decided_by_the_status_keeps_its_own_words():
    # e.g. a code superseded by a newer version of a licence still valid (01)
    shown = _revoked(licence_pb2.LICENCE_STATUS_VALID, failed="version")
    assert shown["title_zh"] == LICENCE_VERDICTS["REVOKED"].title_zh
    assert shown["status"] == "01"


def _superseded(status: int) -> dict:
    result = verifier_pb2.VerificationResult(
        verdict=verifier_pb2.VERDICT_SUPERSEDED,
        checks=[
            verifier_pb2.VerificationCheck(name="licence", passed=True),
            verifier_pb2.VerificationCheck(name="version", passed=False, detail="x"),
        ],
        status=status,  # type: ignore[arg-type]
    )
    return licence_view(
        result, verified_at=NOW, purpose="p", counter="dept:X"
    ).to_json()


def test_a_code_replaced_by_a_version_not_valid_does_not_send_for_the_current_one():
    """Asking the holder for the current version leads nowhere when it is itself
    transferred out or revoked: the page says which, in both languages."""
    valid = _superseded(licence_pb2.LICENCE_STATUS_VALID)
    assert valid["reason_en"] == LICENCE_VERDICTS["SUPERSEDED"].reason_en
    moved = _superseded(licence_pb2.LICENCE_STATUS_TRANSFERRED_OUT)
    assert moved["verdict"] == "SUPERSEDED" and moved["status"] == "06"
    assert "转出" in moved["reason_zh"] and "转入部门" in moved["reason_zh"]
    assert "receiving department" in moved["reason_en"]
    assert "current one" not in moved["reason_en"]
    revoked = _superseded(licence_pb2.LICENCE_STATUS_REVOKED)
    assert revoked["tone"] == "bad" and revoked["title_zh"] == "新版本已撤销"
    assert "itself revoked (03)" in revoked["reason_en"]
