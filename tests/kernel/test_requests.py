"""The rules every request field keeps (``certseal/requests.py``), the text check
(``certseal/text.py``) and request timestamps (``certseal/timestamps.request_time``):
pure, at and just beyond each edge."""

import datetime as dt
import math

import pytest

from certseal.errors import CertsealError, ErrorKind
from certseal.requests import check_request
from certseal.text import unfit_character
from certseal.timestamps import MAX_SECONDS, MIN_SECONDS, request_time, shifted
from certseal.v1 import issuer_pb2, licence_pb2, seal_pb2


def refused(call) -> CertsealError:
    with pytest.raises(CertsealError) as err:
        call()
    assert err.value.kind is ErrorKind.INVALID_ARGUMENT
    return err.value


@pytest.mark.parametrize(
    "text",
    ["张三丰", "C1", "", "a b", "Ünïcödé", "\u200f", "emoji 🙂", "tab\there"],
)
def test_ordinary_text_is_fit(text):
    assert unfit_character(text, multiline=True) is None


@pytest.mark.parametrize(
    ("text", "bad"),
    [
        ("a\x00b", "\x00"),
        ("\x08", "\x08"),
        ("\x1b[2J", "\x1b"),
        ("\x7f", "\x7f"),
        ("\x85", "\x85"),  # C1: next line
        ("\x9f", "\x9f"),
        ("\ud800", "\ud800"),  # a lone surrogate
        ("\udfff", "\udfff"),
        ("\u202egpj.exe", "\u202e"),  # right-to-left override
        ("\u202a", "\u202a"),
        ("\u2066", "\u2066"),
        ("\u2069", "\u2069"),
    ],
)
def test_unfit_characters(text, bad):
    assert unfit_character(text, multiline=True) == bad


@pytest.mark.parametrize("ok", ["\x20", "\xa0", "\u2029", "\u206a", "\u2029"])
def test_just_outside_the_unfit_ranges(ok):
    assert unfit_character(ok) is None


def test_line_breaks_only_where_multiline():
    assert unfit_character("a\nb", multiline=True) is None
    assert unfit_character("a\nb") == "\n"
    assert unfit_character("a\r") == "\r"


def test_request_time_at_the_edges_of_a_timestamp():
    request = issuer_pb2.RenewLicenceRequest()
    assert request_time(request, "valid_from") is None
    request.valid_from.seconds, request.valid_from.nanos = MIN_SECONDS, 0
    assert request_time(request, "valid_from") == dt.datetime(1, 1, 1, tzinfo=dt.UTC)
    request.valid_from.seconds, request.valid_from.nanos = MAX_SECONDS, 999_999_999
    assert request_time(request, "valid_from") == dt.datetime.max.replace(tzinfo=dt.UTC)
    for seconds, nanos in (
        (MIN_SECONDS - 1, 0),
        (MAX_SECONDS + 1, 0),
        (0, -1),
        (0, 1_000_000_000),
    ):
        request.valid_from.seconds, request.valid_from.nanos = seconds, nanos
        err = refused(lambda: request_time(request, "valid_from"))
        assert err.field == "valid_from"
    err = refused(lambda: request_time(request, "valid_from", field="items[2].x"))
    assert err.field == "items[2].x"


def test_a_valid_request_passes():
    request = issuer_pb2.IssueLicencesRequest()
    item = request.items.add(type_code="x" * 21, idempotency_key="k\n")
    item.holder.name = "张三丰"
    item.fields["class"].string_value = "C1"
    item.fields["points"].integer_value = -(2**63)
    item.valid_until.seconds = MAX_SECONDS
    check_request(request)
    check_request(seal_pb2.SealPdfRequest(x_mm=1e308, y_mm=-1.0))


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (
            lambda r: setattr(r.items.add().holder, "name", "a\x00"),
            "items[0].holder.name",
        ),
        (
            lambda r: (
                r.items.add()
                .fields["a\x01b"]
                .CopyFrom(licence_pb2.FieldValue(string_value="x"))
            ),
            "items[0].fields key 'a\\x01b'",
        ),
        (
            lambda r: setattr(r.items.add().fields["class"], "string_value", "\u202e"),
            "items[0].fields['class'].string_value",
        ),
        (
            lambda r: setattr(r.items.add().valid_from, "seconds", MAX_SECONDS + 1),
            "items[0].valid_from",
        ),
        (
            lambda r: setattr(r.items.add().valid_until, "nanos", -1),
            "items[0].valid_until",
        ),
    ],
)
def test_the_first_bad_field_is_named(build, field):
    request = issuer_pb2.IssueLicencesRequest()
    request.items.add(type_code="fine")
    del request.items[:]
    build(request)
    assert refused(lambda: check_request(request)).field == field


def test_repeated_strings_are_named_by_index():
    request = issuer_pb2.RegisterLicenceTypeRequest(issuer_codes=["ok", "also\x00"])
    assert refused(lambda: check_request(request)).field == "issuer_codes[1]"


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_floats_must_be_finite(value):
    err = refused(lambda: check_request(seal_pb2.SealPdfRequest(y_mm=value)))
    assert err.field == "y_mm"


def test_a_long_map_key_is_shortened_in_the_field_name():
    request = issuer_pb2.AmendLicenceRequest()
    request.fields["k" * 1000 + "\x00"].string_value = "x"
    err = refused(lambda: check_request(request))
    assert len(err.field or "") < 80


def test_shifted_at_the_end_of_time():
    latest = dt.datetime.max.replace(tzinfo=dt.UTC)
    day = dt.timedelta(days=1)
    assert shifted(latest - day, day, "valid_from") == latest
    assert refused(lambda: shifted(latest - day, 2 * day, "valid_from")).field == (
        "valid_from"
    )
    earliest = dt.datetime.min.replace(tzinfo=dt.UTC)
    assert refused(lambda: shifted(earliest, -day, "start")).field == "start"


def test_a_scanners_framing_reaches_the_codes_own_normalisation():
    """STX ... ETX, EOT, GS and RS around a scanned code are the codes' to read
    (certseal.codes), not refused before; every other text field still refuses them."""
    from certseal.v1 import issuer_pb2, verifier_pb2

    framed = "\x02]Q1LC1:6BFOXN\x03\x04"
    check_request(verifier_pb2.VerifyCodeRequest(code=framed, purpose="窗口办事"))
    check_request(verifier_pb2.VerifyCodesRequest(codes=[framed, "\x1d" + framed]))
    check_request(issuer_pb2.RedeemAuthorisationRequest(code="\x02AU-7K3M9QXZ2P4R\x03"))
    with pytest.raises(CertsealError) as err:
        check_request(verifier_pb2.VerifyCodeRequest(code=framed, purpose="窗\x02口"))
    assert err.value.field == "purpose"


def test_every_scanned_text_field_names_a_string_field_of_the_api():
    from google.protobuf import descriptor_pool

    from certseal.requests import SCANNED_TEXT_FIELDS
    from certseal.v1 import issuer_pb2, verifier_pb2  # noqa: F401 (registers them)

    pool = descriptor_pool.Default()
    for name in SCANNED_TEXT_FIELDS:
        field = pool.FindFieldByName(name)
        assert field.type == field.TYPE_STRING, name


@pytest.mark.parametrize(
    ("text", "said"),
    [
        (
            "\u202e开立账户",
            "contains U+202E RIGHT-TO-LEFT OVERRIDE, a format character, at position 1",
        ),
        ("开立\x00账户", "contains U+0000, a control character, at position 3"),
        ("ab\x1b", "contains U+001B, a control character, at position 3"),
    ],
)
def test_a_refused_character_is_named_with_its_kind_and_position(text, said):
    """As a display name's refusal says it (trial44: U+202E got neither its name nor
    its position, U+200B in a purpose both), never the text itself."""
    request = issuer_pb2.RegisterLicenceTypeRequest(name=text)
    error = refused(lambda: check_request(request))
    assert error.field == "name" and error.message == said, error
