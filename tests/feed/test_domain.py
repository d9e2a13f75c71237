"""Entitlements, subscription filters and position tokens of the event feed."""

import pytest

from certseal.errors import CertsealError
from services.feed.domain import (
    Entitlement,
    EventMeta,
    Filter,
)
from services.feed.filters import check_codes, check_entitlement, check_within
from services.feed.tokens import decode_token, encode_token

LICENCE = "certseal.licence-events.v1"
SEAL = "certseal.seal-events.v1"
REVOKED = EventMeta(LICENCE, "licence.revoked", "91350100M000100Y43", "T001")
SEALED = EventMeta(SEAL, "document.sealed", "91350100M000100Y43")


def test_entitlement_needs_department_type_and_licence_type():
    police = Entitlement(
        "integrator:police",
        departments=frozenset({"91350100M000100Y43"}),
        licence_types=frozenset({"T001"}),
        event_types=frozenset({"licence.*"}),
    )
    assert police.allows(REVOKED)
    assert not police.allows(SEALED)  # not a licence event type it may see
    assert not police.allows(EventMeta(LICENCE, "licence.issued", "OTHER", "T001"))
    assert not police.allows(
        EventMeta(LICENCE, "licence.issued", "91350100M000100Y43", "T2")
    )
    everything = Entitlement(
        "integrator:archive",
        departments=frozenset({"*"}),
        licence_types=frozenset({"*"}),
        event_types=frozenset({"*"}),
    )
    assert everything.allows(REVOKED) and everything.allows(SEALED)
    assert not Entitlement("integrator:nobody").allows(REVOKED)  # nothing unless listed


def test_filter_narrows_and_empty_means_everything():
    assert Filter().matches(REVOKED) and Filter().matches(SEALED)
    only_revocations = Filter(event_types=frozenset({"licence.revoked"}))
    assert only_revocations.matches(REVOKED) and not only_revocations.matches(SEALED)
    other_type = Filter(licence_types=frozenset({"T9"}))
    assert not other_type.matches(REVOKED) and other_type.matches(SEALED)


def test_tokens_round_trip_and_reject_what_is_not_ours():
    positions = {(LICENCE, 0): 17, (LICENCE, 3): 0, (SEAL, 1): 5}
    token = encode_token(positions, cluster="k1")
    assert decode_token(token, [LICENCE, SEAL], cluster="k1") == positions
    for bad in (
        "",
        "not-base64!",
        encode_token({("other.topic", 0): 1}, cluster="k1"),
    ):
        with pytest.raises(CertsealError) as err:
            decode_token(bad, [LICENCE, SEAL], cluster="k1")
        assert err.value.field == "start"


def test_entitlements_as_kafka_acls():
    from services.feed.domain import kafka_topics, kafka_user_manifest

    every = frozenset({"*"})
    archive = Entitlement(
        "integrator:archive", every, every, frozenset({"licence.*", "seal.*"})
    )
    assert kafka_topics(archive) == [
        "certseal.licence-events.v1",
        "certseal.licence-usage.v1",
        "certseal.seal-events.v1",
    ]
    manifest = kafka_user_manifest(archive)
    assert "name: integrator-archive" in manifest
    assert "name: certseal.seal-events.v1" in manifest
    assert "name: certseal.trust-events.v1" not in manifest
    # a department-limited entitlement cannot be a topic ACL: group only, and said so
    narrow = Entitlement(
        "integrator:police",
        frozenset({"91350100M000100Y43"}),
        every,
        frozenset({"licence.*"}),
    )
    limited = kafka_user_manifest(narrow)
    assert "type: topic" not in limited and "uses the event feed" in limited


async def test_a_headerless_licence_used_record_from_an_older_verifier_gets_the_same_envelope():
    """Verifiers before 0.2 published licence.used without headers; those records stay
    on the usage topic for 180 days and must reach integrators after an upgrade with
    exactly the envelope a current verifier writes."""
    import datetime as dt

    from certseal.events import LICENCE_USAGE
    from services.feed.events import event_meta, record_headers
    from services.verifier.domain import Verdict, parse_code
    from services.verifier.events import kafka_headers, licence_used
    from tests.verifier.domain_samples import licence_code, signer

    code = parse_code(await licence_code(signer()))
    record = licence_used(
        code,
        Verdict.VALID,
        counter="dept:11440300COUNTER01",
        purpose="窗口办事",
        group="g",
        now=dt.datetime(2026, 11, 30, 8, 0, 0, 123000, tzinfo=dt.UTC),
        event_id="used-legacy-1",
    )
    current = record_headers(LICENCE_USAGE, kafka_headers(record), record.value)
    legacy = record_headers(LICENCE_USAGE, None, record.value)
    # the envelope: the CloudEvents headers, without the verifiers' own
    # certseal-nonces header (services/verifier/replay.py)
    envelope = {k: v for k, v in record.headers.items() if k != "certseal-nonces"}
    assert "certseal-nonces" in record.headers
    assert legacy == current == envelope
    meta = event_meta(LICENCE_USAGE, legacy, record.value)
    assert meta is not None and meta.event_type == "licence.used"
    # a value that is not a LicenceUsedEvent gets no invented envelope
    assert record_headers(LICENCE_USAGE, None, b"\xff\xff") == {}
    assert event_meta(LICENCE_USAGE, {}, b"\xff\xff") is None


def test_asked_event_types_must_exist_and_be_entitled():
    from services.feed.filters import check_event_types

    every = frozenset({"*"})
    check_event_types(["licence.revoked", "seal.*", "*"], every)
    check_event_types(["licence.*"], frozenset({"licence.revoked"}))
    for wanted, entitled, problem in (
        # a typo says which it may be (trial56), a word far from any does not
        (
            ["licence.revokd"],
            every,
            "is not an event type; did you mean licence.revoked? known: ",
        ),
        (["nonsense.*"], every, "is not an event type; known: "),
        (["seal.registered"], frozenset({"licence.*"}), "not among the event types"),
        (["licence.used"], frozenset({"licence.revoked"}), "not among"),
    ):
        with pytest.raises(CertsealError) as err:
            check_event_types(wanted, entitled, field="type")
        assert err.value.field == "type" and problem in err.value.message, wanted


@pytest.mark.parametrize(
    ("entitlement", "field", "problem"),
    [
        (Entitlement("integrator:x", departments=frozenset({"*", "nope"})),
         "departments", "must be 18 characters, got 4 ('nope')"),
        (Entitlement("integrator:x", departments=frozenset({"91350100M000100Y4X"})),
         "departments", "check character"),
        (Entitlement("integrator:x", licence_types=frozenset({"T001"})),
         "licence_types", "'T001' is not a licence type code"),
        (Entitlement("integrator:x", event_types=frozenset({"licence.revokd"})),
         "event_types", "'licence.revokd' is not an event type"),
        (Entitlement("integrator:x", event_types=frozenset({"bogus.*"})),
         "event_types", "'bogus.*' is not an event type"),
    ],
)  # fmt: skip
def test_an_entitlement_naming_what_no_event_carries_is_refused(
    entitlement, field, problem
):
    """A mistyped department, licence type or event type entitled nothing, silently
    (the operator saw 'departments *, nope' and no error)."""
    with pytest.raises(CertsealError) as refused:
        check_entitlement(entitlement)
    assert refused.value.field == field
    assert problem in refused.value.message, refused.value.message


def test_an_entitlement_of_codes_patterns_and_off_feed_types_is_taken():
    check_entitlement(
        Entitlement(
            "integrator:x",
            departments=frozenset({"*", "91350100M000100Y43"}),
            licence_types=frozenset({"*", "91350100M000100Y43001"}),
            # licence.used is on the usage topic, not the feed: a Kafka ACL reads it
            event_types=frozenset({"licence.*", "licence.used", "*"}),
        )
    )
    check_codes(frozenset(), frozenset())
    with pytest.raises(CertsealError) as refused:
        check_codes(frozenset({"*"}), frozenset({"x"}))
    assert refused.value.field == "licence_types"


def test_a_subscription_outside_its_entitlement_is_refused():
    """atk26 F6: entitled to one department, a subscription asking for another got
    an empty stream, where an event type outside the entitlement is refused."""
    dept, other = "91350100M000100Y43", "91440300MA5FXXXX0U"
    entitled = Entitlement(
        "integrator:x",
        departments=frozenset({dept}),
        licence_types=frozenset({"*"}),
        event_types=frozenset({"licence.*"}),
    )
    check_within(Filter(frozenset({dept, "*"}), frozenset({dept + "001"})), entitled)
    with pytest.raises(CertsealError) as refused:
        check_within(Filter(frozenset({other})), entitled)
    assert refused.value.field == "departments"
    assert refused.value.message == (
        f"'{other}' is not among the departments this caller is entitled to ({dept})"
    )
    with pytest.raises(CertsealError) as refused:
        check_within(Filter(licence_types=frozenset({"x"})), entitled)
    assert refused.value.field == "licence_types"


def test_the_known_event_types_are_said_whole_within_an_errors_bound():
    """nu25: the list of known types was cut at the error's 400 characters, the
    last types and the pattern hint lost."""
    from certseal.errors import MAX_DETAILS

    with pytest.raises(CertsealError) as refused:
        check_entitlement(
            Entitlement("integrator:x", event_types=frozenset({"licence.revokd"}))
        )
    message = refused.value.message
    assert len(message) <= MAX_DETAILS, len(message)
    assert "key.{activated,retired,revoked}" in message
    assert "seal.{registered,revoked} (or a pattern such as licence.*)" in message
