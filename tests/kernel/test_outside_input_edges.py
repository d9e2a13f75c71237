"""Edges a second outside pass found in the kernel's readers of outside input: JSON
constants and surrogates, unusable paths, invisible characters in display names."""

from __future__ import annotations

import pytest

from certseal.errors import CertsealError, ErrorKind
from certseal.files import read_regular_file
from certseal.jsontext import loads_bounded
from certseal.text import display_name_problem


@pytest.mark.parametrize(
    "raw",
    [
        b'{"a": NaN}',
        b'{"a": Infinity}',
        b'{"a": -Infinity}',
        b'{"a": 1e999}',
        b'{"purpose": "\\ud800"}',
        b'{"k": ["x", {"y": "a\\udfffb"}]}',
    ],
)
def test_json_outside_rfc_8259_or_with_a_lone_surrogate_is_invalid(raw):
    with pytest.raises(CertsealError) as err:
        loads_bounded(raw, "body")
    assert (err.value.kind, err.value.field) == (ErrorKind.INVALID_ARGUMENT, "body")


def test_ordinary_json_still_reads():
    assert loads_bounded(b'{"a": [1, 2.5, "\\u4e2d"], "b": null}', "body") == {
        "a": [1, 2.5, "中"],
        "b": None,
    }


@pytest.mark.parametrize("path", ["/tmp/x\x00y", "/tmp/\ud800"])
def test_an_unusable_path_is_invalid_argument(path):
    with pytest.raises(CertsealError) as err:
        read_regular_file(path, "image", 100)
    assert (err.value.kind, err.value.field) == (ErrorKind.INVALID_ARGUMENT, "image")


@pytest.mark.parametrize(
    "name",
    [
        "A\u034fB",  # combining grapheme joiner: looks like "AB"
        "示例\ufe0f局",  # variation selector
        "X\U000e0100",  # variation selector supplement
        "A\u180bB",  # Mongolian free variation selector
        "A\u17b4",  # Khmer inherent vowel
        "\u3164\u034f",  # blank-looking
        "A\uffff",  # noncharacter
        "A\u0378",  # unassigned
        "\u0300",  # a mark without a base
        "a" + "\u0300" * 5,  # too many marks
    ],
)
def test_invisible_or_unassigned_characters_are_refused_in_names(name):
    assert display_name_problem(name) is not None


@pytest.mark.parametrize("name", ["示例交警支队", "Café", "e\u0301", "机动车驾驶证 C1"])
def test_ordinary_names_stay_accepted(name):
    assert display_name_problem(name) is None
