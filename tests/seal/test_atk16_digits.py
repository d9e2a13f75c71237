"""atk16 F3, the same kind elsewhere: a text ``str.isdigit()`` takes for digits that
``int()`` does not read ("²", "①"), or an integer its field cannot hold.

VerifyOfd's ``MaxSignId`` was the finding (tests/seal/test_atk16_ofd_values.py); the
same test guarded ``int()`` in the verifier CLI's ``--verifier HOST:PORT`` and the
issuer CLI's ``--field NAME=VALUE`` (a traceback instead of ``error: <field>``), and
in ``split_listen`` (a ValueError either way, now with its own message).
"""

from __future__ import annotations

import argparse

import pytest

from certseal.errors import CertsealError
from certseal.listen import split_listen
from certseal.v1 import issuer_pb2
from services.issuer.licence_cli import field_items, set_fields
from services.verifier.cli import verifier_target


@pytest.mark.parametrize("port", ["²", "①", "٣"])
def test_a_verifier_port_of_unicode_digits_is_invalid_argument(port):
    args = argparse.Namespace(verifier=f"localhost:{port}", group=None)
    with pytest.raises(CertsealError) as caught:
        verifier_target(None, args)
    assert caught.value.field == "verifier"


@pytest.mark.parametrize("port", ["²", "①"])
def test_a_listen_port_of_unicode_digits_is_told_as_not_host_port(port):
    with pytest.raises(ValueError, match="not host:port"):
        split_listen(f"127.0.0.1:{port}")


def _fields(declared: dict[str, int], *items: str) -> dict[str, object]:
    """The request fields ``items`` make when the licence type declares ``declared``
    (name -> FieldSpec.type: 1 string, 2 integer)."""
    request = issuer_pb2.IssueLicenceRequest()
    set_fields(request.fields, field_items(list(items)), declared, "T01")
    return {
        name: getattr(value, value.WhichOneof("value") or "string_value")
        for name, value in request.fields.items()
    }


def test_licence_fields_read_ascii_integers_and_keep_other_digits_as_text():
    texts = dict.fromkeys("ab", 1)
    assert _fields(texts, "a=²", "b=-①") == {"a": "²", "b": "-①"}
    assert _fields({"c": 2, "d": 2}, "c=42", "d=-7") == {"c": 42, "d": -7}


@pytest.mark.parametrize("value", ["²", "-①", "--5", "٣"])
def test_an_integer_field_of_unicode_digits_is_invalid_argument(value):
    with pytest.raises(CertsealError) as caught:
        _fields({"n": 2}, f"n={value}")
    assert caught.value.field == "field"


@pytest.mark.parametrize("value", [str(2**63), str(-(2**63) - 1), "9" * 40])
def test_a_licence_field_beyond_int64_is_invalid_argument(value):
    with pytest.raises(CertsealError) as caught:
        _fields({"n": 2}, f"n={value}")
    assert caught.value.field == "field"
