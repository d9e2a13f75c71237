"""atk15 F13: the seal maker's role, attacked from outside. A seal platform's CA
(trusted through ``[seal] trusted_ca_files``) certifies its seal makers and, in the
same way, the people and systems that sign with its seals. Nothing in the
verification told the two apart, so whoever held any certificate of a trusted seal CA
could make a seal of any name. Now a maker must be authorised for its platform
(``[seal] seal_makers``: the seal-making systems' certificates, or a maker CA with a
required usage or policy), or chain to the platform's own seal CA, and is never one
of the seal's signers: UNTRUSTED_SEAL at the ``seal`` check otherwise."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import msgspec
import pytest
from asn1crypto import x509 as asn1_x509

from certseal.config import load_config
from certseal.crypto import SoftwareSigner, Suite, digest, generate_key
from certseal.errors import CertsealError, ErrorKind
from services.seal.certificates import issue_certificate, load_sm2_key, make_sm2_ca
from services.seal.config import SealConfig, SealMakerConfig
from services.seal.domain import SealVerdict, verify_sealed_document
from services.seal.makers import MakerRule, load_seal_trust
from services.seal.ses import Picture, make_seal, seal_info, sign_document
from services.seal.trust import TrustStore

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
DAY = dt.timedelta(days=1)
DOCUMENT = "关于同意划拨土地的批复".encode()


async def test_a_certificate_holder_cannot_make_a_seal_for_itself():
    ca_cert, ca_pem = make_sm2_ca(
        "示例省电子印章平台 CA", not_before=NOW - 365 * DAY, not_after=NOW + 3650 * DAY
    )
    ca_public = asn1_x509.Certificate.load(ca_cert).public_key.dump()
    ca_key = load_sm2_key(ca_pem, ca_public)
    # the platform certifies a clerk's signing key (digitalSignature, CA:false)
    key = generate_key(Suite.SM2)
    clerk = SoftwareSigner(Suite.SM2, key.private_bytes, key.public_key_der)
    clerk_cert = issue_certificate(
        ca_key=ca_key,
        ca_cert=ca_cert,
        common_name="张三",
        public_key_der=key.public_key_der,
        not_before=NOW - 30 * DAY,
        not_after=NOW + 365 * DAY,
    )
    # the clerk makes a seal of a government body with that key, and uses it
    info = seal_info(
        es_id="11000000000000000X-rogue",
        seal_type="official",
        name="示例市人民政府",
        signer_certs=[clerk_cert],
        created=NOW - DAY,
        valid_start=NOW - DAY,
        valid_end=NOW + 365 * DAY,
        picture=Picture("png", b"\x89PNG\r\n\x1a\n", 42, 42),
    )
    seal = await make_seal(info, maker=clerk, maker_cert=clerk_cert)
    signature = await sign_document(
        seal,
        data_hash=digest(Suite.SM2, DOCUMENT),
        signed_at=NOW,
        property_info="pifu.ofd",
        signer=clerk,
        signer_cert=clerk_cert,
    )
    result = verify_sealed_document(
        signature,
        document=DOCUMENT,
        trust=TrustStore.of([ca_cert]),
        seal_status=None,
        now=NOW,
    )
    assert result.verdict is not SealVerdict.VALID, result.checks
    assert [c.name for c in result.checks if not c.passed] == ["seal"]


# --- the kind: makers (制章者) and signers (用章者) told apart -----------------------
# A platform's root certifies a city CA; the city CA certifies both its seal-making
# system and the people who sign with seals. Makers are authorised per platform
# (services.seal.makers.MakerRule, ``[seal] seal_makers``).

MAKER_EKU = "1.2.156.112562.9.1.1"  # a platform's own "seal maker" key purpose
MAKER_POLICY = "1.2.156.112562.9.2.1"
OTHER_OID = "1.3.6.1.5.5.7.3.2"  # clientAuth


def _eku(*oids: str) -> dict:
    return {
        "extn_id": "extended_key_usage",
        "critical": False,
        "extn_value": list(oids),
    }


def _policies(*oids: str) -> dict:
    return {
        "extn_id": "certificate_policies",
        "critical": False,
        "extn_value": [{"policy_identifier": oid} for oid in oids],
    }


@pytest.fixture(scope="module", params=[Suite.SM2, Suite.ES256], ids=["sm2", "ecdsa"])
def platform(request):
    from tests.seal.test_domain_trust import intermediate, leaf, root

    suite = request.param
    top = root(suite, f"{suite.value} 示例省电子印章平台根 CA")
    city = intermediate(top, suite, f"{suite.value} 示例市 CA")
    maker = leaf(city, suite, "示例省印章制作系统")
    clerk = leaf(city, suite, "张三")
    return suite, top, city, maker, clerk, leaf


async def _sealed_by(maker, signer, *, listed=None, at=NOW) -> bytes:
    info = seal_info(
        es_id="11000000000000000X-0001",
        seal_type="official",
        name="示例市人民政府",
        signer_certs=listed if listed is not None else [signer[1]],
        created=at - DAY,
        valid_start=at - DAY,
        valid_end=at + 30 * DAY,
        picture=Picture("png", b"\x89PNG\r\n\x1a\n", 42, 42),
    )
    seal = await make_seal(info, maker=maker[0], maker_cert=maker[1])
    return await sign_document(
        seal,
        data_hash=digest(signer[0].suite, DOCUMENT),
        signed_at=at,
        property_info="pifu.ofd",
        signer=signer[0],
        signer_cert=signer[1],
    )


def _verify(signature: bytes, trust: TrustStore):
    return verify_sealed_document(
        signature, document=DOCUMENT, trust=trust, seal_status=None, now=NOW
    )


def _refused(result, words: str) -> None:
    assert result.verdict is SealVerdict.UNTRUSTED_SEAL, result.checks
    failed = [c for c in result.checks if not c.passed]
    assert [c.name for c in failed] == ["seal"], result.checks
    assert words in failed[0].detail, failed[0].detail


async def test_the_platforms_seal_maker_makes_seals_its_signers_use(platform):
    _suite, top, city, maker, clerk, _leaf = platform
    signature = await _sealed_by(maker, clerk)
    pinned = MakerRule("示例省", frozenset({maker[1]}))
    result = _verify(signature, TrustStore.of([top.cert, city.cert], makers=[pinned]))
    assert result.verdict is SealVerdict.VALID, result.checks


async def test_a_signer_of_the_platform_cannot_make_a_seal_with_another_of_its_certs(
    platform,
):
    # maker != signer, but the "maker" is a clerk's second certificate
    suite, top, city, maker, clerk, leaf = platform
    second = leaf(city, suite, "张三 (2)")
    signature = await _sealed_by(second, clerk)
    pinned = MakerRule("示例省", frozenset({maker[1]}))
    for trust in (
        TrustStore.of([top.cert, city.cert], makers=[pinned]),
        TrustStore.of([top.cert, city.cert]),  # no maker configured at all
    ):
        _refused(_verify(signature, trust), "is not an authorised seal maker")


async def test_an_authorised_maker_may_not_make_a_seal_it_signs_with(platform):
    _suite, top, city, maker, clerk, _leaf = platform
    pinned = MakerRule("示例省", frozenset({maker[1]}))
    trust = TrustStore.of([top.cert, city.cert], makers=[pinned])
    # the maker's own certificate listed (alone, or beside the clerk's) as signer
    for listed in ([maker[1]], [clerk[1], maker[1]]):
        signature = await _sealed_by(maker, maker, listed=listed)
        _refused(_verify(signature, trust), "lists as its signer")
    # the maker's key in a second certificate, listed as the signer
    from services.seal.certificates import sign_certificate
    from tests.seal.test_domain_trust import _fields

    again = sign_certificate(
        city.key,  # type: ignore[arg-type]
        _fields(
            asn1_x509.Certificate.load(city.cert).subject,
            "示例省印章制作系统 (signing)",
            maker[0].public_key_der,
            ca=False,
            usage={"digital_signature"},
            start=NOW - 300 * DAY,
            end=NOW + 300 * DAY,
        ),
    )
    signature = await _sealed_by(maker, (maker[0], again))
    _refused(_verify(signature, trust), "key is one of the seal's signers' keys")


@pytest.mark.parametrize(
    ("usages", "policies", "extra", "authorised"),
    [
        ({MAKER_EKU}, set(), [_eku(MAKER_EKU)], True),
        ({MAKER_EKU}, set(), [_eku(OTHER_OID)], False),
        ({MAKER_EKU}, set(), [], False),
        (set(), {MAKER_POLICY}, [_policies(MAKER_POLICY)], True),
        (set(), {MAKER_POLICY}, [_policies("2.5.29.32.0")], False),  # anyPolicy
        (set(), {MAKER_POLICY}, [_eku(MAKER_EKU)], False),
        (
            {MAKER_EKU},
            {MAKER_POLICY},
            [_eku(MAKER_EKU), _policies(MAKER_POLICY)],
            True,
        ),
        ({MAKER_EKU}, {MAKER_POLICY}, [_eku(MAKER_EKU)], False),
    ],
    ids=[
        "eku",
        "other-eku",
        "no-eku",
        "policy",
        "any-policy",
        "no-policy",
        "both",
        "eku-not-policy",
    ],
)
async def test_a_maker_ca_admits_only_certificates_of_the_makers_usage_or_policy(
    platform, usages, policies, extra, authorised
):
    suite, top, city, _maker, clerk, leaf = platform
    candidate = leaf(city, suite, "示例市制章系统", extra=extra)
    rule = MakerRule(
        "示例省",
        cas=frozenset({city.cert}),
        extended_key_usages=frozenset(usages),
        policies=frozenset(policies),
    )
    trust = TrustStore.of([top.cert, city.cert], makers=[rule])
    result = _verify(await _sealed_by(candidate, clerk), trust)
    if authorised:
        assert result.verdict is SealVerdict.VALID, result.checks
    else:
        _refused(result, "is not an authorised seal maker")


async def test_a_maker_rule_of_one_platform_admits_none_of_anothers(platform):
    # the same usage, under another platform's CA, is not that platform's maker
    suite, top, city, _maker, clerk, leaf = platform
    from tests.seal.test_domain_trust import intermediate

    other = intermediate(top, suite, "另一市 CA")
    stranger = leaf(other, suite, "另一市制章系统", extra=[_eku(MAKER_EKU)])
    rule = MakerRule(
        "示例市", cas=frozenset({city.cert}), extended_key_usages=frozenset({MAKER_EKU})
    )
    trust = TrustStore.of([top.cert, city.cert, other.cert], makers=[rule])
    _refused(
        _verify(await _sealed_by(stranger, clerk), trust),
        "not an authorised seal maker of any trusted platform ([seal] seal_makers: 示例市)",
    )


async def test_the_platforms_own_seal_ca_makes_its_seals_but_never_for_a_signer(
    platform,
):
    # certseal's own seal CA certifies only keys the platform holds: its makers need
    # no entry (the old meaning, kept for it alone); a seal listing its maker is refused
    _suite, _top, city, maker, clerk, _leaf = platform
    own = TrustStore().with_own(city.cert)
    result = verify_sealed_document(
        await _sealed_by(maker, clerk),
        document=DOCUMENT,
        trust=own,
        seal_status=None,
        now=NOW,
    )
    assert result.verdict is SealVerdict.UNKNOWN_SEAL, result.checks  # not registered
    assert [c.name for c in result.checks if not c.passed] == ["seal"]
    assert "not registered" in result.checks[-1].detail
    _refused(_verify(await _sealed_by(clerk, clerk), own), "lists as its signer")


def test_a_maker_rule_names_a_maker():
    with pytest.raises(ValueError, match="names no seal maker"):
        MakerRule("x")
    with pytest.raises(ValueError, match="maker CA"):
        MakerRule("x", frozenset({b"0"}), extended_key_usages=frozenset({MAKER_EKU}))
    with pytest.raises(ValueError, match="anyPolicy"):
        MakerRule("x", cas=frozenset({b"0"}), policies=frozenset({"2.5.29.32.0"}))
    with pytest.raises(ValueError, match="anyExtendedKeyUsage"):
        MakerRule(
            "x", cas=frozenset({b"0"}), extended_key_usages=frozenset({"2.5.29.37.0"})
        )


# --- the configuration: [seal] trusted_ca_files and [[seal.seal_makers]] ---------

OFDRW = Path(__file__).parent / "data" / "ofdrw"


def _config(tmp_path, text: str) -> SealConfig:
    class Only(msgspec.Struct, forbid_unknown_fields=True):
        seal: SealConfig

    path = tmp_path / "seal.toml"
    path.write_text(text)
    return load_config(str(path), Only).seal


def test_an_old_trust_list_alone_is_refused_at_start_naming_what_to_add(tmp_path):
    cfg = _config(
        tmp_path, f'[seal]\ntrusted_ca_files = ["{OFDRW / "ofdrw_ROOT.cer"}"]\n'
    )
    with pytest.raises(CertsealError) as err:
        load_seal_trust(cfg.trusted_ca_files, cfg.seal_makers)
    assert err.value.kind is ErrorKind.INVALID_ARGUMENT
    assert err.value.field == "seal.seal_makers"
    for words in (
        "OFD Reader and WriterROOT Certificate",
        "[[seal.seal_makers]]",
        "certificate_files",
        "ca_files",
        "docs/operations.md",
    ):
        assert words in err.value.message
    # no trusted CA of another platform: nothing to configure
    assert load_seal_trust([], []) == TrustStore()


def test_ofdrws_root_and_maker_configured_verify_its_riding_seal(tmp_path):
    cfg = _config(
        tmp_path,
        "[seal]\n"
        f'trusted_ca_files = ["{OFDRW / "ofdrw_ROOT.cer"}"]\n'
        "[[seal.seal_makers]]\n"
        'platform = "ofdrw"\n'
        f'certificate_files = ["{OFDRW / "ofdrw_maker.cer"}"]\n',
    )
    trust = load_seal_trust(cfg.trusted_ca_files, cfg.seal_makers)
    result = verify_sealed_document(
        (OFDRW / "V4RideRight.SignedValue.dat").read_bytes(),
        document=(OFDRW / "V4RideRight.Signature.xml").read_bytes(),
        trust=trust,
        seal_status=None,
        now=NOW,
    )
    assert result.verdict is SealVerdict.VALID, result.checks
    # the root alone in the store (as before the fix): the maker is not authorised
    _refused(
        verify_sealed_document(
            (OFDRW / "V4RideRight.SignedValue.dat").read_bytes(),
            document=(OFDRW / "V4RideRight.Signature.xml").read_bytes(),
            trust=TrustStore.of(trust.anchors[0].der for _ in (1,)),
            seal_status=None,
            now=NOW,
        ),
        "is not an authorised seal maker",
    )


def _write(tmp_path, name: str, der: bytes) -> str:
    path = tmp_path / name
    path.write_bytes(der)
    return str(path)


def test_a_maker_entry_that_cannot_work_is_named(tmp_path, platform):
    suite, top, city, maker, _clerk, leaf = platform
    from tests.seal.test_domain_trust import intermediate, root

    roots = [
        _write(tmp_path, "top.cer", top.cert),
        _write(tmp_path, "city.cer", city.cert),
    ]
    stranger_root = root(suite, "陌生根")
    stranger = leaf(stranger_root, suite, "陌生制章系统")
    loose_ca = intermediate(top, suite, "未列入的 CA")
    cases = [
        ({"platform": " "}, "seal.seal_makers[0].platform", "name the"),
        ({"platform": "p"}, "seal.seal_makers[0]", "names no seal maker"),
        (
            {"platform": "p", "certificate_files": [roots[1]]},
            "seal.seal_makers[0].certificate_files",
            "is a CA certificate",
        ),
        (
            {
                "platform": "p",
                "certificate_files": [_write(tmp_path, "s.cer", stranger[1])],
            },
            "seal.seal_makers[0].certificate_files",
            "issuer is not in seal.trusted_ca_files",
        ),
        (
            {"platform": "p", "ca_files": [_write(tmp_path, "l.cer", loose_ca.cert)]},
            "seal.seal_makers[0].ca_files",
            "is not in seal.trusted_ca_files",
        ),
        (
            {"platform": "p", "ca_files": [roots[1]], "extended_key_usages": ["x.1"]},
            "seal.seal_makers[0].extended_key_usages",
            "no dotted OID",
        ),
        (
            {
                "platform": "p",
                "ca_files": [roots[1]],
                "certificate_policies": ["1.2.3 "],
            },
            "seal.seal_makers[0].certificate_policies",
            "no dotted OID",
        ),
        (
            {
                "platform": "p",
                "certificate_files": [_write(tmp_path, "m.cer", maker[1])],
                "extended_key_usages": [MAKER_EKU],
            },
            "seal.seal_makers[0]",
            "name the CA that issues",
        ),
        (
            {
                "platform": "p",
                "ca_files": [roots[1]],
                "certificate_policies": ["2.5.29.32.0"],
            },
            "seal.seal_makers[0]",
            "anyPolicy",
        ),
        (
            {"platform": "p", "certificate_files": [str(tmp_path / "absent.cer")]},
            "seal.seal_makers[0].certificate_files",
            "absent.cer",
        ),
    ]
    for entry, field, words in cases:
        with pytest.raises(CertsealError) as err:
            load_seal_trust(roots, [SealMakerConfig(**entry)])
        assert err.value.kind is ErrorKind.INVALID_ARGUMENT, entry
        assert err.value.field == field, (entry, err.value)
        assert words in err.value.message, (entry, err.value.message)
    # a good one of each kind loads, and only the second entry's maker is named
    trust = load_seal_trust(
        roots,
        [
            SealMakerConfig(
                platform="示例省",
                certificate_files=[_write(tmp_path, "m.cer", maker[1])],
            ),
            SealMakerConfig(
                platform="示例市", ca_files=[roots[1]], extended_key_usages=[MAKER_EKU]
            ),
        ],
    )
    assert [r.platform for r in trust.makers] == ["示例省", "示例市"]
    assert trust.makers[0].certificates == {maker[1]}
    assert trust.makers[1].cas == {city.cert}


@pytest.mark.parametrize(
    ("makers", "field"),
    [
        ([], "seal.seal_makers"),  # a trust list from before atk15 F13
        (
            [SealMakerConfig(platform="ofdrw", certificate_files=["/nonexistent.cer"])],
            "seal.seal_makers[0].certificate_files",
        ),
    ],
    ids=["old-trust-list", "missing-maker-file"],
)
def test_the_seal_process_refuses_to_start_naming_the_setting(
    config, tmp_path, makers, field
):
    # the real process, its configuration file written as TOML ([[seal.seal_makers]]
    # as inline tables): exit 2 and one line naming the setting, no traceback
    from tests.e2e.test_atk12_missing_files import on_free_ports
    from tests.e2e.test_busy_ports import _start

    cfg = on_free_ports(config)
    cfg.seal.trusted_ca_files = [str(OFDRW / "ofdrw_ROOT.cer")]
    cfg.seal.seal_makers = makers
    done = _start("services.seal", cfg, tmp_path)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    errors = [line for line in done.stderr.splitlines() if "error: " in line]
    assert len(errors) == 1 and f"error: {field}: " in errors[0], done.stderr


@pytest.mark.parametrize("name", ["UserV4.esl", "V4RideRight.SignedValue.dat"])
def test_seal_inspect_writes_the_maker_certificate_a_maker_entry_names(
    tmp_path, capsys, name
):
    from asn1crypto import pem

    from services import cli

    out = tmp_path / "maker.pem"
    args = ["seal", "inspect", "--maker-cert", str(out), str(OFDRW / name)]
    assert cli.main(args) == 0
    printed = capsys.readouterr().out
    assert "Test Certificate" in printed
    # what to check with the platform before trusting it (nu15): where it went, its
    # issuer and its whole fingerprint
    import hashlib

    full = hashlib.sha256((OFDRW / "ofdrw_maker.cer").read_bytes()).hexdigest()
    assert f"seal maker's certificate written to {out}" in printed
    assert "issuer  " in printed and "ROOT" in printed.split("issuer  ", 1)[1]
    assert full.upper() in printed.replace(":", "")
    assert pem.unarmor(out.read_bytes())[2] == (OFDRW / "ofdrw_maker.cer").read_bytes()
    trust = load_seal_trust(
        [str(OFDRW / "ofdrw_ROOT.cer")],
        [SealMakerConfig(platform="ofdrw", certificate_files=[str(out)])],
    )
    assert trust.makers[0].certificates == {(OFDRW / "ofdrw_maker.cer").read_bytes()}
    # a place it cannot write is named, exit 2 (fix-cli: its folder, said first)
    bad = ["seal", "inspect", "--maker-cert", str(tmp_path / "no" / "x.pem")]
    assert cli.main([*bad, str(OFDRW / name)]) == 2
    assert capsys.readouterr().err == (
        f"error: maker-cert: {tmp_path / 'no'} is not a folder: give FILE in one\n"
    )
