"""Seal requests at the edges of their numbers and times (issue 13, kind 4): refused
with INVALID_ARGUMENT naming the field, never an overflow or a NaN in a PDF."""

import datetime as dt
import math

import pytest

from certseal.errors import CertsealError, ErrorKind
from certseal.rpc import Caller
from certseal.timestamps import MAX_SECONDS, MIN_SECONDS
from certseal.v1 import seal_pb2 as pb
from services.seal.convert import MAX_PAGE_MM, placement, register_input

NOW = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
OWNER = Caller("dept", "91350100M000100Y43")


def refused(call) -> str | None:
    with pytest.raises(CertsealError) as err:
        call()
    assert err.value.kind is ErrorKind.INVALID_ARGUMENT
    return err.value.field


@pytest.mark.parametrize("value", [0.0, 20.0, MAX_PAGE_MM])
def test_a_stamp_on_the_largest_page(value):
    where = placement(pb.SealPdfRequest(x_mm=value, y_mm=value))
    assert where.x_mm == value and where.y_mm == value


@pytest.mark.parametrize(
    "value",
    [
        -0.001,
        MAX_PAGE_MM + 0.001,
        1.7976931348623157e308,
        math.nan,
        math.inf,
        -math.inf,
    ],
)
def test_a_stamp_off_any_page_is_refused(value):
    assert refused(lambda: placement(pb.SealPdfRequest(x_mm=value))) == "x_mm"
    assert refused(lambda: placement(pb.SealPdfRequest(y_mm=value))) == "y_mm"


def test_register_times_outside_a_timestamp_are_refused():
    for seconds, nanos, field in (
        (MAX_SECONDS + 1, 0, "valid_start"),
        (MIN_SECONDS - 1, 0, "valid_start"),
        (0, -1, "valid_start"),
    ):
        request = pb.RegisterSealRequest(name="x")
        request.valid_start.seconds, request.valid_start.nanos = seconds, nanos
        assert (
            refused(
                lambda r=request: register_input(r, caller=OWNER, clock=lambda: NOW)
            )
            == field
        )


def test_a_start_too_late_for_the_default_validity_is_refused():
    request = pb.RegisterSealRequest(name="x")
    request.valid_start.seconds = MAX_SECONDS
    assert (
        refused(lambda: register_input(request, caller=OWNER, clock=lambda: NOW))
        == "valid_start"
    )
