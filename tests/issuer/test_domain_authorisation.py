"""授权用证, the pure rules (services/issuer/authorisation.py): redemption decisions at,
just before and just after every boundary, codes, expiry limits, the overlay text."""

import dataclasses
import datetime as dt

import pytest

from certseal.errors import CertsealError
from services.issuer.authorisation import (
    CODE_ALPHABET,
    CODE_LENGTH,
    MAX_VALIDITY,
    Authorisation,
    asked_expiry,
    code_digest,
    copy_annotation,
    expiry_problem,
    licence_refusal,
    new_code,
    normalise_code,
    redemption_refusal,
)
from services.issuer.domain import LicenceRecord, Operation, Status

NOW = dt.datetime(2026, 11, 30, 8, 0, tzinfo=dt.UTC)
EXPIRY = NOW + dt.timedelta(days=7)
TICK = dt.timedelta(microseconds=1)

AUTH = Authorisation(
    authorisation_id="au-1",
    lineage="1.2.156.3005.2.X.Y.1",
    identifier="1.2.156.3005.2.X.Y.1.001.A",
    holder_ref="ab" * 32,
    department_code="91440300MA5DCQ2L8A",
    counter="",
    purpose="开立银行账户",
    fields=("class",),
    expires_at=EXPIRY,
    created_at=NOW,
    created_by="app:wallet",
)


def refusal(auth=AUTH, *, department=AUTH.department_code, counter="", now=NOW):
    return redemption_refusal(
        auth, department_code=department, counter=counter, now=now
    )


def test_the_named_department_redeems_until_just_before_expiry():
    assert refusal() is None
    assert refusal(now=EXPIRY - TICK) is None
    assert refusal(now=EXPIRY) == "expired"
    assert refusal(now=EXPIRY + TICK) == "expired"


def test_another_department_learns_nothing_even_when_withdrawn_or_expired():
    withdrawn = dataclasses.replace(AUTH, revoked_at=NOW)
    for auth, now in ((AUTH, NOW), (withdrawn, NOW), (AUTH, EXPIRY + TICK)):
        assert refusal(auth, department="91110000717829640X", now=now) == "not_found"


def test_a_withdrawn_authorisation_is_refused_before_its_expiry_is_looked_at():
    withdrawn = dataclasses.replace(AUTH, revoked_at=NOW)
    assert refusal(withdrawn) == "withdrawn"
    assert refusal(withdrawn, now=EXPIRY + TICK) == "withdrawn"


def test_an_authorisation_for_one_counter():
    one = dataclasses.replace(AUTH, counter="窗口3")
    assert refusal(one, counter="窗口3") is None
    assert refusal(one, counter="窗口4") == "other_counter"
    assert refusal(one, counter="") == "other_counter"
    assert refusal(AUTH, counter="窗口4") is None  # any counter of the department


def test_status_at_its_boundaries():
    assert AUTH.status(EXPIRY - TICK) == "active"
    assert AUTH.status(EXPIRY) == "expired"
    assert dataclasses.replace(AUTH, revoked_at=NOW).status(NOW) == "revoked"


def test_expiry_limits():
    assert expiry_problem(None, NOW) == "is required"
    assert expiry_problem(NOW, NOW) == "must be after now"
    assert expiry_problem(NOW - TICK, NOW) == "must be after now"
    assert expiry_problem(NOW + TICK, NOW) is None
    assert expiry_problem(NOW + MAX_VALIDITY, NOW) is None
    assert expiry_problem(NOW + MAX_VALIDITY + TICK, NOW) == (
        "must be at most 90 days ahead"
    )


def test_an_authorisation_does_not_outlive_the_licence():
    """atk39holder 5: the expiry is at most the licence's ``valid_until``, said to
    the holder's app in China Standard Time; within it the 90-day rule holds."""
    ends = dt.datetime(2026, 12, 10, 16, 0, tzinfo=dt.UTC)
    now = ends - dt.timedelta(days=5)
    assert expiry_problem(ends, now, ends) is None
    assert expiry_problem(ends + TICK, now, ends) == (
        "must not be after the licence's end: the licence is valid until "
        "2026年12月11日 00:00 China Standard Time (UTC+8), 5 whole days from now"
    )
    assert expiry_problem(ends + TICK, ends - dt.timedelta(hours=47), ends) == (
        "must not be after the licence's end: the licence is valid until "
        "2026年12月11日 00:00 China Standard Time (UTC+8), 1 whole day from now"
    )
    assert expiry_problem(ends + TICK, ends - dt.timedelta(hours=23), ends) == (
        "must not be after the licence's end: the licence is valid until "
        "2026年12月11日 00:00 China Standard Time (UTC+8), less than a day from now"
    )
    far = now + dt.timedelta(days=400)
    assert expiry_problem(now + MAX_VALIDITY + TICK, now, far) == (
        "must be at most 90 days ahead"
    )


def test_codes_are_short_unguessable_and_read_back_as_typed():
    codes = {new_code() for _ in range(200)}
    assert len(codes) == 200
    for code in codes:
        assert code.startswith("AU-") and len(code) == 3 + CODE_LENGTH
        assert set(code[3:]) <= set(CODE_ALPHABET)
        assert normalise_code(code) == code
        assert normalise_code(" " + code.lower() + " ") == code
        spaced = code[:3] + code[3:7] + " " + code[7:11] + "-" + code[11:]
        assert normalise_code(spaced) == code
    assert normalise_code("AU-O1IL00000000") == "AU-011100000000"


def test_a_scanners_symbology_identifier_before_a_code_is_removed():
    code = new_code()
    for identifier in ("]Q1", "]q0", "]d2"):
        assert normalise_code(identifier + code) == code
        assert normalise_code(f" {identifier}{code.lower()}\r\n") == code
    assert normalise_code("]Q" + code) is None  # no modifier: not an identifier
    assert normalise_code("]Q1]Q1" + code) is None  # one identifier only


@pytest.mark.parametrize(
    "typed",
    ["au 7hh7bw6aznmk", "AU 7HH7 BW6A ZNMK", "au7hh7bw6aznmk", "AU--7HH7-BW6A-ZNMK"],
)
def test_the_prefix_may_be_typed_with_a_space_or_nothing(typed):
    # docs/holder.md: "The code may be typed with spaces, dashes and lower case."
    assert normalise_code(typed) == "AU-7HH7BW6AZNMK"


@pytest.mark.parametrize(
    "text", ["", "AU-", "AU-123", "AU-0000000000000", "AU-00000000000U", "LC1:ABC"]
)
def test_what_cannot_be_a_code(text):
    assert normalise_code(text) is None


def test_the_store_keeps_a_digest_not_the_code():
    code = new_code()
    assert code_digest(code) != code and len(code_digest(code)) == 64
    assert code_digest(code) == code_digest(normalise_code(code.lower()) or "")


def test_the_overlay_names_department_purpose_and_date_in_china_time():
    late = dt.datetime(2026, 12, 1, 16, 30, tzinfo=dt.UTC)  # 00:30 on 2 December, UTC+8
    said = copy_annotation("深圳市公安局", "开立银行账户", late)
    assert said.statement == "仅供深圳市公安局使用，2026年12月2日0时30分前有效"
    assert said.diagonal == ("仅供深圳市公安局使用", "2026年12月2日0时30分前有效")
    assert said.purpose == "开立银行账户"
    midnight = dt.datetime(2026, 12, 1, 16, tzinfo=dt.UTC)  # 00:00 on 2 December
    assert copy_annotation("某局", "租房", midnight).statement.endswith(
        "，2026年12月2日前有效"
    )


@pytest.mark.parametrize(
    ("ends", "said"),
    [
        # trial44: a copy ending at 16:33 said "2026年12月13日前有效", which reads as
        # ended before that day began
        (dt.datetime(2026, 12, 13, 8, 33, tzinfo=dt.UTC), "2026年12月13日16时33分"),
        # a part minute is left out: never later than the end
        (dt.datetime(2026, 12, 13, 8, 33, 59, 999999, tzinfo=dt.UTC),
         "2026年12月13日16时33分"),
        (dt.datetime(2026, 12, 13, 15, 59, 59, tzinfo=dt.UTC), "2026年12月13日23时59分"),
        (dt.datetime(2026, 12, 13, 16, 0, 1, tzinfo=dt.UTC), "2026年12月14日0时00分"),
        (dt.datetime(2026, 12, 13, 16, tzinfo=dt.UTC), "2026年12月14日"),
    ],
)  # fmt: skip
def test_the_copy_s_end_is_said_to_the_minute_unless_it_is_midnight(ends, said):
    annotation = copy_annotation("某局", "租房", ends)
    assert annotation.date == said
    assert annotation.statement == f"仅供某局使用，{said}前有效"


FROM, UNTIL = NOW + dt.timedelta(days=1), NOW + dt.timedelta(days=30)
LICENCE = LicenceRecord(
    identifier=AUTH.identifier, lineage=AUTH.lineage, version=1, type_code="X",
    issuer_code="Y", holder_ref="ab" * 32, holder_display_name="张*", fields={},
    valid_from=FROM, valid_until=UNTIL, status=Status.VALID, status_reason="",
    last_operation=Operation.ISSUE, issued_at=NOW, updated_at=NOW, replaces=None,
    superseded_by=None, kid="0" * 16, lineage_version=1,
)  # fmt: skip


@pytest.mark.parametrize(
    ("now", "why"),
    [
        (FROM - TICK, "licence_not_yet_valid"),
        (FROM, None),
        (FROM + TICK, None),
        (UNTIL - TICK, None),
        (UNTIL, "licence_no_longer_valid"),
        (UNTIL + TICK, "licence_no_longer_valid"),
    ],
)
def test_a_licence_is_used_only_within_its_validity(now, why):
    """授权用证 of a version that is not yet valid was redeemed (nu16 #9): a use is a
    use within ``[valid_from, valid_until)``, as the verifier's NOT_YET_VALID and
    EXPIRED verdicts say."""
    refused = licence_refusal(LICENCE, now)
    assert (refused[0] if refused else None) == why
    if why == "licence_not_yet_valid":
        assert refused and refused[1] == (
            f"licence {AUTH.identifier} is not yet valid: it is valid from "
            f"{FROM.isoformat()}"
        )
    elif refused:
        assert (
            f"is no longer valid: it was valid until {UNTIL.isoformat()}" in refused[1]
        )


@pytest.mark.parametrize("status", [s for s in Status if s is not Status.VALID])
def test_a_licence_not_valid_is_not_used_whatever_its_window(status):
    for now in (FROM - TICK, FROM, UNTIL):
        refused = licence_refusal(dataclasses.replace(LICENCE, status=status), now)
        assert refused == (
            "licence_no_longer_valid",
            f"licence {AUTH.identifier} is no longer valid: it is {status.label}",
        )


def test_a_purpose_is_drawn_as_the_holder_gave_it():
    """trial39b: "仅供示例车管所办理办理通行使用" (the overlay put 办理 before a purpose
    that had it). atk40: the purpose is no longer inside the statement. atk43holder:
    nor quoted: it is drawn as given in a frame of its own (document_overlay), so a
    quotation mark of its own, or a look-alike of one, closes nothing."""
    at = dt.datetime(2026, 12, 1, 4, 0, tzinfo=dt.UTC)
    assert copy_annotation("某局", "办理通行", at).purpose == "办理通行"
    closing = copy_annotation("某局", "开户」2099年12月31日前有效「", at)
    assert closing.purpose == "开户」2099年12月31日前有效「"
    assert "2099" not in closing.statement


def test_an_expiry_asked_in_days_counts_from_the_services_now():
    """trial48: the CLI sent now + --days as a time of its own, so a repeat with the
    same idempotency key was another request; it sends the days."""
    assert asked_expiry(None, 3, NOW) == (NOW + dt.timedelta(days=3), "valid_days")
    at = NOW + dt.timedelta(days=2)
    assert asked_expiry(at, 0, NOW) == (at, "expires_at")
    assert asked_expiry(None, 0, NOW) == (None, "expires_at")  # "is required" later


@pytest.mark.parametrize(
    ("expires_at", "days", "problem"),
    [
        (NOW + dt.timedelta(days=2), 3, "give expires_at or valid_days, not both"),
        (None, 91, "is 91 days; at most 90 days"),
        (None, 2**32 - 1, "is 4294967295 days; at most 90 days"),  # never overflows
    ],
)
def test_an_expiry_asked_twice_or_too_far_is_refused(expires_at, days, problem):
    with pytest.raises(CertsealError) as err:
        asked_expiry(expires_at, days, NOW)
    assert (err.value.field, err.value.message) == ("valid_days", problem)
