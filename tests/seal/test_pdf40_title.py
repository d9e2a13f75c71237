"""pdf40: the title viewers show, read as they read it, after atk39pdf.

Found:

* F1 (medium) an XMP packet was read in the encoding its XML declaration or BOM
  named, while pdf.js (``catalog.js``: ``stringToUTF8String``, "let's just hope ...
  UTF-8") decodes every packet as UTF-8 and skips one that is not. A sealed packet
  titled "Café" in UTF-8 (pdf.js shows it) rewritten after the seal in ISO-8859-1
  (or UTF-16) with the same title read the same to certseal: VALID, while pdf.js
  skips the packet and shows /Info /Title instead. Fixed: the packet is read as
  UTF-8, one that is not counts by its bytes; the encoding a declaration names
  counts too (the readers that follow it read a UTF-8 packet declared ISO-8859-1
  otherwise).
* F2 (medium) the XMP title's white space was normalised as Python's ``split`` does,
  not as pdf.js shows it: every Unicode white space run made one space (pdf.js's
  tab keeps U+3000, NBSP, U+1680 as written, and only ASCII white space runs become
  one space), and the white space between two ``rdf:li`` read as a space (pdf.js's
  SimpleXMLParser drops a text node of white space only: ``AB``). A sealed title
  "营业执照 副本" (ideographic spaces) or "A B" rewritten "营业执照 副本" or as two
  ``rdf:li`` "A", "B" stayed VALID.
* F3 (low) Ghostscript's octal UTF-16 text in a packet (``>\\376\\377\\000A...``),
  which pdf.js rewrites as UTF-16 (``MetadataParser._repair``), was read as
  written, white space runs one space: ``\\376\\377`` followed by two spaces (pdf.js:
  a dagger, U+2020) and by a space and a line feed (U+200A) read alike. Fixed: the
  packet is repaired as pdf.js repairs it first.
* F4 (low) /Info /Title was compared as pyHanko decodes it: a string pyHanko cannot
  decode (odd-length UTF-16, a PDFDocEncoding tab or line end, 0x7F, 0x9F, 0xAD) as
  its ``repr``, so a later text string spelling that ``repr`` (pdf.js shows
  ``b'A\\tB'`` where it showed "A	B") compared equal; UTF-16LE and UTF-8 as their
  text, so the same title rewritten in them (viewers without them show the BOM's
  bytes) compared equal. Fixed (``pdf_title.info_title``): a title compares as text
  only in the encodings every viewer reads alike (PDFDocEncoding, UTF-16BE, no
  language escape), otherwise by its bytes; the detail says what pdf.js shows.

Handled (tests below keep them): /Info titles whose octal UTF-16 white space
changes (trailing, leading, tab, NBSP, line feed), PDFDocEncoding bytes 0x80-0x9E,
escaped line ends, hex strings; the same ASCII title rewritten in UTF-16BE (no
change).
"""

from __future__ import annotations

import codecs
import io

import pypdfium2 as pdfium
import pytest
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.metadata.xmp_xml import MetadataStream
from pyhanko.pdf_utils.reader import PdfFileReader

from services.seal.pdf_strings import info_title
from services.seal.pdf_title import xmp_titles
from services.seal.pdf_verify import read_pdf_seals
from tests.seal.field_pdfs import Tree, page_pdf
from tests.seal.test_atk38d import raw_update
from tests.seal.test_atk39_pdf import _HEAD, _TAIL, _description, _title
from tests.seal.test_field_pdfs import keys, seal, seal_ca  # noqa: F401
from tests.seal.test_pdf_tail import _keep_title, _updated, _with_display_title

CHANGED = "the title viewers show changed after it"


async def _verdict(pdf: bytes, ca: bytes) -> tuple[bool, bool, str]:
    [found] = await read_pdf_seals(pdf, ca=ca)
    return found.intact, found.modified, found.detail


def _packet(inner: str, declaration: str = "") -> str:
    """A packet titled by ``inner`` (its xpacket's BOM character left out: it is
    written in encodings that have none)."""
    head = _HEAD.replace('begin="\ufeff"', 'begin=""')
    return declaration + head + _description(inner) + _TAIL


def _with_packet(pdf: bytes, data: bytes) -> bytes:
    """``pdf`` with an XMP metadata stream holding ``data``, as pyHanko's writer
    writes it (it parses a packet and writes its properties again)."""
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    writer.root["/Metadata"] = writer.add_object(MetadataStream(stream_data=data))
    writer.update_root()
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _packet_replaced(sealed: bytes, data: bytes) -> bytes:
    """``sealed`` with its XMP packet redefined at its number by a classic update."""
    metadata = PdfFileReader(io.BytesIO(sealed), strict=False).root.raw_get("/Metadata")
    stream = b"<< /Type /Metadata /Subtype /XML /Length %d >>\nstream\n" % len(data)
    return raw_update(sealed, {(metadata.idnum, 0): stream + data + b"\nendstream"})


def _sealed_packet(sealed: bytes) -> bytes:
    reader = PdfFileReader(io.BytesIO(sealed), strict=False)
    return reader.root["/Metadata"].data


@pytest.fixture(scope="module")
async def packet_sealed(seal_ca, keys):  # noqa: F811
    """Seal a PDF whose XMP packet is ``data``; the packet as sealed (pyHanko's
    writer writes it again) is checked to keep the title."""

    async def sealed(data: bytes) -> bytes:
        pdf = _with_packet(_with_display_title(page_pdf(Tree())), data)
        return await seal(seal_ca, keys, pdf)

    return sealed


# -- F1: a packet pdf.js does not read as certseal read it ------------------------------

_CAFE = _title("Café")


def test_premise_a_packet_not_in_utf8_is_none_pdfjs_reads():
    """pdf.js decodes the packet with ``decodeURIComponent(escape(bytes))``, which
    throws on bytes that are not UTF-8: the packet is skipped (its title none)."""
    latin = _packet(_CAFE, '<?xml version="1.0" encoding="ISO-8859-1"?>')
    with pytest.raises(UnicodeDecodeError):
        latin.encode("latin-1").decode("utf-8")
    assert xmp_titles(latin.encode("latin-1")) is None
    assert xmp_titles(_packet(_CAFE).encode("utf-16")) is None
    assert xmp_titles(latin.encode()) == [(True, "Café")]


#: packets with the title "Café" that pdf.js reads otherwise than a UTF-8 one
_ENCODED = {
    "iso-8859-1": _packet(_CAFE, '<?xml version="1.0" encoding="ISO-8859-1"?>').encode(
        "latin-1"
    ),
    "utf-16-bom": _packet(_CAFE, '<?xml version="1.0" encoding="UTF-16"?>').encode(
        "utf-16"
    ),
    "utf-16be-no-bom": _packet(
        _CAFE, '<?xml version="1.0" encoding="UTF-16BE"?>'
    ).encode("utf-16-be"),
    "windows-1252": _packet(
        _CAFE, '<?xml version="1.0" encoding="windows-1252"?>'
    ).encode("cp1252"),
    # valid UTF-8 (pdf.js: Café), which a reader following the declaration reads
    # as CafÃ©
    "utf-8-declared-iso-8859-1": _packet(
        _CAFE, '<?xml version="1.0" encoding="ISO-8859-1"?>'
    ).encode(),
}


@pytest.mark.parametrize("kind", list(_ENCODED))
async def test_a_titled_packet_rewritten_in_another_encoding_is_modified(
    packet_sealed,
    seal_ca,  # noqa: F811
    kind,
):
    sealed = await packet_sealed(_packet(_CAFE).encode())
    assert xmp_titles(_sealed_packet(sealed)) == [(True, "Café")]
    intact, modified, detail = await _verdict(sealed, seal_ca.cert)
    assert intact and not modified, detail
    intact, modified, detail = await _verdict(
        _packet_replaced(sealed, _ENCODED[kind]), seal_ca.cert
    )
    assert intact and modified, detail
    assert detail.startswith(CHANGED), detail


async def test_a_packet_rewritten_in_utf8_with_a_bom_is_no_change(
    packet_sealed,
    seal_ca,  # noqa: F811
):
    """A UTF-8 BOM, or a declaration naming UTF-8, reads alike everywhere."""
    sealed = await packet_sealed(_packet(_CAFE).encode())
    for data in (
        codecs.BOM_UTF8 + _packet(_CAFE).encode(),
        _packet(_CAFE, '<?xml version="1.0" encoding="utf-8"?>').encode(),
    ):
        intact, modified, detail = await _verdict(
            _packet_replaced(sealed, data), seal_ca.cert
        )
        assert intact and not modified, detail


# -- F2: white space as pdf.js shows it -------------------------------------------------


def _li(*texts: str) -> str:
    items = "".join(f"<rdf:li>{text}</rdf:li>\n   " for text in texts)
    return f"<dc:title><rdf:Alt>\n   {items}</rdf:Alt></dc:title>"


#: (sealed title, the title after the seal): pdf.js shows them otherwise
_WHITE = {
    "ideographic-spaces-collapsed": (
        _title("营业执照\u3000\u3000副本"),
        _title("营业执照 副本"),
    ),
    "ideographic-space-for-space": (
        _title("营业执照\u3000副本"),
        _title("营业执照 副本"),
    ),
    "nbsp-for-space": (_title("A\u00a0B"), _title("A B")),
    "ogham-space-mark": (_title("A B"), _title("A\u1680B")),
    "two-items-joined": (_title("A B"), _li("A", "B")),
    "two-items-with-a-space": (_li("A", "B"), _li("A ", "B")),
    "nel-at-the-end": (_title("A"), _title("A\u0085")),
}


def test_xmp_white_space_reads_as_pdfjs_shows_it():
    """textContent (white-space-only nodes dropped), trim() (any Unicode white
    space), document.title (ASCII white space runs one space)."""
    read = {
        kind: xmp_titles(_packet(inner).encode()) for kind, (inner, _) in _WHITE.items()
    }
    assert read["ideographic-spaces-collapsed"] == [(True, "营业执照\u3000\u3000副本")]
    assert xmp_titles(_packet(_li("A", "B")).encode()) == [(True, "AB")]
    assert xmp_titles(_packet(_title(" \u3000A \n\t B\u00a0\ufeff")).encode()) == [
        (True, "A B")
    ]
    assert xmp_titles(_packet(_title("A<![CDATA[ ]]>B")).encode()) == [(True, "A B")]
    assert xmp_titles(_packet(_title("A<!-- -->B")).encode()) == [(True, "AB")]
    long = _packet(_title("A" * 2000 + " \u3000 ")).encode()
    assert xmp_titles(long) == xmp_titles(_packet(_title("A" * 2000)).encode())


@pytest.mark.parametrize("kind", list(_WHITE))
async def test_an_xmp_title_whose_white_space_pdfjs_shows_changed_is_modified(
    packet_sealed,
    seal_ca,  # noqa: F811
    kind,
):
    before, after = _WHITE[kind]
    sealed = await packet_sealed(_packet(before).encode())
    assert xmp_titles(_sealed_packet(sealed)) == xmp_titles(_packet(before).encode())
    intact, modified, detail = await _verdict(
        _packet_replaced(sealed, _packet(after).encode()), seal_ca.cert
    )
    assert intact and modified, detail
    assert detail.startswith(CHANGED), detail


async def test_white_space_no_viewer_shows_is_no_change(packet_sealed, seal_ca):  # noqa: F811
    sealed = await packet_sealed(_packet(_title("营业执照 副本")).encode())
    # atk41d: the item keeps its language (x-default): which item XMP readers
    # choose by language is part of the title (test_atk41_docs.py)
    default_li = _li("营业执照 副本").replace(
        "<rdf:li>", '<rdf:li xml:lang="x-default">'
    )
    for inner in (_title(" 营业执照 \n\t 副本\n"), "\n  " + default_li + "\n"):
        intact, modified, detail = await _verdict(
            _packet_replaced(sealed, _packet(inner).encode()), seal_ca.cert
        )
        assert intact and not modified, detail


# -- F3: Ghostscript's octal UTF-16 text, as pdf.js repairs it -------------------------

_BOM = "\\376\\377"


def test_premise_pdfjs_reads_octal_utf16_text_as_utf16():
    """``MetadataParser._repair``: after a tag, ``\\376\\377`` and octal escapes are
    UTF-16BE, two characters one code."""
    assert xmp_titles(_packet(_title(_BOM + "\\000F\\000O\\000O")).encode()) == [
        (True, "FOO")
    ]
    assert xmp_titles(_packet(_title(_BOM + "\\116\\055\\126\\375")).encode()) == [
        (True, "中国")
    ]
    assert xmp_titles(_packet(_title(_BOM + "  ")).encode()) == [(True, "\u2020")]
    assert xmp_titles(_packet(_title(_BOM + "\\000F\\000")).encode()) == [(True, "F")]


#: (sealed, after): the same text once white space runs are one space, shown
#: otherwise by pdf.js
_OCTAL = {
    "two-spaces-to-space-tab": (_BOM + "\\000A  ", _BOM + "\\000A \t"),
    "two-spaces-to-space-line-feed": (_BOM + "\\000A  ", _BOM + "\\000A \n"),
    "line-feeds-to-tab-line-feed": (_BOM + "\\000A\n\n", _BOM + "\\000A\t\n"),
}


@pytest.mark.parametrize("kind", list(_OCTAL))
async def test_octal_utf16_xmp_text_changed_as_pdfjs_reads_it_is_modified(
    packet_sealed,
    seal_ca,  # noqa: F811
    kind,
):
    before, after = _OCTAL[kind]
    sealed = await packet_sealed(_packet(_title(before)).encode())
    intact, modified, detail = await _verdict(
        _packet_replaced(sealed, _packet(_title(after)).encode()), seal_ca.cert
    )
    assert intact and modified, detail
    assert detail.startswith(CHANGED), detail


def test_octal_utf16_xmp_text_is_also_read_as_written():
    """Readers that do not repair it (Acrobat, exiftool) show the escapes as written:
    the same text for pdf.js, written otherwise, still reads otherwise."""
    same = [
        _packet(_title(_BOM + "\\000A\\000\\040")),
        _packet(_title(_BOM + "\\000A\\000 ")),
    ]
    assert xmp_titles(same[0].encode()) == xmp_titles(same[1].encode()) == [(True, "A")]
    assert xmp_titles(same[0].encode(), repair=False) != xmp_titles(
        same[1].encode(), repair=False
    )


# -- F4: /Info /Title compared as every viewer reads it ---------------------------------


def _info_replaced(pdf: bytes, title: bytes) -> bytes:
    """``pdf`` with its /Info dictionary redefined at its number by a classic update,
    /Title written as ``title`` (PDF syntax)."""
    info = PdfFileReader(io.BytesIO(pdf), strict=False).trailer.raw_get("/Info")
    return raw_update(pdf, {(info.idnum, 0): b"<< /Title " + title + b" >>"})


def _literal(text: str) -> bytes:
    """``text`` as a PDF literal string of PDFDocEncoding (ASCII here)."""
    return b"(" + text.encode().replace(b"\\", b"\\\\").replace(b")", b"\\)") + b")"


def _pdfium_title(pdf: bytes) -> str:
    return pdfium.PdfDocument(pdf).get_metadata_dict()["Title"]


@pytest.fixture(scope="module")
async def info_sealed(seal_ca, keys):  # noqa: F811
    async def sealed(title: bytes) -> bytes:
        pdf = _info_replaced(_with_display_title(page_pdf(Tree())), title)
        return await seal(seal_ca, keys, pdf)

    return sealed


#: titles pyHanko cannot decode, and what PDFium shows for each
_UNDECODED = {
    "odd-utf-16be": (b"<FEFF004100>", "A"),
    "pdfdoc-tab": (b"(Licence\\tNo. 5)", "Licence\tNo. 5"),
    "pdfdoc-line-feed": (b"(Licence\\nNo. 5)", "Licence\nNo. 5"),
    "pdfdoc-0x7f": (b"<417F>", "A\x00"),
}


@pytest.mark.parametrize("kind", list(_UNDECODED))
async def test_a_title_spelling_the_repr_of_an_undecodable_one_is_modified(
    info_sealed,
    seal_ca,  # noqa: F811
    kind,
):
    raw, pdfium_shows = _UNDECODED[kind]
    sealed = await info_sealed(raw)
    assert _pdfium_title(sealed) == pdfium_shows
    info = PdfFileReader(io.BytesIO(sealed), strict=False).trailer["/Info"]
    undecoded = info.raw_get("/Title")
    assert isinstance(undecoded, generic.ByteStringObject)
    intact, modified, detail = await _verdict(sealed, seal_ca.cert)
    assert intact and not modified, detail
    spelled = _info_replaced(sealed, _literal(repr(bytes(undecoded))))
    assert _pdfium_title(spelled) == repr(bytes(undecoded))
    intact, modified, detail = await _verdict(spelled, seal_ca.cert)
    assert intact and modified, detail
    assert detail.startswith(f"{CHANGED}: "), detail


#: the sealed title "营业执照" (UTF-16BE) written otherwise after the seal
_REWRITTEN = {
    "utf-16le": b"<"
    + (codecs.BOM_UTF16_LE + "营业执照".encode("utf-16-le")).hex().encode()
    + b">",
    "utf-8": b"<" + (codecs.BOM_UTF8 + "营业执照".encode()).hex().encode() + b">",
    "language-escape": b"<"
    + (codecs.BOM_UTF16_BE + "\x1bzh\x1b营业执照".encode("utf-16-be")).hex().encode()
    + b">",
}


@pytest.mark.parametrize("kind", list(_REWRITTEN))
async def test_the_title_in_an_encoding_not_every_viewer_reads_is_modified(
    info_sealed,
    seal_ca,  # noqa: F811
    kind,
):
    """pdf.js and PDFium read UTF-16LE and UTF-8 text strings; a viewer following
    ISO 32000-1 (PDFDocEncoding or UTF-16BE only) shows their BOM's bytes."""
    sealed = await info_sealed(
        b"<"
        + (codecs.BOM_UTF16_BE + "营业执照".encode("utf-16-be")).hex().encode()
        + b">"
    )
    rewritten = _info_replaced(sealed, _REWRITTEN[kind])
    if kind != "language-escape":
        assert _pdfium_title(rewritten) == "营业执照"
    intact, modified, detail = await _verdict(rewritten, seal_ca.cert)
    assert intact and modified, detail
    assert detail.startswith(f"{CHANGED}: "), detail
    if kind == "utf-8":
        assert detail.startswith(
            f"{CHANGED}: '营业执照' to '营业执照' (written another way, which some "
            "viewers show otherwise); "
        ), detail


#: (sealed, after) /Info titles pdf.js shows otherwise: white space in octal UTF-16
_INFO_WHITE = {
    "trailing-space": (b"(\\376\\377\\000A)", b"(\\376\\377\\000A\\000\\040)"),
    "leading-space": (b"(\\376\\377\\000A)", b"(\\376\\377\\000\\040\\000A)"),
    "tab": (b"(\\376\\377\\000A\\000 \\000B)", b"(\\376\\377\\000A\\000\\011\\000B)"),
    "nbsp": (b"(\\376\\377\\000A\\000 \\000B)", b"(\\376\\377\\000A\\000\\240\\000B)"),
    "line-feed": (
        b"(\\376\\377\\000A\\000 \\000B)",
        b"(\\376\\377\\000A\\000\\n\\000B)",
    ),
    "ideographic": (
        b"(\\376\\377\\000A\\000 \\000B)",
        b"(\\376\\377\\000A\\060\\000\\000B)",
    ),
    "pdfdoc-0x80-0x9e": (b"<41808142>", b"<41819E42>"),
    "escaped-line-end": (b"(AB)", b"(A\\\nB\\\n )"),
}


@pytest.mark.parametrize("kind", list(_INFO_WHITE))
async def test_an_info_title_whose_white_space_changed_is_modified(
    info_sealed,
    seal_ca,  # noqa: F811
    kind,
):
    before, after = _INFO_WHITE[kind]
    sealed = await info_sealed(before)
    intact, modified, detail = await _verdict(
        _info_replaced(sealed, after), seal_ca.cert
    )
    assert intact and modified, detail
    assert detail.startswith(f"{CHANGED}: "), detail


async def test_the_same_title_in_another_encoding_every_viewer_reads_is_no_change(
    info_sealed,
    seal_ca,  # noqa: F811
):
    sealed = await info_sealed(b"(Licence No. 5)")
    for same in (
        b"<"
        + (codecs.BOM_UTF16_BE + "Licence No. 5".encode("utf-16-be")).hex().encode()
        + b">",
        b"<4C6963656E6365204E6F2E2035>",
        b"(Licence \\\nNo. 5)",
    ):
        intact, modified, detail = await _verdict(
            _info_replaced(sealed, same), seal_ca.cert
        )
        assert intact and not modified, detail


def test_info_titles_read_alike_only_where_every_viewer_reads_them_alike():
    """Text strings as read by pyHanko: read alike iff no viewer tells them apart."""

    def read(raw: bytes) -> tuple[str, bytes]:
        return info_title(generic.pdf_string(raw))

    be = codecs.BOM_UTF16_BE
    assert read(b"ABC")[1] == read(be + "ABC".encode("utf-16-be"))[1]
    assert read(b"\x18\x80\xa0")[1] == read(be + "˘•€".encode("utf-16-be"))[1]
    assert read(b"\x18\x80\xa0")[0] == "˘•€"
    # pdf.js drops a language escape; PDFDocEncoding 0x1B is a dot above elsewhere
    assert read(b"\x1bja\x1bABC")[0] == "ABC"
    assert read(b"\x1bja\x1bABC")[1] != read(be + "˙ja˙ABC".encode("utf-16-be"))[1]
    assert read(codecs.BOM_UTF16_LE + "A".encode("utf-16-le"))[1] != read(b"A")[1]
    assert read(codecs.BOM_UTF8 + b"A")[1] != read(b"A")[1]
    assert read(b"\xfe\xff\x00A\x00") == ("A", read(b"\xfe\xff\x00A\x00")[1])
    assert read(b"\xfe\xff\x00A\x00")[1] != read(b"b'\\xfe\\xff\\x00A\\x00'")[1]
    assert read(b"A\tB") == ("A\tB", read(b"A\tB")[1])
    name = info_title(generic.pdf_name("/Licence"))
    assert name[1] != read(b"/Licence")[1]


@pytest.mark.parametrize(
    "inner",
    [
        _title("营业执照\u3000\u3000副本"),
        _li("A", "B"),
        _title(_BOM + "\\000A  "),
        _title(" A\n\t B "),
    ],
    ids=["ideographic", "two-items", "ghostscript", "ascii-white-space"],
)
async def test_a_later_update_by_pyhanko_keeping_an_xmp_title_stays_valid(
    packet_sealed,
    seal_ca,  # noqa: F811
    inner,
):
    """pyHanko's writer parses the packet and writes it again on every update (a
    later seal, a timestamp): the title as read is kept."""
    sealed = await packet_sealed(_packet(inner).encode())
    updated = _updated(sealed, _keep_title)
    intact, modified, detail = await _verdict(updated, seal_ca.cert)
    assert intact and not modified, detail
