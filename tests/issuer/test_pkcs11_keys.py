"""Department keys in a PKCS#11 token (a real SoftHSM2): every lifecycle step, licences
signed in the token VALID at a verifier, keys never readable, start-up errors that name
the setting, and signing off the event loop on a bounded session pool."""

from __future__ import annotations

import asyncio
import copy
import logging
import os
import sys
import threading

import pkcs11
import pytest
from pkcs11 import Attribute, ObjectClass

from certseal import codes
from certseal.config import dump_config
from certseal.crypto import Suite, is_token_reference, token_reference, verify
from certseal.errors import CertsealError, ErrorKind
from certseal.hsm import Pkcs11Token, token_from_config
from certseal.rpc import secure_channel
from certseal.v1 import issuer_pb2 as pb
from certseal.v1 import issuer_pb2_grpc, licence_pb2, verifier_pb2
from services.issuer.app import IssuerApp
from tests.conftest import (
    Clients,
    issue_request,
    make_department,
    own_database,
    run_certseal,
    running,
    verdict_everywhere,
    verifier_process,
)

VALID = verifier_pb2.VERDICT_VALID
KEY_REVOKED = verifier_pb2.VERDICT_KEY_REVOKED


@pytest.fixture(scope="module")
async def token_issuer(stack, config, issuer, softhsm):
    """A second issuer process on the same database whose new es256 and ed25519 keys
    are generated in the session's SoftHSM2 token."""
    cfg = copy.deepcopy(config)
    cfg.pkcs11 = softhsm.config()
    app = IssuerApp(cfg, listen="127.0.0.1:0")
    await app.start()
    yield app
    await app.stop(grace=1)


@pytest.fixture(scope="module")
def token_connect(stack, token_issuer):
    def _connect(identity: str) -> Clients:
        ident = stack.ca.identity(identity)
        channel = secure_channel(
            f"localhost:{token_issuer.port}",
            str(stack.ca.ca_file),
            str(ident.cert_file),
            str(ident.key_file),
        )
        return Clients(
            channel,
            issuer_pb2_grpc.IssuerStub(channel),
            issuer_pb2_grpc.IssuerAdminStub(channel),
        )

    return _connect


@pytest.fixture(scope="module")
async def verifier(stack, config, issuer, tmp_path_factory):
    home = tmp_path_factory.mktemp("pkcs11-verifier")
    process = verifier_process(stack, config, home, "h")
    async with running(process):
        yield process


async def code_of(dept, licence) -> str:
    return (
        await dept.clients.issuer.GetLicenceCode(
            pb.GetLicenceCodeRequest(identifier=licence.identifier)
        )
    ).text


@pytest.mark.parametrize("suite", ["es256", "ed25519"])
async def test_token_keys_through_every_lifecycle_step(
    suite, token_issuer, token_connect, verifier
):
    operator = token_connect("operator:admin")
    # create: generated in the token; the database holds a reference, no key bytes
    dept = await make_department(operator, token_connect, suite=suite)
    stored = {k.kid: k for k in await token_issuer.store.department_keys(dept.code)}
    assert is_token_reference(stored[dept.kid].wrapped_private_key)
    assert token_issuer.token is not None
    protection = token_issuer.token.attributes(stored[dept.kid].wrapped_private_key)
    assert protection == {
        "sensitive": True,
        "extractable": False,
        "never_extractable": True,
        "always_sensitive": True,
        "value_readable": False,
    }

    created = await token_issuer.pool.fetchval(
        "select details::text from audit_log where subject = $1 and action = "
        "'key.create'",
        dept.kid,
    )
    assert '"key_store": "pkcs11"' in created and "PRIVATE" not in created.upper()

    listed = (
        await operator.admin.ListSigningKeys(
            pb.ListSigningKeysRequest(department_code=dept.code)
        )
    ).keys
    assert [(k.kid, k.key_store) for k in listed] == [(dept.kid, "pkcs11")]

    # issue: signed in the token, VALID at the verifier with the usual verification
    first = (await dept.clients.issuer.IssueLicence(issue_request(dept))).licence
    assert first.kid == dept.kid
    first_code = await code_of(dept, first)
    await verdict_everywhere({"h": verifier.stub}, first_code, VALID, within=60)

    # rotate: a new token key signs; the old one retires and its licences stay VALID
    rotated = await operator.admin.RotateSigningKey(
        pb.RotateSigningKeyRequest(department_code=dept.code, suite=suite)
    )
    assert [k.kid for k in rotated.retired] == [dept.kid]
    new_kid = rotated.key.kid
    assert new_kid != dept.kid
    keys = {k.kid: k for k in await token_issuer.store.department_keys(dept.code)}
    assert is_token_reference(keys[new_kid].wrapped_private_key)
    second = (await dept.clients.issuer.IssueLicence(issue_request(dept))).licence
    assert second.kid == new_kid
    second_code = await code_of(dept, second)
    await verdict_everywhere({"h": verifier.stub}, second_code, VALID, within=60)
    await verdict_everywhere({"h": verifier.stub}, first_code, VALID, within=60)

    # retire: no active key is left, so issuance is refused with the reason
    retired = await operator.admin.RetireSigningKey(
        pb.RetireSigningKeyRequest(kid=new_kid)
    )
    assert retired.key.status == licence_pb2.KEY_STATUS_RETIRED
    with pytest.raises(Exception) as refused:
        await dept.clients.issuer.IssueLicence(issue_request(dept))
    assert "no active" in refused.value.details()  # type: ignore[attr-defined]

    # revoke from the key's first moment: what it signed is KEY_REVOKED at the verifier
    revoked = await operator.admin.RevokeSigningKey(
        pb.RevokeSigningKeyRequest(
            kid=new_kid, reason="token compromised", revoked_at=rotated.key.not_before
        )
    )
    assert revoked.key.status == licence_pb2.KEY_STATUS_REVOKED
    await verdict_everywhere({"h": verifier.stub}, second_code, KEY_REVOKED, within=60)
    await verdict_everywhere({"h": verifier.stub}, first_code, VALID, within=60)


async def test_a_token_key_is_never_read_out(token_issuer, token_connect, softhsm):
    operator = token_connect("operator:admin")
    dept = await make_department(operator, token_connect, suite="es256")
    key = next(
        k
        for k in await token_issuer.store.department_keys(dept.code)
        if k.kid == dept.kid
    )
    cka_id = bytes.fromhex(
        key.wrapped_private_key.split(b":")[-1].decode()
    )  # the reference names the object; it carries no key material
    assert len(key.wrapped_private_key) < 64

    def read_out() -> list[str]:
        # another application with the PIN, asking the token directly
        lib = pkcs11.lib(softhsm.module)
        token = lib.get_token(token_label=softhsm.label)
        refusals = []
        with token.open(rw=False) as session:
            private = session.get_key(object_class=ObjectClass.PRIVATE_KEY, id=cka_id)
            try:
                private[Attribute.VALUE]
            except pkcs11.exceptions.AttributeSensitive:
                refusals.append("value")
            assert private[Attribute.EXTRACTABLE] is False
            assert private[Attribute.SENSITIVE] is True
            wrapping = session.generate_key(
                pkcs11.KeyType.AES, 256, template={Attribute.WRAP: True}
            )
            try:
                wrapping.wrap_key(private)
            except (
                pkcs11.exceptions.KeyUnextractable,
                pkcs11.exceptions.KeyNotWrappable,
                pkcs11.exceptions.MechanismInvalid,
            ):
                refusals.append("wrap")
        return refusals

    assert await asyncio.to_thread(read_out) == ["value", "wrap"]


async def test_signing_stays_off_the_loop_on_a_bounded_pool(softhsm):
    token = await asyncio.to_thread(token_from_config, softhsm.config(sessions=2))
    assert token is not None
    try:
        public, reference = await token.generate(Suite.ES256)
        signer = token.signer(Suite.ES256, public, reference)
        ticks = 0
        done = asyncio.Event()

        async def ticker() -> None:
            nonlocal ticks
            while not done.is_set():
                ticks += 1
                await asyncio.sleep(0)

        loop_thread = threading.get_ident()
        signing_threads: set[str] = set()
        original = token._with_session

        def spy(work):
            assert threading.get_ident() != loop_thread
            signing_threads.add(threading.current_thread().name)
            return original(work)

        token._with_session = spy  # type: ignore[method-assign]
        task = asyncio.create_task(ticker())
        messages = [f"licence {n}".encode() for n in range(200)]
        signatures = await asyncio.gather(*(signer.sign(m) for m in messages))
        done.set()
        await task
        for message, signature in zip(messages, signatures, strict=True):
            verify(Suite.ES256, public, message, signature)  # raw r || s
        assert ticks > 0
        assert 1 <= len(signing_threads) <= 2
        assert all(name.startswith("pkcs11") for name in signing_threads)
    finally:
        token.close()


async def test_misconfiguration_names_the_setting(softhsm, tmp_path):
    def refused_now(**overrides) -> str:
        with pytest.raises(CertsealError) as err:
            token_from_config(softhsm.config(**overrides))
        return str(err.value)

    async def refused(**overrides) -> str:
        return await asyncio.to_thread(refused_now, **overrides)

    cases = {
        "pkcs11.module: no module library at '/nonexistent/libvendor.so'": dict(
            module="/nonexistent/libvendor.so"
        ),
        "pkcs11.token_label: no token labelled 'no-such-token'": dict(
            token_label="no-such-token"
        ),
        "pkcs11.pin_file: cannot read": dict(pin_file=str(tmp_path / "missing")),
        "pkcs11.pin_file: the PIN in": dict(
            token_label="certseal-locked-out", pin_file=str(softhsm.wrong_pin_file)
        ),
        "pkcs11.suites: token 'certseal' has no sm2 mechanisms": dict(
            suites=["es256", "sm2"]
        ),
        "pkcs11.suites: unknown key suite 'rsa'": dict(suites=["rsa"]),
        "pkcs11.sessions: must be between 1 and 64": dict(sessions=0),
        "pkcs11.token_label: is not set": dict(token_label=""),
    }
    for expected, overrides in cases.items():
        message = await refused(**overrides)
        assert message.startswith(expected), (overrides, message)
    # a file that is not a PKCS#11 module
    not_a_module = tmp_path / "libnot-pkcs11.so"
    not_a_module.write_bytes(b"\x7fELF but not really")
    message = await refused(module=str(not_a_module))
    assert message.startswith(f"pkcs11.module: cannot load {not_a_module}")
    # PIN files: a folder, empty
    assert (await refused(pin_file=str(tmp_path))).startswith(
        "pkcs11.pin_file: not a regular file"
    )
    empty = tmp_path / "empty-pin"
    empty.write_text("\n")
    assert "must hold one non-empty line" in await refused(pin_file=str(empty))
    # no module configured: no token, keys in software
    assert token_from_config(softhsm.config(module="")) is None


@pytest.mark.parametrize(
    ("service", "overrides", "named"),
    [
        ("issuer", {"module": "/nonexistent/libvendor.so"}, "pkcs11.module"),
        ("issuer", {"token_label": "no-such-token"}, "pkcs11.token_label"),
        (
            "seal",
            {"token_label": "certseal-locked-out", "wrong": True},
            "pkcs11.pin_file",
        ),
    ],
)
async def test_a_service_with_a_bad_token_setting_stops_with_one_line(
    config, softhsm, tmp_path, service, overrides, named
):
    cfg = copy.deepcopy(config)
    if overrides.pop("wrong", False):
        overrides["pin_file"] = str(softhsm.wrong_pin_file)
    cfg.pkcs11 = softhsm.config(**overrides)
    for section in (cfg.issuer, cfg.seal):
        section.listen = "127.0.0.1:0"
        section.metrics_listen = ""
    path = tmp_path / "config.toml"
    path.write_text(dump_config(cfg))
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", f"services.{service}", "--config", str(path)),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(process.communicate(), 120)
    text = out.decode()
    assert process.returncode == 2, text
    assert "Traceback" not in text
    assert f"error: {named}:" in text, text


async def test_a_token_key_without_a_token_is_a_clear_refusal(token_connect, connect):
    """An issuer without [pkcs11] asked to sign with a token key says so."""
    operator = token_connect("operator:admin")
    dept = await make_department(operator, token_connect, suite="ed25519")
    software_only = connect(f"dept:{dept.code}")
    with pytest.raises(Exception) as err:
        await software_only.issuer.IssueLicence(issue_request(dept))
    assert err.value.code().name == "FAILED_PRECONDITION"  # type: ignore[attr-defined]
    assert "no [pkcs11] module configured" in err.value.details()  # type: ignore[attr-defined]


async def test_neither_pin_nor_key_is_logged_or_shown(softhsm, caplog):
    caplog.set_level(logging.DEBUG)
    pin = softhsm.pin_file.read_text().strip()
    token = Pkcs11Token.open(
        module=softhsm.module,
        token_label=softhsm.label,
        pin_file=str(softhsm.pin_file),
        suites=["ed25519"],
        sessions=1,
    )
    try:
        public, reference = await token.generate(Suite.ED25519)
        signer = token.signer(Suite.ED25519, public, reference)
        verify(Suite.ED25519, public, b"x", await signer.sign(b"x"))
        assert repr(token) == "Pkcs11Token(label='certseal', sessions=1)"
        assert repr(signer) == f"TokenSigner(kid={signer.kid}, suite=ed25519)"
        assert pin not in caplog.text and pin not in repr(token)
    finally:
        token.close()


async def test_the_presentation_key_is_made_in_the_token_and_kek_rewrap_leaves_it(
    config, softhsm, tmp_path
):
    """A platform whose issuer starts with [pkcs11] gets its presentation key in the
    token; rotating the KEK re-wraps nothing of it, and it still signs after."""
    cfg = await own_database(config, tmp_path, "pkcs11")
    cfg.pkcs11 = softhsm.config(sessions=1)
    cfg.platform.presentation_suite = "es256"
    app = IssuerApp(cfg, serve=False, background=False)
    await app.start()
    try:
        key = await app.store.active_presentation_key()
        assert key is not None and key.suite == "es256"
        assert is_token_reference(key.wrapped_private_key)
        signer = app.service.keyring.signer_for(key)
        verify(Suite.ES256, key.public_key, b"p", await signer.sign(b"p"))
    finally:
        await app.stop()

    new_kek = tmp_path / "new-kek"
    new_kek.write_bytes(os.urandom(32))
    code, out = await run_certseal(
        cfg, tmp_path, "kek", "rewrap", "--new-kek", str(new_kek)
    )
    assert code == 0, out
    assert "signing_keys: 0 re-wrapped" in out, out

    rotated = copy.deepcopy(cfg)
    rotated.secrets.kek_file = str(new_kek)
    app = IssuerApp(rotated, serve=False, background=False)
    await app.start()
    try:
        again = await app.store.active_presentation_key()
        assert again is not None and again.kid == key.kid
        assert again.wrapped_private_key == key.wrapped_private_key
        signer = app.service.keyring.signer_for(again)
        verify(Suite.ES256, key.public_key, b"q", await signer.sign(b"q"))
    finally:
        await app.stop()


async def test_concurrent_issuance_with_a_token_key(token_connect):
    """Single issuances from many callers at once and a batch beside them: every code
    is signed in the token (its kid) and its signature verifies."""
    operator = token_connect("operator:admin")
    dept = await make_department(operator, token_connect, suite="es256")
    stub = dept.clients.issuer
    singles, batch = await asyncio.gather(
        asyncio.gather(*(stub.IssueLicence(issue_request(dept)) for _ in range(48))),
        stub.IssueLicences(
            pb.IssueLicencesRequest(items=[issue_request(dept) for _ in range(40)])
        ),
    )
    licences = [r.licence for r in singles] + [r.licence for r in batch.results]
    assert len(licences) == 88 and {lic.kid for lic in licences} == {dept.kid}
    public = {
        k.kid: k.public_key
        for k in (
            await operator.admin.ListSigningKeys(
                pb.ListSigningKeysRequest(department_code=dept.code)
            )
        ).keys
    }
    texts = await asyncio.gather(
        *(
            stub.GetLicenceCode(pb.GetLicenceCodeRequest(identifier=lic.identifier))
            for lic in licences
        )
    )
    for reply in texts:
        decoded = codes.decode_code(reply.text)
        assert decoded.kid == dept.kid
        decoded.verify_signature(public[dept.kid])


async def test_a_lost_session_is_reopened_and_a_closed_token_is_unavailable(
    softhsm, caplog
):
    token = await asyncio.to_thread(token_from_config, softhsm.config(sessions=1))
    assert token is not None
    public, reference = await token.generate(Suite.ED25519)
    signer = token.signer(Suite.ED25519, public, reference)
    verify(Suite.ED25519, public, b"a", await signer.sign(b"a"))
    # the token forgets the session (as when an HSM restarts): the next call opens a
    # new session, logs in when it must, finds the key again and signs
    await asyncio.to_thread(token._all[0].session.close)
    verify(Suite.ED25519, public, b"b", await signer.sign(b"b"))
    assert "PKCS#11 token 'certseal' lost a session; opening another" in caplog.text
    # a reference to an object the token does not have
    ghost = token.signer(Suite.ED25519, public, token_reference(b"\x00" * 16))
    with pytest.raises(CertsealError) as err:
        await ghost.sign(b"c")
    assert err.value.kind is ErrorKind.FAILED_PRECONDITION
    assert "no private key with CKA_ID 000000" in err.value.message
    token.close()
    with pytest.raises(CertsealError) as err:
        await signer.sign(b"d")
    assert err.value.kind is ErrorKind.UNAVAILABLE


async def test_key_list_says_where_each_key_lives(
    config, token_issuer, token_connect, tmp_path
):
    operator = token_connect("operator:admin")
    dept = await make_department(operator, token_connect, suite="es256")
    sm2 = await operator.admin.CreateSigningKey(
        pb.CreateSigningKeyRequest(department_code=dept.code, suite="sm2")
    )
    code, out = await run_certseal(
        config,
        tmp_path,
        *("key", "list", dept.code),
        issuer_target=f"localhost:{token_issuer.port}",
    )
    assert code == 0, out
    lines = {line.split()[0]: line.split() for line in out.splitlines() if line}
    assert lines[dept.kid][2:5] == ["es256", "active", "pkcs11"]
    assert lines[sm2.key.kid][2:5] == ["sm2", "active", "software"]
