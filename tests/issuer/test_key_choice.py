"""A department with several active keys: issuance says which key signed, and the
request's ``suite`` (``licence issue --suite``) chooses."""

from __future__ import annotations

import asyncio
import copy

import grpc
import pytest

from certseal.config import dump_config
from certseal.v1 import issuer_pb2 as pb
from services import cli
from tests.conftest import issue_request, make_department


async def test_the_suite_chooses_among_active_keys(operator, connect):
    dept = await make_department(operator, connect, suite="es256")
    sm2 = await operator.admin.CreateSigningKey(
        pb.CreateSigningKeyRequest(department_code=dept.code, suite="sm2")
    )
    stub = dept.clients.issuer
    by_sm2 = (await stub.IssueLicence(issue_request(dept, suite="sm2"))).licence
    assert by_sm2.kid == sm2.key.kid
    by_es256 = (await stub.IssueLicence(issue_request(dept, suite=" ES256 "))).licence
    assert by_es256.kid == dept.kid
    either = (await stub.IssueLicence(issue_request(dept))).licence
    assert either.kid in (dept.kid, sm2.key.kid)
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await stub.IssueLicence(issue_request(dept, suite="ed25519"))
    assert exc.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert "no active ed25519 signing key" in exc.value.details()
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await stub.IssueLicence(issue_request(dept, suite="rsa"))
    assert exc.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "unknown key suite 'rsa'" in exc.value.details()
    # a batch mixing suites signs each item with the key of its suite
    batch = await stub.IssueLicences(
        pb.IssueLicencesRequest(
            items=[
                issue_request(dept, suite="sm2"),
                issue_request(dept, suite="es256"),
                issue_request(dept, suite="ed25519"),
            ]
        )
    )
    kids = [
        r.licence.kid if r.HasField("licence") else r.error.code for r in batch.results
    ]
    assert kids == [sm2.key.kid, dept.kid, "FAILED_PRECONDITION"]


async def test_the_cli_says_which_key_signed(
    config, issuer, operator, connect, capsys, tmp_path
):
    dept = await make_department(operator, connect, suite="es256")
    sm2 = await operator.admin.CreateSigningKey(
        pb.CreateSigningKeyRequest(department_code=dept.code, suite="sm2")
    )
    cfg = copy.deepcopy(config)
    cfg.cli.issuer_target = f"localhost:{issuer.port}"
    path = tmp_path / "config.toml"
    path.write_text(dump_config(cfg))
    status = await asyncio.to_thread(
        cli.main,
        [
            *("--config", str(path), "licence", "--as", dept.code, "issue"),
            *("--type", dept.type_code, "--holder-name", "张三"),
            *("--id-number", "11010519491231002X", "--field", "class=C1"),
            *("--field", "address=深圳", "--suite", "sm2"),
        ],
    )
    out = capsys.readouterr()
    assert status == 0, out.err
    assert f"signed by   key {sm2.key.kid} (sm2)" in out.out
