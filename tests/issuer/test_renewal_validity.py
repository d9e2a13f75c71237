"""A renewal's validity (``services/issuer/renewal.py``), at, just before and just after
every boundary: it starts now or earlier (never later: the renewal supersedes the
current version at once), and by default ends at the later of the current end and the
start plus the type's default validity."""

import datetime as dt

import pytest

from certseal.errors import CertsealError, ErrorKind
from services.issuer import domain
from services.issuer.renewal import STARTS_NOW, renewal_validity
from tests.issuer.test_domain_boundaries import TYPE

NOW = dt.datetime(2026, 12, 2, 9, 0, tzinfo=dt.UTC)
US = dt.timedelta(microseconds=1)
DAYS = dt.timedelta(days=365)


def refused(
    current_until: dt.datetime,
    valid_from: dt.datetime | None,
    valid_until: dt.datetime | None,
    now: dt.datetime,
) -> CertsealError:
    with pytest.raises(CertsealError) as err:
        renewal_validity(TYPE, current_until, valid_from, valid_until, now)
    assert err.value.kind is ErrorKind.INVALID_ARGUMENT
    return err.value


def test_the_nu16_licence_is_valid_from_now_and_keeps_its_end():
    """Valid 2026-12-02..2032-11-30, renewed on its first day: valid from now (not
    from 2032-11-30, which left the holder with no valid licence for six years) until
    2032-11-30, which is later than now plus the type's year."""
    end = dt.datetime(2032, 11, 30, tzinfo=dt.UTC)
    assert renewal_validity(TYPE, end, None, None, NOW) == domain.Validity(NOW, end)


@pytest.mark.parametrize(
    ("current_until", "until"),
    [
        (NOW + DAYS + US, NOW + DAYS + US),  # the current end is later: kept
        (NOW + DAYS, NOW + DAYS),  # the same
        (NOW + DAYS - US, NOW + DAYS),  # the type's validity is later
        (NOW + dt.timedelta(days=10), NOW + DAYS),
        (NOW - dt.timedelta(days=10), NOW + DAYS),  # an expired licence renewed
    ],
)
def test_the_default_end_is_the_later_of_the_current_end_and_the_type_s(
    current_until, until
):
    assert renewal_validity(TYPE, current_until, None, None, NOW) == domain.Validity(
        NOW, until
    )


@pytest.mark.parametrize("start", [NOW, NOW - US, NOW - dt.timedelta(days=400)])
def test_a_start_now_or_earlier_is_taken_and_the_default_end_follows_it(start):
    current_until = NOW + dt.timedelta(days=10)
    validity = renewal_validity(TYPE, current_until, start, None, NOW)
    assert validity.valid_from == start
    assert validity.valid_until == max(current_until, start + DAYS)
    assert validity.valid_from <= NOW < validity.valid_until


@pytest.mark.parametrize("later", [US, dt.timedelta(seconds=1), dt.timedelta(days=6)])
def test_a_start_after_now_is_refused_naming_valid_from(later):
    err = refused(NOW + DAYS, NOW + later, None, NOW)
    assert err.field == "valid_from"
    assert STARTS_NOW in err.message
    assert "valid from now or earlier" in err.message


def test_an_explicit_end_is_taken_as_given_even_before_the_current_end():
    end = NOW + dt.timedelta(days=30)
    validity = renewal_validity(TYPE, NOW + 3 * DAYS, None, end, NOW)
    assert validity == domain.Validity(NOW, end)


@pytest.mark.parametrize("end", [NOW, NOW - US])
def test_an_explicit_end_at_or_before_now_is_refused_naming_valid_until(end):
    assert refused(NOW + DAYS, None, end, NOW).field == "valid_until"
    assert renewal_validity(TYPE, NOW + DAYS, None, NOW + US, NOW).valid_until == (
        NOW + US
    )


def test_an_explicit_end_not_after_an_explicit_start_is_refused():
    start = NOW - dt.timedelta(days=2)
    err = refused(NOW + DAYS, start, start, NOW)
    assert err.field == "valid_until" and "is not after its start" in err.message


def test_a_current_version_not_valid_yet_keeps_its_start():
    """atk16b F3: a licence issued to start later is renewed from that start, not
    from now (the holder had nothing before it), and may not start later than it."""
    start, end = NOW + DAYS / 12, NOW + DAYS
    renewed = renewal_validity(TYPE, end, None, None, NOW, current_from=start)
    assert renewed == domain.Validity(start, max(end, start + DAYS))
    earlier = renewal_validity(TYPE, end, NOW, None, NOW, current_from=start)
    assert earlier.valid_from == NOW
    assert (
        renewal_validity(TYPE, end, start, None, NOW, current_from=start).valid_from
        == start
    )
    with pytest.raises(CertsealError) as err:
        renewal_validity(TYPE, end, start + US, None, NOW, current_from=start)
    assert err.value.field == "valid_from"
    assert "when the current version starts" in err.value.message


def test_a_current_version_already_valid_starts_its_renewal_now():
    before = NOW - DAYS / 12
    assert (
        renewal_validity(
            TYPE, NOW + DAYS, None, None, NOW, current_from=before
        ).valid_from
        == NOW
    )
    with pytest.raises(CertsealError) as err:
        renewal_validity(TYPE, NOW + DAYS, NOW + US, None, NOW, current_from=before)
    assert STARTS_NOW in str(err.value)
