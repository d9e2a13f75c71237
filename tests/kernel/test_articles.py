"""Messages that put a variable word after an indefinite article build it with
``certseal.text.with_article`` (fixnu-b 2: "must be a string, got a integer")."""

from __future__ import annotations

import pytest

from certseal.text import with_article
from services.issuer.domain import FieldKind, FieldSpec, LicenceType, validate_fields


@pytest.mark.parametrize(
    ("word", "said"),
    [
        ("string", "a string"),
        ("integer", "an integer"),
        ("boolean", "a boolean"),
        ("date", "a date"),
        ("operator", "an operator"),
        ("app", "an app"),
        ("integrator", "an integrator"),
        ("dept", "a dept"),
        ("unspecified", "an unspecified"),
        ("unique-local", "a unique-local"),
        ("unassigned", "an unassigned"),
        ("format", "a format"),
        ("sm2", "an sm2"),  # read letter by letter: "ess-em two"
        ("es256", "an es256"),
        ("RSAPrivateKey", "an RSAPrivateKey"),
        ("DSAPrivateKey", "a DSAPrivateKey"),
        ("EllipticCurvePrivateKey", "an EllipticCurvePrivateKey"),
        ("DocMDP", "a DocMDP"),
    ],
)
def test_the_article_goes_by_the_sound(word, said):
    assert with_article(word) == said


def test_a_field_of_the_wrong_type_is_said_in_english():
    licence_type = LicenceType(
        "T", "t", (FieldSpec("points", FieldKind.INTEGER),), 1, frozenset({"D"})
    )
    with pytest.raises(Exception) as refused:
        validate_fields(licence_type, {"points": "7"})
    assert str(refused.value) == "fields.points: must be an integer, got a string"
