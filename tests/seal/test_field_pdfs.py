"""PDFs from the field (issue 15): encrypted, certified, rotated or offset, PDF/A.

Each PDF is made in the test (tests/seal/field_pdfs.py) and sealed by
:func:`services.seal.pdf.seal_pdf`, the function behind SealPdf; the gRPC codes and
fields are checked in tests/seal/test_field_pdfs_rpc.py. Stamps are read back (the
widget's /Rect and the appearance's /Matrix) and rendered with PDFium (pypdfium2) to
see where the picture's pixels land on the visible page.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import re
from asyncio.subprocess import PIPE

import pypdfium2 as pdfium
import pytest
from PIL import Image
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.fields import MDPPerm

from certseal.crypto import SoftwareSigner, Suite, generate_key
from certseal.devpki import DevCA
from certseal.errors import CertsealError, ErrorKind
from services.seal.certificates import issue_certificate
from services.seal.pdf import Placement, seal_pdf
from services.seal.pdf_stamp import MM
from services.seal.pdf_verify import read_pdf_seals
from services.seal.service import SealCa
from tests.seal.field_pdfs import (
    ENCRYPTIONS,
    OWNER_PASSWORD,
    USER_PASSWORD,
    Page,
    Tree,
    certify,
    encrypt,
    page_pdf,
    pdfa_pdf,
    recipient,
)


@pytest.fixture(scope="module")
def seal_ca(tmp_path_factory) -> SealCa:
    ca = DevCA(tmp_path_factory.mktemp("field-seal-ca"), name="field seal CA")
    return SealCa.from_files(str(ca.ca_file), str(ca.folder / "ca.key"))


def _seal_key(seal_ca: SealCa, suite: Suite) -> tuple[SoftwareSigner, bytes]:
    key = generate_key(suite)
    now = dt.datetime.now(dt.UTC)
    cert = issue_certificate(
        ca_key=seal_ca.key,
        ca_cert=seal_ca.cert,
        common_name=f"seal:field-{suite.value}",
        public_key_der=key.public_key_der,
        not_before=now - dt.timedelta(days=1),
        not_after=now + dt.timedelta(days=1),
    )
    return SoftwareSigner(suite, key.private_bytes, key.public_key_der), cert


@pytest.fixture(scope="module")
def keys(seal_ca) -> dict[Suite, tuple[SoftwareSigner, bytes]]:
    return {suite: _seal_key(seal_ca, suite) for suite in (Suite.ES256, Suite.ED25519)}


def top_half_picture() -> bytes:
    """A 100 × 100 PNG, opaque red in its upper half and transparent below: upright
    only if the red lies above the middle of the stamp on the rendered page."""
    image = Image.new("RGBA", (100, 100), (0, 0, 0, 0))
    image.paste((220, 0, 0, 255), (0, 0, 100, 50))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


PICTURE = top_half_picture()


async def seal(
    seal_ca: SealCa,
    keys,
    pdf: bytes,
    *,
    suite: Suite = Suite.ES256,
    placement: Placement | None = None,
    **kwargs,
) -> bytes:
    signer, cert = keys[suite]
    return await seal_pdf(
        pdf,
        signer=signer,
        cert=cert,
        ca=seal_ca.cert,
        picture_png=PICTURE,
        placement=placement or Placement(),
        **{"new_field_name": "Seal-field", **kwargs},
    )


async def refused(coroutine) -> CertsealError:
    with pytest.raises(CertsealError) as err:
        await coroutine
    return err.value


# -- encrypted PDFs ---------------------------------------------------------------------


@pytest.mark.parametrize("kind", [k for k in ENCRYPTIONS if k != "pubkey"])
async def test_encrypted_pdf_needs_its_password_and_stays_encrypted(
    seal_ca, keys, kind
):
    pdf = encrypt(page_pdf(), kind)
    err = await refused(seal(seal_ca, keys, pdf))
    assert (err.kind, err.field) == (ErrorKind.FAILED_PRECONDITION, "password")
    assert "encrypted" in err.message and "password" in err.message
    err = await refused(seal(seal_ca, keys, pdf, password="not it"))
    assert (err.kind, err.field) == (ErrorKind.INVALID_ARGUMENT, "password")
    before = PdfFileReader(io.BytesIO(pdf)).encrypt_dict
    for password in (USER_PASSWORD, OWNER_PASSWORD):
        sealed = await seal(seal_ca, keys, pdf, password=password)
        after = PdfFileReader(io.BytesIO(sealed))
        assert after.encrypted  # an incremental update keeps the encryption
        assert after.encrypt_dict["/R"] == before["/R"]
        assert after.encrypt_dict["/V"] == before["/V"]
        found = await read_pdf_seals(sealed, ca=seal_ca.cert, password=password)
        assert [(s.intact, s.trusted, s.modified) for s in found] == [
            (True, True, False)
        ]
        # reading needs the password as well: no INTERNAL, the same refusal
        err = await refused(read_pdf_seals(sealed, ca=seal_ca.cert))
        assert (err.kind, err.field) == (ErrorKind.FAILED_PRECONDITION, "password")


async def test_public_key_encryption_is_refused_naming_the_reason(seal_ca, keys):
    pdf = encrypt(page_pdf(), "pubkey", to=recipient())
    for password in ("", "anything"):
        err = await refused(seal(seal_ca, keys, pdf, password=password))
        assert (err.kind, err.field) == (ErrorKind.FAILED_PRECONDITION, "pdf")
        assert "public-key security handler" in err.message
    err = await refused(read_pdf_seals(pdf, ca=seal_ca.cert))
    assert err.kind is ErrorKind.FAILED_PRECONDITION


async def test_unknown_security_handler_is_refused(seal_ca, keys):
    pdf = page_pdf()
    # a trailer /Encrypt naming a handler no one registered
    i = pdf.rindex(b"trailer\n<<")
    pdf = pdf[:i] + pdf[i:].replace(
        b"/Root 1 0 R", b"/Root 1 0 R /Encrypt << /Filter /AcmeSecure /V 9 >>"
    )
    err = await refused(seal(seal_ca, keys, pdf))
    assert (err.kind, err.field) == (ErrorKind.FAILED_PRECONDITION, "pdf")
    assert "AcmeSecure" in err.message or "cannot open" in err.message


async def test_permissions_only_pdf_opens_without_password_when_it_allows_signing(
    seal_ca, keys
):
    allow_all = encrypt(page_pdf(), "aes-128", user_password="")
    sealed = await seal(seal_ca, keys, allow_all)
    assert [s.intact for s in await read_pdf_seals(sealed, ca=seal_ca.cert)] == [True]
    print_only = encrypt(page_pdf(), "aes-256", user_password="", permissions=4)
    err = await refused(seal(seal_ca, keys, print_only))
    assert (err.kind, err.field) == (ErrorKind.FAILED_PRECONDITION, "password")
    assert "owner password" in err.message
    sealed = await seal(seal_ca, keys, print_only, password=OWNER_PASSWORD)
    assert [s.intact for s in await read_pdf_seals(sealed, ca=seal_ca.cert)] == [True]


async def test_password_the_legacy_handler_cannot_carry_is_an_invalid_argument(
    seal_ca, keys
):
    pdf = encrypt(page_pdf(), "rc4-128")
    err = await refused(seal(seal_ca, keys, pdf, password="印章密码"))
    assert (err.kind, err.field) == (ErrorKind.INVALID_ARGUMENT, "password")
    err = await refused(seal(seal_ca, keys, pdf, password="x" * 200))
    assert (err.kind, err.field) == (ErrorKind.INVALID_ARGUMENT, "password")


# -- certified PDFs (DocMDP) ------------------------------------------------------------


async def test_certified_no_changes_is_refused_with_that_reason(seal_ca, keys):
    pdf = await certify(page_pdf(), MDPPerm.NO_CHANGES, empty_fields=("Approval",))
    for field in ("", "Approval"):
        err = await refused(seal(seal_ca, keys, pdf, into_field=field))
        assert (err.kind, err.field) == (ErrorKind.FAILED_PRECONDITION, "pdf")
        assert "no changes allowed (DocMDP P=1" in err.message


@pytest.mark.parametrize("level", [MDPPerm.FILL_FORMS, MDPPerm.ANNOTATE])
@pytest.mark.parametrize("suite", [Suite.ES256, Suite.ED25519])
async def test_certified_form_pdf_is_sealed_into_its_empty_field(
    seal_ca, keys, level, suite
):
    pdf = await certify(page_pdf(), level, empty_fields=("Approval", "Second"))
    err = await refused(seal(seal_ca, keys, pdf, suite=suite))
    assert (err.kind, err.field) == (ErrorKind.FAILED_PRECONDITION, "field_name")
    assert f"DocMDP P={level.value}" in err.message
    assert "Approval, Second" in err.message  # the empty fields to choose from
    sealed = await seal(seal_ca, keys, pdf, suite=suite, into_field="Approval")
    found = {s.field_name: s for s in await read_pdf_seals(sealed, ca=seal_ca.cert)}
    assert set(found) == {"Author", "Approval"}
    author = found["Author"]
    assert author.intact and not author.modified, author.detail  # still certified
    assert "FORM_FILLING" in author.detail
    assert found["Approval"].intact and found["Approval"].trusted
    # the stamp fills the author's field: its /Rect, with the seal's appearance
    widget = _widget(sealed, "Approval")
    assert [float(v) for v in widget["/Rect"]] == [300, 100, 400, 160]
    assert "/N" in widget["/AP"]
    # and the second empty field can take a second seal
    twice = await seal(seal_ca, keys, sealed, into_field="Second")
    found = {s.field_name: s for s in await read_pdf_seals(twice, ca=seal_ca.cert)}
    assert not any(s.modified for s in found.values())


@pytest.mark.parametrize("rotate", [90, 270])
@pytest.mark.parametrize("widget_page_entry", [True, False])
async def test_named_field_on_a_rotated_page_gets_an_upright_stamp(
    seal_ca, keys, rotate, widget_page_entry
):
    # without the widget's optional /P, its page is found through the pages' /Annots
    pdf = await certify(
        page_pdf(Tree(pages=[Page(rotate=rotate)])),
        MDPPerm.FILL_FORMS,
        empty_fields=("Approval",),
        widget_page_entry=widget_page_entry,
    )
    assert ("/P" in _widget(pdf, "Approval")) is widget_page_entry
    sealed = await seal(seal_ca, keys, pdf, into_field="Approval")
    form = _widget(sealed, "Approval")["/AP"]["/N"]
    matrix = [float(v) for v in form["/Matrix"]]
    assert _shown(rotate, _apply(matrix, (0.0, 1.0))) == pytest.approx((0.0, 1.0))
    found = {s.field_name: s for s in await read_pdf_seals(sealed, ca=seal_ca.cert)}
    assert not found["Author"].modified


async def test_naming_a_missing_or_signed_field(seal_ca, keys):
    pdf = await certify(page_pdf(), MDPPerm.FILL_FORMS, empty_fields=("Approval",))
    err = await refused(seal(seal_ca, keys, pdf, into_field="Nope"))
    assert (err.kind, err.field) == (ErrorKind.INVALID_ARGUMENT, "field_name")
    assert "Approval" in err.message
    err = await refused(seal(seal_ca, keys, pdf, into_field="Author"))
    assert (err.kind, err.field) == (ErrorKind.FAILED_PRECONDITION, "field_name")
    assert "already signed" in err.message


async def test_certified_form_pdf_without_empty_field_says_so(seal_ca, keys):
    pdf = await certify(page_pdf(), MDPPerm.FILL_FORMS)
    err = await refused(seal(seal_ca, keys, pdf))
    assert (err.kind, err.field) == (ErrorKind.FAILED_PRECONDITION, "field_name")
    assert err.message.endswith(
        "would break its certification, so name one of its empty signature fields: none"
    )


def _widget(pdf: bytes, name: str) -> generic.DictionaryObject:
    reader = PdfFileReader(io.BytesIO(pdf), strict=False)
    for field in reader.root["/AcroForm"]["/Fields"]:
        field = field.get_object()
        if field["/T"] == name:
            return field
    raise AssertionError(f"no field {name}")


# -- rotated and offset pages -----------------------------------------------------------

X_MM, Y_MM, SIZE_MM = 30.0, 50.0, 40.0
X, Y, S = X_MM * MM, Y_MM * MM, SIZE_MM * MM

# (page tree, page index, the stamp's /Rect worked out by hand from ISO 32000-1
# §7.7.3.3: the visible page is the CropBox turned clockwise by /Rotate)
GEOMETRIES = {
    "plain": (Tree(), 0, (X, Y, X + S, Y + S)),
    "rotate 90": (
        Tree(pages=[Page(rotate=90)]),
        0,
        (595 - Y - S, X, 595 - Y, X + S),
    ),
    "rotate 180": (
        Tree(pages=[Page(rotate=180)]),
        0,
        (595 - X - S, 842 - Y - S, 595 - X, 842 - Y),
    ),
    "rotate 270": (
        Tree(pages=[Page(rotate=270)]),
        0,
        (Y, 842 - X - S, Y + S, 842 - X),
    ),
    "rotate -90 is 270": (
        Tree(pages=[Page(rotate=-90)]),
        0,
        (Y, 842 - X - S, Y + S, 842 - X),
    ),
    "rotate 450 is 90": (
        Tree(pages=[Page(rotate=450)]),
        0,
        (595 - Y - S, X, 595 - Y, X + S),
    ),
    "rotate inherited from the page tree": (
        Tree(
            pages=[Page(), Page(media_box=None)], rotate=90, media_box=(0, 0, 595, 842)
        ),
        1,
        (595 - Y - S, X, 595 - Y, X + S),
    ),
    "real-valued MediaBox": (
        Tree(pages=[Page(media_box=(0.5, 0.25, 595.5, 842.25))]),
        0,
        (0.5 + X, 0.25 + Y, 0.5 + X + S, 0.25 + Y + S),
    ),
    "offset MediaBox": (
        Tree(pages=[Page(media_box=(100, 200, 695, 1042))]),
        0,
        (100 + X, 200 + Y, 100 + X + S, 200 + Y + S),
    ),
    "negative MediaBox inherited": (
        Tree(pages=[Page(media_box=None)], media_box=(-300, -400, 295, 442)),
        0,
        (-300 + X, -400 + Y, -300 + X + S, -400 + Y + S),
    ),
    "CropBox inside an offset MediaBox": (
        Tree(
            pages=[Page(media_box=(100, 200, 695, 1042), crop_box=(150, 250, 600, 900))]
        ),
        0,
        (150 + X, 250 + Y, 150 + X + S, 250 + Y + S),
    ),
    "CropBox and rotate 90": (
        Tree(pages=[Page(crop_box=(50, 60, 545, 760), rotate=90)]),
        0,
        (545 - Y - S, 60 + X, 545 - Y, 60 + X + S),
    ),
    "inherited CropBox and rotate 270": (
        Tree(pages=[Page()], crop_box=(50, 60, 545, 760), rotate=270),
        0,
        (50 + Y, 760 - X - S, 50 + Y + S, 760 - X),
    ),
}


def _apply(matrix: list[float], vector: tuple[float, float]) -> tuple[float, float]:
    a, b, c, d = matrix[:4]
    return a * vector[0] + c * vector[1], b * vector[0] + d * vector[1]


def _shown(rotate: int, vector: tuple[float, float]) -> tuple[float, float]:
    """A user-space direction as seen on a page turned clockwise by ``rotate``."""
    x, y = vector
    for _ in range(rotate // 90 % 4):
        x, y = y, -x
    return x, y


def _red_box(pdf: bytes, page_index: int) -> tuple[tuple[int, int, int, int], int]:
    """The box (left, bottom, right, top in points from the visible page's lower-left
    corner) of the red pixels PDFium draws, and the page's rendered height."""
    document = pdfium.PdfDocument(pdf)
    document.init_forms()
    image = document[page_index].render(scale=1, may_draw_forms=True).to_pil()
    rgb = image.convert("RGB")
    width, height = rgb.size
    red = [
        (x, height - 1 - y)
        for y in range(height)
        for x in range(width)
        if (p := rgb.getpixel((x, y)))[0] > 180 and p[1] < 60 and p[2] < 60
    ]
    assert red, "no stamp pixels on the rendered page"
    xs, ys = [p[0] for p in red], [p[1] for p in red]
    return (min(xs), min(ys), max(xs), max(ys)), height


@pytest.mark.parametrize("case", list(GEOMETRIES))
async def test_stamp_is_upright_where_asked_on_the_visible_page(seal_ca, keys, case):
    tree, index, want_rect = GEOMETRIES[case]
    placement = Placement(page=index, x_mm=X_MM, y_mm=Y_MM, size_mm=SIZE_MM)
    sealed = await seal(seal_ca, keys, page_pdf(tree), placement=placement)
    widget = _widget(sealed, "Seal-field")
    assert [float(v) for v in widget["/Rect"]] == pytest.approx(want_rect, abs=0.01)
    page_rotate = {"rotate -90 is 270": 270, "rotate 450 is 90": 90}.get(case)
    if page_rotate is None:
        page_rotate = tree.pages[index].rotate or tree.rotate or 0
    form = widget["/AP"]["/N"]
    matrix = [float(v) for v in form.get("/Matrix", [1, 0, 0, 1, 0, 0])]
    # the form's up is the visible page's up
    up = _shown(page_rotate, _apply(matrix, (0.0, 1.0)))
    assert up == pytest.approx((0.0, 1.0))
    # PDFium draws the picture's red upper half there: the top half of the asked
    # square (5 pt margins inside it, 1 px of anti-aliasing)
    (left, bottom, right, top), _ = _red_box(sealed, index)
    inner = (X + 5, Y + 5, X + S - 5, Y + S - 5)
    middle = (inner[1] + inner[3]) / 2
    assert left == pytest.approx(inner[0], abs=3)
    assert right == pytest.approx(inner[2], abs=3)
    assert top == pytest.approx(inner[3], abs=3)
    assert bottom == pytest.approx(middle, abs=3)


async def test_user_unit_scales_the_millimetres(seal_ca, keys):
    pdf = page_pdf(Tree(pages=[Page(extra=b" /UserUnit 2")]))
    sealed = await seal(
        seal_ca, keys, pdf, placement=Placement(x_mm=X_MM, y_mm=Y_MM, size_mm=SIZE_MM)
    )
    rect = [float(v) for v in _widget(sealed, "Seal-field")["/Rect"]]
    assert rect == pytest.approx([X / 2, Y / 2, (X + S) / 2, (Y + S) / 2], abs=0.01)


@pytest.mark.parametrize(
    "tree, placement, field",
    [
        (Tree(), Placement(x_mm=190), "x_mm"),  # A4 is 210 mm wide
        (Tree(pages=[Page(rotate=90)]), Placement(y_mm=190), "y_mm"),  # 210 high
        (Tree(pages=[Page(crop_box=(0, 0, 200, 200))]), Placement(x_mm=40), "x_mm"),
    ],
)
async def test_stamp_beyond_the_visible_page_is_refused(
    seal_ca, keys, tree, placement, field
):
    err = await refused(seal(seal_ca, keys, page_pdf(tree), placement=placement))
    assert (err.kind, err.field) == (ErrorKind.INVALID_ARGUMENT, field)
    assert "visible page" in err.message


@pytest.mark.parametrize(
    "page, problem",
    [
        (Page(rotate=45), "/Rotate 45"),
        (Page(media_box=(0, 0, 0, 842)), "no MediaBox"),
        (Page(crop_box=(1000, 1000, 1200, 1200)), "CropBox outside"),
    ],
)
async def test_unusable_page_geometry_is_an_invalid_pdf(seal_ca, keys, page, problem):
    err = await refused(seal(seal_ca, keys, page_pdf(Tree(pages=[page]))))
    assert (err.kind, err.field) == (ErrorKind.INVALID_ARGUMENT, "pdf")
    assert problem in err.message


async def test_a_parent_cycle_does_not_hang(seal_ca, keys):
    # the root its own parent
    pdf = page_pdf(Tree(pages=[Page(media_box=None)], extra=b" /Parent 2 0 R"))
    err = await refused(seal(seal_ca, keys, pdf))
    assert (err.kind, err.field) == (ErrorKind.INVALID_ARGUMENT, "pdf")


# -- PDF/A ------------------------------------------------------------------------------


def _update(sealed: bytes, original: bytes) -> bytes:
    """The bytes the sealing appended (the incremental update), streams inflated."""
    reader = PdfFileReader(io.BytesIO(sealed), strict=False)
    out = bytearray(sealed[len(original) :])
    for ref in reader.xrefs.explicit_refs_in_revision(reader.xrefs.total_revisions - 1):
        obj = reader.get_object(ref)
        if isinstance(obj, generic.StreamObject) and obj.get("/Subtype") != "/Image":
            out += obj.data
    return bytes(out)


async def test_pdfa_1_stays_pdfa_1(seal_ca, keys):
    """ISO 19005-1 rules checked one by one (no PDF/A validator can be installed
    here: veraPDF is neither a Debian package nor on PyPI)."""
    original = pdfa_pdf(1)
    sealed = await seal(seal_ca, keys, original, suite=Suite.ED25519)
    update = _update(sealed, original)
    # §6.4: no soft mask, no transparency group, no blend mode, opacity 1 only
    assert b"/SMask" not in update
    assert b"/Transparency" not in update
    assert b"/BM" not in update
    for value in re.findall(rb"/(?:CA|ca) ([0-9.]+)", update):
        assert float(value) == 1.0
    reader = PdfFileReader(io.BytesIO(sealed), strict=False)
    before = PdfFileReader(io.BytesIO(original), strict=False)
    # the output intent is the one the file had
    assert reader.root.raw_get("/OutputIntents") == before.root.raw_get(
        "/OutputIntents"
    )
    intent = reader.root["/OutputIntents"][0]
    assert intent["/S"] == "/GTS_PDFA1"
    assert (
        intent["/DestOutputProfile"].data
        == before.root["/OutputIntents"][0]["/DestOutputProfile"].data
    )
    # §6.7.11: the XMP still claims PDF/A-1B
    xmp = reader.root["/Metadata"].data
    assert re.search(rb'pdfaid:part(="|>)1', xmp)
    assert re.search(rb'pdfaid:conformance(="|>)B', xmp)
    # the PDF version is not raised to 2.0 for ed25519 (ISO 32002 is not declared)
    assert reader.root.get("/Version") == before.root.get("/Version")
    assert b"/ISO_" not in update
    # §6.5.3: the widget prints, is not hidden, and has only a normal appearance
    widget = _widget(sealed, "Seal-field")
    assert int(widget["/F"]) & 4 and not int(widget["/F"]) & (1 | 2 | 32)
    assert list(widget["/AP"]) == ["/N"]
    # the picture is an opaque image with a stencil mask, not interpolated
    images = _images(sealed)
    assert len(images) == 1
    (picture,) = images
    assert "/SMask" not in picture and picture["/ColorSpace"] == "/DeviceRGB"
    assert bool(picture["/Mask"]["/ImageMask"])
    assert not picture.get("/Interpolate", False)
    # the stencil keeps the page around the seal's shape: grey, not a white square
    document = pdfium.PdfDocument(sealed)
    document.init_forms()
    render = document[0].render(scale=1, may_draw_forms=True).to_pil().convert("RGB")
    height = render.height
    inner_x, inner_y = 20 * MM + 5, 20 * MM + 5  # the default place, 5 pt margin
    below_middle = render.getpixel((round(inner_x + 20), round(height - inner_y - 10)))
    above_middle = render.getpixel((round(inner_x + 20), round(height - inner_y - 90)))
    assert below_middle[0] == below_middle[1] == below_middle[2] < 200  # page grey
    assert above_middle[0] > 180 and above_middle[1] < 60  # the seal's red
    assert [s.intact for s in await read_pdf_seals(sealed, ca=seal_ca.cert)] == [True]


def _images(pdf: bytes) -> list[generic.StreamObject]:
    """The pictures (not masks) the last revision of ``pdf`` added."""
    reader = PdfFileReader(io.BytesIO(pdf), strict=False)
    last = reader.xrefs.explicit_refs_in_revision(reader.xrefs.total_revisions - 1)
    images = {}
    for ref in last:
        obj = reader.get_object(ref)
        if isinstance(obj, generic.StreamObject) and obj.get("/Subtype") == "/Image":
            images[ref.idnum] = obj
    masks = {
        image.raw_get(key).idnum
        for image in images.values()
        for key in ("/SMask", "/Mask")
        if key in image
    }
    return [
        image
        for idnum, image in images.items()
        if idnum not in masks and not image.get("/ImageMask", False)
    ]


async def test_pdfa_2_keeps_the_soft_mask_it_allows(seal_ca, keys):
    sealed = await seal(seal_ca, keys, pdfa_pdf(2))
    (picture,) = _images(sealed)
    assert "/SMask" in picture and "/Mask" not in picture


async def test_pdfa_with_cmyk_output_intent_gets_a_cmyk_picture(seal_ca, keys):
    sealed = await seal(seal_ca, keys, pdfa_pdf(2, cmyk=True))
    (picture,) = _images(sealed)
    assert picture["/ColorSpace"] == "/DeviceCMYK"
    assert "/SMask" not in picture and bool(picture["/Mask"]["/ImageMask"])


async def test_plain_pdf_keeps_the_soft_mask(seal_ca, keys):
    sealed = await seal(seal_ca, keys, page_pdf())
    (picture,) = _images(sealed)
    assert "/SMask" in picture


# -- which validators accept which suite (docs/architecture.md, "PDF validators") -------


@pytest.mark.parametrize(
    "suite, verdict",
    [
        (Suite.ES256, "Signature is Valid."),
        # Debian 12's poppler 22.12 verifies through NSS, which has no Ed25519 in CMS
        (Suite.ED25519, "Document isn't signed or corrupted data."),
    ],
)
async def test_poppler_pdfsig_row_of_the_validator_table(
    seal_ca, keys, suite, verdict, tmp_path
):
    sealed = await seal(seal_ca, keys, page_pdf(), suite=suite)
    # pyHanko (certseal's VerifyPdf) accepts both suites
    assert [
        (s.intact, s.trusted) for s in await read_pdf_seals(sealed, ca=seal_ca.cert)
    ] == [(True, True)]
    path = tmp_path / "sealed.pdf"
    path.write_bytes(sealed)
    process = await asyncio.create_subprocess_exec(
        "pdfsig", "-nocert", str(path), stdout=PIPE, stderr=PIPE
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, stderr.decode()
    assert f"Signature Validation: {verdict}" in stdout.decode()
