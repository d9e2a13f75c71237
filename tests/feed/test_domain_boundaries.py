"""The event feed's rules at their edges: position tokens, patterns, Kafka ACLs.

``services/feed/domain.py`` has no time comparison; its boundaries are the offsets of a
position token (0 is a position, -1 is not), the token version, the ``.*`` patterns and
the exact Strimzi KafkaUser an entitlement becomes.
"""

import base64
import json

import pytest

from certseal.errors import CertsealError, ErrorKind
from services.feed.domain import (
    EVENT_TOPICS,
    MAX_URL_LENGTH,
    Entitlement,
    EventMeta,
    Filter,
    SubscriptionSlots,
    kafka_topics,
    kafka_user_manifest,
    parse_webhook_url,
)
from services.feed.tokens import (
    MAX_OFFSET,
    MAX_TOKEN_CHARS,
    MAX_TOKEN_ENTRIES,
    RESUBSCRIBE,
    beyond_end,
    check_partitions,
    decode_token,
    encode_token,
)

LICENCE = "certseal.licence-events.v1"
SEAL = "certseal.seal-events.v1"
DEPT = "91350100M000100Y43"
EVERY = frozenset({"*"})


def _token(data: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


@pytest.mark.parametrize(("offset", "ok"), [(-1, False), (0, True), (1, True)])
def test_token_offsets(offset, ok):
    token = _token({"v": 2, "c": "k1", "p": [[LICENCE, 2, offset]]})
    if ok:
        assert decode_token(token, [LICENCE], cluster="k1") == {(LICENCE, 2): offset}
    else:
        with pytest.raises(CertsealError) as err:
            decode_token(token, [LICENCE], cluster="k1")
        assert (err.value.kind, err.value.field) == (
            ErrorKind.INVALID_ARGUMENT,
            "start",
        )
        assert err.value.message == (
            "the position token names offset -1 of certseal.licence-events.v1 "
            "partition 2; offsets are 0 to 9223372036854775807"
        )


@pytest.mark.parametrize(
    ("data", "says"),
    [
        ({"v": 2, "c": "k0", "p": [[LICENCE, 0, 3]]}, "taken on Kafka cluster 'k0'"),
        ({"v": 1, "p": [[LICENCE, 0, 3]]}, "names no Kafka cluster"),
    ],
)
def test_tokens_of_another_cluster_need_a_fresh_start(data, says):
    with pytest.raises(CertsealError) as err:
        decode_token(_token(data), [LICENCE], cluster="k1")
    assert (err.value.kind, err.value.field) == (
        ErrorKind.FAILED_PRECONDITION,
        "start",
    )
    assert says in err.value.message
    assert err.value.message.endswith(RESUBSCRIBE)


def test_a_token_past_a_partitions_end_names_it():
    ends = {(LICENCE, 0): 10, (LICENCE, 1): 0}
    assert beyond_end({(LICENCE, 0): 10, (LICENCE, 1): 0}, ends) == []
    assert beyond_end({(LICENCE, 0): 11, (LICENCE, 1): 1}, ends) == [
        (LICENCE, 0),
        (LICENCE, 1),
    ]
    assert beyond_end({(LICENCE, 2): 1}, ends) == [(LICENCE, 2)]


@pytest.mark.parametrize(
    "data",
    [
        {"v": 0, "p": []},
        {"v": 4, "c": "k1", "p": []},
        {"v": 2, "p": []},
        {"v": 2, "c": 7, "p": []},
        {"p": []},
        {"v": 2, "c": "k1"},
        {"v": 2, "c": "k1", "p": [[LICENCE, 0]]},
        {"v": 2, "c": "k1", "p": [[LICENCE, "zero", 1]]},
        [1],
    ],
)
def test_tokens_of_another_version_or_shape(data):
    with pytest.raises(CertsealError) as err:
        decode_token(_token(data), [LICENCE], cluster="k1")
    assert err.value.field == "start"
    assert err.value.message == "the position token is not one this feed issued"


def test_token_format_is_stable():
    token = encode_token(
        {(SEAL, 1): 5, (LICENCE, 3): 0, (LICENCE, 0): 17}, cluster="k1"
    )
    assert "=" not in token
    raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    assert raw == (
        b'{"v":3,"c":"k1","p":[["certseal.licence-events.v1",0,17],'
        b'["certseal.licence-events.v1",3,0],["certseal.seal-events.v1",1,5]]}'
    )
    with pytest.raises(CertsealError, match="names no partition"):
        decode_token(encode_token({}, cluster="k1"), [], cluster="k1")
    assert decode_token(token, [LICENCE, SEAL, "x"], cluster="k1") == {
        (SEAL, 1): 5,
        (LICENCE, 3): 0,
        (LICENCE, 0): 17,
    }


@pytest.mark.parametrize(
    ("pattern", "event_type", "ok"),
    [
        ("licence.*", "licence.revoked", True),
        ("licence.*", "licence.", True),
        ("licence.*", "licence", False),  # the dot belongs to the pattern
        ("licence.*", "licences.revoked", False),
        ("licence.revoked", "licence.revoked", True),
        ("licence.revoked", "licence.revoked.v2", False),
        ("licence*", "licence.revoked", False),  # only ".*" is a wildcard suffix
        ("*", "anything", True),
    ],
)
def test_event_type_patterns(pattern, event_type, ok):
    event = EventMeta(SEAL, event_type, DEPT)
    entitled = Entitlement("integrator:x", EVERY, EVERY, frozenset({pattern}))
    assert entitled.allows(event) is ok
    assert Filter(event_types=frozenset({pattern})).matches(event) is ok


def test_licence_types_apply_to_licence_events_only():
    entitled = Entitlement("integrator:x", EVERY, frozenset({"T1"}), EVERY)
    assert entitled.allows(EventMeta(LICENCE, "licence.issued", DEPT, "T1"))
    assert not entitled.allows(EventMeta(LICENCE, "licence.issued", DEPT, "T2"))
    assert entitled.allows(EventMeta(SEAL, "seal.created", DEPT, "T2"))
    wanted = Filter(licence_types=frozenset({"T1"}))
    assert wanted.matches(EventMeta(LICENCE, "licence.issued", DEPT, "T1"))
    assert not wanted.matches(EventMeta(LICENCE, "licence.issued", DEPT, "T2"))
    by_department = Filter(departments=frozenset({DEPT}))
    assert by_department.matches(EventMeta(SEAL, "seal.created", DEPT))
    assert not by_department.matches(EventMeta(SEAL, "seal.created", "OTHER"))
    denied = Entitlement("integrator:x", frozenset({"OTHER"}), EVERY, EVERY)
    assert not denied.allows(EventMeta(SEAL, "seal.created", DEPT))


@pytest.mark.parametrize(
    ("patterns", "topics"),
    [
        (
            {"*"},
            [LICENCE, "certseal.licence-usage.v1", SEAL, "certseal.trust-events.v1"],
        ),
        # the usage topic only, although "licence.used" starts with "licence.": an ACL
        # is never broader than the entitlement (issue 13)
        ({"licence.used"}, ["certseal.licence-usage.v1"]),
        ({"licence.*"}, [LICENCE, "certseal.licence-usage.v1"]),
        ({"licence.revoked", "licence.used"}, [LICENCE, "certseal.licence-usage.v1"]),
        ({"licence.revoked"}, [LICENCE]),
        # a pattern matches as the entitlement does: exact, "*" or a ".*" prefix
        ({"licence.use*"}, []),
        ({"licence.used.*"}, []),
        ({"licence"}, []),
        ({"seal.*"}, [SEAL]),
        ({"key.*"}, ["certseal.trust-events.v1"]),
        ({"document.sealed"}, [SEAL]),
        ({"nothing.*"}, []),
    ],
)
def test_topics_of_event_types(patterns, topics):
    assert kafka_topics(
        Entitlement("integrator:x", EVERY, EVERY, frozenset(patterns))
    ) == (sorted(topics))


def test_the_kafka_user_manifest_exactly():
    archive = Entitlement("integrator:archive", EVERY, EVERY, frozenset({"seal.*"}))
    assert kafka_user_manifest(archive, cluster="prod") == (
        "apiVersion: kafka.strimzi.io/v1beta2\n"
        "kind: KafkaUser\n"
        "metadata:\n"
        "  name: integrator-archive\n"
        "  labels:\n"
        "    strimzi.io/cluster: prod\n"
        "spec:\n"
        "  authentication:\n"
        "    type: tls\n"
        "  authorization:\n"
        "    type: simple\n"
        "    acls:\n"
        "      - resource:\n"
        "          type: topic\n"
        "          name: certseal.seal-events.v1\n"
        "          patternType: literal\n"
        "        operations: [Read, Describe]\n"
        "      - resource:\n"
        "          type: group\n"
        "          name: integrator-archive\n"
        "          patternType: prefix\n"
        "        operations: [Read]\n"
    )


@pytest.mark.parametrize(
    ("departments", "licence_types"),
    [(frozenset({DEPT}), EVERY), (EVERY, frozenset({"T1"}))],
)
def test_a_limited_entitlement_gets_no_topic_acl(departments, licence_types):
    police = Entitlement("integrator:police", departments, licence_types, EVERY)
    manifest = kafka_user_manifest(police)
    assert manifest.startswith(
        "# integrator:police: department or licence-type limits\n"
        "# cannot be expressed as topic ACLs; it uses the event feed.\n"
        "apiVersion: kafka.strimzi.io/v1beta2\n"
    )
    assert "type: topic" not in manifest
    assert "strimzi.io/cluster: certseal\n" in manifest
    assert manifest.endswith(
        "          name: integrator-police\n          patternType: prefix\n        operations: [Read]\n"
    )


def test_short_event_types():
    from services.feed.domain import short_type

    assert short_type("cn.gov.certseal.licence.issued") == "licence.issued"
    assert short_type("licence.issued") == "licence.issued"
    assert short_type("x.cn.gov.certseal.") == "x.cn.gov.certseal."


def test_every_licence_event_type_has_its_topic():
    from services.issuer.domain import TRANSITIONS

    published = {t.event for t in TRANSITIONS.values()} | {"licence.issued"}
    assert {EVENT_TOPICS[t] for t in published} == {LICENCE}
    assert EVENT_TOPICS["licence.used"] == "certseal.licence-usage.v1"


@pytest.mark.parametrize(
    ("port", "ok"), [("0", False), ("1", True), ("65535", True), ("65536", False)]
)
def test_webhook_url_ports(port, ok):
    url = f"https://hooks.example.org:{port}/in"
    if ok:
        assert parse_webhook_url(url).port == int(port)
    else:
        with pytest.raises(CertsealError) as err:
            parse_webhook_url(url)
        assert (err.value.kind, err.value.field) == (ErrorKind.INVALID_ARGUMENT, "url")


def test_webhook_url_without_a_port_is_443():
    assert parse_webhook_url("https://hooks.example.org/in").port == 443


@pytest.mark.parametrize(
    ("length", "ok"),
    [(MAX_URL_LENGTH - 1, True), (MAX_URL_LENGTH, True), (MAX_URL_LENGTH + 1, False)],
)
def test_webhook_url_length(length, ok):
    stem = "https://hooks.example.org/"
    url = stem + "a" * (length - len(stem))
    assert len(url) == length
    if ok:
        assert parse_webhook_url(url).url == url
    else:
        with pytest.raises(CertsealError) as err:
            parse_webhook_url(url)
        assert err.value.field == "url" and "2048" in err.value.message


@pytest.mark.parametrize(
    ("labels", "ok"), [(61, True), (62, True), (63, True), (64, False)]
)
def test_webhook_host_label_length(labels, ok):
    url = f"https://{'a' * labels}.example.org/"
    if ok:
        assert parse_webhook_url(url).host.startswith("a" * labels)
    else:
        with pytest.raises(CertsealError):
            parse_webhook_url(url)


def test_subscription_slots_at_their_limit():
    slots = SubscriptionSlots(2)
    slots.take("integrator:a")  # 1 of 2
    slots.take("integrator:a")  # 2 of 2: at the limit
    with pytest.raises(CertsealError) as err:
        slots.take("integrator:a")  # one more than the limit
    assert err.value.kind is ErrorKind.RESOURCE_EXHAUSTED
    assert "integrator:a has 2 subscriptions open" in err.value.message
    slots.take("integrator:b")  # per integrator
    assert (slots.open("integrator:a"), slots.open("integrator:b")) == (2, 1)
    slots.give_back("integrator:a")
    slots.take("integrator:a")  # a slot given back is free again
    for _ in range(2):
        slots.give_back("integrator:a")
    assert slots.open("integrator:a") == 0
    slots.give_back("integrator:a")  # never below zero
    assert slots.open("integrator:a") == 0


def test_a_usage_only_entitlement_reads_the_usage_topic_only():
    usage = Entitlement("integrator:usage", EVERY, EVERY, frozenset({"licence.used"}))
    manifest = kafka_user_manifest(usage)
    topics = [
        line.split("name: ", 1)[1]
        for line in manifest.splitlines()
        if line.startswith("          name: ")
    ]
    assert topics == ["certseal.licence-usage.v1", "integrator-usage"]


@pytest.mark.parametrize(
    ("entries", "says"),
    [
        ([], "names no partition"),
        ([[LICENCE, -1, 0]], "names partition -1 of"),
        ([[LICENCE, 2**70, 0]], f"names partition {2**70} of"),
        ([[LICENCE, 0, 2**70]], f"offset {2**70} of"),
        ([[LICENCE, 0, MAX_OFFSET + 1]], "offsets are 0 to"),
        ([[LICENCE, 0, 1], [LICENCE, 0, 2]], "partition 0 twice"),
        ([[LICENCE, 0, True]], "not one this feed issued"),
        ([[LICENCE, 0, 1.5]], "not one this feed issued"),
        ([[LICENCE, p, 0] for p in range(3000)], "; the limit is"),
    ],
)
def test_forged_token_entries_are_refused(entries, says):
    token = _token({"v": 2, "c": "k1", "p": entries})
    with pytest.raises(CertsealError) as err:
        decode_token(token, [LICENCE], cluster="k1")
    assert (err.value.kind, err.value.field) == (ErrorKind.INVALID_ARGUMENT, "start")
    assert says in err.value.message


def test_a_token_at_the_entry_limit_decodes():
    entries = [[LICENCE, p, MAX_OFFSET] for p in range(MAX_TOKEN_ENTRIES)]
    assert (
        len(
            decode_token(
                _token({"v": 2, "c": "k1", "p": entries}), [LICENCE], cluster="k1"
            )
        )
        == MAX_TOKEN_ENTRIES
    )


@pytest.mark.parametrize(
    "token",
    [
        _token({"v": 2, "c": "k1", "p": [[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]}),
        base64.urlsafe_b64encode(b"[" * 2000 + b"]" * 2000).decode(),
        "A" * (MAX_TOKEN_CHARS + 1),
        base64.urlsafe_b64encode(
            b'{"v":2,"c":"' + bytes([0xFF, 0xFE]) + b'"}'
        ).decode(),
        "!!!",
    ],
)
def test_tokens_nested_too_deep_too_long_or_not_utf8_are_refused(token):
    with pytest.raises(CertsealError) as err:
        decode_token(token, [LICENCE], cluster="k1")
    assert (err.value.kind, err.value.field) == (ErrorKind.INVALID_ARGUMENT, "start")


def test_a_token_naming_partitions_the_topics_lack_is_refused():
    partitions = [(LICENCE, 0), (LICENCE, 1), (SEAL, 0)]
    check_partitions({(LICENCE, 1): 3, (SEAL, 0): 0}, partitions)
    with pytest.raises(CertsealError, match="partition 9999 of") as err:
        check_partitions({(LICENCE, 9999): 0}, partitions)
    assert err.value.field == "start"
    many = {(LICENCE, p): 0 for p in range(4)}
    with pytest.raises(
        CertsealError, match="names 4 partitions; the feed's topics have 3"
    ):
        check_partitions(many, partitions)
