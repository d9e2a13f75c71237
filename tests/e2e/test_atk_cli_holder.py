"""Attack on 6a5d8e4 (``certseal holder --as APP``): input the holder commands take
in silence where a holder meant something else. On the session's real issuer."""

from __future__ import annotations

import pytest

from certseal.v1 import licence_pb2
from tests.conftest import onboarded
from tests.e2e.test_holder_cli import granted_licence

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
    _, licence, number, app = await granted_licence(operator, connect)
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
    _, licence, number, app = await granted_licence(operator, connect)
    code, out = await cli(
        "holder", "--as", name.format(app=app), "usage", licence.lineage,
        "--id-number", number,
    )  # fmt: skip
    assert code == 2 and out.strip().startswith("error: as: "), out
    assert "has no holder-app grant" not in out
