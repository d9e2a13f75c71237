"""Every time comparison of the verifier's verdict, at, just before and just after it.

``services/verifier/domain.py`` compares, with no skew allowance:

- the signing key's revocation time with the code's signing time (``iat``, whole
  seconds; a code signed in the second of the revocation counts as signed after it);
- the key's validity window ``[not_before, not_after)`` with ``iat``;
- a presentation code's expiry (``exp``) with now: expired from ``exp`` on;
- the index's validity window ``[valid_from, valid_until)`` with now.

And it decodes the CWT time claims (RFC 8392: NumericDate, whole seconds since the
epoch) exactly. Real signed codes throughout: the key is generated once per module.
"""

import datetime as dt
import zlib

import base45
import cbor2
import pytest

from certseal import codes
from certseal.crypto import Suite, generate_key
from services.verifier.domain import (
    CodeKind,
    Outcome,
    TrustEntry,
    Verdict,
    evaluate,
    parse_code,
)
from tests.verifier import domain_samples
from tests.verifier.domain_samples import (
    DEPT,
    LID,
    NOW,
    PLATFORM,
    TYPE,
    index_entry,
    presentation_code,
    signer,
    trust_entry,
    verify,
)

US = dt.timedelta(microseconds=1)
SECOND = dt.timedelta(seconds=1)
SIGNED = NOW - dt.timedelta(days=1)  # the iat of licence_code's codes
SIGNER = signer()

ORDER = ["decode", "issuer", "signature", "key", "licence", "version", "status"]


def trust(**changes) -> TrustEntry:
    return trust_entry(SIGNER, **changes)


def presenter(**changes) -> TrustEntry:
    return trust(department_code=PLATFORM, presentation_key=True, **changes)


async def licence_code(iat: dt.datetime = SIGNED) -> str:
    return await domain_samples.licence_code(SIGNER, iat=iat, fields={"c": 1})


def assert_valid(result) -> None:
    assert result.verdict is Verdict.VALID, result.checks
    assert all(c.outcome is Outcome.PASSED for c in result.checks), result.checks
    assert result.checks[-1].name == "validity"


def assert_failed(result, verdict: Verdict, check: str, passed: list[str]) -> None:
    """``verdict``, decided by ``check``, after exactly the checks ``passed``."""
    assert result.verdict is verdict, result.checks
    *before, last = result.checks
    assert [c.name for c in before] == passed
    assert all(c.outcome is Outcome.PASSED for c in before)
    assert (last.name, last.outcome) == (check, Outcome.FAILED)


# -- the licence's validity window [valid_from, valid_until), against now ------------


@pytest.mark.parametrize(
    ("offset", "verdict"),
    [
        (-SECOND, Verdict.VALID),
        (-US, Verdict.VALID),  # the last instant of the licence
        (dt.timedelta(0), Verdict.EXPIRED),  # valid_until is not part of it
        (US, Verdict.EXPIRED),
        (SECOND, Verdict.EXPIRED),
    ],
)
async def test_licence_validity_end(offset, verdict):
    end = NOW + dt.timedelta(days=10)
    result = verify(await licence_code(), trust=trust(), now=end + offset)
    if verdict is Verdict.VALID:
        assert_valid(result)
        assert result.checks[-1].detail == f"until {end.isoformat()}"
    else:
        assert_failed(result, verdict, "validity", ORDER)
        assert result.checks[-1].detail == f"ended {end.isoformat()}"
    assert (result.valid_from, result.valid_until) == (index_entry().valid_from, end)


@pytest.mark.parametrize(
    ("offset", "verdict"),
    [
        (-SECOND, Verdict.NOT_YET_VALID),
        (-US, Verdict.NOT_YET_VALID),
        (dt.timedelta(0), Verdict.VALID),  # valid_from is part of it
        (US, Verdict.VALID),
    ],
)
async def test_licence_validity_start(offset, verdict):
    start = NOW + dt.timedelta(days=3)
    entry = index_entry(valid_from=start)
    result = verify(
        await licence_code(), trust=trust(), index=entry, now=start + offset
    )
    if verdict is Verdict.VALID:
        assert_valid(result)
    else:
        assert_failed(result, verdict, "validity", ORDER)
        assert result.checks[-1].detail == f"starts {start.isoformat()}"


async def test_an_empty_window_is_expired_before_it_is_not_yet_valid():
    # valid_until <= now < valid_from: the end is checked first
    entry = index_entry(valid_from=NOW + SECOND, valid_until=NOW)
    result = verify(await licence_code(), trust=trust(), index=entry)
    assert_failed(result, Verdict.EXPIRED, "validity", ORDER)


async def test_a_status_beats_the_validity_window():
    entry = index_entry(status="02", valid_until=NOW)
    result = verify(await licence_code(), trust=trust(), index=entry)
    assert_failed(result, Verdict.SUSPENDED, "status", ORDER[:-1])


# -- a presentation code's lifetime, against now ------------------------------------


@pytest.mark.parametrize(
    ("offset", "verdict"),
    [
        (-SECOND, Verdict.VALID),
        (-US, Verdict.VALID),  # the last instant of the code
        (dt.timedelta(0), Verdict.CODE_EXPIRED),  # exp itself is too late
        (US, Verdict.CODE_EXPIRED),
        (SECOND, Verdict.CODE_EXPIRED),
        (30 * SECOND, Verdict.CODE_EXPIRED),  # no skew allowance
        (31 * SECOND, Verdict.CODE_EXPIRED),
    ],
)
async def test_presentation_code_lifetime(offset, verdict):
    iat = NOW - dt.timedelta(seconds=10)
    expires = iat + dt.timedelta(seconds=60)
    text = await presentation_code(SIGNER, iat=iat, ttl=60)
    result = verify(text, trust=presenter(), now=expires + offset)
    assert result.kind is CodeKind.PRESENTATION
    if verdict is Verdict.VALID:
        assert_valid(result)
        lifetime = result.checks[4]
        assert (lifetime.name, lifetime.detail) == (
            "code lifetime",
            f"until {expires.isoformat()}",
        )
    else:
        assert_failed(result, verdict, "code lifetime", ORDER[:4])
        assert result.checks[-1].detail == f"expired at {expires.isoformat()}"


@pytest.mark.parametrize(
    ("offset", "verdict"),
    [(-US, Verdict.REPLAYED), (dt.timedelta(0), Verdict.CODE_EXPIRED)],
)
async def test_an_expired_code_is_expired_before_it_is_replayed(offset, verdict):
    iat = NOW - dt.timedelta(seconds=10)
    text = await presentation_code(SIGNER, iat=iat, ttl=60)
    now = iat + dt.timedelta(seconds=60) + offset
    result = verify(text, trust=presenter(), nonce_seen=True, now=now)
    check = "replay" if verdict is Verdict.REPLAYED else "code lifetime"
    assert_failed(result, verdict, check, ORDER[:4])


async def test_a_code_expired_before_the_index_lookup():
    text = await presentation_code(SIGNER, iat=NOW - dt.timedelta(seconds=60), ttl=60)
    result = evaluate(
        parse_code(text), trust=presenter(), index=None, nonce_seen=False, now=NOW
    )
    assert_failed(result, Verdict.CODE_EXPIRED, "code lifetime", ORDER[:4])
    assert result.valid_from is None and result.valid_until is None


# -- the signing key at signing time (iat, whole seconds) --------------------------


@pytest.mark.parametrize(
    ("offset", "verdict"),
    [
        (-SECOND, Verdict.KEY_REVOKED),  # signed after the revocation
        (dt.timedelta(0), Verdict.KEY_REVOKED),  # signed at it
        (US, Verdict.KEY_REVOKED),  # in the same second: the safe side
        (dt.timedelta(microseconds=999_999), Verdict.KEY_REVOKED),
        (SECOND, Verdict.VALID),  # signed the second before
        (2 * SECOND, Verdict.VALID),
    ],
)
async def test_key_revocation_against_the_signing_time(offset, verdict):
    key = trust(status="revoked", revoked_at=SIGNED + offset)
    result = verify(await licence_code(), trust=key)
    if verdict is Verdict.VALID:
        assert_valid(result)
        # said, not a bare "[ok] key: revoked" (nu21)
        assert result.checks[3].detail == (
            f"revoked from {(SIGNED + offset).isoformat()}, signed before"
        )
    else:
        assert_failed(result, verdict, "key", ORDER[:3])
        assert result.checks[-1].detail == (
            f"signed {SIGNED.isoformat()}, at or after the key's revocation "
            f"{(SIGNED + offset).isoformat()}"
        )
        assert result.fields == {"c": 1}  # a revoked key's code is still shown


async def test_a_revocation_after_now_still_untrusts_what_it_signed_after():
    # the revocation is compared with iat, never with now
    key = trust(status="revoked", revoked_at=SIGNED)
    result = verify(await licence_code(), trust=key, now=SIGNED - dt.timedelta(days=1))
    assert result.verdict is Verdict.KEY_REVOKED


@pytest.mark.parametrize(
    ("offset", "verdict"),
    [
        (-SECOND, Verdict.VALID),
        (dt.timedelta(0), Verdict.VALID),  # not_before is part of the window
        (US, Verdict.VALID),  # in the signing second: compared at whole seconds
        (dt.timedelta(microseconds=999_999), Verdict.VALID),
        (SECOND, Verdict.BAD_SIGNATURE),  # signed before the key's window
    ],
)
async def test_key_window_start_against_the_signing_time(offset, verdict):
    result = verify(await licence_code(), trust=trust(not_before=SIGNED + offset))
    if verdict is Verdict.VALID:
        assert_valid(result)
    else:
        assert_failed(result, verdict, "key", ORDER[:3])
        assert result.checks[-1].detail == "signed outside the key's validity window"
        assert result.fields == {} and result.issuer_code == ""


@pytest.mark.parametrize(
    ("offset", "verdict"),
    [
        (-SECOND, Verdict.BAD_SIGNATURE),
        (dt.timedelta(0), Verdict.BAD_SIGNATURE),  # not_after is not part of it
        (US, Verdict.VALID),
        (SECOND, Verdict.VALID),
    ],
)
async def test_key_window_end_against_the_signing_time(offset, verdict):
    result = verify(await licence_code(), trust=trust(not_after=SIGNED + offset))
    if verdict is Verdict.VALID:
        assert_valid(result)
    else:
        assert_failed(result, verdict, "key", ORDER[:3])


async def test_key_revocation_is_checked_before_the_key_window():
    key = trust(status="revoked", revoked_at=SIGNED, not_after=SIGNED)
    result = verify(await licence_code(), trust=key)
    assert_failed(result, Verdict.KEY_REVOKED, "key", ORDER[:3])


async def test_the_key_window_is_compared_with_iat_not_now():
    key = trust(not_before=SIGNED, not_after=SIGNED + SECOND)
    result = verify(await licence_code(), trust=key, now=NOW + dt.timedelta(days=5))
    assert_valid(result)


async def test_a_presentation_key_has_the_same_time_checks():
    iat = NOW - dt.timedelta(seconds=10)
    text = await presentation_code(SIGNER, iat=iat, ttl=60)
    revoked = presenter(status="revoked", revoked_at=iat)
    assert_failed(verify(text, trust=revoked), Verdict.KEY_REVOKED, "key", ORDER[:3])
    late = presenter(not_before=iat + SECOND)
    assert_failed(verify(text, trust=late), Verdict.BAD_SIGNATURE, "key", ORDER[:3])
    assert_valid(verify(text, trust=presenter(revoked_at=iat + SECOND)))


# -- the time claims, decoded exactly (RFC 8392 NumericDate) ------------------------


def _text(prefix: str, claims: dict) -> str:
    """A code with the given claims and a dummy signature (parse_code never verifies)."""
    protected = cbor2.dumps({1: -7, 4: bytes.fromhex(SIGNER.kid)})
    message = cbor2.dumps(
        cbor2.CBORTag(18, [protected, {}, cbor2.dumps(claims), b"s" * 64])
    )
    return prefix + base45.b45encode(zlib.compress(message)).decode()


def _licence_claims(**times) -> dict:
    claims = {1: DEPT, 6: 1_780_000_000, 5: 1_779_000_000, 4: 1_790_000_000}
    claims.update({{"iat": 6, "nbf": 5, "exp": 4}[k]: v for k, v in times.items()})
    claims[codes.CLAIM_LICENCE] = {"id": str(LID), "t": TYPE, "n": "n"}
    return claims


def _utc(seconds: int) -> dt.datetime:
    return dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(seconds=seconds)


def test_time_claims_are_seconds_since_the_epoch_in_utc():
    parsed = parse_code(_text("LC1:", _licence_claims()))
    assert parsed.issued_at == _utc(1_780_000_000)
    assert parsed.not_before == _utc(1_779_000_000)
    assert parsed.expires_at == _utc(1_790_000_000)
    assert parsed.issued_at.utcoffset() == dt.timedelta(0)
    presentation = parse_code(
        _text(
            "PC1:",
            {
                6: 0,
                4: 60,
                7: b"n" * 8,
                codes.CLAIM_PRESENTATION: {"id": str(LID), "v": 2},
            },
        )
    )
    assert (presentation.issued_at, presentation.expires_at) == (_utc(0), _utc(60))
    assert presentation.not_before is None
    # the last and the first second a datetime holds
    last = parse_code(_text("LC1:", _licence_claims(exp=253_402_300_799)))
    assert last.expires_at == dt.datetime(9999, 12, 31, 23, 59, 59, tzinfo=dt.UTC)
    first = parse_code(_text("LC1:", _licence_claims(nbf=-62_135_596_800)))
    assert first.not_before == dt.datetime(1, 1, 1, tzinfo=dt.UTC)


@pytest.mark.parametrize("claim", ["iat", "nbf", "exp"])
@pytest.mark.parametrize(
    ("value", "why"),
    [
        (True, "is not a time"),  # a CBOR boolean is no NumericDate
        ("1780000000", "is not a time"),
        (None, "is not a time"),
        (253_402_300_800, "is out of range"),  # 10000-01-01T00:00:00Z
        (-62_135_596_801, "is out of range"),  # before 0001-01-01T00:00:00Z
        # floats and bignums (tag 2) are refused by the strict CBOR reader first:
        # tests/kernel/test_hostile_codes.py
    ],
)
def test_time_claims_of_the_wrong_kind(claim, value, why):
    with pytest.raises(codes.MalformedCode) as err:
        parse_code(_text("LC1:", _licence_claims(**{claim: value})))
    assert err.value.stage is codes.CodeStage.CLAIMS
    assert err.value.message == f"claim {claim} {why}"


@pytest.mark.parametrize(
    ("length", "ok"), [(7, False), (8, True), (64, True), (65, False)]
)
def test_presentation_nonce_length(length, ok):
    claims = {
        6: 0,
        4: 60,
        7: b"n" * length,
        codes.CLAIM_PRESENTATION: {"id": str(LID), "v": 2},
    }
    if ok:
        assert parse_code(_text("PC1:", claims)).nonce == b"n" * length
    else:
        with pytest.raises(codes.MalformedCode, match="claim cti is not a nonce"):
            parse_code(_text("PC1:", claims))


# -- what each verdict reports: every check, in order, with its detail -------------

P, F = Outcome.PASSED, Outcome.FAILED


def _checks(result) -> list[tuple[str, Outcome, str]]:
    return [(c.name, c.outcome, c.detail) for c in result.checks]


def _passed_until_status(kid: str, suite: str = "es256") -> list:
    return [
        ("decode", P, "licence"),
        ("issuer", P, DEPT),
        ("signature", P, f"{suite} {kid}"),
        ("key", P, "active"),
        ("licence", P, "lineage version 7"),
        ("version", P, "002 is current"),
    ]


async def test_a_valid_licence_reports_every_check():
    result = verify(await licence_code(), trust=trust())
    end = (NOW + dt.timedelta(days=10)).isoformat()
    assert _checks(result) == [
        *_passed_until_status(SIGNER.kid),
        ("status", P, "valid (01)"),
        ("validity", P, f"until {end}"),
    ]
    assert (result.kind, result.identifier, result.lineage) == (
        CodeKind.LICENCE,
        str(LID),
        LID.lineage,
    )
    assert (result.issuer_code, result.type_code) == (DEPT, TYPE)
    assert (result.holder_display_name, result.fields) == ("张*丰", {"c": 1})


async def test_what_is_shown_comes_from_the_index_when_there_is_one():
    start = NOW - dt.timedelta(days=5)  # the code's nbf is 10 days ago
    entry = index_entry(basis="peer x", valid_from=start)
    result = verify(await licence_code(), trust=trust(), index=entry)
    assert result.verdict is Verdict.VALID
    assert result.valid_from == start  # the index's, not the code's nbf
    assert result.checks[4].detail == "peer x"
    unindexed = evaluate(
        parse_code(await licence_code()),
        trust=trust(),
        index=None,
        nonce_seen=False,
        now=NOW,
    )
    assert (unindexed.issuer_code, unindexed.type_code) == (DEPT, TYPE)
    assert unindexed.valid_from == NOW - dt.timedelta(days=10)  # the code's nbf
    assert unindexed.valid_until is None
    assert _checks(unindexed)[-1] == ("licence", F, f"{LID.lineage} is not indexed")


@pytest.mark.parametrize(
    ("status", "transferred_to", "verdict", "detail"),
    [
        ("06", "X.003.Y", Verdict.SUPERSEDED, "transferred out (06) to X.003.Y"),
        ("99", "", Verdict.CANCELLED, "other (99)"),
        ("08", "", Verdict.CANCELLED, "status (08)"),  # a code this verifier lacks
        ("", "", Verdict.CANCELLED, "no status"),
    ],
)
async def test_status_details(status, transferred_to, verdict, detail):
    entry = index_entry(status=status, transferred_to=transferred_to)
    result = verify(await licence_code(), trust=trust(), index=entry)
    assert result.verdict is verdict
    assert _checks(result) == [*_passed_until_status(SIGNER.kid), ("status", F, detail)]


async def test_version_details():
    newer = index_entry(version=3, identifier="X.003.Y")
    result = verify(await licence_code(), trust=trust(), index=newer)
    assert result.verdict is Verdict.SUPERSEDED
    assert _checks(result)[-1] == (
        "version",
        F,
        "version 002 was replaced by X.003.Y",
    )
    older = verify(await licence_code(), trust=trust(), index=index_entry(version=1))
    assert older.verdict is Verdict.UNKNOWN_LICENCE
    assert _checks(older)[-1] == (
        "version",
        F,
        "version 002 is newer than the index knows",
    )


@pytest.mark.parametrize(
    ("status", "transferred_to", "tail"),
    [
        ("03", "", ", which is itself revoked (03)"),
        (
            "06",
            "11000000",
            ", which is itself transferred out (06) to 11000000: the licence now "
            "lives there",
        ),
        (
            "06",
            "",
            ", which is itself transferred out (06) to the receiving department: "
            "the licence now lives there",
        ),
    ],
)
async def test_version_replaced_by_a_version_not_valid(status, transferred_to, tail):
    """Asking the holder for the current version leads nowhere when it is not valid
    either: the detail says so (and where a transferred licence lives now)."""
    newer = index_entry(
        version=3, identifier="X.003.Y", status=status, transferred_to=transferred_to
    )
    result = verify(await licence_code(), trust=trust(), index=newer)
    assert result.verdict is Verdict.SUPERSEDED
    assert _checks(result)[-1] == (
        "version",
        F,
        "version 002 was replaced by X.003.Y" + tail,
    )
    assert result.status == status


def _hidden(result) -> None:
    assert (result.issuer_code, result.type_code, result.holder_display_name) == (
        "",
        "",
        "",
    )
    assert result.fields == {}
    assert (result.identifier, result.lineage) == (str(LID), LID.lineage)


async def test_issuer_failures_show_nothing_of_the_licence():
    text = await licence_code()
    unknown = verify(text, trust=None)
    assert _checks(unknown) == [
        ("decode", P, "licence"),
        ("issuer", F, f"key {SIGNER.kid} is not trusted"),
    ]
    _hidden(unknown)
    wrong = verify(text, trust=trust(department_code=PLATFORM))
    assert _checks(wrong)[-1] == (
        "issuer",
        F,
        f"key {SIGNER.kid} belongs to {PLATFORM}, not to the issuer {DEPT}",
    )
    _hidden(wrong)
    presentation = await presentation_code(SIGNER, iat=NOW - SECOND, ttl=60)
    no_presenter = verify(presentation, trust=trust(department_code=PLATFORM))
    assert no_presenter.verdict is Verdict.UNKNOWN_ISSUER
    assert _checks(no_presenter) == [
        ("decode", P, "presentation"),
        ("issuer", F, f"key {SIGNER.kid} does not sign presentation codes"),
    ]


async def test_a_bad_signature_shows_nothing_of_the_licence():
    other = generate_key(Suite.ES256)
    result = verify(await licence_code(), trust=trust(public_key=other.public_key_der))
    assert result.verdict is Verdict.BAD_SIGNATURE
    assert _checks(result) == [
        ("decode", P, "licence"),
        ("issuer", P, DEPT),
        ("signature", F, "the signature does not verify"),
    ]
    _hidden(result)


async def test_a_replayed_code_reports_its_checks():
    iat = NOW - SECOND
    result = verify(
        await presentation_code(SIGNER, iat=iat, ttl=60),
        trust=presenter(),
        nonce_seen=True,
    )
    assert _checks(result) == [
        ("decode", P, "presentation"),
        ("issuer", P, PLATFORM),
        ("signature", P, f"es256 {SIGNER.kid}"),
        ("key", P, "active"),
        ("replay", F, "this presentation code was used"),
    ]
    assert (result.holder_display_name, result.fields) == ("", {})  # none in a PC1


def test_a_malformed_code_reports_its_stage():
    from services.verifier.domain import malformed

    result = malformed(codes.MalformedCode(codes.CodeStage.ZLIB, "not zlib (x)"))
    assert result.verdict is Verdict.MALFORMED and result.kind is None
    assert _checks(result) == [("decode", F, "zlib: not zlib (x)")]


# -- what a parsed code holds, and why a code's claims are refused -----------------


async def test_a_parsed_licence_code_holds_its_claims():
    parsed = parse_code(await licence_code())
    assert parsed.kind is CodeKind.LICENCE and parsed.kid == SIGNER.kid
    assert (parsed.identifier, parsed.lineage, parsed.version) == (
        str(LID),
        LID.lineage,
        2,
    )
    assert (parsed.issuer_code, parsed.type_code, parsed.holder_display_name) == (
        DEPT,
        TYPE,
        "张*丰",
    )
    assert (parsed.fields, parsed.nonce) == ({"c": 1}, b"")
    presentation = parse_code(await presentation_code(SIGNER, iat=NOW, ttl=60))
    assert presentation.kind is CodeKind.PRESENTATION
    assert (presentation.identifier, presentation.lineage, presentation.version) == (
        str(LID),
        LID.lineage,
        2,
    )
    assert (presentation.issuer_code, presentation.type_code) == ("", "")
    assert presentation.fields == {} and presentation.nonce == b"n" * 16


def _licence_part(**changes) -> dict:
    return {"id": str(LID), "t": TYPE, "n": "n", **changes}


def _without(mapping: dict, key) -> dict:
    return {k: v for k, v in mapping.items() if k != key}


_PRESENTATION = {
    6: 0,
    4: 60,
    7: b"n" * 8,
    codes.CLAIM_PRESENTATION: {"id": str(LID), "v": 2},
}


@pytest.mark.parametrize(
    ("prefix", "claims", "message"),
    [
        ("LC1:", _without(_licence_claims(), codes.CLAIM_LICENCE), "no licence claim"),
        ("LC1:", {**_licence_claims(), codes.CLAIM_LICENCE: "x"}, "no licence claim"),
        (
            "PC1:",
            _without(_PRESENTATION, codes.CLAIM_PRESENTATION),
            "no presentation claim",
        ),
        (
            "LC1:",
            {**_licence_claims(), codes.CLAIM_LICENCE: _licence_part(id=1)},
            "licence.id is not text",
        ),
        (
            "LC1:",
            {**_licence_claims(), codes.CLAIM_LICENCE: _licence_part(t=None)},
            "licence.t is not text",
        ),
        (
            "LC1:",
            {**_licence_claims(), codes.CLAIM_LICENCE: _licence_part(n=b"n")},
            "licence.n is not text",
        ),
        (
            "LC1:",
            {**_licence_claims(), codes.CLAIM_LICENCE: _licence_part(f=[1])},
            "licence.f is not a map",
        ),
        ("LC1:", {**_licence_claims(), 1: 7}, "claim iss is not text"),
        (
            "PC1:",
            {**_PRESENTATION, codes.CLAIM_PRESENTATION: {"v": 2}},
            "presentation.id is not text",
        ),
        (
            "PC1:",
            {**_PRESENTATION, codes.CLAIM_PRESENTATION: {"id": str(LID), "v": 3}},
            "claim v contradicts the identifier",
        ),
        (
            "PC1:",
            {**_PRESENTATION, codes.CLAIM_PRESENTATION: {"id": str(LID)}},
            "claim v contradicts the identifier",
        ),
        ("PC1:", {**_PRESENTATION, 7: "n" * 8}, "claim cti is not a nonce"),
        ("PC1:", _without(_PRESENTATION, 7), "claim cti is not a nonce"),
        (
            "LC1:",
            {
                **_licence_claims(),
                codes.CLAIM_LICENCE: _licence_part(id=str(LID)[:-1] + "0"),
            },
            f"licence identifier: check character is '0', expected {LID.check_char!r}",
        ),
    ],
)
def test_refused_claims(prefix, claims, message):
    with pytest.raises(codes.MalformedCode) as err:
        parse_code(_text(prefix, claims))
    assert (err.value.stage, err.value.message) == (codes.CodeStage.CLAIMS, message)


def test_field_rights_for_every_other_counter():
    from certseal.errors import CertsealError
    from services.verifier.domain import FieldRights

    rights = FieldRights.parse([f"{TYPE}:*:class", f"{TYPE}:C1:class,grade"])
    assert rights.granted(TYPE, "C1") == {"class", "grade"}
    assert rights.granted(TYPE, "C2") == {"class"}
    with pytest.raises(CertsealError) as err:
        FieldRights.parse([f"{TYPE}:*:a", f"{TYPE}:*:b"])
    assert err.value.field == "field_rights"
    only_c1 = FieldRights.parse([f"{TYPE}:C1:class"])
    assert only_c1.granted(TYPE, "C2") == frozenset()  # no rule of its own, no *
    for bad in (":C1:class", f"{TYPE}::class"):
        with pytest.raises(CertsealError) as err:
            FieldRights.parse([bad])
        assert err.value.field == "field_rights"
        assert err.value.message == (
            f"rule {bad!r} is not TYPE:DEPARTMENT:FIELD,FIELD (DEPARTMENT may be *)"
        )
