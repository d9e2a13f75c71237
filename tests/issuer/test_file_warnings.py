"""A department is told, when it writes a licence, that its files cannot be drawn: a
value the licence file draws (the holder's name, a visible text field) holding a
character neither bundled font draws. The licence was issued without a word, and the
holder learnt it only when the file or a copy was refused (atk43holder, left over).
The warning names the field and the character, never the value (the holder's name
and fields are personal data: atk43holder F6)."""

from __future__ import annotations

import pytest

from certseal.errors import CertsealError, ErrorKind
from certseal.v1 import issuer_pb2 as pb
from certseal.v1 import licence_pb2
from services.issuer.licence_cli import _print_licence
from tests.conftest import issue_request, make_department, text_field
from tests.issuer.holder_world import make_holder_world

#: 𰀀, CJK Unified Ideographs Extension G (Unicode 13): a name may hold it, neither
#: Noto Sans SC nor HanaMinB draws it
EXT_G = "\U00030000"
CANNOT = (
    "contains U+30000 CJK UNIFIED IDEOGRAPH-30000 at position 2, which the fonts of "
    "the platform's sealed licence files cannot draw: the holder gets no licence file "
    "(PDF or OFD) of this licence"
)
#: a field's: no copy that shows it either
SAID = f"{CANNOT}, nor an annotated copy that shows it, until the fonts draw it"
#: the name's, which a copy masks (王𰀀明 is drawn 王*明: atk45 F10)
NAME_SAID = f"{CANNOT} until the fonts draw it"


def undrawable(dept) -> pb.IssueLicenceRequest:
    request = issue_request(dept, name=f"王{EXT_G}明")
    request.fields["address"].CopyFrom(text_field(f"深{EXT_G}圳市福田区"))
    return request


async def test_a_value_the_files_cannot_draw_is_a_warning_naming_field_and_character(
    operator, connect
):
    dept = await make_department(operator, connect)
    reply = await dept.clients.issuer.IssueLicence(undrawable(dept))
    assert reply.licence.identifier  # written: it verifies as any other
    assert list(reply.warnings) == [
        f"holder.name: {NAME_SAID}",
        f"fields.address: {SAID}",
    ]
    for warning in reply.warnings:  # the character's code point, never the value
        assert EXT_G not in warning and "王" not in warning and "深" not in warning
    # one the files draw: no warning
    plain = await dept.clients.issuer.IssueLicence(issue_request(dept))
    assert list(plain.warnings) == []
    # the holder's file is then refused naming the field the department was told of
    # (services/issuer/printable.content_problem; the holder's side: docs/holder.md)

    # a batch: each licence its own
    batch = await dept.clients.issuer.IssueLicences(
        pb.IssueLicencesRequest(items=[issue_request(dept), undrawable(dept)])
    )
    assert [r.WhichOneof("outcome") for r in batch.results] == ["licence", "licence"]
    assert [len(r.warnings) for r in batch.results] == [0, 2]
    # an amendment that brings such a value: warned of the new version
    amended = await dept.clients.issuer.AmendLicence(
        pb.AmendLicenceRequest(
            identifier=plain.licence.identifier,
            fields={"class": text_field(f"C{EXT_G}")},
            reason="更正",
        )
    )
    assert list(amended.warnings) == [f"fields.class: {SAID}"]


def test_the_command_says_each_warning_and_the_licence_written(capsys):
    licence = licence_pb2.Licence(identifier="1.2.156.X")
    _print_licence(licence, "es256", None, [f"holder.name: {NAME_SAID}"])
    out = capsys.readouterr()
    assert out.err == f"warning: holder.name: {NAME_SAID}\n"
    assert out.out.startswith("identifier  1.2.156.X\n")


@pytest.mark.parametrize(
    ("name", "address", "shared", "refused"),
    [
        # trial45: the holder authorised a copy of an address the copy cannot draw;
        # the code was refused at every counter, and the holder learnt it from the
        # refusal in the usage record
        ("张三", f"深{EXT_G}圳", ["address"], "licence.fields.address"),
        ("张三", f"深{EXT_G}圳", ["class"], None),  # the address is not shared
        # the copy masks the name: 王𰀀 is drawn 王*, 王明𰀀 王*𰀀
        (f"王{EXT_G}", "深圳", ["class"], None),
        (f"王明{EXT_G}", "深圳", ["class"], "licence.holder.name"),
    ],
)
async def test_a_use_whose_copy_cannot_be_drawn_is_not_authorised(
    issuer, operator, connect, name, address, shared, refused
):
    w = await make_holder_world(issuer, operator, connect, name=name, address=address)
    licence = w.licence

    async def authorise():
        return await w.authorise(shared)

    if refused is None:
        assert await authorise()
        return
    with pytest.raises(CertsealError) as err:
        await authorise()
    assert err.value.kind is ErrorKind.FAILED_PRECONDITION
    assert (err.value.field, err.value.reason) == (refused, "not_drawable")
    assert "U+30000" in str(err.value) and EXT_G not in str(err.value)
    assert "深" not in str(err.value) and "王" not in str(err.value)
    stored = await issuer.pool.fetchval(
        "select count(*) from licence_authorisations where lineage = $1",
        licence.lineage,
    )
    assert stored == 0
