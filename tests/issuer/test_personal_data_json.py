"""The personal data's JSON (encrypted, read back with json.loads) and the jsonb
argument text: msgspec's encoder writes what json.dumps wrote, for every kind of
value those columns hold, including the awkward characters."""

from __future__ import annotations

import json
import random

import pytest

from certseal.storage.pool import _jsonb_text
from services.issuer.storage.rows import dumps

AWKWARD = [
    "",
    "张三",
    'quote " backslash \\ slash /',
    "\x00\x01\x1f\x7f control",
    "\n\r\t\b\f",
    "\u2028\u2029 line separators",
    "\U0001f600 astral",
    "\ud7ff\ue000\uffff edges",
    "<script>&amp;</script>",
]


def values(seed: int) -> list[object]:
    rng = random.Random(seed)
    alphabet = "".join(AWKWARD) + "abcXYZ019 -"
    text = [
        "".join(rng.choice(alphabet) for _ in range(rng.randrange(40)))
        for _ in range(50)
    ]
    return [
        *AWKWARD,
        *text,
        {"holder": ["张三", "resident", "11010519491231002X"], "fields": {"f": "v"}},
        {"nested": [{"a": [1, -2, 2**62, True, False, None]}], "": ""},
        {k: k for k in AWKWARD},
    ]


#: floats read back equal; their text may differ in exponent form (1e300, 1e+300)
FLOATS = [0.0, 1.5, -0.25, 1e300, 5e-324, [0.1, {"x": 2.5e-7}]]


@pytest.mark.parametrize("seed", range(5))
def test_personal_data_json_is_what_json_dumps_wrote(seed: int) -> None:
    for value in values(seed):
        wrote = json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()
        assert dumps(value) == wrote
        assert json.loads(dumps(value)) == value
    for value in FLOATS:
        assert json.loads(dumps(value)) == value


@pytest.mark.parametrize("seed", range(5))
def test_jsonb_text_reads_back_as_the_same_value(seed: int) -> None:
    for value in [*values(seed), *FLOATS]:
        assert json.loads(_jsonb_text(value)) == value


def test_a_value_json_cannot_hold_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        dumps({"x": object()})


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_a_jsonb_argument_with_nan_or_infinity_is_refused_not_made_null(bad) -> None:
    for value in (bad, [1, bad], {"a": {"b": (bad,)}}):
        with pytest.raises(ValueError, match="NaN and infinities"):
            _jsonb_text(value)
    assert _jsonb_text({"a": None, "b": [1.5]}) == '{"a":null,"b":[1.5]}'
