"""certseal.kept.KeptValues: the count and byte bounds, least recently used first."""

from __future__ import annotations

from certseal.kept import KeptValues


def test_the_least_recently_used_goes_first_beyond_the_count():
    kept: KeptValues[str, int] = KeptValues(entries=2, max_bytes=100, max_one=50)
    kept.put("a", 1, 10)
    kept.put("b", 2, 10)
    assert kept.get("a") == 1  # now the most recently used
    kept.put("c", 3, 10)
    assert (kept.get("b"), kept.get("a"), kept.get("c"), len(kept)) == (None, 1, 3, 2)
    assert kept.bytes == 20


def test_the_byte_bound_drops_the_oldest_and_a_costly_value_is_not_kept():
    kept: KeptValues[str, str] = KeptValues(max_bytes=30, max_one=20)
    kept.put("a", "x", 15)
    kept.put("b", "y", 15)
    kept.put("c", "z", 10)  # 40 bytes: "a" goes
    assert (kept.get("a"), kept.bytes, len(kept)) == (None, 25, 2)
    kept.put("big", "w", 21)
    assert kept.get("big") is None and kept.bytes == 25


def test_a_key_kept_already_is_left_as_it_is_and_zero_entries_keeps_none():
    kept: KeptValues[str, int] = KeptValues(entries=3, max_bytes=100, max_one=50)
    kept.put("a", 1, 10)
    kept.put("a", 2, 40)
    assert (kept.get("a"), kept.bytes) == (1, 10)
    none: KeptValues[str, int] = KeptValues(entries=0, max_bytes=100, max_one=50)
    none.put("a", 1, 1)
    assert len(none) == 0 and none.get("a") is None
