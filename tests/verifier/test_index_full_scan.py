"""atk6: the multi-get of the lookup path meets a damaged block first (no earlier
get noted the damage): it must be UNAVAILABLE, never "no such licence"."""

from services.verifier.diskindex import DiskIndex
from tests.verifier.test_index_damage import (
    LINEAGES,
    assert_unavailable,
    built,
    damage_first_block,
)


def test_a_multi_get_that_meets_a_damaged_block_first_is_unavailable(tmp_path):
    path = built(tmp_path)
    damage_first_block(path)
    index = DiskIndex(path)
    assert_unavailable(lambda: index.get_many([LINEAGES[0].encode()]))
    assert index.damage is not None


def test_a_multi_get_of_a_sound_and_a_damaged_entry_is_unavailable(tmp_path):
    path = built(tmp_path)
    damage_first_block(path)
    index = DiskIndex(path)
    assert_unavailable(
        lambda: index.get_many([LINEAGES[-1].encode(), LINEAGES[1].encode()])
    )


def test_a_full_scan_that_meets_a_damaged_block_is_unavailable_not_partial(tmp_path):
    """The offline bundle's scan (bundle_export._scan -> DiskIndex.items) may run
    after SERVING, before the background check reached the damage: a scan that
    stops silently at the damaged block lists fewer licences (a revoked licence
    left out of a bundle verifies offline as its code says: valid)."""
    path = built(tmp_path)
    damage_first_block(path)
    index = DiskIndex(path)
    assert_unavailable(lambda: list(index.items()))


def test_a_full_scan_of_an_index_known_damaged_is_unavailable(tmp_path):
    path = built(tmp_path)
    damage_first_block(path)
    index = DiskIndex(path)
    assert_unavailable(lambda: index.get(LINEAGES[0].encode()))  # damage noted
    assert_unavailable(lambda: list(index.items()))
