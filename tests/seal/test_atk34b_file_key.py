"""atk34b E1: ``file_key``'s ASCII branch (two regular expressions since 6ea3208)
against the definition it replaced and the non-ASCII branch still keeps: names
split on ``/``, each with its trailing dots and spaces dropped, empty ones left out,
lower case."""

from __future__ import annotations

import random

import pytest

from services.seal.ofd_package import file_key


def _defined(path: str) -> str:
    names = (name.rstrip(" .") for name in path.lower().split("/"))
    return "/".join(name for name in names if name)


@pytest.mark.parametrize(
    "path", ["Res/img.png.\n", "Doc_0/Document.xml \n", "a/ .\n", "x..\n"]
)
def test_a_name_ending_in_a_newline_keeps_the_dots_and_spaces_before_it(
    path: str,
) -> None:
    assert file_key(path) == _defined(path)
    # below a folder of a non-ASCII name it goes the other branch: keyed alike
    assert file_key("é/" + path).split("/", 1)[1] == _defined(path)


def test_the_ascii_branch_keys_as_defined_elsewhere() -> None:
    """held: slashes, dots, spaces, tabs and letters in every order up to 10."""
    rng = random.Random(34)
    alphabet = "a./ \tB"
    for _ in range(50_000):
        path = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 10)))
        assert file_key(path) == _defined(path), repr(path)
