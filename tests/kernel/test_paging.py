"""Keyset pagination: the page a request asks for, and the token of the next one."""

import pytest

from certseal.errors import CertsealError
from certseal.paging import page


def test_default_and_explicit_sizes():
    assert page(0, "").limit == 50 and page(0, "").after == ""
    assert page(7, "").limit == 7
    assert page(500, "").limit == 500


@pytest.mark.parametrize("size", [-1, 501])
def test_sizes_outside_the_bounds_name_page_size(size):
    with pytest.raises(CertsealError, match="page_size") as raised:
        page(size, "")
    assert raised.value.kind.value == "INVALID_ARGUMENT"


@pytest.mark.parametrize(
    "token",
    # atk59: a key holding NUL reached PostgreSQL, which refused it: INTERNAL
    ["zz", "abc", "ff", "00", b"integrator:\x00".hex(), "610061"],
)
def test_a_token_we_did_not_return_names_page_token(token):
    with pytest.raises(CertsealError, match="page_token"):
        page(10, token)


def test_split_gives_the_next_token_only_when_there_is_more():
    window = page(2, "")
    rows = ["a", "b", "c"]  # read with limit + 1
    shown, token = window.split(rows, str)
    assert shown == ["a", "b"] and page(2, token).after == "b"
    assert window.split(["a", "b"], str) == (["a", "b"], "")
    assert window.split([], str) == ([], "")
