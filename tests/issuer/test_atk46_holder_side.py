"""atk46, against the issuer in the embedded stack (service level): what AuthoriseUse
now refuses for a copy that could not be drawn (services/issuer/service/holder.py
``authorise``, holder_files.py ``copy_problem``), and the licence file's
``current_identifier`` for a version no longer current (holder.py ``document``)."""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

import pytest

from certseal.errors import CertsealError, ErrorKind
from certseal.rpc import Caller
from certseal.v1 import issuer_pb2 as pb
from services.issuer.document import DocumentTemplate
from services.issuer.domain import Action, Holder
from services.issuer.service.issuance import IssueInput
from tests.issuer.holder_world import make_holder_world

#: 𰀀 (CJK Extension G): neither bundled font draws it
EXT_G = "\U00030000"
#: U+F90A, drawn only in its NFC form (金)
COMPAT = "\uf90a"


def template(world: Any, order: tuple[str, ...]) -> None:
    """The operator's template of the world's type: its fields in ``order``."""
    files = world.service.holder._files
    files._templates = {**files._templates, world.dept.type_code: DocumentTemplate(
        "", order, ""
    )}  # fmt: skip


async def test_a_use_for_a_department_the_copy_cannot_name_is_not_authorised(
    issuer, operator, connect
):
    w = await make_holder_world(issuer, operator, connect)
    await issuer.pool.execute(
        "update departments set name = $1 where code = $2",
        f"深圳市{EXT_G}融监督管理局",
        w.other.code,
    )
    with pytest.raises(CertsealError) as refused:
        await w.authorise(["address"])
    assert refused.value.kind is ErrorKind.FAILED_PRECONDITION


@pytest.mark.parametrize("order", [("class",), ("adress",)], ids=["left-out", "typo"])
async def test_a_field_no_copy_draws_is_not_shared(issuer, operator, connect, order):
    w = await make_holder_world(issuer, operator, connect)
    template(w, order)
    with pytest.raises(CertsealError) as refused:
        await w.authorise(["address"])
    assert refused.value.field in ("fields", "licence.fields.address")


@pytest.mark.parametrize(
    "order",
    [(), ("address", "address"), ("nosuch", "address", "class")],
    ids=["empty", "twice", "unknown-and-it"],
)
async def test_held_an_undrawable_shared_value_the_template_draws_is_refused(
    issuer, operator, connect, order
):
    w = await make_holder_world(
        issuer, operator, connect, address=f"深圳市{COMPAT}融街"
    )
    template(w, order)
    with pytest.raises(CertsealError) as refused:
        await w.authorise(["address"])
    assert refused.value.kind is ErrorKind.FAILED_PRECONDITION
    assert refused.value.field == "licence.fields.address"
    assert refused.value.reason == "not_drawable"
    assert "深圳" not in refused.value.message and "融街" not in refused.value.message
    # a use sharing only what is drawn is authorised (a field the template leaves
    # out is no field to share: atk46 F11)
    if not order or "class" in order:
        assert await w.authorise(["class"])


async def test_held_a_name_masked_clear_of_its_undrawable_middle_is_authorised(
    issuer, operator, connect
):
    w = await make_holder_world(issuer, operator, connect, name=f"欧{EXT_G}娜娜")
    assert await w.authorise(["class"])
    w = await make_holder_world(issuer, operator, connect, name=f"欧阳娜{EXT_G}")
    with pytest.raises(CertsealError) as refused:
        await w.authorise(["class"])
    assert refused.value.field == "licence.holder.name"
    assert "欧" not in refused.value.message


class FakeSealer:
    """Seals nothing: the file as rendered, and a seal id."""

    async def seal_pdf(self, pdf: bytes, **_: Any) -> tuple[bytes, str]:
        return pdf, "seal-atk46"

    async def seal_ofd(self, ofd: bytes, **_: Any) -> tuple[bytes, str]:
        return ofd, "seal-atk46"


@pytest.fixture
def sealed(world):
    _, _, clock, service = world
    service.holder._files._sealer = FakeSealer()
    clock.now = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=5)
    return world


async def lineage(world, holder: tuple[str, str]) -> tuple[Any, Any, Any]:
    """v1 issued, v2 amending it, and v3 amending that, by the world's sender."""
    sender, _, clock, service = world
    as_sender = Caller("dept", sender.code)
    v1 = await service.issue(
        as_sender,
        IssueInput(sender.type_code, Holder("王五", *holder), {"class": "C1"}),
    )
    clock.now += dt.timedelta(seconds=1)
    v2 = await service.new_version(
        as_sender, v1.identifier, Action.AMEND, changes={"class": "B2"}, reason="增驾"
    )
    clock.now += dt.timedelta(seconds=1)
    v3 = await service.new_version(
        as_sender, v2.identifier, Action.AMEND, changes={"class": "A1"}, reason="增驾"
    )
    return v1, v2, v3


def a_holder() -> tuple[str, str]:
    from certseal import identifiers

    return ("111", identifiers.random_resident_id())


@pytest.mark.parametrize("asked", ["v1", "v3"])
async def test_a_transferred_licence_s_file_names_the_licence_it_became(sealed, asked):
    sender, receiver, clock, service = sealed
    versions = dict(
        zip(("v1", "v2", "v3"), await lineage(sealed, a_holder()), strict=True)
    )
    clock.now += dt.timedelta(seconds=1)
    _, moved = await service.transfer(
        Caller("dept", sender.code), versions["v3"].identifier, receiver.code, "迁出"
    )
    got = await service.holder.document(
        Caller("dept", sender.code), versions[asked].identifier
    )
    assert got.current_identifier == moved.identifier


async def test_held_current_after_amendments_renewal_and_by_lineage(sealed, operator):
    sender, _, clock, service = sealed
    holder = a_holder()
    v1, v2, v3 = await lineage(sealed, holder)
    clock.now += dt.timedelta(seconds=1)
    v4 = await service.new_version(
        Caller("dept", sender.code), v3.lineage, Action.RENEW
    )
    as_sender = Caller("dept", sender.code)
    for asked in (v1, v2, v3):
        got = await service.holder.document(as_sender, asked.identifier)
        assert got.current_identifier == v4.identifier, asked.identifier
    for asked in (v4.identifier, v1.lineage):
        got = await service.holder.document(as_sender, asked)
        assert got.current_identifier == "", asked
    # a holder app asking, naming the holder
    app = f"app:wallet-{secrets.token_hex(4)}"
    await operator.admin.GrantHolderApp(
        pb.GrantHolderAppRequest(app=app, type_code=sender.type_code)
    )
    got = await service.holder.document(Caller.parse(app), v1.identifier, holder)
    assert got.current_identifier == v4.identifier
