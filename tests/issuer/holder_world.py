"""The service-level world the holder-side tests share: a fresh department's licence
of a fresh holder, its type granted to a fresh holder app, a second department to
authorise, and the issuer's use cases over the session's real stack."""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from certseal import identifiers
from certseal.rpc import Caller
from certseal.v1 import issuer_pb2 as pb
from services.issuer.domain import Holder, LicenceRecord
from services.issuer.service.issuance import IssueInput
from tests.conftest import Dept, make_department


class NoSeal:
    """A sealer that is never reached: the copy is refused before it is drawn."""

    async def seal_pdf(self, *args: Any, **kwargs: Any) -> Any:  # pragma: no cover
        raise AssertionError("nothing is sealed")


@dataclass
class HolderWorld:
    service: Any  # services.issuer.service.IssuerService, with the test's clock
    dept: Dept  # the issuing department
    other: Dept  # the department the holder authorises
    app: str  # the holder app, granted the licence's type
    holder: tuple[str, str]  # id type, id number
    licence: LicenceRecord
    now: dt.datetime

    async def authorise(
        self, fields: Sequence[str], purpose: str = "开立银行账户"
    ) -> str:
        """The code of a new authorisation of ``other`` for ``fields`` (7 days)."""
        _, code, _ = await self.service.holder.authorise(
            Caller.parse(self.app),
            self.licence.identifier,
            holder=self.holder,
            department_code=self.other.code,
            counter="",
            purpose=purpose,
            fields=list(fields),
            expires_at=self.now + dt.timedelta(days=7),
        )
        return code

    async def redeem(self, code: str) -> Any:
        """``other`` redeems ``code`` as the Redemption RPC does (one attempt)."""
        caller = Caller("dept", self.other.code)
        async with self.service.attempt(caller, "authorisation.redeem", "-"):
            return await self.service.holder.redeem(caller, code, counter="")


async def make_holder_world(
    issuer: Any,
    operator: Any,
    connect: Any,
    *,
    name: str = "张三",
    address: str = "深圳市福田区",
) -> HolderWorld:
    """A :class:`HolderWorld` whose licence names holder ``name`` and ``address``;
    its sealer never reached (:class:`NoSeal`)."""
    dept = await make_department(operator, connect)
    other = await make_department(operator, connect)
    app = f"app:wallet-{secrets.token_hex(4)}"
    await operator.admin.GrantHolderApp(
        pb.GrantHolderAppRequest(app=app, type_code=dept.type_code)
    )
    now = dt.datetime.now(dt.UTC)
    service = issuer.make_service(lambda: dt.datetime.now(dt.UTC))
    assert service.holder._files._renderer is not None  # licence files are on
    service.holder._files._sealer = NoSeal()
    holder = ("111", identifiers.random_resident_id())
    licence = await service.issue(
        Caller("dept", dept.code),
        IssueInput(
            dept.type_code,
            Holder(name, *holder),
            {"class": "C1", "address": address},
            valid_from=now - dt.timedelta(minutes=1),
            valid_until=now + dt.timedelta(days=30),
        ),
    )
    return HolderWorld(service, dept, other, app, holder, licence, now)
