"""Position tokens of the event feed, pure.

A position token is opaque to subscribers: the Kafka cluster it was taken on and the next
offset of every partition the subscription reads, after the event it came with.
Reconnecting with the last token continues right after that event, with no gap. Offsets
mean nothing on another cluster (a rebuilt one, a new embedded broker), so a token
from another cluster, or from before tokens named their cluster, is refused with
FAILED_PRECONDITION rather than resumed mid-partition; so is a token past a partition's
end (the topic was recreated). What to do instead is :data:`RESUBSCRIBE`.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Collection, Iterable, Mapping

from certseal.errors import invalid, precondition
from certseal.jsontext import loads_bounded

TOKEN_VERSION = 2
#: the token version before tokens named their cluster (refused: it cannot say)
_CLUSTERLESS_TOKEN_VERSION = 1

Positions = Mapping[tuple[str, int], int]

#: Kafka's partition ids are int32 and its offsets int64 (never negative in a token)
MAX_PARTITION = 2**31 - 1
MAX_OFFSET = 2**63 - 1
#: entries a token may hold before its partitions are known: far more than the feed's
#: topics have partitions (checked exactly by :func:`check_partitions`)
MAX_TOKEN_ENTRIES = 1024
#: characters of a token: MAX_TOKEN_ENTRIES entries of a topic name and two numbers
MAX_TOKEN_CHARS = MAX_TOKEN_ENTRIES * 96


def encode_token(positions: Positions, *, cluster: str) -> str:
    """The token for ``positions`` (next offset per topic partition) on ``cluster``
    (the Kafka cluster id)."""
    data = {
        "v": TOKEN_VERSION,
        "c": cluster,
        "p": sorted([t, p, o] for (t, p), o in positions.items()),
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
    would resume mid-partition on this one and skip events silently.
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
    # nesting bounded before decoding: a token of 100,000 "[" is refused, not recursed
    data = loads_bounded(raw, "start")
    try:
        version = data["v"]
        if version == _CLUSTERLESS_TOKEN_VERSION:
            raise precondition(
                "the position token names no Kafka cluster (taken before certseal "
                f"tokens did), so it cannot be resumed safely: {RESUBSCRIBE}",
                field="start",
            )
        if version != TOKEN_VERSION or not isinstance(data["c"], str):
            raise ValueError
        entries = data["p"]
        if not isinstance(entries, list):
            raise ValueError
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


def _positions(entries: list[object]) -> dict[tuple[str, int], int]:
    """A token's ``[topic, partition, offset]`` entries as positions: at least one, at
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
            or len(entry) != 3
            or not isinstance(entry[0], str)
            or any(type(n) is not int for n in entry[1:])
        ):
            raise invalid("start", "the position token is not one this feed issued")
        topic, partition, offset = entry
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
