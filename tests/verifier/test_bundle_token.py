"""Offline trust bundles signed with a key kept in a PKCS#11 token (a real SoftHSM2),
``[verifier] bundle_key``: they open VALID offline, the key never leaves the token, it
is used on the token's threads, and a misconfiguration names the setting."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
from pathlib import Path
from types import SimpleNamespace

import grpc
import pytest

from certseal import hsm_calls
from certseal.crypto import Suite, token_reference
from certseal.devpki import DevCA
from certseal.errors import CertsealError, ErrorKind
from certseal.hsm import Pkcs11Token, TokenSigner, token_from_config
from services.verifier.app import bundle_signer
from services.verifier.bundle import (
    BundleContent,
    BundleSigner,
    Snapshot,
    TokenBundleSigner,
    open_bundle,
    payload,
    verify_offline,
)
from services.verifier.config import VerifierConfig
from services.verifier.domain import Verdict
from tests.verifier.domain_samples import NOW, licence_code, signer, trust_entry

SIGNED = dt.datetime.now(dt.UTC)


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> DevCA:
    return DevCA(tmp_path_factory.mktemp("bundle-token-ca"))


@pytest.fixture(scope="module")
async def token(softhsm):
    opened = await asyncio.to_thread(token_from_config, softhsm.config(sessions=2))
    assert opened is not None
    yield opened
    opened.close()


def settings(softhsm, **verifier: object) -> SimpleNamespace:
    """The sections bundle_signer reads: [verifier] and [pkcs11]."""
    pkcs11 = verifier.pop("pkcs11", None) or softhsm.config(sessions=1)
    return SimpleNamespace(verifier=VerifierConfig(**verifier), pkcs11=pkcs11)  # type: ignore[arg-type]


async def made_key(
    token: Pkcs11Token, ca: DevCA, folder: Path, label: str, suite: Suite
) -> Path:
    """A key pair labelled ``label`` made in the token, and its certificate from the
    platform CA to service:verifier-dept-a."""
    public_key_der, _ = await token.generate(suite, label=label)
    return ca.certify("service:verifier-dept-a", public_key_der, folder / "b.pem")


def close(made: TokenBundleSigner | BundleSigner) -> None:
    key = made._key  # the TokenSigner; its token was opened for this signer
    assert isinstance(key, TokenSigner)
    key._token.close()


def snapshot(key) -> Snapshot:
    return Snapshot("dept-a", 7, BundleContent({key.kid: trust_entry(key)}, {}), NOW)


@pytest.mark.parametrize("suite", [Suite.ES256, Suite.ED25519])
async def test_a_bundle_signed_in_the_token_opens_valid_offline(
    softhsm, token, ca, tmp_path, suite
):
    label = f"bundle-{suite.value}"
    cert = await made_key(token, ca, tmp_path, label, suite)
    made = bundle_signer(
        settings(softhsm, bundle_key=label, bundle_cert_file=str(cert)),
        "/nonexistent/tls.pem",
        "/nonexistent/tls.key",
    )
    try:
        assert isinstance(made, TokenBundleSigner)
        key = signer()
        message = await made.sign_bundle(
            payload(
                snapshot(key),
                issued_at=SIGNED,
                valid_until=SIGNED + dt.timedelta(hours=1),
            )
        )
        bundle = open_bundle([message], ca_pem=ca.ca_file.read_bytes(), now=SIGNED)
        assert bundle.signer == "service:verifier-dept-a"
        result = verify_offline(await licence_code(key), bundle, NOW)
        assert result.verdict is Verdict.VALID
        # a byte changed in the signed payload: refused, so the signature is checked
        altered = bytearray(message)
        altered[-80] ^= 1
        with pytest.raises(CertsealError) as refused:
            open_bundle([bytes(altered)], ca_pem=ca.ca_file.read_bytes(), now=SIGNED)
        assert refused.value.field == "bundle"
    finally:
        close(made)


async def test_the_bundle_key_is_not_extractable_and_signs_on_token_threads(
    softhsm, token, ca, tmp_path, monkeypatch
):
    label = "bundle-protected"
    cert = await made_key(token, ca, tmp_path, label, Suite.ES256)
    made = bundle_signer(
        settings(softhsm, bundle_key=label, bundle_cert_file=str(cert)), "", ""
    )
    try:
        key = made._key
        assert isinstance(key, TokenSigner)
        protection = token.attributes(token_reference(key.cka_id))
        assert protection == {
            "sensitive": True,
            "extractable": False,
            "never_extractable": True,
            "always_sensitive": True,
            "value_readable": False,
        }
        threads: list[str] = []
        real = hsm_calls.sign

        def spy(*args):
            threads.append(threading.current_thread().name)
            return real(*args)

        monkeypatch.setattr(hsm_calls, "sign", spy)
        loop_thread = threading.current_thread().name
        message = await made.sign_bundle(
            payload(
                snapshot(signer()),
                issued_at=SIGNED,
                valid_until=SIGNED + dt.timedelta(hours=1),
            )
        )
        assert open_bundle([message], ca_pem=ca.ca_file.read_bytes(), now=SIGNED)
        assert len(threads) == 1
        assert threads[0].startswith("pkcs11") and threads[0] != loop_thread
    finally:
        close(made)


async def test_misconfiguration_names_the_setting(softhsm, token, ca, tmp_path):
    label = "bundle-misconfigured"
    cert = await made_key(token, ca, tmp_path, label, Suite.ES256)
    other = ca.certify(
        "service:verifier", signer().public_key_der, tmp_path / "other.pem"
    )
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")

    def refused(**verifier: object) -> CertsealError:
        with pytest.raises(CertsealError) as caught:
            bundle_signer(settings(softhsm, **verifier), "", "")
        assert caught.value.kind is ErrorKind.INVALID_ARGUMENT
        return caught.value

    no_module = refused(
        bundle_key=label,
        bundle_cert_file=str(cert),
        pkcs11=softhsm.config(module=""),
    )
    assert "verifier.bundle_key" in str(no_module)
    assert "pkcs11.module is not set" in str(no_module)
    unknown = refused(bundle_key="no-such-key", bundle_cert_file=str(cert))
    assert "verifier.bundle_key" in str(unknown)
    assert "no key labelled 'no-such-key'" in str(unknown)
    no_cert = refused(bundle_key=label)
    assert "verifier.bundle_cert_file" in str(no_cert)
    assert "not set" in str(no_cert)
    missing = refused(bundle_key=label, bundle_cert_file=str(tmp_path / "nope.pem"))
    assert "verifier.bundle_cert_file" in str(missing)
    assert "verifier.bundle_cert_file" in str(
        refused(bundle_key=label, bundle_cert_file=str(garbage))
    )
    mismatch = refused(bundle_key=label, bundle_cert_file=str(other))
    assert "verifier.bundle_cert_file" in str(mismatch)
    assert "another public key" in str(mismatch)
    wrong_pin = refused(
        bundle_key=label,
        bundle_cert_file=str(cert),
        pkcs11=softhsm.config(
            token_label="certseal-locked-out", pin_file=str(softhsm.wrong_pin_file)
        ),
    )
    assert "pkcs11.pin_file" in str(wrong_pin)


def test_without_bundle_key_the_tls_key_signs(softhsm, ca):
    ident = ca.identity("service:verifier")
    made = bundle_signer(settings(softhsm), str(ident.cert_file), str(ident.key_file))
    assert isinstance(made, BundleSigner)


async def test_a_verifier_process_exports_bundles_signed_in_the_token(
    stack, config, issuer, softhsm, token, tmp_path
):
    """ExportTrustBundle of a verifier whose [verifier] bundle_key names a token key:
    the bundle opens under the platform CA, signed by the token key's certificate."""
    import copy
    import secrets

    from certseal.config import dump_config
    from certseal.v1 import verifier_pb2
    from tests.conftest import VerifierProcess

    label = "bundle-process"
    group = f"t-{secrets.token_hex(3)}"
    public_key_der, _ = await token.generate(Suite.ES256, label=label)
    cert = stack.ca.certify(
        f"service:verifier-{group}", public_key_der, tmp_path / "bundle.pem"
    )
    cfg = copy.deepcopy(config)
    cfg.verifier.data_dir = str(tmp_path / "data")
    cfg.verifier.bundle_key = label
    cfg.verifier.bundle_cert_file = str(cert)
    cfg.pkcs11 = softhsm.config(sessions=1)
    config_file = tmp_path / "config.toml"
    config_file.write_text(dump_config(cfg))
    process = VerifierProcess(stack, config_file, tmp_path, group)
    await process.start()
    try:
        await process.wait_serving()
        # a fresh group signs no bundle before its index has read the licence topic
        # to its start's end offsets (UNAVAILABLE, retry): await that outcome
        deadline = asyncio.get_running_loop().time() + 60
        while True:
            try:
                exported = await process.stub.ExportTrustBundle(
                    verifier_pb2.ExportTrustBundleRequest()
                )
                break
            except grpc.aio.AioRpcError as err:
                assert err.code() is grpc.StatusCode.UNAVAILABLE, err.details()
                assert "has not read its licence topic" in err.details()
                assert asyncio.get_running_loop().time() < deadline, err.details()
                await asyncio.sleep(0.2)
        now = dt.datetime.now(dt.UTC)
        bundle = open_bundle(
            [exported.bundle], ca_pem=stack.ca.ca_file.read_bytes(), now=now
        )
        assert bundle.signer == f"service:verifier-{group}"
        assert bundle.group == group and bundle.content.keys
    finally:
        await process.stop()
