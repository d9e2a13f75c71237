"""Position tokens of the event feed, pure.

A position token is opaque to subscribers: the Kafka cluster it was taken on and the next
offset of every partition the subscription reads, after the event it came with.
Reconnecting with the last token continues right after that event, with no gap. Offsets
mean nothing on another cluster (a rebuilt one, a new embedded broker), so a token
from another cluster, or from before tokens named their cluster, is refused with
FAILED_PRECONDITION rather than resumed mid-partition; so is a token past a partition's
end (the topic was recreated). What to do instead is :data:`RESUBSCRIBE`.

Version 3 tokens also name the topic's incarnation: beside the next offset of a
partition they carry the fingerprint (:func:`record_fingerprint`) of the record just
before it, the last one the feed read there. A topic deleted and recreated on the same
cluster and refilled past the token has another record (or none) at that offset, and
:func:`incarnation_mismatch` says so before anything is delivered. Version 2 tokens
(offsets only) are still resumed as before; see docs/events.md.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Collection, Iterable, Mapping

from certseal.errors import CertsealError, invalid, precondition
from certseal.jsontext import loads_bounded

TOKEN_VERSION = 3
#: the token version before tokens carried fingerprints (resumed on offsets alone)
_OFFSETS_TOKEN_VERSION = 2
#: the token version before tokens named their cluster (refused: it cannot say)
_CLUSTERLESS_TOKEN_VERSION = 1
#: bytes of a record fingerprint (SHA-256, truncated), 11 base64url characters in a token
FINGERPRINT_BYTES = 8

Positions = Mapping[tuple[str, int], int]
Fingerprints = Mapping[tuple[str, int], bytes]

#: Kafka's partition ids are int32 and its offsets int64 (never negative in a token)
MAX_PARTITION = 2**31 - 1
MAX_OFFSET = 2**63 - 1
#: entries a token may hold before its partitions are known: far more than the feed's
#: topics have partitions (checked exactly by :func:`check_partitions`)
MAX_TOKEN_ENTRIES = 1024
#: characters of a token: MAX_TOKEN_ENTRIES entries of a topic name and two numbers
MAX_TOKEN_CHARS = MAX_TOKEN_ENTRIES * 96


def record_fingerprint(
    key: bytes | None, value: bytes | None, headers: Iterable[tuple[str, bytes]] | None
) -> bytes:
    """The first :data:`FINGERPRINT_BYTES` bytes of SHA-256 (FIPS 180-4) of a record's
    ``ce_id`` header (its CloudEvents id, unique per event), or of its key and value
    when it has none (usage records written before certseal 0.2)."""
    event_id = dict(headers or ()).get("ce_id")
    if event_id is not None:
        material = b"ce_id\0" + event_id
    else:
        key, value = key or b"", value or b""
        material = b"kv\0" + len(key).to_bytes(4, "big") + key + value
    return hashlib.sha256(material).digest()[:FINGERPRINT_BYTES]


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _entry(
    topic: str, partition: int, offset: int, fingerprint: bytes | None
) -> list[str | int]:
    if offset == 0 or fingerprint is None:
        return [topic, partition, offset]
    return [topic, partition, offset, _b64(fingerprint)]


def encode_token(
    positions: Positions, *, cluster: str, fingerprints: Fingerprints | None = None
) -> str:
    """The token for ``positions`` (next offset per topic partition) on ``cluster``
    (the Kafka cluster id), with the ``fingerprints`` of the record before each offset
    where it is known (:func:`record_fingerprint`; none at offset 0).

    Size (base64url of JSON): at most 4/3 x (24 + len(cluster) + the sum over the
    partitions of len(topic) + 50) characters, the 50 being a partition number of up
    to 10 digits, an offset of up to 19 and an 11-character fingerprint; for
    certseal's four topics of 12 partitions each and a 22-character cluster id, at
    most 4,300 characters (4,259 at the largest offsets)."""
    known = fingerprints or {}
    data = {
        "v": TOKEN_VERSION,
        "c": cluster,
        "p": sorted(
            _entry(t, p, o, known.get((t, p))) for (t, p), o in positions.items()
        ),
    }
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


#: what a subscriber whose token cannot be resumed does instead (docs/events.md)
RESUBSCRIBE = (
    "subscribe again from earliest and drop events whose id you already hold "
    "(or from latest, accepting a gap)"
)


def decode_token(
    token: str, topics: Iterable[str], *, cluster: str
) -> dict[tuple[str, int], int]:
    """The positions a token stands for on ``cluster``.

    INVALID_ARGUMENT when it is not one of ours; FAILED_PRECONDITION when it was taken
    on another Kafka cluster, or is a version-1 token, which names none: its offsets
    would resume mid-partition on this one and skip events silently. Version 2 tokens
    (no fingerprints) and version 3 ones are read; their fingerprints, checked here for
    shape only, are :func:`token_fingerprints`.
    """
    if len(token) > MAX_TOKEN_CHARS:
        raise invalid(
            "start",
            f"the position token is {len(token)} characters; the limit is "
            f"{MAX_TOKEN_CHARS}",
        )
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (ValueError, binascii.Error):
        raise invalid(
            "start", "the position token is not one this feed issued"
        ) from None
    # nesting bounded before decoding: a token of 100,000 "[" is refused, not recursed;
    # what is no JSON text is no token of ours (not "not UTF-8": the token is ASCII)
    try:
        data = loads_bounded(raw.decode("utf-8"), "start")
    except (UnicodeDecodeError, CertsealError):
        raise invalid(
            "start", "the position token is not one this feed issued"
        ) from None
    try:
        version = data["v"]
        if type(version) is not int:  # not true, nor 3.0
            raise ValueError
        if version == _CLUSTERLESS_TOKEN_VERSION:
            raise precondition(
                "the position token names no Kafka cluster (taken before certseal "
                f"tokens did), so it cannot be resumed safely: {RESUBSCRIBE}",
                field="start",
            )
        if version not in (TOKEN_VERSION, _OFFSETS_TOKEN_VERSION) or not isinstance(
            data["c"], str
        ):
            raise ValueError
        entries = data["p"]
        if not isinstance(entries, list):
            raise ValueError
        _fingerprints(data)  # well-formed ones, or not a token of ours
    except (ValueError, KeyError, TypeError):
        raise invalid(
            "start", "the position token is not one this feed issued"
        ) from None
    positions = _positions(entries)
    unknown = {t for t, _ in positions} - set(topics)
    if unknown:
        raise invalid(
            "start", "the position token names topics this feed does not read"
        )
    if data["c"] != cluster:
        raise precondition(
            f"the position token was taken on Kafka cluster {data['c']!r}, and this "
            f"feed reads cluster {cluster!r} (rebuilt or replaced since): its offsets "
            f"mean nothing here; {RESUBSCRIBE}",
            field="start",
        )
    return positions


def _fingerprints(data: dict[str, object]) -> dict[tuple[str, int], bytes] | None:
    """A decoded token's fingerprints; None for a version 2 token (it has none).

    ValueError when one is not :data:`FINGERPRINT_BYTES` bytes in base64url, or stands
    beside offset 0 (no record precedes it)."""
    if data["v"] != TOKEN_VERSION:
        if any(len(entry) != 3 for entry in data["p"]):  # type: ignore[attr-defined]
            raise ValueError
        return None
    found: dict[tuple[str, int], bytes] = {}
    for entry in data["p"]:  # type: ignore[attr-defined]
        if len(entry) != 4:
            continue
        topic, partition, offset, text = entry
        if not isinstance(text, str) or len(text) != 11 or type(offset) is not int:
            raise ValueError
        if offset == 0:
            raise ValueError
        raw = base64.urlsafe_b64decode(text + "=")
        if len(raw) != FINGERPRINT_BYTES or _b64(raw) != text:
            raise ValueError
        found[(str(topic), int(partition))] = raw
    return found


def token_fingerprints(token: str) -> dict[tuple[str, int], bytes] | None:
    """The fingerprints of a token :func:`decode_token` accepted: per partition, of the
    record before its offset (absent where none was known); None for a version 2
    token, which carries none."""
    raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    return _fingerprints(json.loads(raw))


def incarnation_mismatch(
    positions: Positions,
    fingerprints: Fingerprints | None,
    log_starts: Positions,
    found: Mapping[tuple[str, int], bytes | None],
) -> str | None:
    """Why a token cannot be resumed on this incarnation of its topics, or None.

    ``positions`` and ``fingerprints`` are the token's; ``log_starts`` each
    partition's first offset now; ``found`` the fingerprint of the record now at
    offset - 1 of each partition where offset > log start (None: no record there).

    - offset below the log start: the records from that offset on are gone (retention
      deleted them before they were read, or the topic was recreated and trimmed);
      resuming would skip them silently, so it is refused either way;
    - offset at the log start: nothing between the token and the log's first record
      is missing; it resumes (the record before it may have been deleted by retention,
      which is not a new incarnation);
    - otherwise (version 3): the record before the offset must be the one the token
      was taken after; another one, or one where the token knew none (it stood at the
      log start then, and a log start never moves back), means the topic was deleted
      and recreated since.
    """
    for (topic, partition), offset in sorted(positions.items()):
        start = log_starts.get((topic, partition), 0)
        where = f"{topic} partition {partition}"
        if offset < start:
            return (
                f"the events of {where} from offset {offset} on were deleted "
                f"(retention; the log now starts at {start}) or the topic was "
                "recreated, so the position token cannot resume there without a gap"
            )
        if fingerprints is None or offset == start:
            continue
        want = fingerprints.get((topic, partition))
        if want is None or found.get((topic, partition)) != want:
            return (
                f"the record before offset {offset} of {where} is not the one the "
                "position token was taken after: the topic was deleted and "
                "recreated since"
            )
    return None


def _positions(entries: list[object]) -> dict[tuple[str, int], int]:
    """A token's ``[topic, partition, offset(, fingerprint)]`` entries as positions: at least one, at
    most :data:`MAX_TOKEN_ENTRIES`, each partition once, partitions and offsets
    integers in Kafka's ranges; else INVALID_ARGUMENT (``start``)."""
    if not entries:
        raise invalid("start", "the position token names no partition")
    if len(entries) > MAX_TOKEN_ENTRIES:
        raise invalid(
            "start",
            f"the position token names {len(entries)} partitions; the limit is "
            f"{MAX_TOKEN_ENTRIES}",
        )
    positions: dict[tuple[str, int], int] = {}
    for entry in entries:
        if (
            not isinstance(entry, list)
            or len(entry) not in (3, 4)  # a fingerprint may follow (version 3)
            or not isinstance(entry[0], str)
            or any(type(n) is not int for n in entry[1:3])
        ):
            raise invalid("start", "the position token is not one this feed issued")
        topic, partition, offset = entry[:3]
        if not 0 <= partition <= MAX_PARTITION:
            raise invalid(
                "start", f"the position token names partition {partition} of {topic}"
            )
        if not 0 <= offset <= MAX_OFFSET:
            raise invalid(
                "start",
                f"the position token names offset {offset} of {topic} partition "
                f"{partition}; offsets are 0 to {MAX_OFFSET}",
            )
        if (topic, partition) in positions:
            raise invalid(
                "start", f"the position token names {topic} partition {partition} twice"
            )
        positions[(topic, partition)] = offset
    return positions


def check_partitions(
    positions: Positions, partitions: Collection[tuple[str, int]]
) -> None:
    """INVALID_ARGUMENT (``start``) when a token names more entries than the topics
    have ``partitions``, or a partition that does not exist on its topic."""
    if len(positions) > len(partitions):
        raise invalid(
            "start",
            f"the position token names {len(positions)} partitions; the feed's topics "
            f"have {len(partitions)}",
        )
    missing = sorted(set(positions) - set(partitions))
    if missing:
        topic, partition = missing[0]
        raise invalid(
            "start",
            f"the position token names partition {partition} of {topic}, which has "
            "no such partition",
        )


def beyond_end(
    positions: Mapping[tuple[str, int], int], ends: Mapping[tuple[str, int], int]
) -> list[tuple[str, int]]:
    """The partitions where a token stands past the partition's end: the topic was
    recreated (a new incarnation) since the token was taken."""
    return sorted(tp for tp, offset in positions.items() if offset > ends.get(tp, 0))
