"""atk38: cross-reference streams, object streams, hybrid and linearized files,
generation numbers: where pyHanko (strict=False) resolves an object otherwise than
PDFium (pypdfium2) and poppler (``pdftoppm``) do.

:func:`certseal.pdfend.check_cross_references` checks every in-use entry of type 1
(an offset) against the object header there; entries of type 2 (an object in an
object stream) and the objects an object stream holds are not checked, nor are
sections pyHanko never reads. Found:

* an object stream that holds an object number twice: pyHanko
  (``PdfFileReader._get_object_from_stream``) takes the FIRST member of that number
  and ignores the index the cross-reference gives; PDFium and poppler take the member
  at that index. After a seal, an incremental update (a cross-reference stream) that
  puts the sealed page into a new object stream, an exact copy of it first and a
  forged page at index 1, is to pyHanko's difference analysis an unchanged page
  (level LTA_UPDATES, "validation data only"): certseal says VALID while both readers
  show the forged page. The same file sealed as sent is sealed and VALID too;
* a linearized file (ISO 32000-1 Annex F) whose ``/L`` equals the file's length:
  poppler then starts at the cross-reference right after the linearization
  dictionary (``PDFDoc::getStartXRef``), not at the last ``startxref``, and never
  sees a section pyHanko reads. ``/L`` is signed, but a sealed file's length is known
  before sealing (pyHanko reserves a fixed ``/Contents``): padding the sealed file to
  ``/L`` with less than 1 KiB ("bytes follow the signed revision but are no PDF
  update (nothing a reader shows)") makes poppler show the first-page section's
  object 5 (blue) and not the seal;
* an entry of a later revision for object 5 in generation 1 (``5 1 obj``, a blue
  fill) while the page says ``5 0 R``: pyHanko (``XRefSectionData.try_resolve``)
  skips an entry whose generation differs and resolves 5 0 from the older revision;
  PDFium ignores generations and takes the newest entry;
* an object stream number wider than 4 bytes and overlapping ``/Index`` subsections
  end in a bare ``AssertionError``: refused as INVALID_ARGUMENT, but the reason is
  empty ("cannot be read as a PDF: ").

``BLUE_FORM`` and the content ``/Fm0 Do`` make the page blue when ``/Fm0`` is object
7; ``premise`` tests render the files; the others assert the behaviour wanted
(xfail(strict) until fixed). Tests without xfail are attacks certseal already meets.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.fields import MDPPerm

from certseal.errors import CertsealError
from certseal.pdfend import read_to_end
from services.seal.pdf_verify import read_pdf_seals
from tests.seal.field_pdfs import Tree, certify, page_pdf
from tests.seal.test_atk37_pdf_tail import BLUE_BODY, _seals_hold, _startxref
from tests.seal.test_atk37b_pdf_end import _pdfium_blue
from tests.seal.test_atk37c_pdf_xref import _poppler_blue
from tests.seal.test_field_pdfs import keys, seal, seal_ca  # noqa: F401

_FORM = b"<< /Type /XObject /Subtype /Form /BBox [0 0 595 842] /Length %d >>\nstream\n"
#: a form XObject that draws nothing, and one that fills the page blue
WHITE_FORM = _FORM % 0 + b"\nendstream"
BLUE_FORM = _FORM % 25 + b"0 0 1 rg 0 0 595 842 re f\nendstream"
#: object 3, the page's resources: ``/Fm0`` white (6) or blue (7)
BENIGN = b"<< /XObject << /Fm0 6 0 R >> >>"
FORGED = b"<< /XObject << /Fm0 7 0 R >> >>"
_HEAD = b"%PDF-1.5\n%\xe2\xe3\xcf\xd3\n"
_CATALOG = b"<< /Type /Catalog /Pages 2 0 R >>"
_PAGES = b"<< /Type /Pages /Kids [4 0 R] /Count 1 >>"
_PAGE = (
    b"<< /Type /Page /Parent 2 0 R /Resources 3 0 R /Contents 5 0 R "
    b"/MediaBox [0 0 595 842] >>"
)
_DRAW = b"<< /Length 8 >>\nstream\n/Fm0 Do\nendstream"


def object_stream(members: list[tuple[int, bytes]]) -> bytes:
    """An object stream (/Type /ObjStm, uncompressed) of ``members`` (number, body),
    in that order."""
    head, body = b"", b""
    for number, value in members:
        head += b"%d %d " % (number, len(body))
        body += value + b"\n"
    return (
        b"<< /Type /ObjStm /N %d /First %d /Length %d >>\nstream\n"
        % (len(members), len(head), len(head + body))
        + head
        + body
        + b"\nendstream"
    )


def _fields(values: tuple[int, ...], widths: tuple[int, ...]) -> bytes:
    return b"".join(v.to_bytes(w, "big") for v, w in zip(values, widths, strict=True))


def stream_pdf(
    members: list[tuple[int, bytes]] | None = None,
    entry_3: tuple[int, int, int] | None = None,
    *,
    widths: tuple[int, int, int] = (1, 4, 2),
    index: list[tuple[int, int]] | None = None,
    short: int = 0,
    stream: int = 8,
    size: int = 10,
) -> bytes:
    """A one-page PDF with a cross-reference stream (object 9, /Size ``size``): 1
    catalog, 2 pages, 3 resources in object stream ``stream`` (``members``; BENIGN
    alone by default) with the entry ``entry_3`` (default: its index 0 there), 4
    page, 5 content ``/Fm0 Do``, 6 WHITE_FORM, 7 BLUE_FORM. ``widths``: its /W;
    ``index``: its /Index (default: a subsection of one for each object, 0 and
    ``stream`` among them); ``short``: bytes cut off its data."""
    members = [(3, BENIGN)] if members is None else members
    objects = {
        1: _CATALOG,
        2: _PAGES,
        4: _PAGE,
        5: _DRAW,
        6: WHITE_FORM,
        7: BLUE_FORM,
        stream: object_stream(members),
    }
    out = bytearray(_HEAD)
    entries = {0: (0, 0, 65535), 3: entry_3 or (2, stream, 0), 8: (0, 0, 0)}
    for number, body in objects.items():
        entries[number] = (1, len(out), 0)
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    entries[9] = (1, xref, 0)
    index = index or [(n, 1) for n in sorted(entries)]
    data = b"".join(
        _fields(entries[n], widths)
        for start, count in index
        for n in range(start, start + count)
    )
    data = data[: len(data) - short]
    out += (
        b"9 0 obj\n<< /Type /XRef /Size %d /W [%d %d %d] /Index [%s] /Root 1 0 R "
        b"/Length %d >>\nstream\n"
        % (size, *widths, b" ".join(b"%d %d" % pair for pair in index), len(data))
    )
    out += data + b"\nendstream\nendobj\nstartxref\n%d\n%%%%EOF\n" % xref
    return bytes(out)


def stream_update(
    pdf: bytes,
    plain: dict[int, bytes],
    typed: dict[int, tuple[int, int, int]] | None = None,
    widths: tuple[int, int, int] = (1, 4, 2),
) -> bytes:
    """``pdf`` with an incremental update: the objects ``plain`` (number: body) and
    a cross-reference stream listing them and the entries ``typed`` (number: type and
    fields, /W ``widths``)."""
    trailer = PdfFileReader(io.BytesIO(pdf), strict=False).trailer
    root = trailer.raw_get("/Root").idnum
    out = bytearray(pdf + b"\n")
    entries = dict(typed or {})
    for number, body in plain.items():
        entries[number] = (1, len(out), 0)
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    own = max(int(trailer["/Size"]), max(entries) + 1)
    xref = len(out)
    entries[own] = (1, xref, 0)
    numbers = sorted(entries)
    data = b"".join(_fields(entries[n], widths) for n in numbers)
    out += (
        b"%d 0 obj\n<< /Type /XRef /Size %d /W [%d %d %d] /Index [%s] /Root %d 0 R "
        b"/Prev %d /Length %d >>\nstream\n"
        % (
            own,
            own + 1,
            *widths,
            b" ".join(b"%d 1" % n for n in numbers),
            root,
            _startxref(pdf),
            len(data),
        )
    )
    out += data + b"\nendstream\nendobj\nstartxref\n%d\n%%%%EOF\n" % xref
    return bytes(out)


def table_update(pdf: bytes, objects: list[bytes], entries: bytes) -> bytes:
    """``pdf`` with an incremental update (a table): ``objects`` (whole, with their
    headers) and the subsections ``entries`` (``%(n)d`` formats: each object's
    offset, by position)."""
    trailer = PdfFileReader(io.BytesIO(pdf), strict=False).trailer
    size, root = int(trailer["/Size"]), trailer.raw_get("/Root").idnum
    out = bytearray(pdf + b"\n")
    offsets = []
    for whole in objects:
        offsets.append(len(out))
        out += whole
    xref = len(out)
    out += b"xref\n0 1\n0000000000 65535 f \n" + entries % tuple(offsets)
    out += (
        b"trailer\n<< /Size %d /Root %d 0 R /Prev %d >>\nstartxref\n%d\n%%%%EOF\n"
        % (size, root, _startxref(pdf), xref)
    )
    return bytes(out)


def _serialised(obj) -> bytes:
    out = io.BytesIO()
    obj.write_to_stream(out)
    return out.getvalue()


@pytest.fixture(scope="module")
async def sealed(seal_ca, keys) -> bytes:  # noqa: F811
    """page_pdf (a classic cross-reference table) as certseal seals it."""
    return await seal(seal_ca, keys, page_pdf(Tree()))


def _page_twice(sealed: bytes) -> bytes:
    """``sealed`` with an update putting its page (object 4, as sealed: with the
    seal's /Annots) into a new object stream twice: first an exact copy (what pyHanko
    reads), then the page with its /Contents a new blue fill, at the index the
    cross-reference names (what PDFium and poppler read)."""
    reader = PdfFileReader(io.BytesIO(sealed), strict=False)
    size = int(reader.trailer["/Size"])
    ref = reader.root["/Pages"]["/Kids"].raw_get(0)
    same = _serialised(ref.get_object())
    forged = same.replace(b"/Contents 5 0 R", b"/Contents %d 0 R" % (size + 1))
    assert forged != same
    return stream_update(
        sealed,
        {
            size: object_stream([(ref.idnum, same), (ref.idnum, forged)]),
            size + 1: BLUE_BODY.rstrip(b"\n"),
        },
        {ref.idnum: (2, size, 1)},
    )


# -- 1. an object stream holding an object number twice ------------------------------


def test_premise_readers_take_an_object_stream_member_by_its_index(sealed):
    pdf = _page_twice(sealed)
    assert not _pdfium_blue(sealed) and not _poppler_blue(sealed)
    assert _pdfium_blue(pdf) and _poppler_blue(pdf)


def test_premise_pyhanko_alone_takes_the_first_member(sealed):
    """What pyHanko reads of the forged file (and certseal said VALID, 'validation
    data only', before atk38): the first member, the page as sealed."""
    reader = PdfFileReader(io.BytesIO(_page_twice(sealed)), strict=False)
    page = reader.root["/Pages"]["/Kids"][0]
    assert page.raw_get("/Contents").idnum == 5


async def test_a_page_put_twice_into_an_object_stream_after_the_seal_is_modified(
    sealed,
    seal_ca,  # noqa: F811
):
    assert not await _seals_hold(_page_twice(sealed), seal_ca.cert)


def _resources_twice() -> bytes:
    return stream_pdf([(3, BENIGN), (3, FORGED)], (2, 8, 1))


def test_premise_a_pdf_sent_with_an_object_twice_in_an_object_stream():
    pdf = _resources_twice()
    reader = PdfFileReader(io.BytesIO(pdf), strict=False)
    page = reader.root["/Pages"]["/Kids"][0]
    assert page["/Resources"]["/XObject"].raw_get("/Fm0").idnum == 6  # pyHanko: white
    assert _pdfium_blue(pdf) and _poppler_blue(pdf)


async def test_sealing_refuses_an_object_stream_holding_an_object_twice(
    seal_ca,  # noqa: F811
    keys,  # noqa: F811
):
    try:
        sealed = await seal(seal_ca, keys, _resources_twice())
    except CertsealError as err:
        assert err.field == "pdf", err
        return
    assert not await _seals_hold(sealed, seal_ca.cert)


# -- 2. a linearized file whose /L is the sealed file's length -------------------------


def _first_table(first: dict[int, int]) -> bytes:
    """A 'first-page' cross-reference table putting objects 1-5 at ``first``."""
    return (
        b"xref\n0 6\n0000000000 65535 f \n"
        + b"".join(b"%010d 00000 n \n" % first[n] for n in range(1, 6))
        + b"trailer\n<< /Size 11 /Root 1 0 R >>\n"
    )


def linearized_pdf(length: int, hidden: bytes | None = None) -> bytes:
    """A classic PDF that opens with a linearization dictionary (``/L length``) and,
    right after it, a 'first-page' cross-reference table that puts object 5 at a
    blue fill; the file's own last table (its ``startxref``) puts 5 at page_pdf's
    grey square. pyHanko never reads the first table. ``hidden``: what stands in the
    dictionary before its ``/L`` instead, ``%s`` in it that first table (atk38b)."""
    objects = {
        1: b"<< /Type /Catalog /Pages 2 0 R >>",
        2: _PAGES,
        3: b"<< >>",
        4: _PAGE,
        5: b"<< /Length 20 >>\nstream\n0.5 g 0 0 10 10 re f\nendstream",
    }

    def build(first: dict[int, int]) -> tuple[bytes, dict[int, int], int]:
        out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
        said = b"" if hidden is None else hidden.replace(b"%s", _first_table(first))
        out += (
            b"10 0 obj\n<< /Linearized 1 " + said + b" " * bool(said) + b"/L %010d "
            b"/H [0 0] /O 4 /E 0 /N 1 /T 0 >>\nendobj\n" % length
        )
        if hidden is None:
            out += _first_table(first)
        offsets = {}
        for number, body in objects.items():
            offsets[number] = len(out)
            out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
        blue = len(out)
        out += b"5 0 obj\n" + BLUE_BODY + b"endobj\n"
        xref = len(out)
        out += b"xref\n0 6\n0000000000 65535 f \n"
        out += b"".join(b"%010d 00000 n \n" % offsets[n] for n in range(1, 6))
        out += b"trailer\n<< /Size 11 /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % xref
        return bytes(out), offsets, blue

    _, offsets, blue = build(dict.fromkeys(range(1, 6), 0))
    return build({**offsets, 5: blue})[0]


async def signed_and_padded(hidden: bytes | None = None) -> bytes:
    """linearized_pdf signed by another platform's signer (pyHanko's certification;
    certseal refuses to seal it, below), its /L the length signing gives (a first
    signing tells it) and 300 bytes (the signature's length varies by a few bytes),
    and padded with newlines to that."""
    length = len(await certify(linearized_pdf(0, hidden), MDPPerm.FILL_FORMS)) + 300
    signed = await certify(linearized_pdf(length, hidden), MDPPerm.FILL_FORMS)
    assert 0 < length - len(signed) < 1000
    return signed + b"\n" * (length - len(signed))


async def test_premise_poppler_reads_a_linearized_file_from_its_first_section():
    pdf = await signed_and_padded()
    assert _poppler_blue(pdf) and not _pdfium_blue(pdf)
    assert not _poppler_blue(pdf[: pdf.rindex(b"%%EOF") + 6])  # /L not its length
    reader = PdfFileReader(io.BytesIO(pdf), strict=False)
    content = reader.root["/Pages"]["/Kids"][0]["/Contents"]
    assert content.data == b"0.5 g 0 0 10 10 re f"  # pyHanko: the grey square


async def test_a_signed_linearized_pdf_padded_to_its_length_is_refused(seal_ca):  # noqa: F811
    """atk38 F2: poppler starts at the section after the linearization dictionary
    (object 5 blue, no signature); certseal said VALID, 'bytes ... no PDF update
    (nothing a reader shows)'."""
    pdf = await signed_and_padded()
    with pytest.raises(CertsealError) as err:
        await read_pdf_seals(pdf, ca=seal_ca.cert)
    assert err.value.message == (
        "cannot be read as a PDF: its first object says it is linearized with a "
        f"length (/L) of {len(pdf)}, not less than its {len(pdf)} bytes, but its "
        "first page's cross-reference section (byte 94) is not the one its end names "
        f"(byte {_startxref(pdf)}): PDF readers open a linearized file from its first "
        "page's section and would show other objects (ISO 32000-1 Annex F)"
    )


@pytest.mark.parametrize("beyond", [0, 1, 300])
async def test_sealing_refuses_a_pdf_linearized_for_a_length_it_does_not_have_yet(
    seal_ca,  # noqa: F811
    keys,  # noqa: F811
    beyond,
):
    """The sealed file's length can be told in advance: a file whose /L is its own
    length or more, and whose first page's section is not the newest, is refused
    before it is sealed (the attack needs no padding when /L is the sealed length)."""
    pdf = linearized_pdf(0)
    pdf = linearized_pdf(len(pdf) + beyond)
    with pytest.raises(CertsealError) as err:
        await seal(seal_ca, keys, pdf)
    assert err.value.field == "pdf"
    assert "is linearized with a length (/L)" in err.value.message


@pytest.mark.parametrize(
    "spelt",
    [b"/L %d", b"/L%%c\n%d", b"/#4c %d", b"/L +%d", b"/L %d.0", b"/L 000%d"],
    ids=["plain", "comment", "escaped name", "signed", "real", "leading zeros"],
)
async def test_a_length_entry_spelt_as_readers_read_it_is_found(
    seal_ca,  # noqa: F811
    keys,  # noqa: F811
    spelt,
):
    """/L as a lexer reads it: after a comment, an escaped name, a sign, a fraction."""
    plain = linearized_pdf(0)
    pdf = linearized_pdf(len(plain) + 50).replace(
        b"/L %010d" % (len(plain) + 50), (spelt % (len(plain) + 50)).ljust(13)
    )
    assert len(pdf) == len(plain)
    with pytest.raises(CertsealError) as err:
        await seal(seal_ca, keys, pdf)
    assert "is linearized with a length (/L)" in err.value.message


#: genuine linearized files, by qpdf (tests/seal/data/linearized/README.md)
LINEARIZED = Path(__file__).parent / "data" / "linearized"


@pytest.mark.parametrize("name", ["qpdf_page.pdf", "qpdf_page_object_streams.pdf"])
async def test_a_genuine_linearized_pdf_is_sealed_and_holds(
    seal_ca,  # noqa: F811
    keys,  # noqa: F811
    name,
):
    """A linearized file as written (/L its length, its end naming the first page's
    section) is sealed; sealed, its /L is shorter than it and readers read it from
    its end."""
    pdf = (LINEARIZED / name).read_bytes()
    assert b"/Linearized 1 /L %d " % len(pdf) in pdf
    sealed = await seal(seal_ca, keys, pdf)
    [found] = await read_pdf_seals(sealed, ca=seal_ca.cert)
    assert found.intact and not found.modified, found.detail
    assert "; pyHanko's own finding: coverage ENTIRE_FILE" in found.detail


# -- 3. an entry in another generation than the references ------------------------------


def _generation_1() -> bytes:
    """page_pdf with an update listing object 5 in generation 1 (``5 1 obj``, a blue
    fill); the page still says ``5 0 R``."""
    return table_update(
        page_pdf(Tree()),
        [b"5 1 obj\n" + BLUE_BODY + b"endobj\n"],
        b"5 1\n%010d 00001 n \n",
    )


def test_premise_pdfium_takes_the_newest_entry_whatever_its_generation():
    pdf = _generation_1()
    reader = PdfFileReader(io.BytesIO(pdf), strict=False)
    content = reader.root["/Pages"]["/Kids"][0]["/Contents"]
    assert content.data == b"0.5 g 0 0 10 10 re f"  # pyHanko: generation 0's
    assert _pdfium_blue(pdf) and not _poppler_blue(pdf)


async def test_sealing_refuses_an_entry_whose_generation_no_reference_uses(
    seal_ca,  # noqa: F811
    keys,  # noqa: F811
):
    try:
        sealed = await seal(seal_ca, keys, _generation_1())
    except CertsealError as err:
        assert err.field == "pdf", err
        return
    assert not await _seals_hold(sealed, seal_ca.cert)


@pytest.mark.parametrize(
    "make",
    [
        _generation_1,
        # object 3 in an object stream (generation 0), then in generation 2
        lambda: table_update(
            stream_pdf(),
            [b"3 2 obj\n" + FORGED + b"\nendobj\n"],
            b"3 1\n%010d 00002 n \n",
        ),
    ],
    ids=["a table entry", "an object stream's member"],
)
def test_an_object_in_use_in_two_generations_is_refused_saying_which(make):
    with pytest.raises(ValueError, match=r"in use in generation 0 \(revision 0\)"):
        read_to_end(
            make(),
            lambda pdf: PdfFileReader(io.BytesIO(pdf), strict=False),
            lambda reader: reader.xrefs,
        )


async def test_an_entry_in_generation_1_after_the_seal_is_modified(
    sealed,
    seal_ca,  # noqa: F811
):
    """After a seal the same entry is an unexplained xref: MODIFIED."""
    pdf = table_update(
        sealed, [b"5 1 obj\n" + BLUE_BODY + b"endobj\n"], b"5 1\n%010d 00001 n \n"
    )
    assert _pdfium_blue(pdf)
    assert not await _seals_hold(pdf, seal_ca.cert)


async def test_freeing_the_content_after_the_seal_is_modified(
    sealed,
    seal_ca,  # noqa: F811
):
    pdf = table_update(sealed, [], b"5 1\n0000000000 00007 f \n")
    assert not await _seals_hold(pdf, seal_ca.cert)


# -- 4. cross-reference stream and object stream oddities certseal meets ----------------

#: inputs no reader renders blue, or that certseal refuses
HANDLED = {
    # object stream 8 also holds a forged page 4, which the xref puts elsewhere
    "a member the xref puts elsewhere": lambda: stream_pdf(
        [(3, BENIGN), (4, _PAGE.replace(b"3 0 R", FORGED))]
    ),
}

#: inputs certseal refuses as ``pdf`` (pyHanko's reading differs; PDFium may not)
REFUSED = {
    # PDFium keeps the low 32 bits (object stream 8, blue); pyHanko asserts
    "an object stream number 8 bytes wide": lambda: stream_pdf(
        [(3, FORGED)], (2, (1 << 32) + 8, 0), widths=(1, 8, 2)
    ),
    "overlapping /Index subsections": lambda: stream_pdf(index=[(0, 10), (3, 1)]),
    # pyHanko gives missing fields their defaults (type 1, offset 0)
    "a stream 3 bytes short": lambda: stream_pdf(short=3),
    # an entry naming an index where its object does not stand first: pyHanko finds
    # it by number (or gives null past /N), readers take the index (atk38 F1)
    "an index beyond the object stream's /N": lambda: stream_pdf(entry_3=(2, 8, 5)),
    "a member of another number at the index": lambda: stream_pdf(
        [(3, BENIGN), (10, FORGED)], (2, 8, 1)
    ),
    "the member at index 0 of another number": lambda: stream_pdf(
        [(10, FORGED), (3, BENIGN)], (2, 8, 0)
    ),
    "the object twice, the index at the second": _resources_twice,
    "an object stream number naming a page": lambda: stream_pdf(entry_3=(2, 4, 0)),
}


@pytest.mark.parametrize("name", list(HANDLED))
async def test_object_stream_oddities_no_reader_shows(
    seal_ca,  # noqa: F811
    keys,  # noqa: F811
    name,
):
    pdf = HANDLED[name]()
    assert not _pdfium_blue(pdf) and not _poppler_blue(pdf)
    sealed = await seal(seal_ca, keys, pdf)
    assert await _seals_hold(sealed, seal_ca.cert)
    assert not _pdfium_blue(sealed) and not _poppler_blue(sealed)


@pytest.mark.parametrize("name", list(REFUSED))
async def test_cross_reference_streams_pyhanko_misreads_are_refused(
    seal_ca,  # noqa: F811
    keys,  # noqa: F811
    name,
):
    pdf = REFUSED[name]()
    with pytest.raises(CertsealError) as err:
        await seal(seal_ca, keys, pdf)
    assert err.value.field == "pdf"
    # atk38 F4: pyHanko's bare asserts said nothing after "cannot be read as a PDF: "
    assert err.value.message.startswith("cannot be read as a PDF: "), err.value.message
    assert len(err.value.message) > len("cannot be read as a PDF: ") + 20


async def test_a_wide_object_stream_number_after_the_seal_is_not_valid(
    sealed,
    seal_ca,  # noqa: F811
):
    """An update putting the page into object stream 2**32 + n (/W [1 8 2]): PDFium
    keeps the low 32 bits and shows the forged page; pyHanko cannot read it and the
    seal does not hold (AssertionError)."""
    reader = PdfFileReader(io.BytesIO(sealed), strict=False)
    size = int(reader.trailer["/Size"])
    same = _serialised(reader.root["/Pages"]["/Kids"][0])
    forged = same.replace(b"/Contents 5 0 R", b"/Contents %d 0 R" % (size + 1))
    pdf = stream_update(
        sealed,
        {size: object_stream([(4, forged)]), size + 1: BLUE_BODY.rstrip(b"\n")},
        {4: (2, (1 << 32) + size, 0)},
        widths=(1, 8, 2),
    )
    assert _pdfium_blue(pdf)
    assert not await _seals_hold(pdf, seal_ca.cert)


def test_premise_pdfium_truncates_a_wide_object_stream_number():
    """Why the 8-byte-wide field must stay refused: PDFium reads object stream 8."""
    assert _pdfium_blue(REFUSED["an object stream number 8 bytes wide"]())


async def test_an_orphan_object_stream_after_the_seal_shows_nowhere(
    sealed,
    seal_ca,  # noqa: F811
):
    """An update adding an object stream that no entry uses: LTA_UPDATES and VALID,
    and no reader shows its member."""
    size = int(PdfFileReader(io.BytesIO(sealed), strict=False).trailer["/Size"])
    pdf = stream_update(sealed, {size: object_stream([(4, b"<< >>")])})
    assert await _seals_hold(pdf, seal_ca.cert)
    assert not _pdfium_blue(pdf) and not _poppler_blue(pdf)


# -- 5. hybrid files (a table's /XRefStm) ----------------------------------------------


def hybrid_pdf() -> bytes:
    """A table whose in-use entry puts object 3 at BENIGN, and a /XRefStm stream
    whose entry puts it into object stream 8 (FORGED): ISO 32000-1 §7.5.8.4 lets the
    table win, and pyHanko, PDFium and poppler all do."""
    objects = {
        1: _CATALOG,
        2: _PAGES,
        3: BENIGN,
        4: _PAGE,
        5: _DRAW,
        6: WHITE_FORM,
        7: BLUE_FORM,
        8: object_stream([(3, FORGED)]),
    }
    out = bytearray(_HEAD)
    offsets = {}
    for number, body in objects.items():
        offsets[number] = len(out)
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    offsets[9] = len(out)
    data = _fields((2, 8, 0), (1, 4, 2))
    out += (
        b"9 0 obj\n<< /Type /XRef /Size 10 /W [1 4 2] /Index [3 1] /Length %d >>\n"
        b"stream\n" % len(data) + data + b"\nendstream\nendobj\n"
    )
    xref = len(out)
    out += b"xref\n0 10\n0000000000 65535 f \n"
    out += b"".join(b"%010d 00000 n \n" % offsets[n] for n in range(1, 10))
    out += (
        b"trailer\n<< /Size 10 /Root 1 0 R /XRefStm %d >>\nstartxref\n%d\n%%%%EOF\n"
        % (offsets[9], xref)
    )
    return bytes(out)


async def test_a_hybrid_table_entry_wins_everywhere(
    seal_ca,  # noqa: F811
    keys,  # noqa: F811
):
    pdf = hybrid_pdf()
    assert not _pdfium_blue(pdf) and not _poppler_blue(pdf)
    sealed = await seal(seal_ca, keys, pdf)
    assert await _seals_hold(sealed, seal_ca.cert)
    assert not _pdfium_blue(sealed) and not _poppler_blue(sealed)
