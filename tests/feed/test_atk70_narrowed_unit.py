"""atk70: the narrowed-entitlement check of a running subscription
(services/feed/filters.py check_still_within), pure: what ends, what keeps running,
and what the caller reads of the refusal."""

from __future__ import annotations

import pytest

from certseal.errors import CertsealError, status_details
from services.feed.domain import EVENT_TOPICS, Entitlement, EventMeta, Filter
from services.feed.filters import check_still_within, check_within
from tests.conftest import fresh_uscc

EVERY = frozenset({"*"})


def test_a_pattern_filter_still_partly_covered_keeps_running():
    """licence.* asked, the entitlement narrowed from licence.* to licence.issued:
    asked now it is accepted (some licence event passes), so the stream runs on."""
    dept = fresh_uscc()
    narrowed = Entitlement(
        "integrator:x", frozenset({dept}), EVERY, frozenset({"licence.issued"})
    )
    check_still_within(Filter(event_types=frozenset({"licence.*"})), narrowed)
    check_still_within(Filter(event_types=EVERY), narrowed)
    check_still_within(Filter(departments=EVERY), narrowed)


def test_a_filter_of_licence_events_under_no_licence_type_ends():
    """The entitlement keeps licence.* and seal.* but its licence types are narrowed
    to none (valid: seal events need none). A subscription to licence.revoked can
    never deliver again: check_still_within let it run, quiet for good; it ends it,
    and the same filter asked now is refused."""
    dept = fresh_uscc()
    before = Entitlement(
        "integrator:x", frozenset({dept}), EVERY, frozenset({"licence.*", "seal.*"})
    )
    after = Entitlement(
        "integrator:x",
        frozenset({dept}),
        frozenset(),
        frozenset({"licence.*", "seal.*"}),
    )
    wanted = Filter(event_types=frozenset({"licence.revoked"}))
    check_within(wanted, before)
    event = EventMeta("t", "licence.revoked", dept, dept + "001")
    assert before.allows(event) and wanted.matches(event)
    # nothing the filter asks for can pass any more
    assert not any(
        after.allows(EventMeta("t", t, dept, dept + "001"))
        and wanted.matches(EventMeta("t", t, dept, dept + "001"))
        for t in EVENT_TOPICS
    )
    with pytest.raises(CertsealError) as ended:  # was: left open, silent
        check_still_within(wanted, after)
    assert ended.value.kind.value == "PERMISSION_DENIED"
    assert ended.value.field == "event_types"
    with pytest.raises(CertsealError) as refused:  # and asked now, refused
        check_within(wanted, after)
    assert refused.value.kind.value == "INVALID_ARGUMENT"
    # one that also asks for a seal event still delivers: it runs on
    check_still_within(
        Filter(event_types=frozenset({"licence.revoked", "seal.*"})), after
    )
    check_still_within(Filter(), after)


def test_the_refusal_keeps_how_to_resume_within_the_status_bound():
    """An integrator entitled to a dozen departments, one taken away: what a gRPC
    client reads is cut at 400 characters, and the part that says what to do
    ("subscribe again with a filter within it, from the last position token") was
    at the end of the message, after the whole list of the remaining rights, and
    cut off. It comes first."""
    gone = fresh_uscc()
    kept = frozenset(fresh_uscc() for _ in range(12))
    narrowed = Entitlement("integrator:acme-logistics", kept, EVERY, EVERY)
    with pytest.raises(CertsealError) as ended:
        check_still_within(Filter(departments=frozenset({gone})), narrowed)
    said = status_details(ended.value)
    assert "subscribe again" in said, said
