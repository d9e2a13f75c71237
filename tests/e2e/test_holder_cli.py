"""``certseal holder --as APP``: a holder app's calls from the CLI (both new-user
trials needed a Python gRPC client to try 授权用证 and 用证记录). On the session's
real issuer, seal service, PostgreSQL and broker."""

from __future__ import annotations

import re
import secrets
from pathlib import Path

from certseal import identifiers
from certseal.v1 import issuer_pb2 as pb
from certseal.v1 import licence_pb2
from tests.conftest import issue_request, make_department, onboarded


async def granted_licence(operator, connect, dept=None):
    """(the department, a licence of a fresh holder, the holder's number, the name
    of a holder app granted its type): what every ``holder`` command needs."""
    dept = dept or await make_department(operator, connect)
    number = identifiers.random_resident_id()
    licence = (
        await dept.clients.issuer.IssueLicence(issue_request(dept, id_number=number))
    ).licence
    app = f"wallet-{secrets.token_hex(3)}"
    await operator.admin.GrantHolderApp(
        pb.GrantHolderAppRequest(app=f"app:{app}", type_code=dept.type_code)
    )
    return dept, licence, number, app


async def test_a_holder_app_authorises_lists_withdraws_and_fetches_from_the_cli(
    operator, connect, cli, config, seal_app, tmp_path
):
    config.issuer.seal_target = f"localhost:{seal_app.port}"
    dept = await make_department(
        operator,
        connect,
        roles=(
            licence_pb2.DEPARTMENT_ROLE_ISSUER,
            licence_pb2.DEPARTMENT_ROLE_SEAL_OWNER,
        ),
    )
    code, out = await cli(
        "seal", "--as", dept.code, "register", "--type", "official", "--name",
        "测试发证机关", "--suite", "es256", "--signer", f"dept:{dept.code}",
        "--signer", "service:issuer",
    )  # fmt: skip
    assert code == 0, out
    _, licence, number, app = await granted_licence(operator, connect, dept)
    counter = await onboarded(operator, licence_pb2.DEPARTMENT_ROLE_COUNTER)
    holder = ("--id-number", number)

    authorise = (
        "holder", "--as", app, "authorise", licence.lineage, *holder,
        "--department", counter, "--purpose", "办理入学", "--field", "class",
        "--days", "3", "--idempotency-key", f"au-{secrets.token_hex(6)}",
    )  # fmt: skip
    code, out = await cli(*authorise)
    assert code == 0, out
    auth_id = re.search(r"authorisation (au-[0-9a-f]{16}) \(active\)", out)
    assert auth_id, out
    # repeated with its key: the first answer, one authorisation (trial48: the
    # command sent an expiry of its own clock, so a repeat was another request)
    again, repeated = await cli(*authorise)
    assert (again, repeated) == (
        0,
        out + "AuthoriseUse was already done by an earlier call with this idempotency "
        "key: this is that call's answer, and nothing was changed again\n",
    )
    assert re.search(r"^code        AU-", out, re.M), out
    assert f"department  {counter}" in out and "fields      class" in out
    authorised = re.search(r"^department  .*$", out, re.M)
    assert authorised and authorised[0] != f"department  {counter}, any counter"

    code, out = await cli(
        "holder", "--as", app, "usage", licence.lineage, *holder, "--kind",
        "authorised",
    )  # fmt: skip
    assert code == 0, out
    assert "authorised" in out and auth_id[1] in out and "1 use(s)" in out

    code, out = await cli(
        "holder", "--as", app, "withdraw", auth_id[1], *holder, "--reason", "不办了"
    )  # fmt: skip
    assert code == 0, out
    assert f"authorisation {auth_id[1]} (withdrawn)" in out, out
    # the department's name, as authorise showed it (trial2b 6)
    shown = re.search(r"^department  .*$", out, re.M)
    assert shown and shown[0] == authorised[0], out

    target = tmp_path / "licence.pdf"
    code, out = await cli(
        "holder", "--as", app, "file", licence.lineage, *holder, "--out", str(target)
    )  # fmt: skip
    assert code == 0, out
    assert target.read_bytes().startswith(b"%PDF")


async def test_the_holder_commands_refuse_what_a_holder_app_may_not_do(
    operator, connect, cli, config, tmp_path
):
    dept = await make_department(operator, connect)
    number = identifiers.random_resident_id()
    licence = (
        await dept.clients.issuer.IssueLicence(issue_request(dept, id_number=number))
    ).licence
    app = f"wallet-{secrets.token_hex(3)}"
    usage = ("holder", "--as", app, "usage", licence.lineage, "--id-number", number)
    # a name the stack does not know (no dev identity, no grant: a mistyped one) is
    # refused, and no identity is made for it (trial53 P6)
    code, out = await cli(*usage)
    assert code == 2, out
    assert out.startswith(f"error: as: the stack knows no app:{app}"), out
    assert "(its holder apps: " in out, out
    assert f"'certseal dev identity app:{app}'" in out, out
    assert not (Path(config.tls.ca_file).parent / f"app_{app}.pem").exists()
    # made on purpose (dev identity), no grant: refused as the API refuses
    # (PERMISSION_DENIED: exit 1), naming --as
    code, out = await cli("dev", "identity", f"app:{app}")
    assert code == 0, out
    code, out = await cli(*usage)
    assert code == 1 and out.startswith("error: as: "), out
    assert "the stack knows no" not in out, out
    await operator.admin.GrantHolderApp(
        pb.GrantHolderAppRequest(app=f"app:{app}", type_code=dept.type_code)
    )
    # the app's name mistyped: refused naming the app it is nearest, none made
    code, out = await cli("holder", "--as", app[:-1], *usage[3:])
    assert code == 2 and f"; did you mean app:{app}? (its holder apps: " in out, out
    assert not (Path(config.tls.ca_file).parent / f"app_{app[:-1]}.pem").exists()
    # another holder's number: NOT_FOUND, as for a licence that does not exist
    other = identifiers.random_resident_id()
    code, out = await cli(
        "holder", "--as", app, "usage", licence.lineage, "--id-number", other
    )  # fmt: skip
    assert code != 0 and out.startswith("error: identifier: "), out
    for argv, field in (
        (("--as", f"app:{app}", "usage", licence.lineage, "--id-number", number), "as"),
        (
            ("--as", app, "authorise", licence.lineage, "--id-number", number,
             "--department", dept.code, "--purpose", "x", "--field", "class",
             "--days", "91"),
            "days",
        ),
        (
            ("--as", app, "authorise", licence.lineage, "--id-number", number,
             "--department", dept.code, "--purpose", "电话 13800138000",
             "--field", "class"),
            "purpose",
        ),
    ):  # fmt: skip
        code, out = await cli("holder", *argv)
        said = out.strip().splitlines()[-1]  # after the command's usage, if any
        assert code == 2 and said.startswith(f"error: {field}: "), (argv, out)
