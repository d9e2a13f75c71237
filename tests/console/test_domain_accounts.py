"""Console accounts' pure rules: names, roles, passwords, session expiry, throttling.

Every time rule is tested at, just before and just after its boundary.
"""

from __future__ import annotations

import datetime as dt

import pytest

from certseal.errors import CertsealError, ErrorKind
from certseal.identifiers import make_uscc
from services.console.accounts import (
    Account,
    Role,
    SessionPolicy,
    Throttled,
    ThrottlePolicy,
    account_name,
    certificate_name,
    department_of,
    hash_password,
    new_password,
    new_session_token,
    password_matches,
    role_of,
    token_digest,
)

T0 = dt.datetime(2030, 1, 1, 9, 0, tzinfo=dt.UTC)
US = dt.timedelta(microseconds=1)
DEPT = "11440300MA5FXXXX1D"


def _field(call, *args) -> str:
    with pytest.raises(CertsealError) as err:
        call(*args)
    assert err.value.kind is ErrorKind.INVALID_ARGUMENT
    return err.value.field or ""


@pytest.mark.parametrize("name", ["a", "zhang.san", "clerk_01@counter-3", "A" * 64])
def test_account_names_that_fit_grpc_metadata_are_accepted(name):
    assert account_name(name) == name


@pytest.mark.parametrize(
    "name",
    ["", "A" * 65, "张三", "a b", "a\x00b", ".dot", "-dash", "a\nb", "a:b", None, 7],
)
def test_other_account_names_are_refused_naming_the_field(name):
    assert _field(account_name, name) == "name"


def test_roles():
    assert role_of("clerk") is Role.CLERK and role_of("operator") is Role.OPERATOR
    assert _field(role_of, "admin") == "role"
    assert Role.OPERATOR.may_open(Role.OPERATOR) and Role.OPERATOR.may_open(Role.CLERK)
    assert Role.CLERK.may_open(Role.CLERK)
    assert not Role.CLERK.may_open(Role.OPERATOR)


def test_department_is_a_unified_social_credit_code():
    code = make_uscc("11440300MA5FXXXX1")
    assert department_of(code) == code
    assert _field(department_of, code[:-1] + ("0" if code[-1] != "0" else "1")) == (
        "department"
    )
    assert _field(department_of, None) == "department"


def test_an_account_verifies_as_its_departments_counter():
    account = Account("zhang.san", DEPT, Role.CLERK, has_password=True)
    assert account.counter == f"dept:{DEPT}"
    assert account.principal == "console:zhang.san"
    assert "hash" not in str(account.to_json())


def test_certificate_names():
    assert certificate_name(None) == "" and certificate_name("") == ""
    assert certificate_name("clerk:zhang.san") == "clerk:zhang.san"
    assert _field(certificate_name, "x" * 201) == "certificate"
    assert _field(certificate_name, "a\nb") == "certificate"


def test_password_policy_bounds():
    assert new_password("x" * 12) == "x" * 12
    assert new_password("x" * 256) == "x" * 256
    assert _field(new_password, "x" * 11) == "password"
    assert _field(new_password, "x" * 257) == "password"
    assert _field(new_password, "") == "password"
    assert _field(new_password, "x" * 12 + "\x00") == "password"


def test_passwords_are_argon2id_hashes():
    stored = hash_password("correct horse battery")
    assert stored.startswith("$argon2id$")
    assert "correct horse" not in stored
    assert password_matches(stored, "correct horse battery")
    assert not password_matches(stored, "correct horse batterY")
    assert not password_matches("not a hash", "correct horse battery")


def test_session_tokens_are_random_and_stored_as_digests():
    first, second = new_session_token(), new_session_token()
    assert first != second and len(first) >= 43
    assert token_digest(first) != token_digest(second)
    assert len(token_digest(first)) == 32


IDLE = dt.timedelta(minutes=15)
ABSOLUTE = dt.timedelta(hours=10)
POLICY = SessionPolicy(idle=IDLE, absolute=ABSOLUTE)


def test_a_session_ends_exactly_when_idle_for_the_idle_time():
    assert POLICY.expired(T0, T0, T0 + IDLE - US) == ""
    assert "without use" in POLICY.expired(T0, T0, T0 + IDLE)
    assert "without use" in POLICY.expired(T0, T0, T0 + IDLE + US)
    assert POLICY.expires_at(T0, T0) == T0 + IDLE


def test_a_session_in_use_ends_at_the_absolute_time():
    last_seen = T0 + ABSOLUTE - dt.timedelta(minutes=1)
    assert POLICY.expired(T0, last_seen, T0 + ABSOLUTE - US) == ""
    assert "after sign-in" in POLICY.expired(T0, last_seen, T0 + ABSOLUTE)
    assert "after sign-in" in POLICY.expired(T0, last_seen, T0 + ABSOLUTE + US)
    assert POLICY.expires_at(T0, last_seen) == T0 + ABSOLUTE


WINDOW = dt.timedelta(minutes=15)
THROTTLE = ThrottlePolicy(max_failures=3, window=WINDOW)


def test_fewer_failures_than_the_limit_do_not_throttle():
    assert THROTTLE.retry_after([T0, T0 + US], T0 + 2 * US) is None


def test_the_limit_throttles_until_the_oldest_counted_failure_leaves_the_window():
    failures = [T0, T0 + dt.timedelta(minutes=1), T0 + dt.timedelta(minutes=2)]
    now = T0 + dt.timedelta(minutes=3)
    assert THROTTLE.retry_after(failures, now) == dt.timedelta(minutes=12)
    # just before the first failure leaves the window, still throttled ...
    assert THROTTLE.retry_after(failures, T0 + WINDOW - US) == US
    # ... at that instant it no longer counts
    assert THROTTLE.retry_after(failures, T0 + WINDOW) is None
    assert THROTTLE.retry_after(failures, T0 + WINDOW + US) is None


def test_more_failures_keep_the_newest_ones_counting():
    failures = [T0 + dt.timedelta(minutes=m) for m in range(6)]
    now = T0 + dt.timedelta(minutes=6)
    # the third newest (minute 3) leaves the window at minute 18
    assert THROTTLE.retry_after(failures, now) == dt.timedelta(minutes=12)


def test_failures_stamped_in_the_future_do_not_count():
    assert THROTTLE.retry_after([T0 + US] * 5, T0) is None


def test_a_throttle_of_zero_failures_is_off():
    assert ThrottlePolicy(0, WINDOW).retry_after([T0] * 9, T0) is None


def test_throttled_is_resource_exhausted_with_whole_seconds_to_wait():
    err = Throttled(dt.timedelta(seconds=12, microseconds=1), "account")
    assert err.kind is ErrorKind.RESOURCE_EXHAUSTED
    assert err.retry_after_s == 13
    assert "13 s" in str(err)
    assert Throttled(dt.timedelta(0), "address").retry_after_s == 1


@pytest.mark.parametrize("name", ["13800138000", "clerk.13800138000", "138-0013-8000"])
def test_an_account_name_holding_a_phone_number_is_refused_when_made(name):
    """A new user's second trial: an account named 13800138000 was made, signed in,
    and every verification was then refused (its name goes into the usage record,
    where no personal data goes): refused at `account add` instead, naming `name`."""
    from services.console.accounts import new_account_name

    with pytest.raises(CertsealError) as err:
        new_account_name(name)
    assert err.value.field == "name"
    assert "a mobile number" in err.value.message
    assert account_name(name) == name  # an account made before is still named
