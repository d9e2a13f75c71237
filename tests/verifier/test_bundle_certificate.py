"""The start check of a token key's bundle certificate (``[verifier] bundle_cert_file``,
:func:`services.verifier.config.check_bundle_certificate`): a certificate whose
every bundle the counters would refuse (:func:`services.verifier.bundle.open_bundle`)
is refused when the worker starts, naming the setting, instead of serving bundles
nobody can open."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509

from certseal.devpki import DevCA
from certseal.errors import CertsealError, ErrorKind
from services.verifier.bundle import open_bundle, payload
from services.verifier.bundle_sign import BundleSigner
from services.verifier.config import check_bundle_certificate
from tests.verifier.test_bundle_token import snapshot
from tests.verifier.test_domain import signer

NOW = dt.datetime.now(dt.UTC)


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> DevCA:
    return DevCA(tmp_path_factory.mktemp("bundle-cert-ca"))


def certificate(ca: DevCA, common_name: str) -> x509.Certificate:
    ident = ca.identity(common_name)
    return x509.load_pem_x509_certificate(ident.cert_file.read_bytes())


def platform(ca: DevCA) -> x509.Certificate:
    return x509.load_pem_x509_certificate(ca.ca_file.read_bytes())


def refusal(
    ca: DevCA, cert: x509.Certificate, *, group: str = "dept-a", now: dt.datetime = NOW
) -> str:
    with pytest.raises(CertsealError) as refused:
        check_bundle_certificate(
            cert, platform(ca), group=group, now=now, described="b.pem"
        )
    assert refused.value.kind is ErrorKind.INVALID_ARGUMENT
    assert refused.value.field == "verifier.bundle_cert_file"
    return str(refused.value)


@pytest.mark.parametrize("name", ["service:verifier", "service:verifier-dept-a"])
def test_a_verifier_of_the_group_from_the_platform_ca_is_taken(ca, name):
    cert = certificate(ca, name)
    check_bundle_certificate(
        cert, platform(ca), group="dept-a", now=NOW, described="b.pem"
    )


@pytest.mark.parametrize("days", [-2, 900])
def test_a_certificate_not_valid_now_is_refused(ca, days):
    cert = certificate(ca, "service:verifier-dept-a")
    message = refusal(ca, cert, now=NOW + dt.timedelta(days=days))
    assert "b.pem is valid from" in message and "not now" in message


def test_a_certificate_from_another_ca_is_refused(ca, tmp_path):
    other = DevCA(tmp_path / "other", name="another platform's CA")
    cert = certificate(other, "service:verifier-dept-a")
    assert "not issued by the platform CA" in refusal(ca, cert)


@pytest.mark.parametrize(
    "name", ["service:verifier-dept-b", "service:issuer", "service:verifierx"]
)
def test_a_certificate_of_another_identity_is_refused(ca, name):
    cert = certificate(ca, name)
    message = refusal(ca, cert)
    assert f"names {name!r}" in message
    assert "service:verifier-dept-a" in message


async def test_what_the_check_refuses_the_counters_refuse(ca):
    """The same rules on both sides: a bundle signed under another group's
    certificate does not open, as the start check says."""
    ident = ca.identity("service:verifier-dept-b")
    made = BundleSigner(ident.cert_file.read_bytes(), ident.key_file.read_bytes())
    message = await made.sign_bundle(
        payload(
            snapshot(signer()), issued_at=NOW, valid_until=NOW + dt.timedelta(hours=1)
        )
    )
    with pytest.raises(CertsealError) as refused:
        open_bundle([message], ca_pem=ca.ca_file.read_bytes(), now=NOW)
    assert "not a verifier of group dept-a" in str(refused.value)
    cert = x509.load_pem_x509_certificate(ident.cert_file.read_bytes())
    assert "service:verifier-dept-b" in refusal(ca, cert)


@pytest.mark.parametrize("days", [-2, 900])
async def test_no_bundle_is_signed_outside_the_certificates_validity(ca, days):
    """A certificate valid at start may expire while the worker runs: from then on
    ExportTrustBundle is FAILED_PRECONDITION saying so, not a bundle every counter
    refuses (atk16b)."""
    ident = ca.identity("service:verifier")
    made = BundleSigner(ident.cert_file.read_bytes(), ident.key_file.read_bytes())
    at = NOW + dt.timedelta(days=days)
    with pytest.raises(CertsealError) as refused:
        await made.sign_bundle(
            payload(
                snapshot(signer()), issued_at=at, valid_until=at + dt.timedelta(hours=1)
            )
        )
    assert refused.value.kind is ErrorKind.FAILED_PRECONDITION
    assert refused.value.field == "bundle"
    assert "not now: counters would refuse the bundle" in str(refused.value)
