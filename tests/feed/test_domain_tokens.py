"""Version 3 position tokens, pure: the record fingerprint beside each offset, how a
tampered or misplaced fingerprint is refused, the incarnation rule (retention versus
a recreated topic) and the token's size bound."""

import base64
import json

import pytest

from certseal.errors import CertsealError, ErrorKind
from services.feed.events import FEED_TOPICS
from services.feed.tokens import (
    FINGERPRINT_BYTES,
    RESUBSCRIBE,
    decode_token,
    encode_token,
    incarnation_mismatch,
    record_fingerprint,
    token_fingerprints,
)

LICENCE = "certseal.licence-events.v1"
SEAL = "certseal.seal-events.v1"
FP = bytes.fromhex("0123456789abcdef")
OTHER = bytes.fromhex("fedcba9876543210")


def _token(data: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def _data(token: str) -> dict:
    return json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))


def test_a_fingerprint_is_8_bytes_of_sha256_of_the_event_id():
    with_id = record_fingerprint(b"k", b"v", [("ce_id", b"0190-abc")])
    # printf 'ce_id\0000190-abc' | sha256sum, first 8 bytes
    assert with_id == bytes.fromhex("960fef386f81ecca")
    assert len(with_id) == FINGERPRINT_BYTES
    # the event id decides, not the key, value or the other headers
    assert record_fingerprint(None, b"x", [("a", b"1"), ("ce_id", b"0190-abc")]) == (
        with_id
    )
    assert record_fingerprint(b"k", b"v", [("ce_id", b"0190-abd")]) != with_id


def test_a_record_without_an_event_id_is_fingerprinted_by_key_and_value():
    plain = record_fingerprint(b"key", b"value", None)
    assert plain == record_fingerprint(b"key", b"value", [("other", b"1")])
    assert plain != record_fingerprint(b"keyv", b"alue", None)  # length-prefixed
    assert plain != record_fingerprint(b"key", b"value2", None)
    assert record_fingerprint(None, None, []) == record_fingerprint(b"", b"", [])


def test_fingerprints_round_trip_beside_their_offsets():
    positions = {(LICENCE, 0): 17, (LICENCE, 3): 0, (SEAL, 1): 5}
    token = encode_token(
        positions,
        cluster="k1",
        fingerprints={(LICENCE, 0): FP, (LICENCE, 3): OTHER},  # none at offset 0
    )
    assert _data(token) == {
        "v": 3,
        "c": "k1",
        "p": [[LICENCE, 0, 17, "ASNFZ4mrze8"], [LICENCE, 3, 0], [SEAL, 1, 5]],
    }
    assert decode_token(token, [LICENCE, SEAL], cluster="k1") == positions
    assert token_fingerprints(token) == {(LICENCE, 0): FP}


def test_a_version_2_token_has_offsets_only():
    token = _token({"v": 2, "c": "k1", "p": [[LICENCE, 0, 17]]})
    assert decode_token(token, [LICENCE], cluster="k1") == {(LICENCE, 0): 17}
    assert token_fingerprints(token) is None
    v3 = _token({"v": 3, "c": "k1", "p": [[LICENCE, 0, 17]]})
    assert token_fingerprints(v3) == {}


@pytest.mark.parametrize(
    "entry",
    [
        [LICENCE, 0, 17, "ASNFZ4mrze"],  # 10 characters
        [LICENCE, 0, 17, "ASNFZ4mrze8A"],  # 12
        [LICENCE, 0, 17, "ASNFZ4mrz+8"],  # not base64url
        [LICENCE, 0, 17, "ASNFZ4mrze9"],  # not canonical (padding bits set)
        [LICENCE, 0, 17, 81985529216486895],  # not a string
        [LICENCE, 0, 17, None],
        [LICENCE, 0, 0, "ASNFZ4mrze8"],  # no record precedes offset 0
        [LICENCE, 0, 17, "ASNFZ4mrze8", "x"],
    ],
)
def test_a_tampered_fingerprint_is_not_a_token_of_ours(entry):
    with pytest.raises(CertsealError) as err:
        decode_token(_token({"v": 3, "c": "k1", "p": [entry]}), [LICENCE], cluster="k1")
    assert (err.value.kind, err.value.field) == (ErrorKind.INVALID_ARGUMENT, "start")
    assert err.value.message == "the position token is not one this feed issued"


def test_a_version_2_token_carries_no_fingerprint():
    with pytest.raises(CertsealError) as err:
        decode_token(
            _token({"v": 2, "c": "k1", "p": [[LICENCE, 0, 17, "ASNFZ4mrze8"]]}),
            [LICENCE],
            cluster="k1",
        )
    assert err.value.kind is ErrorKind.INVALID_ARGUMENT


TP = (LICENCE, 0)


@pytest.mark.parametrize(
    ("offset", "token_fp", "log_start", "found", "says"),
    [
        (5, FP, 0, FP, None),  # the same record: one incarnation
        (5, FP, 0, OTHER, "deleted and recreated"),  # another record there
        (5, FP, 0, None, "deleted and recreated"),  # another offset there
        (5, None, 0, FP, "deleted and recreated"),  # none when taken: at log start
        (5, FP, 5, None, None),  # the record before was deleted by retention
        (5, None, 5, None, None),  # taken at the log start, still there
        (5, FP, 6, None, "were deleted (retention"),  # events after it are gone
        (0, None, 0, None, None),
        (0, None, 2, None, "were deleted (retention"),
    ],
)
def test_the_incarnation_rule(offset, token_fp, log_start, found, says):
    fingerprints = {TP: token_fp} if token_fp else {}
    found_now = {TP: found} if offset > log_start else {}
    reason = incarnation_mismatch(
        {TP: offset}, fingerprints, {TP: log_start}, found_now
    )
    if says is None:
        assert reason is None
    else:
        assert says in reason and f"{LICENCE} partition 0" in reason


def test_a_version_2_token_is_checked_for_retention_only():
    assert incarnation_mismatch({TP: 5}, None, {TP: 0}, {TP: OTHER}) is None
    assert "retention" in incarnation_mismatch({TP: 5}, None, {TP: 6}, {})


def test_the_first_partition_that_fails_is_named():
    positions = {(SEAL, 1): 3, (LICENCE, 2): 9, (LICENCE, 0): 4}
    fingerprints = {k: FP for k in positions}
    found = {(SEAL, 1): OTHER, (LICENCE, 2): OTHER, (LICENCE, 0): FP}
    reason = incarnation_mismatch(positions, fingerprints, {}, found)
    assert reason.startswith(f"the record before offset 9 of {LICENCE} partition 2")
    assert RESUBSCRIBE not in reason  # the service adds what to do


def test_a_token_stays_within_its_documented_size():
    cluster = "x" * 22
    largest = {(t, p): 2**63 - 1 for t in FEED_TOPICS for p in range(12)}
    every = {k: FP for k in largest}
    token = encode_token(largest, cluster=cluster, fingerprints=every)
    bound = 4 / 3 * (24 + len(cluster) + sum(len(t) + 50 for t, _ in largest))
    assert len(token) <= bound and len(token) <= 4300
    assert decode_token(token, FEED_TOPICS, cluster=cluster) == largest
    assert token_fingerprints(token) == every


def _raw_token(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "text",
    [
        # an offset of float infinity beside a fingerprint (was an OverflowError)
        f'{{"v":3,"c":"k1","p":[["{LICENCE}",0,1e400,"ASNFZ4mrze8"]]}}',
        f'{{"v":3,"c":"k1","p":[["{LICENCE}",0,-1e999,"ASNFZ4mrze8"]]}}',
        f'{{"v":3,"c":"k1","p":[["{LICENCE}",0,17.0,"ASNFZ4mrze8"]]}}',
        # a version that is not an integer
        f'{{"v":true,"c":"k1","p":[["{LICENCE}",0,17]]}}',
        f'{{"v":3.0,"c":"k1","p":[["{LICENCE}",0,17]]}}',
        f'{{"v":2.0,"c":"k1","p":[["{LICENCE}",0,17]]}}',
    ],
)
def test_numbers_that_are_not_integers_are_not_a_token_of_ours(text):
    with pytest.raises(CertsealError) as err:
        decode_token(_raw_token(text), [LICENCE], cluster="k1")
    assert (err.value.kind, err.value.field) == (ErrorKind.INVALID_ARGUMENT, "start")
