"""atk37c: a PDF whose end section is sound but whose objects or cross-reference
entries are spelt so that pyHanko (strict=False) reads them and PDF readers do not.

:func:`certseal.pdfend.read_to_end` keeps readers from rebuilding a file by checking
its end section and where each cross-reference section starts. Readers rebuild (or
resolve an object elsewhere) for reasons inside the sections and objects too, which
pyHanko tolerates:

* pyHanko reads an object header's number with Python's ``int()``, which takes
  ``0_1`` as 1, and never checks the ``obj`` keyword (``5 0 xyz`` is object 5);
  PDFium rebuilds the file when the first object its cross-reference names does not
  start with that number, poppler whenever a fetched object's header is not
  ``N G obj``;
* pyHanko reads a cross-reference entry's offset and generation with ``int()``
  (``00000_0246``) and skips an entry whose type is neither ``n`` nor ``f``; poppler
  (and for the offset PDFium) then rebuilds the file;
* an object listed twice in one cross-reference table: pyHanko (and PDFium) take the
  last entry, poppler the first.

Each input carries ``ORPHAN`` (object 5 again, a full-page blue fill) where no
cross-reference pyHanko follows reaches it. certseal sealed each file and then said
its seal held with nothing changed after it, while PDFium and/or poppler
(``pdftoppm``) rendered the sealed page blue. The ``premise`` test renders them; the
other asserts the behaviour wanted (xfail(strict) until fixed:
:func:`certseal.pdfend.check_cross_references` refuses each, CertsealError field
``pdf``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable

import pytest

from certseal.errors import CertsealError
from tests.seal.test_atk37_pdf_tail import BLUE_BODY, _seals_hold
from tests.seal.test_atk37b_pdf_end import _pdfium_blue
from tests.seal.test_field_pdfs import keys, seal, seal_ca  # noqa: F401

#: object 5 again, a full-page blue fill, after the real object 5
ORPHAN = b"5 0 obj\n" + BLUE_BODY + b"endobj\n"

#: page_pdf's objects; object 1 is the catalog unless ``resources_first``
_CATALOG = b"<< /Type /Catalog /Pages 2 0 R >>"
_PAGES = b"<< /Type /Pages /Kids [4 0 R] /Count 1 >>"
_CONTENT = b"<< /Length 20 >>\nstream\n0.5 g 0 0 10 10 re f\nendstream"


def _page(resources: int) -> bytes:
    return (
        b"<< /Type /Page /Parent 2 0 R /Resources %d 0 R /Contents 5 0 R "
        b"/MediaBox [0 0 595 842] >>" % resources
    )


def _pdf(
    headers: dict[int, bytes] | None = None,
    *,
    resources_first: bool = False,
    entry: dict[int, Callable[[int], bytes]] | None = None,
    duplicate_5: bool = False,
    extra_entry: bytes | None = None,
) -> bytes:
    """A one-page classic-xref PDF with ORPHAN after object 5 and no cross-reference
    to it. ``headers``: object headers spelt otherwise; ``resources_first``: object 1
    the page's resources and object 3 the catalog; ``entry``: xref entries written otherwise
    (each of the real offset); ``duplicate_5``: object 5 listed twice,
    first at ORPHAN and then (a subsection ``5 1``) at the real one; ``extra_entry``:
    an entry for object 6 (/Size 7)."""
    headers = headers or {}
    entry = entry or {}
    objects = (
        [b"<< >>", _PAGES, _CATALOG, _page(1), _CONTENT]
        if resources_first
        else [_CATALOG, _PAGES, b"<< >>", _page(3), _CONTENT]
    )
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += headers.get(number, b"%d 0 obj" % number) + b"\n" + body + b"\nendobj\n"
    orphan = len(out)
    out += ORPHAN
    xref = len(out)
    size = 7 if extra_entry is not None else 6
    out += b"xref\n0 %d\n0000000000 65535 f \n" % size
    for number, offset in enumerate(offsets, 1):
        if duplicate_5 and number == 5:
            offset = orphan
        out += entry.get(number, _plain)(offset) + b"\n"
    if extra_entry is not None:
        out += extra_entry + b"\n"
    if duplicate_5:
        out += b"5 1\n%010d 00000 n \n" % offsets[4]
    out += (
        b"trailer\n<< /Size %d /Root %d 0 R /ID [<00112233445566778899aabbccddeeff> "
        b"<00112233445566778899aabbccddeeff>] >>\nstartxref\n%d\n%%%%EOF\n"
        % (size, 3 if resources_first else 1, xref)
    )
    return bytes(out)


def _plain(offset: int) -> bytes:
    return b"%010d 00000 n " % offset


def _underscored(offset: int) -> bytes:
    """An xref entry whose offset ``int()`` reads as ``offset`` (``00000_0246``)."""
    digits = b"%010d" % offset
    return digits[:5] + b"_" + digits[6:] + b" 00000 n "


#: inputs, and the readers that render the sealed page blue
ATTACKS = {
    # object 1 (the resources; the catalog is 3) headed "0_1 0 obj": int("0_1") == 1
    "an underscore in object 1's number": (
        lambda: _pdf({1: b"0_1 0 obj"}, resources_first=True),
        {"pdfium", "poppler"},
    ),
    # pyHanko reads 3 bytes where "obj" stands and never looks at them
    "object 5 headed '5 0 xyz'": (lambda: _pdf({5: b"5 0 xyz"}), {"poppler"}),
    "object 5 headed '5 0 R'": (lambda: _pdf({5: b"5 0 R  "}), {"poppler"}),
    "an underscore in object 5's generation": (
        lambda: _pdf({5: b"5 0_0 obj"}),
        {"poppler"},
    ),
    # xref entries int() reads and readers do not
    "an underscore in object 5's xref offset": (
        lambda: _pdf(entry={5: _underscored}),
        {"pdfium", "poppler"},
    ),
    "an underscore in object 5's xref generation": (
        lambda: _pdf(entry={5: lambda offset: b"%010d 000_0 n " % offset}),
        {"poppler"},
    ),
    "an xref entry of type 'x'": (
        lambda: _pdf(extra_entry=b"0000000000 00000 x "),
        {"poppler"},
    ),
    # pyHanko (and PDFium) take a table's last entry for an object, poppler its first
    "object 5 listed twice in one xref table": (
        lambda: _pdf(duplicate_5=True),
        {"poppler"},
    ),
}


def _attack(name: str) -> bytes:
    return ATTACKS[name][0]()


def _poppler_blue(pdf: bytes) -> bool:
    """Whether poppler (pdftoppm) renders the first page's upper middle blue."""
    if shutil.which("pdftoppm") is None:
        pytest.skip("pdftoppm is not installed")
    from PIL import Image

    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "in.pdf")
        with open(path, "wb") as file:
            file.write(pdf)
        subprocess.run(
            ["pdftoppm", "-r", "10", "-png", "-singlefile", path, f"{folder}/out"],
            capture_output=True,
            timeout=30,
            check=False,
        )
        image = Image.open(f"{folder}/out.png").convert("RGB")
        return image.getpixel((image.width // 2, image.height // 4)) == (0, 0, 255)


async def _sealed_or_refused(seal_ca, keys, name: str) -> bytes | None:  # noqa: F811
    """The attack sealed, or None when sealing refused it (as ``pdf``)."""
    try:
        return await seal(seal_ca, keys, _attack(name))
    except CertsealError as err:
        assert err.field == "pdf", err
        return None


@pytest.mark.parametrize("name", list(ATTACKS))
def test_premise_readers_render_the_page_blue(name):
    """The file as sent: the readers named render the orphan (sealing it, before
    the fix, changed nothing they showed)."""
    pdf = _attack(name)
    readers = ATTACKS[name][1]
    assert _pdfium_blue(pdf) == ("pdfium" in readers)
    assert _poppler_blue(pdf) == ("poppler" in readers)


@pytest.mark.parametrize("name", list(ATTACKS))
async def test_sealing_keeps_no_object_that_readers_resolve_otherwise(
    seal_ca,  # noqa: F811
    keys,  # noqa: F811
    name,
):
    sealed = await _sealed_or_refused(seal_ca, keys, name)
    if sealed is None:  # refusing it is as good
        return
    assert not await _seals_hold(sealed, seal_ca.cert)
