"""The licence file's rendering (services/issuer/document.py) and its metadata
(certseal/licencefile.py), without the stack: fonts, templates, metadata read back,
hostile metadata."""

import datetime as dt
import multiprocessing

import pytest

from certseal.errors import CertsealError
from certseal.licencefile import keywords_text, read_licence_metadata, xmp_values
from services.issuer.document import (
    DocumentRenderer,
    DocumentTemplate,
    Fonts,
    LicenceDocumentContent,
    load_templates,
    render_licence_pdf,
    template_for,
)
from tests.pdffonts import drawn_characters

CODE = "LC1:6BF+ 0Y/$:%*.-" + "A" * 50  # Base45 has spaces and punctuation
CONTENT = LicenceDocumentContent(
    identifier="1.2.156.3005.2.11440300MA5DCQ2L8A001.11440300MA5DCQ2L8A.ABC.001.X",
    version=1,
    type_code="11440300MA5DCQ2L8A001",
    type_name="食品经营许可证",
    issuer_code="11440300MA5DCQ2L8A",
    issuer_name="深圳市市场监督管理局",
    holder_name="王𠈌𪚥",
    holder_ref="ab" * 32,
    fields=[("place", "经营场所", "深圳市福田区"), ("kind", "主体业态", "餐饮服务")],
    valid_from=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    valid_until=dt.datetime(2031, 1, 1, tzinfo=dt.UTC),
    licence_code=CODE,
)
AT = dt.datetime(2026, 11, 30, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def fonts() -> Fonts:
    return Fonts.bundled()


def render(fonts, content=CONTENT, template=None) -> bytes:
    return render_licence_pdf(
        content,
        template=template or DocumentTemplate.default_for(content.type_name),
        fonts=fonts,
        produced_at=AT,
    )


def test_metadata_is_read_back_with_a_code_holding_spaces(fonts):
    meta = read_licence_metadata(render(fonts))
    assert meta == {
        "identifier": CONTENT.identifier,
        "type_code": CONTENT.type_code,
        "type_name": "食品经营许可证",
        "issuer_code": CONTENT.issuer_code,
        "holder_ref": "ab" * 32,
        "valid_from": "2026-01-01T00:00:00+00:00",
        "valid_until": "2031-01-01T00:00:00+00:00",
        "version": "1",
        "licence_code": CODE,
    }


@pytest.mark.parametrize(
    ("tail", "read"),
    [(b"", True), (bytes(900), True), (bytes(5_000), False), (b"%%EOF\n" * 900, False)],
)
def test_metadata_is_read_when_the_file_s_end_is_where_readers_look(fonts, tail, read):
    """certseal.pdfend.read_to_end: within the last 1,024 bytes, as the seal
    service reads a PDF; beyond, a reader rebuilds the file, so nothing is read."""
    meta = read_licence_metadata(render(fonts) + tail)
    assert meta.get("identifier") == (CONTENT.identifier if read else None)


def test_the_keywords_alone_give_the_same_values():
    meta = {"identifier": "1.2.3", "licence_code": CODE}
    text = keywords_text(meta)
    assert " " not in text.split(" ", 1)[1].split("=", 1)[1]  # value percent-encoded
    import urllib.parse

    from certseal.licencefile import _KEYWORD  # the reader's own pattern

    assert {k: urllib.parse.unquote(v) for k, v in _KEYWORD.findall(text)} == meta


def test_rare_characters_are_drawn_by_the_fallback_font(fonts):
    drawn = drawn_characters(render(fonts))
    assert drawn["𠈌"].endswith("+HanaMinB") and drawn["𪚥"].endswith("+HanaMinB")
    assert drawn["王"].endswith("+NotoSansSC")
    assert drawn["经"].endswith("+NotoSansSC")


def test_the_missing_rare_font_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="make fonts"):
        Fonts.bundled(tmp_path / "absent.ttf")


def test_an_operator_template_renames_orders_and_omits_fields(fonts, tmp_path):
    (tmp_path / f"{CONTENT.type_code}.toml").write_text(
        'title = "食品经营许可证（副本）"\nfield_order = ["kind"]\nnote = "仅限本场所"\n'
    )
    templates = load_templates(tmp_path)
    template = template_for(templates, CONTENT.type_code, CONTENT.type_name)
    assert template == DocumentTemplate(
        "食品经营许可证（副本）", ("kind",), "仅限本场所"
    )
    drawn = drawn_characters(render(fonts, template=template))
    assert "副" in drawn and "限" in drawn  # title and note
    assert "福" not in drawn  # the place field was left out
    default = template_for(templates, "OTHER", "机动车驾驶证")
    assert default == DocumentTemplate("机动车驾驶证")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("title = 3\n", "Expected `str`"),
        ('colour = "red"\n', "unknown field"),
        ("title = \n", ""),
        ('note = "' + "长" * 501 + '"\n', "note over 500"),
    ],
)
def test_a_bad_template_file_is_named(tmp_path, text, problem):
    (tmp_path / "T.toml").write_text(text)
    with pytest.raises(CertsealError, match=r"T\.toml") as err:
        load_templates(tmp_path)
    assert problem in str(err.value)
    assert err.value.field == "issuer.document_templates_dir"


@pytest.mark.parametrize("what", ["missing", "a-file", "fifo", "not-utf-8"])
def test_a_templates_folder_that_cannot_be_used_names_its_setting(tmp_path, what):
    """fix15: a missing folder or a file was read as no templates (every licence
    file silently in the default layout); a FIFO named x.toml hung the start; a
    file not UTF-8 was a ValueError naming no setting (exit 1)."""
    import os

    folder = tmp_path / "templates"
    if what == "a-file":
        folder.write_text('title = "x"\n')
    elif what != "missing":
        folder.mkdir()
        if what == "fifo":
            os.mkfifo(folder / "T.toml")
        else:
            (folder / "T.toml").write_bytes(b'title = "caf\xe9"\n')
    with pytest.raises(CertsealError) as err:
        load_templates(folder)
    assert err.value.field == "issuer.document_templates_dir", err.value


def test_the_annotated_copy_draws_the_overlay(fonts):
    import dataclasses

    from services.issuer.document_overlay import CopyAnnotation

    annotated = dataclasses.replace(
        CONTENT, annotation=CopyAnnotation("某局", "2026年12月1日", "开户")
    )
    drawn = drawn_characters(render(fonts, annotated))
    for char in "仅供某局使用前有效用途（持证人填写）开户":
        assert char in drawn
    assert "仅" not in drawn_characters(render(fonts))


def test_the_overlay_across_the_fields_stays_clear_of_the_line_under_them(fonts):
    """trial39b: the diagonal overlay's lower half wrote over the horizontal line
    under the fields, so "车管所办" could not be read. Their drawn areas (PDFium's
    character boxes, in points from the page's foot) do not meet: the diagonal
    ("仅供示例车管所使用" and "2026年12月8日前有效") above the statement under the
    fields ("仅供示例车管所使用，2026年12月8日前有效") and the purpose after it."""
    import dataclasses

    import pypdfium2
    import pypdfium2.raw as pdfium_c

    from services.issuer.document_overlay import CopyAnnotation

    said = CopyAnnotation("示例车管所", "2026年12月8日", "开立银行账户")
    document = pypdfium2.PdfDocument(
        render(fonts, dataclasses.replace(CONTENT, annotation=said))
    )
    text = document[0].get_textpage()
    found: dict[bool, list[tuple[str, float, float]]] = {True: [], False: []}
    lines = [(line, True) for line in said.diagonal]
    lines += [(said.statement, False), (said.purpose, False)]
    for line, turned in lines:
        for start in range(text.count_chars()):
            angle = pdfium_c.FPDFText_GetCharAngle(text.raw, start)
            if (
                text.get_text_range(start, len(line)) == line
                and (abs(angle) > 0.01) is turned
            ):
                boxes = [text.get_charbox(start + i) for i in range(len(line))]
                found[turned].append(
                    (line, min(b[1] for b in boxes), max(b[3] for b in boxes))
                )
    diagonal, under = found[True], found[False]
    document.close()
    assert [d[0] for d in diagonal] == list(said.diagonal), diagonal
    assert [u[0] for u in under] == [said.statement, said.purpose], under
    assert min(d[1] for d in diagonal) > max(u[2] for u in under), (diagonal, under)


@pytest.mark.parametrize(
    "xml",
    [
        b'<!DOCTYPE x [<!ENTITY a "aaaa">]><x:xmpmeta xmlns:x="adobe:ns:meta/"/>',
        b"not xml at all <<<",
        b"",
    ],
)
def test_hostile_or_broken_xmp_gives_nothing(xml):
    assert xmp_values(xml) == {}


def test_xmp_in_either_form_and_only_known_keys():
    ns = "https://certseal.example/ns/licence/1.0/"
    element = (
        f'<r xmlns:cs="{ns}"><cs:identifier>1.2</cs:identifier>'
        f"<cs:secret>x</cs:secret></r>"
    ).encode()
    attribute = f'<r xmlns:cs="{ns}" cs:identifier="1.2" cs:other="y"/>'.encode()
    assert xmp_values(element) == {"identifier": "1.2"}
    assert xmp_values(attribute) == {"identifier": "1.2"}


@pytest.mark.parametrize("data", [b"", b"%PDF-1.7\n", b"garbage" * 100])
def test_an_unreadable_pdf_has_no_metadata(data):
    assert read_licence_metadata(data) == {}


async def test_closing_the_renderer_ends_its_worker_processes(fonts):
    before = set(multiprocessing.active_children())
    renderer = DocumentRenderer(fonts=fonts, workers=1)
    pdf = await renderer.render(
        CONTENT,
        template=DocumentTemplate.default_for(CONTENT.type_name),
        produced_at=AT,
    )
    assert read_licence_metadata(pdf)["identifier"] == CONTENT.identifier
    workers = set(multiprocessing.active_children()) - before
    assert workers  # the render ran in a worker process of the pool
    await renderer.close()
    # ended and joined before close returns: nothing of the pool is left running
    # for the interpreter's exit to race with
    assert not any(worker.is_alive() for worker in workers)
    assert not workers & set(multiprocessing.active_children())
    await renderer.close()  # a second close does nothing
