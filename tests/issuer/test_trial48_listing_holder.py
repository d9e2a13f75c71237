"""trial48 (medium): ``licence list --id-number`` took a number no licence can hold (a
full-width digit, letters, a wrong GB 11643 check character) and answered "no licences
match", exit 0, where issuance refuses the same number: a clerk typing with a
full-width input method told a citizen they held no licence. A holder named in any
request is now checked as an issuance checks it."""

from __future__ import annotations

import grpc
import pytest

from certseal.v1 import issuer_pb2 as pb
from certseal.v1 import licence_pb2
from tests.conftest import issue_request

NUMBER = "440301199001011234"  # a valid GB 11643 number (check character 4)


@pytest.mark.parametrize(
    ("number", "problem"),
    [
        ("４40301199001011234", "U+FF14"),  # a full-width digit
        ("abc", "18 characters"),
        ("440301199001011235", "check character"),
    ],
)
async def test_a_listing_by_a_number_no_licence_can_hold_is_refused(
    dept, number, problem
):
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await dept.clients.issuer.ListLicences(
            pb.ListLicencesRequest(
                holder=licence_pb2.Holder(id_type="111", id_number=number)
            )
        )
    assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "holder.id_number" in err.value.details(), err.value.details()
    assert problem in err.value.details(), err.value.details()


async def test_a_listing_by_a_number_with_a_lower_case_check_x_finds_the_licence(dept):
    """Checked as issuance checks it, the filter is also normalised as the number
    stored was: a lower-case check character ``x`` finds the licence."""
    number = "11010119900307109X"
    issued = (
        await dept.clients.issuer.IssueLicence(issue_request(dept, id_number=number))
    ).licence
    reply = await dept.clients.issuer.ListLicences(
        pb.ListLicencesRequest(
            holder=licence_pb2.Holder(id_type="111", id_number=number.lower())
        )
    )
    assert [licence.identifier for licence in reply.licences] == [issued.identifier]


async def test_the_cli_names_the_option_and_exits_2(cli, dept):
    code, out = await cli(
        "licence", "--as", dept.code, "list", "--id-number", "４40301199001011234"
    )
    assert code == 2 and out.startswith("error: id-number: "), out
