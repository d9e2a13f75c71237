"""What bounds the feed's rules (atk-feed): lists of at most 1,000 values, matched in
constant time; an entitlement that lets nothing through, said as such; and who reads
the feed (a holder app is no integrator unless the operator lists its name). Pure."""

from __future__ import annotations

import pytest

from certseal.errors import CertsealError, ErrorKind
from certseal.identifiers import make_uscc
from services.config import load as load_config
from services.feed.domain import (
    EVENT_TOPICS,
    MAX_LIST_VALUES,
    Entitlement,
    EventMeta,
    Filter,
    Patterns,
)
from services.feed.filters import check_entitlement, check_sizes
from services.feed.identities import feed_identity, integrator_identity

EVERY = frozenset({"*"})
FIELDS = ("departments", "licence_types", "event_types")


def _naive(patterns: frozenset[str], value: str) -> bool:
    """The rule as written in the docs: ``*``, the value, or a ``prefix.*``."""
    return (
        "*" in patterns
        or value in patterns
        or any(p.endswith(".*") and value.startswith(p[:-1]) for p in patterns)
    )


LISTS = [
    frozenset(),
    EVERY,
    frozenset({"licence.*"}),
    frozenset({"licence.issued", "seal.*"}),
    frozenset({".*"}),
    frozenset({"a.b.*", "x"}),
    frozenset({"licence*", "licence."}),
]
VALUES = ["", "*", "licence", "licence.", "licence.issued", "seal.revoked", ".x"]
VALUES += ["a.b", "a.b.", "a.b.c.d", "x", "x.y", "licence.used", "licencex.issued"]


@pytest.mark.parametrize("patterns", LISTS, ids=lambda p: ",".join(sorted(p)) or "-")
def test_patterns_match_as_the_written_rule(patterns):
    """Kept apart (exact values, ``*``, ``prefix.*``), a list matches exactly the
    values the written rule does."""
    compiled = Patterns.of(patterns)
    assert [compiled.matches(v) for v in VALUES] == [
        _naive(patterns, v) for v in VALUES
    ]


class CountingSet(frozenset):
    """A frozenset that counts how often it is walked."""

    walks = 0

    def __iter__(self):
        CountingSet.walks += 1
        return super().__iter__()


def test_matching_an_event_does_not_walk_the_lists():
    """After its lists are compiled once, an entitlement or a filter decides an
    event by lookups, whatever the lists' sizes: the feed's one event loop must
    not spend a list's length on every event."""
    departments = CountingSet(make_uscc(f"11440300{n:09d}") for n in range(1000))
    types = CountingSet({f"seal.x{n}.*" for n in range(999)} | {"licence.*"})
    entitled = Entitlement("integrator:x", departments, EVERY, types)
    wanted = Filter(departments, CountingSet({"T1"}), types)
    outside = EventMeta("t", "licence.revoked", make_uscc("91350100M00010000"), "T2")
    inside = EventMeta("t", "licence.revoked", min(departments), "T1")
    entitled.allows(outside), wanted.matches(outside)  # compiles them
    CountingSet.walks = 0
    for _ in range(100):
        assert not entitled.allows(outside) and not wanted.matches(outside)
        assert entitled.allows(inside) and wanted.matches(inside)
    assert CountingSet.walks == 0


@pytest.mark.parametrize("name", FIELDS)
def test_a_list_of_more_than_1000_values_is_refused_naming_it(name):
    at_most = {name: frozenset(f"v{n}" for n in range(MAX_LIST_VALUES))}
    check_sizes(Filter(**at_most))  # 1,000 is allowed
    too_many = {name: frozenset(f"v{n}" for n in range(MAX_LIST_VALUES + 1))}
    for lists in (Filter(**too_many), Entitlement("integrator:x", **too_many)):
        with pytest.raises(CertsealError) as err:
            check_sizes(lists)
        assert (err.value.kind, err.value.field) == (ErrorKind.INVALID_ARGUMENT, name)
        assert "1001 values; at most 1000" in str(err.value)
    with pytest.raises(CertsealError) as err:  # before each value's own check
        check_entitlement(Entitlement("integrator:x", **too_many))
    assert err.value.field == name


@pytest.mark.parametrize(
    ("departments", "licence_types", "event_types", "why"),
    [
        (frozenset(), EVERY, EVERY, "no department"),
        (EVERY, EVERY, frozenset(), "no event type the feed carries"),
        (EVERY, EVERY, frozenset({"department.onboarded"}), "no event type the feed"),
        (EVERY, frozenset(), frozenset({"licence.*"}), "no licence type"),
        (EVERY, frozenset(), frozenset({"licence.used"}), "no licence type"),
        (EVERY, frozenset(), frozenset({"seal.*", "licence.*"}), None),
        (EVERY, frozenset(), frozenset({"key.*"}), None),
        (frozenset({make_uscc("11440300000000001")}), EVERY, EVERY, None),
    ],
)
def test_an_entitlement_that_lets_nothing_through_says_why(
    departments, licence_types, event_types, why
):
    entitled = Entitlement("integrator:x", departments, licence_types, event_types)
    said = entitled.nothing_through(EVENT_TOPICS)
    assert (said is None) if why is None else (why in (said or "")), said


def test_a_holder_app_reads_the_feed_only_when_the_operator_lists_its_name():
    assert feed_identity("integrator", "acme", frozenset()) == "integrator:acme"
    assert feed_identity("app", "acme", frozenset({"acme"})) == "integrator:acme"
    for legacy in (frozenset(), frozenset({"acme2", "ACME"})):
        with pytest.raises(CertsealError) as err:
            feed_identity("app", "acme", legacy)
        assert err.value.kind is ErrorKind.PERMISSION_DENIED
        assert "holder apps do not read the event feed" in str(err.value)


def test_an_entitlement_names_an_integrator_not_a_holder_app():
    assert integrator_identity("integrator:acme") == "integrator:acme"
    with pytest.raises(CertsealError) as err:
        integrator_identity("app:acme")
    assert (err.value.kind, err.value.field) == (
        ErrorKind.INVALID_ARGUMENT,
        "integrator",
    )
    assert "integrator:acme" in str(err.value)


@pytest.mark.parametrize("bad", ["app:acme", "", "a b", "x" * 65])
def test_legacy_app_integrators_are_names_checked_at_start(tmp_path, bad):
    file = tmp_path / "feed.toml"
    file.write_text(f'[feed]\nlegacy_app_integrators = ["acme", "{bad}"]\n')
    with pytest.raises(CertsealError) as err:
        load_config(file)
    assert "legacy_app_integrators" in str(err.value), err.value
    assert "[feed]" in str(err.value) or "feed" in str(err.value)
    file.write_text('[feed]\nlegacy_app_integrators = ["acme", "old.crm-1"]\n')
    assert load_config(file).feed.legacy_app_integrators == ["acme", "old.crm-1"]
