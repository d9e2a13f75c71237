"""Free text refuses exactly Unicode's control characters (general category Cc), as
the per-character check it replaced did: every code point agrees."""

from __future__ import annotations

import sys
import unicodedata

import pytest

from certseal.errors import CertsealError
from services.issuer.domain import validate_text


def test_every_code_point_is_refused_exactly_when_it_is_a_control_character():
    disagree = []
    for point in range(sys.maxunicode + 1):
        char = chr(point)
        control = unicodedata.category(char) == "Cc"
        try:
            validate_text("f", f"a{char}b", required=True, limit=10)
            refused = False
        except CertsealError:
            refused = True
        if refused != control:
            disagree.append(hex(point))
    assert disagree == []


@pytest.mark.parametrize("char", ["\x00", "\t", "\n", "\x7f", "\x85", "\x9f"])
def test_a_control_character_is_named(char):
    with pytest.raises(CertsealError, match="must not contain control characters"):
        validate_text("holder.name", f"张{char}三", required=True, limit=200)
