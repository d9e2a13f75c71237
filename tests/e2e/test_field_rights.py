"""Field rights bind (issue 13, "field rights are cosmetic"), on the real stack: a
licence type's restricted field is in no code, and a counter without a right on it
gets it through no path (VerifyCode, VerifyCodes, VerifyImage, an offline bundle, the
console: tests/e2e/test_console.py); a granted counter gets it from the verifier's
index, which follows amendments and is rebuilt from the topic with it."""

from __future__ import annotations

import copy
import datetime as dt
import json
import secrets
import zlib
from pathlib import Path

import asyncpg
import base45
import cbor2
import grpc
import pytest

from certseal import codes, cose
from certseal.config import dump_config
from certseal.events import LICENCE_EVENTS
from certseal.indexkeys import IndexKeys
from certseal.rpc import secure_channel
from certseal.secretfiles import read_secret_file
from certseal.v1 import events_pb2, licence_pb2, verifier_pb2, verifier_pb2_grpc
from certseal.v1 import issuer_pb2 as pb
from services.verifier.index import restricted_values
from tests.conftest import (
    EventWatcher,
    VerifierProcess,
    fresh_uscc,
    issue_request,
    make_department,
    run_certseal,
    verdict_everywhere,
    verifier_process,
)

VALID = verifier_pb2.VERDICT_VALID
PURPOSE = "窗口办事"
PUBLIC = {"class": "C1"}
GRANTED_VIEW = {"class": "C1", "grade": "等级G7"}


@pytest.fixture(scope="module")
async def dept(operator, connect):
    """A department whose type has the public 'class', the restricted 'grade' and the
    personal 'address' (tests/conftest.py make_department)."""
    return await make_department(operator, connect, restricted=True)


@pytest.fixture(scope="module")
def counters() -> dict[str, str]:
    return {"granted": fresh_uscc(), "denied": fresh_uscc()}


@pytest.fixture(scope="module")
async def setup(stack, config, issuer, dept, counters, tmp_path_factory):
    home = tmp_path_factory.mktemp("field-rights")
    verifier = verifier_process(
        stack,
        config,
        home,
        "fr",
        bundle_refresh_s=0,
        # VerifierProcess's own identity is a counter too, without a rule
        counters=[*counters.values(), "11440300VERIFIERS1"],
        # only 'granted' has a rule; no '*' rule: every other counter sees no
        # restricted field (least privilege)
        field_rights=[f"{dept.type_code}:{counters['granted']}:grade"],
    )
    await verifier.start()
    await verifier.wait_serving()
    channels = {
        who: secure_channel(
            f"localhost:{verifier.port}",
            str(stack.ca.ca_file),
            str(stack.ca.identity(f"dept:{code}").cert_file),
            str(stack.ca.identity(f"dept:{code}").key_file),
        )
        for who, code in counters.items()
    }
    stubs = {who: verifier_pb2_grpc.VerifierStub(c) for who, c in channels.items()}
    yield {
        "verifier": verifier,
        "stubs": stubs,
        "config_file": verifier.config_file,
        "home": home,
    }
    for channel in channels.values():
        await channel.close()
    await verifier.stop()


async def issued(dept, setup) -> tuple[pb.Licence, str, bytes]:
    """A fresh licence (grade 等级G7) and its code and QR image, once the index has it."""
    licence = (await dept.clients.issuer.IssueLicence(issue_request(dept))).licence
    code = await dept.clients.issuer.GetLicenceCode(
        pb.GetLicenceCodeRequest(identifier=licence.identifier)
    )
    await verdict_everywhere({"g": setup["stubs"]["granted"]}, code.text, VALID, 30)
    return licence, code.text, code.png


async def every_path(
    stub, code: str, png: bytes
) -> list[verifier_pb2.VerificationResult]:
    """The results of VerifyCode, VerifyCodes and VerifyImage for one code."""
    one = await stub.VerifyCode(
        verifier_pb2.VerifyCodeRequest(code=code, purpose=PURPOSE)
    )
    batch = await stub.VerifyCodes(
        verifier_pb2.VerifyCodesRequest(codes=[code], purpose=PURPOSE)
    )
    image = await stub.VerifyImage(
        verifier_pb2.VerifyImageRequest(image=png, purpose=PURPOSE)
    )
    return [one.result, batch.results[0], image.result]


async def test_the_code_carries_the_public_field_and_not_the_restricted_one(
    dept, setup
):
    _licence, code, _png = await issued(dept, setup)
    # as an attacker reads it: Base45, zlib, COSE_Sign1, CBOR claims, no key needed
    raw = zlib.decompress(base45.b45decode(code.removeprefix("LC1:")))
    payload = cose.parse_sign1(raw).payload
    claims = cbor2.loads(payload)
    assert claims[codes.CLAIM_LICENCE]["f"] == PUBLIC
    # with the kernel's codec too
    assert codes.decode_code(code).claims[codes.CLAIM_LICENCE]["f"] == PUBLIC
    # nowhere in the signed content: neither the restricted value nor the personal
    # one (the short "等级G7" is looked for as a whole value: as bytes it may turn up by
    # chance in the signature or the random serial)
    assert "等级G7" not in set(_strings(claims))
    for secret in ("grade", "深圳市福田区"):
        assert secret.encode() not in raw


def _strings(value: object) -> list[str]:
    """Every text string in a decoded CBOR value, map keys included."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in _strings(k) + _strings(v)]
    if isinstance(value, list | tuple):
        return [s for item in value for s in _strings(item)]
    return []


async def test_only_a_granted_counter_gets_the_restricted_field(dept, setup):
    _licence, code, png = await issued(dept, setup)
    for result in await every_path(setup["stubs"]["granted"], code, png):
        assert result.verdict == VALID and dict(result.fields) == GRANTED_VIEW
    for stub in (setup["stubs"]["denied"], setup["verifier"].stub):
        for result in await every_path(stub, code, png):
            assert result.verdict == VALID and dict(result.fields) == PUBLIC
            assert "等级G7".encode() not in result.SerializeToString()


async def test_an_amendment_reaches_the_index_and_a_rebuilt_index_has_it(
    dept, setup, stack, counters, config
):
    licence, old_code, _png = await issued(dept, setup)
    amend = pb.AmendLicenceRequest(identifier=licence.identifier, reason="升级")
    amend.fields["grade"].string_value = "等级G9"
    async with EventWatcher(stack, LICENCE_EVENTS) as watcher:
        amended = (await dept.clients.issuer.AmendLicence(amend)).licence
        records = await watcher.wait_for(
            lambda rs: any(
                events_pb2.LicenceEvent.FromString(r.value).identifier
                == amended.identifier
                for r in rs
                if r.key == licence.lineage.encode()
            )
        )
    event = next(
        events_pb2.LicenceEvent.FromString(r.value)
        for r in records
        if r.key == licence.lineage.encode()
        and events_pb2.LicenceEvent.FromString(r.value).identifier == amended.identifier
    )
    # sealed for the verifiers (tests/e2e/test_field_rights_topic.py), not in clear
    assert (
        not event.restricted_fields
        and "等级G9".encode() not in event.SerializeToString()
    )
    keys = IndexKeys(
        read_secret_file(Path(name), "verifier.index_key_files")
        for name in config.verifier.index_key_files
    )
    # only the restricted field, not the public or personal ones
    assert restricted_values(event, keys) == {"grade": "等级G9"}
    code = (
        await dept.clients.issuer.GetLicenceCode(
            pb.GetLicenceCodeRequest(identifier=amended.identifier)
        )
    ).text
    granted = setup["stubs"]["granted"]
    await verdict_everywhere({"g": granted}, code, VALID, 30)
    request = verifier_pb2.VerifyCodeRequest(code=code, purpose=PURPOSE)
    assert dict((await granted.VerifyCode(request)).result.fields) == {
        "class": "C1",
        "grade": "等级G9",
    }
    # the superseded version's code shows no value of the current version
    old = await granted.VerifyCode(
        verifier_pb2.VerifyCodeRequest(code=old_code, purpose=PURPOSE)
    )
    assert old.result.verdict == verifier_pb2.VERDICT_SUPERSEDED
    assert dict(old.result.fields) == PUBLIC
    # a new group builds its index from the topic: the restricted value comes back
    rebuilt = VerifierProcess(
        stack, setup["config_file"], setup["home"], f"fr2-{secrets.token_hex(3)}"
    )
    await rebuilt.start()
    try:
        await rebuilt.wait_serving()
        ident = stack.ca.identity(f"dept:{counters['granted']}")
        async with secure_channel(
            f"localhost:{rebuilt.port}",
            str(stack.ca.ca_file),
            str(ident.cert_file),
            str(ident.key_file),
        ) as channel:
            stub = verifier_pb2_grpc.VerifierStub(channel)
            await verdict_everywhere({"r": stub}, code, VALID, 60)
            reply = await stub.VerifyCode(request)
            assert dict(reply.result.fields) == {"class": "C1", "grade": "等级G9"}
    finally:
        await rebuilt.stop()


async def test_no_offline_bundle_carries_a_restricted_value(
    dept, setup, config, stack, tmp_path
):
    from services.verifier.bundle import open_bundle, verify_offline
    from services.verifier.storage import write_bundle_file

    licence, code, _png = await issued(dept, setup)
    # a suspended licence is listed in the bundle: its entry holds no field value
    await dept.clients.issuer.SuspendLicence(
        pb.SuspendLicenceRequest(identifier=licence.identifier)
    )
    await verdict_everywhere(
        {"g": setup["stubs"]["granted"]}, code, verifier_pb2.VERDICT_SUSPENDED, 30
    )
    for who in ("granted", "denied"):
        reply = await setup["stubs"][who].ExportTrustBundle(
            verifier_pb2.ExportTrustBundleRequest()
        )
        assert "等级G7".encode() not in reply.bundle and b"grade" not in reply.bundle
        bundle = open_bundle(
            [reply.bundle],
            ca_pem=stack.ca.ca_file.read_bytes(),
            now=dt.datetime.now(dt.UTC),
        )
        assert licence.lineage in bundle.content.licences
        result = verify_offline(code, bundle, dt.datetime.now(dt.UTC))
        assert result.verdict.value == "SUSPENDED" and result.fields == PUBLIC
        path = tmp_path / f"{who}.bundle"
        write_bundle_file(path, [reply.bundle])
        status, out = await run_certseal(
            config, tmp_path, "verify", "--offline", "--bundle", str(path), code
        )
        assert status == 1 and "verdict     SUSPENDED" in out, out  # 1: not VALID
        assert "class = C1" in out and "等级G7" not in out and "grade" not in out


async def test_a_restricted_personal_field_is_refused(operator, dept):
    request = pb.RegisterLicenceTypeRequest(
        type_code=fresh_uscc() + "001",
        name="x",
        default_validity_days=30,
        issuer_codes=[dept.code],
        fields=[
            licence_pb2.FieldSpec(name="class", type=licence_pb2.FIELD_TYPE_STRING),
            licence_pb2.FieldSpec(
                name="home_address",
                type=licence_pb2.FIELD_TYPE_STRING,
                restricted=True,
                personal=True,
            ),
        ],
    )
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await operator.admin.RegisterLicenceType(request)
    assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "home_address" in err.value.details()
    assert "restricted and personal" in err.value.details()


async def test_a_type_stored_by_the_previous_main_still_loads(
    operator, connect, config
):
    """A licence type row written before field visibilities ("restricted", and here
    also "title", absent) reads as not restricted, and its licences issue as before."""
    issuing = await make_department(operator, connect)
    type_code = fresh_uscc() + "002"
    fields = [
        {"name": "class", "kind": "string", "required": True, "public": True,
         "personal": False},
        {"name": "address", "kind": "string", "required": False, "public": False,
         "personal": True},
    ]  # fmt: skip
    db = await asyncpg.connect(config.database.dsn())
    try:
        await db.execute(
            """insert into licence_types (type_code, name, fields,
                   default_validity_days, issuer_codes, created_at)
               values ($1, 'old', $2::jsonb, 30, $3, now())""",
            type_code,
            json.dumps(fields),
            [issuing.code],
        )
    finally:
        await db.close()
    listed = await operator.admin.ListLicenceTypes(pb.ListLicenceTypesRequest())
    old = next(t for t in listed.licence_types if t.type_code == type_code)
    assert [(f.name, f.public, f.restricted) for f in old.fields] == [
        ("class", True, False),
        ("address", False, False),
    ]
    request = issue_request(issuing)
    request.type_code = type_code
    licence = (await issuing.clients.issuer.IssueLicence(request)).licence
    code = await issuing.clients.issuer.GetLicenceCode(
        pb.GetLicenceCodeRequest(identifier=licence.identifier)
    )
    assert codes.decode_code(code.text).claims[codes.CLAIM_LICENCE]["f"] == PUBLIC


async def test_the_cli_registers_visibilities_and_names_a_refused_field(
    tmp_path, config, issuer, operator, dept, capsys
):
    import asyncio

    from services import cli

    cfg = copy.deepcopy(config)
    cfg.cli.issuer_target = f"localhost:{issuer.port}"
    path = tmp_path / "config.toml"
    path.write_text(dump_config(cfg))

    def type_add(code: str, *fields: str) -> int:
        args = ["--config", str(path), "type", "add", "--code", code, "--name", "x"]
        args += ["--issuers", dept.code]
        for field in fields:
            args += ["--field", field]
        return cli.main(args)

    refused = fresh_uscc() + "003"
    status = await asyncio.to_thread(
        type_add, refused, "class:string:public", "home:string:restricted:personal"
    )
    assert status == 2
    err = capsys.readouterr().err
    assert "error: field[1]: field 'home' cannot be both restricted and personal" in err
    registered = fresh_uscc() + "004"
    status = await asyncio.to_thread(
        type_add, registered, "class:string:public", "grade:string:restricted"
    )
    assert status == 0, capsys.readouterr()
    listed = await operator.admin.ListLicenceTypes(pb.ListLicenceTypesRequest())
    fields = next(t for t in listed.licence_types if t.type_code == registered).fields
    assert [(f.name, f.public, f.restricted) for f in fields] == [
        ("class", True, False),
        ("grade", False, True),
    ]
    assert refused not in {t.type_code for t in listed.licence_types}
