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
import json
from collections.abc import Iterable, Mapping

from certseal.errors import invalid, precondition

TOKEN_VERSION = 2
#: the token version before tokens named their cluster (refused: it cannot say)
_CLUSTERLESS_TOKEN_VERSION = 1

Positions = Mapping[tuple[str, int], int]


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
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        data = json.loads(raw)
        version = data["v"]
        if version == _CLUSTERLESS_TOKEN_VERSION:
            raise precondition(
                "the position token names no Kafka cluster (taken before certseal "
                f"tokens did), so it cannot be resumed safely: {RESUBSCRIBE}",
                field="start",
            )
        if version != TOKEN_VERSION or not isinstance(data["c"], str):
            raise ValueError
        positions = {(str(t), int(p)): int(o) for t, p, o in data["p"]}
    except (ValueError, KeyError, TypeError):
        raise invalid(
            "start", "the position token is not one this feed issued"
        ) from None
    unknown = {t for t, _ in positions} - set(topics)
    if unknown or any(o < 0 for o in positions.values()):
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


def beyond_end(
    positions: Mapping[tuple[str, int], int], ends: Mapping[tuple[str, int], int]
) -> list[tuple[str, int]]:
    """The partitions where a token stands past the partition's end: the topic was
    recreated (a new incarnation) since the token was taken."""
    return sorted(tp for tp, offset in positions.items() if offset > ends.get(tp, 0))
