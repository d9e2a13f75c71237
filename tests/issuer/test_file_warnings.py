"""A department is told, when it writes a licence, that its files cannot be drawn: a
value the licence file draws (the holder's name, a visible text field) holding a
character neither bundled font draws. The licence was issued without a word, and the
holder learnt it only when the file or a copy was refused (atk43holder, left over).
The warning names the field and the character, never the value (the holder's name
and fields are personal data: atk43holder F6)."""

from __future__ import annotations

from certseal.v1 import issuer_pb2 as pb
from certseal.v1 import licence_pb2
from services.issuer.licence_cli import _print_licence
from tests.conftest import issue_request, make_department, text_field

#: 𰀀, CJK Unified Ideographs Extension G (Unicode 13): a name may hold it, neither
#: Noto Sans SC nor HanaMinB draws it
EXT_G = "\U00030000"
SAID = (
    "contains U+30000 CJK UNIFIED IDEOGRAPH-30000 at position 2, which the fonts of "
    "the platform's sealed licence files cannot draw: the holder gets no licence file "
    "(PDF or OFD) nor annotated copy of this licence until the fonts draw it"
)


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
    assert list(reply.warnings) == [f"holder.name: {SAID}", f"fields.address: {SAID}"]
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
    _print_licence(licence, "es256", None, [f"holder.name: {SAID}"])
    out = capsys.readouterr()
    assert out.err == f"warning: holder.name: {SAID}\n"
    assert out.out.startswith("identifier  1.2.156.X\n")
