"""A worker's lag is known only while the broker confirms the end offsets it is
measured against (services/verifier/ends.py): the judgement, what the answers and the
CLI say, the peers' answers, the setting's bounds. Pure: no stack (the worker cut off
from a real broker is tests/e2e/test_verifier_cut_off.py)."""

from __future__ import annotations

import datetime as dt

import pytest

from certseal.errors import CertsealError
from certseal.timestamps import ts
from certseal.v1 import verifier_pb2 as pb
from services.verifier.cli import _lag
from services.verifier.config import VerifierConfig, check_settings
from services.verifier.convert import ResultBodies, verification_to_proto
from services.verifier.group import freshness_from_proto, freshness_to_proto
from services.verifier.index import Freshness
from tests.verifier.test_convert_bodies import valid

T0 = dt.datetime(2026, 12, 3, 9, 0, tzinfo=dt.UTC)


def _after(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def test_a_lag_never_confirmed_is_unknown():
    assert Freshness().judge_lag(0.0, 5.0) is True


@pytest.mark.parametrize(
    ("age_s", "unknown"), [(0, False), (4.9, False), (5.0, False), (5.1, True)]
)
def test_a_lag_is_unknown_once_its_confirmation_is_older_than_the_bound(age_s, unknown):
    freshness = Freshness(lag_unknown=True)
    freshness.confirm_ends({("t", 0): 10}, T0, 0.0)
    assert freshness.lag_unknown is False  # a confirmation is fresh by definition
    assert freshness.lag_confirmed.is_set()
    assert freshness.judge_lag(age_s, 5.0) is unknown
    assert freshness.lag_unknown is unknown


def test_the_age_is_judged_on_the_monotonic_clock_not_the_wall_clock():
    """atk21: stamped and judged with the wall clock, an NTP step back of an hour
    after the last answer kept a worker cut off for ten minutes 'known' and SERVING.
    The wall time is only what the answers show."""
    freshness = Freshness()
    stepped_back = T0 - dt.timedelta(hours=1)
    freshness.confirm_ends({}, stepped_back, 100.0)
    assert freshness.lag_measured_at == stepped_back
    assert freshness.judge_lag(100.0 + 600, 5.0) is True


def test_a_new_confirmation_makes_the_lag_known_again():
    freshness = Freshness()
    freshness.confirm_ends({("t", 0): 10}, T0, 0.0)
    assert freshness.judge_lag(60, 5.0)
    freshness.confirm_ends({("t", 0): 12}, _after(61), 61.0)
    assert not freshness.judge_lag(62, 5.0)
    assert freshness.lag_measured_at == _after(61)


def test_the_lag_counts_confirmed_end_offsets_beyond_the_fetched_high_waters():
    """A partition whose fetches stalled keeps an old high water; the broker's
    answer to the ask for end offsets counts where it is further."""
    freshness = Freshness(applied={("t", 0): 9, ("t", 1): 4})
    freshness.confirm_ends({("t", 0): 15, ("t", 1): 3, ("t", 2): 7}, T0, 0.0)
    freshness.measure_lag({("t", 0): 10, ("t", 1): 10})
    # t0: 15 - 9 - 1; t1: the fetched 10 - 4 - 1; t2: nothing applied, not counted
    assert freshness.lag_events == 5 + 5
    assert freshness.marks({("t", 1): 10}) == {("t", 0): 15, ("t", 1): 10, ("t", 2): 7}


def test_a_snapshot_keeps_what_the_lag_was():
    freshness = Freshness(last_event_time=T0, lag_events=3)
    freshness.confirm_ends({}, T0, 0.0)
    freshness.judge_lag(30, 5.0)
    kept = freshness.snapshot()
    freshness.confirm_ends({}, _after(31), 31.0)
    assert (kept.lag_unknown, kept.lag_measured_at, kept.lag_events) == (True, T0, 3)
    assert kept.last_event_time == T0


def test_the_answer_says_the_lag_is_unknown_also_from_a_kept_body():
    """The freshness proto is kept between answers (ResultBodies.freshness): a lag
    that became unknown since must not be answered from the kept one."""
    bodies = ResultBodies()
    freshness = Freshness(last_event_time=T0, lag_events=0)
    freshness.confirm_ends({}, T0, 0.0)
    known = verification_to_proto(valid(), freshness, "g", "", bodies)
    assert not known.freshness.lag_unknown
    assert known.freshness.lag_measured_at == ts(T0)
    freshness.judge_lag(10, 5.0)
    cut_off = verification_to_proto(valid(), freshness, "g", "", bodies)
    assert cut_off.freshness.lag_unknown
    assert cut_off.freshness.lag_events == 0


def test_a_peers_freshness_survives_the_round_trip():
    freshness = Freshness(last_event_time=T0, lag_events=7, lag_unknown=True)
    freshness.lag_measured_at = _after(-20)
    again = freshness_from_proto(freshness_to_proto(freshness))
    assert (again.last_event_time, again.lag_events) == (T0, 7)
    assert (again.lag_unknown, again.lag_measured_at) == (True, _after(-20))
    # a peer of an older version sends neither field: known, never measured
    old = freshness_from_proto(pb.IndexFreshness(lag_events=2))
    assert (old.lag_unknown, old.lag_measured_at, old.lag_events) == (False, None, 2)


def test_the_cli_says_the_lag_is_unknown_and_since_when(monkeypatch):
    monkeypatch.setattr("services.verifier.cli.utcnow", lambda: _after(42))
    known = pb.IndexFreshness(lag_events=3, lag_measured_at=ts(T0))
    assert _lag(known, known.lag_events) == "3 events behind"
    unknown = pb.IndexFreshness(lag_events=0, lag_unknown=True, lag_measured_at=ts(T0))
    said = _lag(unknown, unknown.lag_events)
    assert said.startswith(
        "lag unknown: the worker has not heard from its broker for 42 s"
    )
    assert "0 events behind then" in said
    # the same silence when the worker itself was stopped: not said to be the broker
    assert "or the worker itself paused: its log says which" in said
    never = pb.IndexFreshness(lag_unknown=True)
    assert _lag(never, 0) == "lag unknown: the worker has not heard from its broker"


def test_the_default_bound_is_5_s():
    assert VerifierConfig().lag_unknown_after_s == 5.0


@pytest.mark.parametrize("bound_s", [0, 1.5, 3_601, float("nan")])
def test_a_bound_out_of_range_is_refused_naming_it(bound_s):
    config = VerifierConfig()
    config.lag_unknown_after_s = bound_s
    with pytest.raises(
        CertsealError,
        match=r"^verifier.lag_unknown_after_s: must be between 2 and 3,600 s",
    ):
        check_settings(config)
