"""The verifier's index opens a licence's sealed restricted values (certseal.indexkeys)
and, when it cannot (unknown key id, tampered, moved from another licence, garbage),
shows the licence without them and reports it, never raising. Pure."""

from __future__ import annotations

from certseal.indexkeys import IndexKeys, IndexSealer, index_key_id
from certseal.v1 import events_pb2, licence_pb2
from services.verifier.index import index_entry

KEY, OTHER = bytes(range(32)), b"\x07" * 32
LINEAGE = "1.2.156.3005.2.11440300MB2C93173U001.000000001"


def event(
    *, key: bytes = KEY, lineage: str = LINEAGE, version: int = 2, **extra
) -> events_pb2.LicenceEvent:
    plaintext = events_pb2.RestrictedFields(
        values={
            "grade": licence_pb2.FieldValue(string_value="等级G7"),
            "points": licence_pb2.FieldValue(integer_value=12),
        }
    ).SerializeToString()
    sealed = IndexSealer(key).seal(plaintext, lineage=lineage, lineage_version=version)
    return events_pb2.LicenceEvent(
        lineage=lineage,
        identifier=lineage + ".001",
        lineage_version=version,
        restricted_sealed=events_pb2.SealedFields(
            kid=sealed.kid, nonce=sealed.nonce, ciphertext=sealed.ciphertext
        ),
        **extra,
    )


def entry(message: events_pb2.LicenceEvent, keys: IndexKeys | None):
    problems: list[tuple[str, str]] = []
    got = index_entry(
        message.SerializeToString(),
        keys=keys,
        unopened=lambda lineage, problem: problems.append(
            (lineage, getattr(problem, "reason", "malformed"))
        ),
    )
    return got.restricted_fields, problems


def test_a_held_key_opens_the_values():
    assert entry(event(), IndexKeys([OTHER, KEY])) == (
        {"grade": "等级G7", "points": 12},
        [],
    )


def test_an_unknown_key_id_or_no_keys_gives_no_values_and_a_report():
    assert entry(event(), IndexKeys([OTHER])) == ({}, [(LINEAGE, "unknown_kid")])
    assert entry(event(), None) == ({}, [(LINEAGE, "unknown_kid")])


def test_a_tampered_blob_gives_no_values_and_a_report():
    tampered = event()
    blob = tampered.restricted_sealed
    blob.ciphertext = bytes([blob.ciphertext[0] ^ 0x80]) + blob.ciphertext[1:]
    assert entry(tampered, IndexKeys([KEY])) == ({}, [(LINEAGE, "tampered")])


def test_a_blob_moved_to_another_lineage_or_version_gives_no_values():
    other = LINEAGE[:-1] + "2"
    moved = event(lineage=other)
    moved.restricted_sealed.CopyFrom(event().restricted_sealed)
    assert entry(moved, IndexKeys([KEY])) == ({}, [(other, "tampered")])
    newer = event(version=3)
    newer.restricted_sealed.CopyFrom(event(version=2).restricted_sealed)
    assert entry(newer, IndexKeys([KEY])) == ({}, [(LINEAGE, "tampered")])


def test_a_sealed_plaintext_that_is_not_restricted_fields_is_reported():
    garbage = event()
    sealed = IndexSealer(KEY).seal(b"\xff\xff\xff", lineage=LINEAGE, lineage_version=2)
    garbage.restricted_sealed.ciphertext = sealed.ciphertext
    garbage.restricted_sealed.nonce = sealed.nonce
    values, problems = entry(garbage, IndexKeys([KEY]))
    assert values == {} and problems == [(LINEAGE, "malformed")]


def test_clear_values_of_an_event_written_before_sealing_are_still_read():
    legacy = events_pb2.LicenceEvent(
        lineage=LINEAGE,
        identifier=LINEAGE + ".001",
        lineage_version=1,
        restricted_fields={"grade": licence_pb2.FieldValue(string_value="G6")},
    )
    assert entry(legacy, IndexKeys([KEY])) == ({"grade": "G6"}, [])


def test_an_event_with_a_sealed_blob_is_never_read_in_clear():
    both = event(restricted_fields={"grade": licence_pb2.FieldValue(string_value="X")})
    assert entry(both, IndexKeys([KEY]))[0] == {"grade": "等级G7", "points": 12}
    assert entry(both, IndexKeys([OTHER])) == ({}, [(LINEAGE, "unknown_kid")])
    assert index_key_id(KEY) == both.restricted_sealed.kid


def test_an_unopened_blob_is_logged_by_key_id_and_counted_by_reason(caplog):
    import types

    from certseal.indexkeys import CannotOpen
    from certseal.metrics import Metrics
    from services.verifier.metrics import unopened_counter
    from services.verifier.service import VerifierService

    metrics = Metrics()
    counter = unopened_counter(metrics)
    service = types.SimpleNamespace(_unopened_count=counter)
    with caplog.at_level("WARNING"):
        for problem in (
            CannotOpen("tampered", index_key_id(KEY)),
            CannotOpen("unknown_kid", "ik-0000000000000000"),
            ValueError("not RestrictedFields"),
        ):
            VerifierService._unopened(service, LINEAGE, problem)  # type: ignore[arg-type]
    assert [counter.labels(r)._value.get() for r in ("tampered", "unknown_kid")] == [
        1,
        1,
    ]
    assert counter.labels("malformed")._value.get() == 1
    assert f"{LINEAGE} not opened (tampered: index key '{index_key_id(KEY)}')" in (
        caplog.text
    )
    assert KEY.hex() not in caplog.text
