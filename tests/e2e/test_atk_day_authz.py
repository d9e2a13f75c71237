"""atk-day: a refusal that still names a licence type's issuers (c10b0ac removed them
from IssueLicence's refusal only)."""

from __future__ import annotations

import grpc
import pytest

from certseal.v1 import issuer_pb2 as pb
from tests.conftest import issue_request, make_department


async def test_a_renewal_refusal_does_not_name_the_types_issuers(operator, connect):
    """docs/events.md, Types: a change of a type's issuing departments publishes no
    event; IssuerAdmin/ListLicenceTypes (the issuers) is operator only
    (docs/operations.md, "Authorisation matrix"); c10b0ac: a refusal "does not name
    the type's issuers: only operators read them" (atk-authz 3)."""
    dept = await make_department(operator, connect)
    other = await make_department(operator, connect)
    licence = (await dept.clients.issuer.IssueLicence(issue_request(dept))).licence
    await operator.admin.SetLicenceTypeIssuers(
        pb.SetLicenceTypeIssuersRequest(
            type_code=dept.type_code, issuer_codes=[other.code]
        )
    )
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await dept.clients.issuer.RenewLicence(
            pb.RenewLicenceRequest(identifier=licence.identifier)
        )
    assert err.value.code() is grpc.StatusCode.PERMISSION_DENIED
    said = err.value.details() + repr(err.value.trailing_metadata())
    assert other.code not in said, said
