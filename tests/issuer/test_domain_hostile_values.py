"""Validity defaults at the end of time (issue 13, kind 4): a start so late that the
type's default validity would pass 9999-12-31 is refused, naming ``valid_from``."""

import datetime as dt

import pytest

from certseal.errors import CertsealError, ErrorKind
from services.issuer.domain import LicenceType, resolve_validity

LATEST = dt.datetime.max.replace(tzinfo=dt.UTC)
NOW = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
TYPE = LicenceType("x" * 21, "驾驶证", (), 365, frozenset())
DEFAULT = dt.timedelta(days=365)


def test_the_latest_start_that_leaves_room_for_the_default_validity():
    validity = resolve_validity(TYPE, LATEST - DEFAULT, None, NOW)
    assert validity.valid_until == LATEST


@pytest.mark.parametrize(
    "start", [LATEST - DEFAULT + dt.timedelta(microseconds=1), LATEST]
)
def test_a_later_start_is_refused_not_an_overflow(start):
    with pytest.raises(CertsealError) as err:
        resolve_validity(TYPE, start, None, NOW)
    assert err.value.kind is ErrorKind.INVALID_ARGUMENT
    assert err.value.field == "valid_from"


def test_a_given_end_needs_no_room():
    validity = resolve_validity(TYPE, LATEST - dt.timedelta(seconds=1), LATEST, NOW)
    assert validity.valid_until == LATEST
