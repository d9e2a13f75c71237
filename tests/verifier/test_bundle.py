"""Offline trust bundles: signing, delta chains, refusal of bad or stale bundles, and the
verdicts an offline counter gets."""

import dataclasses
import datetime as dt

import cbor2
import pytest

from certseal.devpki import DevCA
from certseal.errors import CertsealError, ErrorKind
from certseal.identifiers import LicenceId
from services.verifier.bundle import (
    BundleContent,
    BundleSigner,
    ListedLicence,
    Snapshot,
    open_bundle,
    payload,
    verify_offline,
)
from services.verifier.domain import Verdict
from services.verifier.names import DirectoryEntry
from services.verifier.storage import (
    SnapshotStore,
    read_bundle_file,
    write_bundle_file,
)
from tests.verifier.domain_samples import (
    DEPT,
    LID,
    NOW,
    licence_code,
    presentation_code,
    signer,
    trust_entry,
)

OTHER = LicenceId(DEPT + "001", DEPT, "ZZZZ0000ZZZZ0000", 1)
# bundles are signed now (the signer's certificate is fresh); codes are judged at NOW
SIGNED = dt.datetime.now(dt.UTC)


@pytest.fixture(scope="module")
def ca(tmp_path_factory):
    return DevCA(tmp_path_factory.mktemp("bundle-ca"))


@pytest.fixture(scope="module")
def bundle_signer(ca):
    ident = ca.identity("service:verifier")
    return BundleSigner(ident.cert_file.read_bytes(), ident.key_file.read_bytes())


@pytest.fixture(scope="module")
def key():
    return signer()


def revoked(version=2, status="03"):
    return ListedLicence(
        version,
        status,
        NOW - dt.timedelta(days=10),
        NOW + dt.timedelta(days=10),
        lineage_version=5,
    )


def snapshot(key, licences, version=1000, group="dept-a"):
    return Snapshot(
        group,
        version,
        BundleContent({key.kid: trust_entry(key)}, dict(licences)),
        NOW - dt.timedelta(seconds=3),
    )


def sign(bundle_signer, snap, base=None, issued_at=SIGNED, hours=24):
    return bundle_signer.sign(
        payload(
            snap,
            issued_at=issued_at,
            valid_until=issued_at + dt.timedelta(hours=hours),
            base=base,
        )
    )


def opened(ca, messages, now=SIGNED):
    return open_bundle(messages, ca_pem=ca.ca_file.read_bytes(), now=now)


async def test_unlisted_licence_is_taken_as_its_code_says(ca, bundle_signer, key):
    bundle = opened(ca, [sign(bundle_signer, snapshot(key, {}))])
    result = verify_offline(await licence_code(key), bundle, NOW)
    assert result.verdict is Verdict.VALID
    licence_check = next(c for c in result.checks if c.name == "licence")
    assert "not listed in bundle 1000" in licence_check.detail
    assert result.fields == {"class": "C1"}


async def test_listed_statuses_and_versions(ca, bundle_signer, key):
    bundle = opened(
        ca, [sign(bundle_signer, snapshot(key, {LID.lineage: revoked(2, "03")}))]
    )
    assert verify_offline(await licence_code(key), bundle, NOW).verdict is (
        Verdict.REVOKED
    )
    suspended = opened(
        ca, [sign(bundle_signer, snapshot(key, {LID.lineage: revoked(2, "02")}))]
    )
    assert verify_offline(await licence_code(key), suspended, NOW).verdict is (
        Verdict.SUSPENDED
    )
    amended = opened(
        ca, [sign(bundle_signer, snapshot(key, {LID.lineage: revoked(3, "01")}))]
    )
    result = verify_offline(await licence_code(key), amended, NOW)
    assert result.verdict is Verdict.SUPERSEDED
    assert str(dataclasses.replace(LID, version=3)) in result.checks[-1].detail


async def test_expired_code_and_unknown_or_revoked_key(ca, bundle_signer, key):
    bundle = opened(ca, [sign(bundle_signer, snapshot(key, {}))])
    later = NOW + dt.timedelta(days=11)
    assert verify_offline(await licence_code(key), bundle, later).verdict is (
        Verdict.EXPIRED
    )
    assert verify_offline(await licence_code(signer()), bundle, NOW).verdict is (
        Verdict.UNKNOWN_ISSUER
    )
    snap = snapshot(key, {})
    revoked_key = dataclasses.replace(
        snap,
        content=BundleContent(
            {
                key.kid: trust_entry(
                    key, status="revoked", revoked_at=NOW - dt.timedelta(2)
                )
            },
            {},
        ),
    )
    bundle = opened(ca, [sign(bundle_signer, revoked_key)])
    assert verify_offline(await licence_code(key), bundle, NOW).verdict is (
        Verdict.KEY_REVOKED
    )


async def test_offline_takes_a_code_in_any_case_or_full_width(ca, bundle_signer, key):
    bundle = opened(ca, [sign(bundle_signer, snapshot(key, {}))])
    code = await licence_code(key)
    full_width = "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in code)
    for typed in (code.lower(), code.swapcase(), "LC1：" + code[4:], full_width):
        assert verify_offline(f" {typed}\r\n", bundle, NOW).verdict is Verdict.VALID
    result = verify_offline("ＬＣ１：ＡＢ·", bundle, NOW)  # no Base45 stands for ·
    assert result.verdict is Verdict.MALFORMED
    assert "full-width (Chinese) input method" in result.checks[0].detail


async def test_malformed_and_presentation_codes(ca, bundle_signer, key):
    bundle = opened(ca, [sign(bundle_signer, snapshot(key, {}))])
    assert verify_offline("LC1:not base45!", bundle, NOW).verdict is Verdict.MALFORMED
    with pytest.raises(CertsealError) as err:
        verify_offline(await presentation_code(key), bundle, NOW)
    assert err.value.kind is ErrorKind.INVALID_ARGUMENT
    assert "verified online only" in err.value.message


async def test_delta_chain_applies_changes_and_removals(ca, bundle_signer, key):
    v1 = snapshot(key, {LID.lineage: revoked(2, "02")}, version=1000)
    v2 = snapshot(key, {OTHER.lineage: revoked(1, "03")}, version=2000)
    full, delta = sign(bundle_signer, v1), sign(bundle_signer, v2, base=v1)
    assert cbor2.loads(cbor2.loads(delta).value[2])["removed"] == [LID.lineage]
    bundle = opened(ca, [full, delta])
    assert bundle.version == 2000
    assert set(bundle.content.licences) == {OTHER.lineage}
    assert verify_offline(await licence_code(key), bundle, NOW).verdict is (
        Verdict.VALID
    )
    assert verify_offline(await licence_code(key, lid=OTHER), bundle, NOW).verdict is (
        Verdict.REVOKED
    )
    # a delta that does not follow the held version, or that comes first, is refused
    v3 = snapshot(key, {}, version=3000)
    with pytest.raises(CertsealError, match="does not follow"):
        opened(ca, [full, sign(bundle_signer, v3, base=v2)])
    with pytest.raises(CertsealError, match="starts with a delta"):
        opened(ca, [delta])


def test_stale_tampered_or_foreign_bundles_are_refused(
    ca, bundle_signer, key, tmp_path
):
    message = sign(bundle_signer, snapshot(key, {}), hours=1)
    with pytest.raises(CertsealError) as err:
        opened(ca, [message], now=SIGNED + dt.timedelta(hours=1))
    assert err.value.kind is ErrorKind.FAILED_PRECONDITION
    assert "expired" in err.value.message

    tampered = bytearray(message)
    tampered[-70] ^= 1  # inside the payload, before the signature
    with pytest.raises(CertsealError, match="altered"):
        opened(ca, [bytes(tampered)])

    other_ca = DevCA(tmp_path / "other-ca")
    with pytest.raises(CertsealError, match="did not issue"):
        opened(other_ca, [message])

    dept = ca.identity(f"dept:{DEPT}")
    not_a_service = BundleSigner(
        dept.cert_file.read_bytes(), dept.key_file.read_bytes()
    )
    with pytest.raises(CertsealError, match="not a verifier identity"):
        opened(ca, [sign(not_a_service, snapshot(key, {}))])

    path = tmp_path / "counter.bundle"
    path.write_bytes(b"garbage")
    with pytest.raises(CertsealError, match="not a certseal trust bundle file"):
        read_bundle_file(path)
    write_bundle_file(path, [message])
    assert read_bundle_file(path) == [message]
    assert "key withheld" in repr(bundle_signer)


def test_snapshot_store_keeps_the_newest(tmp_path, key):
    store = SnapshotStore(tmp_path / "bundles", keep=2)
    for version in (1, 2, 3):
        store.add(snapshot(key, {LID.lineage: revoked()}, version=version))
    assert store.get(1) is None
    latest = store.latest()
    assert latest is not None and latest.version == 3
    assert latest.content == snapshot(key, {LID.lineage: revoked()}).content


def test_cli_tells_scanned_text_from_an_image_path(tmp_path):
    from services.verifier.cli import is_file as _is_file

    photo = tmp_path / "scan.jpg"
    photo.write_bytes(b"jpeg")
    assert _is_file(str(photo))
    # scanned text is never a path, even one too long to be a file name
    assert not _is_file("LC1:" + "A" * 400)
    assert not _is_file("X" * 400)


@pytest.mark.parametrize(
    "instant",
    [
        dt.datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=dt.UTC),
        dt.datetime(1, 1, 1, tzinfo=dt.UTC),
        dt.datetime(2026, 11, 30, 8, 0, 0, 1, tzinfo=dt.UTC),
    ],
)
def test_a_licence_at_the_edge_of_time_does_not_break_the_bundle(instant):
    """One licence valid until 9999-12-31T23:59:59.999999 once made every export of
    its group fail (the float round trip gave year 10000): times are exact integers."""
    from services.verifier.bundle import (
        BundleContent,
        ListedLicence,
        decode_content,
        encode_content,
    )

    listed = ListedLicence(2, "03", instant, instant, lineage_version=2)
    content = BundleContent(keys={}, licences={"L": listed})
    assert decode_content(encode_content(content)).licences["L"] == listed


@pytest.mark.parametrize("value", [2**63, -(2**63), 1.5, True, "1"])
def test_a_time_outside_the_calendar_or_not_an_integer_is_refused(value):
    from services.verifier.bundle import from_us

    with pytest.raises((OverflowError, TypeError)):
        from_us(value)


def _names():
    return {
        f"department:{DEPT}": DirectoryEntry("示例交警支队", {}),
        f"licence-type:{LID.type_code}": DirectoryEntry(
            "机动车驾驶证",
            {"class": "准驾车型", "other": "不在码中"},
            frozenset({"class"}),  # "other" is restricted: never in a code
        ),
    }


async def test_an_offline_verdict_names_what_an_online_one_does(ca, bundle_signer, key):
    """nu11: offline, the type and the issuer showed as codes where online they have
    names: the bundle now carries the directory's names, in every message, and an
    older bundle without them still verifies, unnamed."""
    snap = snapshot(key, {})
    full = bundle_signer.sign(
        payload(
            snap,
            issued_at=SIGNED,
            valid_until=SIGNED + dt.timedelta(hours=1),
            directory=_names(),
        )
    )
    result = verify_offline(await licence_code(key), opened(ca, [full]), NOW)
    assert (result.verdict, result.type_name, result.issuer_name) == (
        Verdict.VALID,
        "机动车驾驶证",
        "示例交警支队",
    )
    # the public fields' titles, as online (polish 3: offline printed "class", online
    # "准驾车型"); no other field's title, which would name a restricted field
    assert result.fields and result.field_titles == {"class": "准驾车型"}
    assert "不在码中" not in full.decode(errors="replace")
    unnamed = verify_offline(
        await licence_code(key), opened(ca, [sign(bundle_signer, snap)]), NOW
    )
    assert (unnamed.verdict, unnamed.type_name, unnamed.field_titles) == (
        Verdict.VALID,
        "",
        {},
    )


@pytest.mark.parametrize(
    "directory",
    [
        {"department:x": 7},
        {"department:x": "name", "titles": {"department:x": {"class": 7}}},
        {"department:x": "name", "titles": {"department:x": ["class"]}},
        {"department:x": ["name", {}]},
        {7: "name"},
        ["not", "a", "map"],
    ],
)
def test_a_bundle_with_mistyped_names_is_refused(ca, bundle_signer, key, directory):
    message = payload(
        snapshot(key, {}), issued_at=SIGNED, valid_until=SIGNED + dt.timedelta(hours=1)
    )
    if isinstance(directory, dict) and "titles" in directory:
        directory = dict(directory)
        message["titles"] = directory.pop("titles")
    message["directory"] = directory
    with pytest.raises(CertsealError) as err:
        opened(ca, [bundle_signer.sign(message)])
    assert (err.value.kind, err.value.field) == (ErrorKind.INVALID_ARGUMENT, "bundle")
