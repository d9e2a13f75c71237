"""Attack on 6a5d8e4 (``certseal holder --as APP``): input the holder commands take
in silence where a holder meant something else. On the session's real issuer."""

from __future__ import annotations

import secrets

import pytest

from certseal import identifiers
from certseal.v1 import issuer_pb2 as pb
from certseal.v1 import licence_pb2
from tests.conftest import issue_request, make_department, onboarded

#: (id, the authorise command's extra options, the option the error names)
REFUSED = [
    ("counter-empty", ("--field", "class", "--counter", ""), "counter"),
    ("counter-blank", ("--field", "class", "--counter", " "), "counter"),
    (
        "counter-not-an-account-name",
        ("--field", "class", "--counter", "no such counter!"),
        "counter",
    ),
    ("field-given-twice", ("--field", "class", "--field", "class"), "field"),
]


@pytest.mark.parametrize(
    ("extra", "option"), [pytest.param(e, o, id=i) for i, e, o in REFUSED]
)
async def test_authorise_refuses_what_the_holder_did_not_mean(
    extra, option, operator, connect, cli
):
    dept = await make_department(operator, connect)
    number = identifiers.random_resident_id()
    licence = (
        await dept.clients.issuer.IssueLicence(issue_request(dept, id_number=number))
    ).licence
    app = f"wallet-{secrets.token_hex(3)}"
    await operator.admin.GrantHolderApp(
        pb.GrantHolderAppRequest(app=f"app:{app}", type_code=dept.type_code)
    )
    counter = await onboarded(operator, licence_pb2.DEPARTMENT_ROLE_COUNTER)
    code, out = await cli(
        "holder", "--as", app, "authorise", licence.lineage, "--id-number", number,
        "--department", counter, "--purpose", "办理入学", *extra,
    )  # fmt: skip
    said = out.strip().splitlines()[-1]
    assert code == 2 and said.startswith(f"error: {option}: "), out
    assert "code        AU-" not in out


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("{app} ", id="trailing-space"),
        pytest.param("wal let", id="inner-space"),
    ],
)
async def test_an_app_name_with_a_space_is_refused_as_bad_input(
    name, operator, connect, cli
):
    dept = await make_department(operator, connect)
    number = identifiers.random_resident_id()
    licence = (
        await dept.clients.issuer.IssueLicence(issue_request(dept, id_number=number))
    ).licence
    app = f"wallet-{secrets.token_hex(3)}"
    await operator.admin.GrantHolderApp(
        pb.GrantHolderAppRequest(app=f"app:{app}", type_code=dept.type_code)
    )
    code, out = await cli(
        "holder", "--as", name.format(app=app), "usage", licence.lineage,
        "--id-number", number,
    )  # fmt: skip
    assert code == 2 and out.strip().startswith("error: as: "), out
    assert "has no holder-app grant" not in out
