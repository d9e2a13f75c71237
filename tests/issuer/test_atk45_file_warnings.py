"""atk45: the issuance warnings (services/issuer/service/holder_files.py
``undrawn_values``) against what the holder's files really draw, without the stack.

A licence type's file is laid out by the operator's template, which may leave fields
out (``field_order``, docs: "orders or omits fields"); an annotated copy draws the
holder's name masked (``mask_name``). The warnings read neither."""

from __future__ import annotations

import dataclasses
import datetime as dt
from types import SimpleNamespace

import pytest

from services.issuer.document import (
    DocumentRenderer,
    DocumentTemplate,
    Fonts,
    rows_of,
)
from services.issuer.domain import FieldKind, FieldSpec, Holder, LicenceType, mask_name
from services.issuer.printable import content_problem
from services.issuer.service.holder_files import HolderFiles
from tests.issuer.test_document import CONTENT

#: 𰀀 (CJK Extension G): neither bundled font draws it
EXT_G = "\U00030000"
TYPE = LicenceType(
    "11440300MA5DCQ2L8A001",
    "食品经营许可证",
    (
        FieldSpec("class", FieldKind.STRING, public=True, title="类别"),
        FieldSpec("address", FieldKind.STRING, personal=True, title="住所"),
    ),
    365,
    frozenset({"11440300MA5DCQ2L8A"}),
)
#: the operator's template for the type: the file shows the class, not the address
TEMPLATE = DocumentTemplate("食品经营许可证", field_order=("class",))


class _Directory:
    async def licence_type(self, code: str) -> LicenceType:
        assert code == TYPE.type_code
        return TYPE


@pytest.fixture(scope="module")
def fonts() -> Fonts:
    return Fonts.bundled()


def files(fonts: Fonts) -> HolderFiles:
    return HolderFiles(
        store=None,  # type: ignore[arg-type]
        directory=_Directory(),  # type: ignore[arg-type]
        clock=lambda: dt.datetime(2026, 12, 1, tzinfo=dt.UTC),
        sealer=None,
        renderer=DocumentRenderer(fonts=fonts),
        platform_code="11440300MA5DCQ2L8A",
        templates={TYPE.type_code: TEMPLATE},
    )


def record(name: str = "张三", **fields: str) -> SimpleNamespace:
    return SimpleNamespace(
        type_code=TYPE.type_code,
        holder=Holder(name, "111", "110101199003074258"),
        fields=fields,
    )


async def test_premise_a_drawn_field_is_warned_of(fonts):
    said = await files(fonts).undrawn_values(record(**{"class": f"C{EXT_G}"}))
    assert [w.split(":")[0] for w in said] == ["fields.class"]


async def test_a_field_the_template_leaves_out_is_no_warning(fonts):
    licence = record(**{"class": "C1", "address": f"深{EXT_G}圳"})
    content = dataclasses.replace(
        CONTENT, fields=[("class", "类别", "C1"), ("address", "住所", f"深{EXT_G}圳")]
    )
    assert [title for title, _ in rows_of(content, TEMPLATE)] == [
        "持证人",
        "类别",
        "有效期",
        "发证机构",
        "证照标识",
    ]  # fmt: skip  (premise: the file never draws the address)
    assert await files(fonts).undrawn_values(licence) == []


def test_a_field_the_template_leaves_out_does_not_refuse_the_file(fonts):
    content = dataclasses.replace(
        CONTENT, fields=[("class", "类别", "C1"), ("address", "住所", f"深{EXT_G}圳")]
    )
    problem = content_problem(content, TEMPLATE, fonts)
    assert problem is None, problem


async def test_a_masked_character_is_not_said_to_stop_the_copies(fonts):
    name = f"王{EXT_G}明"
    copy = dataclasses.replace(CONTENT, holder_name=mask_name(name), fields=[])
    assert content_problem(copy, TEMPLATE, fonts) is None  # premise: copies drawn
    said = await files(fonts).undrawn_values(record(name))
    assert said and all("annotated copy" not in w for w in said), said


@pytest.mark.parametrize(
    "name",
    ["", " ", "王" * 1000, "e\u0301", "\u00a0", f"{EXT_G}" * 500],
)
async def test_held_odd_names_give_code_points_never_the_value(fonts, name):
    """Held: an empty, blank, huge or composed name is no error; a warning names a
    code point and position, never the value."""
    said = await files(fonts).undrawn_values(record(name))
    for warning in said:
        assert EXT_G not in warning and "王" not in warning
    assert len(said) == (1 if EXT_G in name else 0)
