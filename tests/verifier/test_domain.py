"""Every verdict and every check of the pure verification function, with real codes."""

import datetime as dt
import zlib

import base45
import cbor2
import pytest

from certseal import codes
from certseal.crypto import SoftwareSigner, Suite
from certseal.errors import CertsealError
from certseal.identifiers import LicenceId
from services.verifier.domain import (
    CodeKind,
    Outcome,
    Verdict,
    evaluate,
    malformed,
    parse_code,
)
from tests.verifier.domain_samples import (
    DEPT,
    LID,
    NOW,
    PLATFORM,
    index_entry,
    licence_code,
    presentation_code,
    signer,
    trust_entry,
    verify,
)


def failed(result) -> tuple[str, str]:
    last = result.checks[-1]
    assert last.outcome is Outcome.FAILED
    return last.name, last.detail


@pytest.mark.parametrize("suite", list(Suite))
async def test_valid_in_each_suite(suite):
    s = signer(suite)
    result = verify(await licence_code(s), trust=trust_entry(s))
    assert result.verdict is Verdict.VALID
    assert [c.name for c in result.checks] == [
        "decode",
        "issuer",
        "signature",
        "key",
        "licence",
        "version",
        "status",
        "validity",
    ]
    assert all(c.outcome is Outcome.PASSED for c in result.checks)
    assert result.fields == {"class": "C1"} and result.holder_display_name == "张*丰"
    assert result.kind is CodeKind.LICENCE and result.identifier == str(LID)


async def test_expiry_beats_valid():
    s = signer()
    result = verify(
        await licence_code(s), trust=trust_entry(s), now=NOW + dt.timedelta(days=11)
    )
    assert result.verdict is Verdict.EXPIRED and failed(result)[0] == "validity"


async def test_not_yet_valid():
    s = signer()
    result = verify(
        await licence_code(s),
        trust=trust_entry(s),
        index=index_entry(valid_from=NOW + dt.timedelta(days=1)),
    )
    assert result.verdict is Verdict.NOT_YET_VALID


async def test_older_version_is_superseded():
    s = signer()
    newer = LicenceId(LID.type_code, LID.authority_code, LID.serial, 3)
    result = verify(
        await licence_code(s),
        trust=trust_entry(s),
        index=index_entry(identifier=str(newer), version=3),
    )
    assert result.verdict is Verdict.SUPERSEDED and str(newer) in failed(result)[1]


async def test_version_newer_than_the_index_is_unknown():
    s = signer()
    result = verify(
        await licence_code(s), trust=trust_entry(s), index=index_entry(version=1)
    )
    assert result.verdict is Verdict.UNKNOWN_LICENCE


@pytest.mark.parametrize(
    ("status", "verdict", "label"),
    [
        ("02", Verdict.SUSPENDED, "suspended (02)"),
        ("03", Verdict.REVOKED, "revoked (03)"),
        ("04", Verdict.CANCELLED, "cancelled (04)"),
        ("05", Verdict.EXPIRED, "expired (05)"),
        ("06", Verdict.SUPERSEDED, "transferred out (06)"),
        ("07", Verdict.REVOKED, "revoked as a sanction (07)"),
        ("99", Verdict.CANCELLED, "other (99)"),
    ],
)
async def test_status_verdicts(status, verdict, label):
    s = signer()
    result = verify(
        await licence_code(s), trust=trust_entry(s), index=index_entry(status=status)
    )
    assert result.verdict is verdict and failed(result) == ("status", label)
    assert result.status == status  # the console words each status on its own


async def test_the_status_is_not_shown_for_a_forged_code():
    s, other = signer(), signer()
    result = verify(
        await licence_code(other), trust=trust_entry(s), index=index_entry(status="07")
    )
    assert result.verdict is Verdict.BAD_SIGNATURE and result.status == ""


async def test_revoked_status_beats_expiry():
    s = signer()
    result = verify(
        await licence_code(s),
        trust=trust_entry(s),
        index=index_entry(status="03"),
        now=NOW + dt.timedelta(days=30),
    )
    assert result.verdict is Verdict.REVOKED


async def test_retired_key_still_verifies():
    s = signer(Suite.SM2)
    result = verify(await licence_code(s), trust=trust_entry(s, status="retired"))
    assert result.verdict is Verdict.VALID


async def test_revoked_key_untrusts_what_it_signed_after_revocation():
    s = signer(Suite.ED25519)
    revoked = trust_entry(s, status="revoked", revoked_at=NOW - dt.timedelta(hours=1))
    before = await licence_code(s, iat=NOW - dt.timedelta(days=2))
    after = await licence_code(s, iat=NOW - dt.timedelta(minutes=5))
    assert verify(before, trust=revoked).verdict is Verdict.VALID
    result = verify(after, trust=revoked)
    assert result.verdict is Verdict.KEY_REVOKED and failed(result)[0] == "key"


async def test_signed_outside_the_key_validity():
    s = signer()
    result = verify(
        await licence_code(s),
        trust=trust_entry(s, not_before=NOW - dt.timedelta(hours=1)),
    )
    assert result.verdict is Verdict.BAD_SIGNATURE and failed(result)[0] == "key"


class Impostor:
    """Signs with one key while claiming another key's kid."""

    def __init__(self, real: SoftwareSigner, claimed: SoftwareSigner):
        self._real, self.kid, self.suite = real, claimed.kid, claimed.suite
        self.public_key_der = claimed.public_key_der

    async def sign(self, data: bytes) -> bytes:
        return await self._real.sign(data)


@pytest.mark.parametrize("suite", list(Suite))
async def test_forged_signature(suite):
    trusted, forger = signer(suite), signer(suite)
    text = await licence_code(Impostor(forger, trusted))
    result = verify(text, trust=trust_entry(trusted))
    assert result.verdict is Verdict.BAD_SIGNATURE
    assert failed(result)[0] == "signature" and result.fields == {}


async def test_unknown_and_wrong_issuers():
    s = signer()
    text = await licence_code(s)
    result = verify(text, trust=None)
    assert result.verdict is Verdict.UNKNOWN_ISSUER and s.kid in failed(result)[1]
    other = verify(text, trust=trust_entry(s, department_code=PLATFORM))
    assert (
        other.verdict is Verdict.UNKNOWN_ISSUER
        and "not to the issuer" in failed(other)[1]
    )


async def test_a_key_vouches_only_for_its_own_departments_licences():
    """A department's trusted key signing a code whose identifier names another
    department's licence (or another type) is no licence of either: the claims must
    agree with the identifier (GB/T 36904), and the index entry with the code."""
    s = signer()
    other_dept = "91350200MA00000X0P"
    theirs = LicenceId(other_dept + "001", other_dept, "ABCDEF0123456789", 2)
    # iss names the key's department, the identifier another's
    text = await licence_code(s, lid=theirs, issuer=DEPT)
    with pytest.raises(codes.MalformedCode, match="issuing authority"):
        parse_code(text)
    # the type claim contradicts the identifier
    with pytest.raises(codes.MalformedCode, match="type"):
        parse_code(await licence_code(s, type_code=PLATFORM + "001"))
    # the index entry found is not the licence the code names
    for changes in (
        {"issuer_code": other_dept},
        {"type_code": other_dept + "001"},
        {"lineage": theirs.lineage},
    ):
        result = verify(
            await licence_code(s), trust=trust_entry(s), index=index_entry(**changes)
        )
        assert result.verdict is Verdict.UNKNOWN_LICENCE, changes
        assert failed(result)[0] == "licence" and not result.restricted_fields


async def test_unknown_licence():
    s = signer()
    result = evaluate(
        parse_code(await licence_code(s)),
        trust=trust_entry(s),
        index=None,
        nonce_seen=False,
        now=NOW,
    )
    assert result.verdict is Verdict.UNKNOWN_LICENCE and failed(result)[0] == "licence"


async def test_presentation_codes():
    platform = signer()
    trust = trust_entry(platform, department_code=PLATFORM, presentation_key=True)
    text = await presentation_code(platform)
    ok = verify(text, trust=trust)
    assert ok.verdict is Verdict.VALID and ok.kind is CodeKind.PRESENTATION
    assert "code lifetime" in [c.name for c in ok.checks]
    assert verify(text, trust=trust, nonce_seen=True).verdict is Verdict.REPLAYED
    late = verify(text, trust=trust, now=NOW + dt.timedelta(minutes=2))
    assert late.verdict is Verdict.CODE_EXPIRED
    revoked = verify(text, trust=trust, index=index_entry(status="03"))
    assert revoked.verdict is Verdict.REVOKED
    not_a_presenter = verify(
        text, trust=trust_entry(platform, department_code=PLATFORM)
    )
    assert not_a_presenter.verdict is Verdict.UNKNOWN_ISSUER
    old = await presentation_code(
        platform, lid=LicenceId(LID.type_code, LID.authority_code, LID.serial, 1)
    )
    assert verify(old, trust=trust).verdict is Verdict.SUPERSEDED


def _wrap(prefix: str, message: bytes) -> str:
    return prefix + base45.b45encode(zlib.compress(message)).decode()


def _cose(claims) -> bytes:
    protected = cbor2.dumps({1: -7, 4: b"12345678"})
    return cbor2.dumps(
        cbor2.CBORTag(18, [protected, {}, cbor2.dumps(claims), b"s" * 64])
    )


@pytest.mark.parametrize(
    ("text", "stage"),
    [
        ("HC1:NCFOXN", "prefix"),
        ("LC1:%%%", "base45"),
        ("LC1:" + base45.b45encode(b"not zlib").decode(), "zlib"),
        (_wrap("LC1:", b"\xff\xfe"), "cose"),
        (_wrap("LC1:", _cose({1: DEPT})), "claims"),
        (
            _wrap(
                "LC1:",
                _cose(
                    {
                        1: DEPT,
                        6: 1,
                        4: 2,
                        5: 1,
                        codes.CLAIM_LICENCE: {
                            "id": str(LID)[:-1] + "Z",
                            "t": "t",
                            "n": "n",
                        },
                    }
                ),
            ),
            "claims",
        ),
        (
            _wrap(
                "LC1:",
                _cose(
                    {
                        1: DEPT,
                        6: "yesterday",
                        4: 2,
                        5: 1,
                        codes.CLAIM_LICENCE: {"id": str(LID), "t": "t", "n": "n"},
                    }
                ),
            ),
            "claims",
        ),
        (
            _wrap(
                "PC1:",
                _cose(
                    {
                        6: 1,
                        4: 2,
                        7: b"short",
                        codes.CLAIM_PRESENTATION: {"id": str(LID), "v": 2},
                    }
                ),
            ),
            "claims",
        ),
        (
            _wrap(
                "PC1:",
                _cose(
                    {
                        6: 1,
                        4: 2,
                        7: b"n" * 16,
                        codes.CLAIM_PRESENTATION: {"id": str(LID), "v": 5},
                    }
                ),
            ),
            "claims",
        ),
    ],
)
def test_malformed_codes(text, stage):
    with pytest.raises(codes.MalformedCode) as err:
        parse_code(text)
    assert err.value.stage.value == stage
    result = malformed(err.value)
    assert result.verdict is Verdict.MALFORMED and failed(result)[0] == "decode"


async def test_truncated_code_is_malformed():
    text = await licence_code(signer())
    for cut in (5, len(text) // 3, len(text) - 2):
        with pytest.raises(codes.MalformedCode):
            parse_code(text[:cut])


async def test_times_compare_at_the_precision_of_iat():
    s = signer()
    created = NOW - dt.timedelta(days=1) + dt.timedelta(microseconds=700_000)
    code = await licence_code(s, iat=created)  # iat drops the fraction
    assert (
        verify(code, trust=trust_entry(s, not_before=created)).verdict is Verdict.VALID
    )
    revoked = trust_entry(s, status="revoked", revoked_at=created)
    assert verify(code, trust=revoked).verdict is Verdict.KEY_REVOKED


def test_field_rights():
    from services.verifier.domain import FieldRights

    t = DEPT + "001"
    rights = FieldRights.parse([f"{t}:11440300COUNTER01:class,grade", f"{t}:*:"])
    assert rights.granted(t, "11440300COUNTER01") == {"class", "grade"}
    assert rights.granted(t, "11440300OTHERDEP1") == frozenset()
    # no rule, no restricted field (least privilege)
    assert rights.granted("other-type", "11440300OTHERDEP1") == frozenset()
    assert FieldRights().granted(t, "") == frozenset()
    for bad in ("no-colons", f"{t}::class", f"{t}:*:a:b"):
        with pytest.raises(CertsealError) as err:
            FieldRights.parse([bad])
        assert err.value.field == "field_rights"
    with pytest.raises(CertsealError, match="repeats"):
        FieldRights.parse([f"{t}:*:a", f"{t}:*:b"])
