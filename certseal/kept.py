"""Values kept for their keys, the most recently used last, within a count and a byte
bound: what the seal service keeps of verifications and of seals read (values that are
a function of their key's bytes). Not thread-safe: a caller shared by threads holds its
own lock around each call."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class KeptValues(Generic[K, V]):
    """At most ``entries`` values (None: no count bound) costing at most ``max_bytes``
    together; a value costing more than ``max_one`` is not kept. Putting beyond a
    bound drops the least recently used first."""

    def __init__(self, *, max_bytes: int, max_one: int, entries: int | None = None):
        self.entries = entries
        self.max_bytes = max_bytes
        self.max_one = max_one
        self.bytes = 0
        self._values: OrderedDict[K, tuple[V, int]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._values)

    def get(self, key: K) -> V | None:
        """The value kept for ``key`` (now the most recently used), or None."""
        found = self._values.get(key)
        if found is None:
            return None
        self._values.move_to_end(key)
        return found[0]

    def put(self, key: K, value: V, cost: int) -> None:
        """Keep ``value`` for ``key`` at ``cost`` bytes (not when ``key`` is kept
        already, nothing may be kept, or ``cost`` is over ``max_one``)."""
        if key in self._values or self.entries == 0 or cost > self.max_one:
            return
        self._values[key] = (value, cost)
        self.bytes += cost
        while self.bytes > self.max_bytes or (
            self.entries is not None and len(self._values) > self.entries
        ):
            _, (_, freed) = self._values.popitem(last=False)
            self.bytes -= freed
