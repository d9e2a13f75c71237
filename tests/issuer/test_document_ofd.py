"""The licence file as OFD (services/issuer/document_ofd.py), without the stack: the
package the seal service's bounded reader opens, the GB/T 36903 metadata read back
from CustomDatas, rare characters as text in the embedded HanaMinB subset, and the
fonts cut to the characters drawn."""

import dataclasses
import io
import zipfile

import pytest
from fontTools import ttLib

from services.issuer.document import DocumentTemplate, Fonts, font_subset
from services.issuer.document_ofd import render_licence_ofd
from services.seal.licence_files import ofd_licence_metadata
from services.seal.ofd import find_keyword, open_document
from services.seal.ofd_package import parse_xml, read_package
from tests.issuer.test_document import AT, CONTENT


@pytest.fixture(scope="module")
def fonts() -> Fonts:
    return Fonts.bundled()


def render(fonts, content=CONTENT) -> bytes:
    return render_licence_ofd(
        content,
        template=DocumentTemplate.default_for(content.type_name),
        fonts=fonts,
        produced_at=AT,
    )


def test_the_package_opens_in_the_bounded_reader_with_one_a4_page(fonts):
    ofd = render(fonts)
    document = open_document(read_package(ofd))
    assert [(p.width_mm, p.height_mm) for p in document.pages] == [(210.0, 297.0)]
    for name, data in read_package(ofd).files.items():
        if name.endswith(".xml"):
            parse_xml(data, name)  # every XML file is bounded, well-formed XML
    # the visible content is text objects (a keyword a seal can be placed on)
    assert find_keyword(document, "深圳市福田区")[0] == 0
    assert find_keyword(document, "扫码核验")[0] == 0


def test_metadata_is_read_back_from_custom_datas(fonts):
    assert ofd_licence_metadata(render(fonts)) == {
        "identifier": CONTENT.identifier,
        "type_code": CONTENT.type_code,
        "type_name": "食品经营许可证",
        "issuer_code": CONTENT.issuer_code,
        "holder_ref": "ab" * 32,
        "valid_from": "2026-01-01T00:00:00+00:00",
        "valid_until": "2031-01-01T00:00:00+00:00",
        "version": "1",
        "licence_code": CONTENT.licence_code,
    }


def test_rare_characters_are_text_in_the_embedded_fallback_font(fonts):
    files = zipfile.ZipFile(io.BytesIO(render(fonts)))
    page = parse_xml(files.read("Doc_0/Pages/Page_0/Content.xml"), "page")
    by_font: dict[str, str] = {}
    for element in page.iter():
        if element.tag.endswith("TextObject"):
            text = "".join(code.text or "" for code in element)
            by_font[element.get("Font", "")] = by_font.get(element.get("Font", ""), "")
            by_font[element.get("Font", "")] += text
    public = files.read("Doc_0/PublicRes.xml").decode()
    assert '<ofd:Font ID="3"' in public and "HanaMinB.ttf" in public
    assert "𠈌𪚥" in by_font["3"] and "王" not in by_font["3"]
    assert "王" in by_font["2"] and "经营场所" in by_font["2"]
    rare = ttLib.TTFont(io.BytesIO(files.read("Doc_0/Res/HanaMinB.ttf")))
    assert {ord("𠈌"), ord("𪚥")} <= set(rare.getBestCmap())
    assert rare["name"].getDebugName(6) == "HanaMinB"


def test_without_rare_characters_no_fallback_font_is_embedded(fonts):
    plain = dataclasses.replace(CONTENT, holder_name="王小明")
    files = zipfile.ZipFile(io.BytesIO(render(fonts, plain)))
    assert "Doc_0/Res/HanaMinB.ttf" not in files.namelist()
    assert "HanaMinB" not in files.read("Doc_0/PublicRes.xml").decode()


def test_a_font_subset_holds_only_the_characters_asked_for(fonts):
    small = ttLib.TTFont(io.BytesIO(font_subset(fonts.main, {ord("王"), ord("A")})))
    assert set(small.getBestCmap()) == {ord("王"), ord("A")}
    assert small["name"].getDebugName(6) == "NotoSansSC-Regular"
    # a character the font lacks is simply not in the subset
    rare_only = font_subset(fonts.main, {ord("𠈌")})
    assert ord("𠈌") not in (ttLib.TTFont(io.BytesIO(rare_only)).getBestCmap() or {})


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"PK\x05\x06" + b"\x00" * 18,  # an empty ZIP
        b"not a zip",
    ],
)
def test_an_unreadable_ofd_has_no_metadata(data):
    assert ofd_licence_metadata(data) == {}


def test_custom_data_other_than_the_metadata_keys_is_ignored():
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr(
            "OFD.xml",
            '<ofd:OFD xmlns:ofd="http://www.ofdspec.org/2016"><ofd:DocBody>'
            "<ofd:DocInfo><ofd:CustomDatas>"
            '<ofd:CustomData Name="identifier">1.2.3</ofd:CustomData>'
            '<ofd:CustomData Name="evil">x</ofd:CustomData>'
            '<ofd:CustomData Name="identifier">second</ofd:CustomData>'
            "</ofd:CustomDatas></ofd:DocInfo></ofd:DocBody></ofd:OFD>",
        )
    assert ofd_licence_metadata(out.getvalue()) == {"identifier": "1.2.3"}
    # a DTD is refused by the bounded reader: no metadata, no error
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr(
            "OFD.xml",
            '<!DOCTYPE x [<!ENTITY a "b">]><ofd:OFD xmlns:ofd="x"/>',
        )
    assert ofd_licence_metadata(out.getvalue()) == {}


def test_rare_subsets_from_block_cuts_and_from_the_whole_font_agree(fonts):
    """Up to two 4,096-code-point blocks are subset from a per-worker cut of those
    blocks, more from the whole font: the same glyphs either way."""
    from services.issuer.document import MAX_BLOCKS

    def glyphs(points: set[int]) -> dict[int, bytes]:
        font = ttLib.TTFont(io.BytesIO(font_subset(fonts.rare, points)))
        glyf = font["glyf"]
        return {p: glyf[name].compile(glyf) for p, name in font.getBestCmap().items()}

    assert MAX_BLOCKS == 2
    two = glyphs({0x2020C, 0x2A6A5})  # blocks 0x20 and 0x2A: a block cut
    three = glyphs({0x2020C, 0x2A6A5, 0x21234})  # three blocks: the whole font
    assert set(two) == {0x2020C, 0x2A6A5} and set(three) == set(two) | {0x21234}
    assert all(two[p] == three[p] for p in two)


def test_an_annotated_ofd_writes_the_statement_then_the_framed_purpose(fonts):
    """atk40: the statement under the fields, then the purpose on lines of its own
    (every line of the old one-string annotation was written at y 180 mm, one over
    another). atk41h: the statement in red, the purpose in dark grey, none of its
    lines at the statement's margin. atk43holder: as the PDF's, the label in red at
    the margin and the purpose, as given, in a frame right of it (a PathObject), every
    line of it inside."""
    from services.issuer.document_overlay import PURPOSE_LABEL, CopyAnnotation

    said = CopyAnnotation(
        "某局", "2026年12月11日", "开户使用，2099年12月31日前有效" * 3
    )
    annotated = dataclasses.replace(CONTENT, annotation=said)
    files = zipfile.ZipFile(io.BytesIO(render(fonts, annotated)))
    page = parse_xml(files.read("Doc_0/Pages/Page_0/Content.xml"), "page")
    drawn: dict[str, dict[float, tuple[float, str]]] = {}
    for element in page.iter():
        colour = next((c for c in element if c.tag.endswith("FillColor")), None)
        if element.tag.endswith("TextObject") and colour is not None:
            left, top = map(float, element.get("Boundary", "").split()[:2])
            lines = drawn.setdefault(colour.get("Value", ""), {})
            x, text = lines.get(top, (left, ""))
            lines[top] = (x, text + "".join(c.text or "" for c in element))
    red = [drawn["200 0 0"][top] for top in sorted(drawn["200 0 0"])]
    grey = [drawn["64 64 64"][top] for top in sorted(drawn["64 64 64"])]
    assert [text for _, text in red] == [
        "仅供某局使用，2026年12月11日前有效",
        PURPOSE_LABEL,
    ]
    assert "".join(text for _, text in grey) == said.purpose
    assert len(grey) >= 2  # the purpose takes two lines, each at its own height
    margin = red[0][0]
    assert red[1][0] == margin and all(x > margin + 30 for x, _ in grey), grey
    [frame] = [e for e in page.iter() if e.tag.endswith("PathObject")]
    left, top, wide, high = map(float, frame.get("Boundary", "").split())
    assert all(left < x < left + wide for x, _ in grey) and left + wide <= 190
    tops = sorted(drawn["64 64 64"])
    assert top < tops[0] and tops[-1] + 3.5 < top + high, (top, high, tops)


def _drawn_pages(ofd: bytes) -> list[list[tuple[str, tuple[float, ...], str]]]:
    """Each page's objects in Document.xml's order: (kind, boundary, text)."""
    package = read_package(ofd)
    document = open_document(package)
    pages = []
    for page in document.pages:
        drawn = []
        for element in parse_xml(package.files[page.path], page.path).iter():
            kind = element.tag.rsplit("}", 1)[-1]
            if kind in ("TextObject", "ImageObject", "PathObject"):
                box = tuple(map(float, element.get("Boundary", "").split()))
                drawn.append((kind, box, "".join(c.text or "" for c in element)))
        pages.append(drawn)
    return pages


#: values of a licence's most (MAX_TEXT, 1,000 characters) that take pages
LONG_VALUES = [
    ("scope", "经营范围", "预包装食品销售（含冷藏冷冻食品）、散装食品销售；" * 40),
    ("note", "备注", "Lorem ipsum dolor sit amet, 深圳市福田区 " * 30),
    ("kind", "主体业态", "餐饮服务"),
]


@pytest.mark.parametrize("annotated", [False, True], ids=["file", "copy"])
def test_a_long_value_goes_on_over_pages_never_off_one(fonts, annotated):
    """A value longer than a page holds went on below the page's foot, under the QR
    code and the seal's stamp, on the one page the OFD had. As the PDF's, the fields
    now end above 196 mm (174 mm on a copy, whose lines under them are on every
    page), a long value goes on at the top of the next page, and the QR code is on
    the last; every object of every page is on its page, IDs unique."""
    from services.issuer.document_overlay import CopyAnnotation

    fields = [(n, t, v[:1000]) for n, t, v in LONG_VALUES]
    content = dataclasses.replace(CONTENT, fields=fields)
    if annotated:
        said = CopyAnnotation("某局", "2026年12月11日", "开立银行账户")
        content = dataclasses.replace(content, annotation=said)
    ofd = render(fonts, content)
    pages = _drawn_pages(ofd)
    assert len(pages) >= 3, len(pages)
    foot = 174.0 if annotated else 196.0
    for drawn in pages:
        for kind, (x, y, w, h), text in drawn:
            assert x >= 0 and x + w <= 210 and y >= 0 and y + h <= 297, (kind, text)
        values = [(y, h, t) for kind, (x, y, w, h), t in drawn if kind == "TextObject"
                  and x == 55]  # fmt: skip
        assert values and all(y + h <= foot for y, h, _ in values), values
        if annotated:  # the statement on every page
            statement = "".join(t for _, (x, y, _, _), t in drawn if y >= 180)
            assert said.statement in statement.replace(" ", ""), statement
    images = [
        [kind for kind, _, _ in drawn if kind == "ImageObject"] for drawn in pages
    ]
    assert images[-1] == ["ImageObject"] and not any(images[:-1])
    # every value whole, in order, across the pages
    shown = "".join(
        t for drawn in pages for kind, (x, _, _, _), t in drawn
        if kind == "TextObject" and x == 55
    )  # fmt: skip
    for _, _, value in fields:
        assert value in shown
    assert shown.index(fields[0][2]) < shown.index(fields[1][2])
    assert_ids_unique(ofd)


def assert_ids_unique(ofd: bytes) -> None:
    """OFD IDs are unique in the document, none above MaxUnitID (GB/T 33190 §7.4)."""
    files = read_package(ofd).files
    ids = [
        int(element.get("ID"))
        for name, data in files.items()
        if name.endswith(".xml")
        for element in parse_xml(data, name).iter()
        if element.get("ID")
    ]
    assert len(ids) == len(set(ids))
    most = parse_xml(files["Doc_0/Document.xml"], "doc").find(".//{*}MaxUnitID")
    assert most is not None and max(ids) <= int(most.text or 0)


def test_fields_that_fit_stay_on_one_page(fonts):
    pages = _drawn_pages(render(fonts))
    assert len(pages) == 1
    assert [k for k, _, _ in pages[0]].count("ImageObject") == 1
