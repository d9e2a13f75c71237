"""A stamp's page and corner have presence (protos/certseal/v1/seal.proto): 0 mm is
the page's edge, not "not given"; not given is the 20 mm default. Before, proto3's
zero was the default, so ``seal ofd --x-mm 0`` put the stamp 20 mm in, and a keyword
or signature field beside an explicit page 0 or corner 0 was not refused."""

from __future__ import annotations

import io

import pytest
from pyhanko.pdf_utils.reader import PdfFileReader

from certseal.errors import CertsealError, ErrorKind
from certseal.v1 import seal_pb2 as pb
from services.seal.convert import placement
from services.seal.ofd_convert import stamp_place
from services.seal.ofd_package import parse_xml
from tests.conftest import blank_pdf, seal_owner
from tests.seal.ofd_samples import make_ofd, unzip

OFD = "{http://www.ofdspec.org/2016}"


def _refused(call, request) -> CertsealError:
    with pytest.raises(CertsealError) as err:
        call(request)
    assert err.value.kind is ErrorKind.INVALID_ARGUMENT
    return err.value


@pytest.mark.parametrize("message", [pb.SealPdfRequest, pb.SealOfdRequest])
def test_zero_is_the_edge_and_unset_is_twenty_mm(message):
    place = placement if message is pb.SealPdfRequest else stamp_place
    assert (place(message(x_mm=0, y_mm=0)).x_mm, place(message()).y_mm) == (0, 20)
    assert place(message(y_mm=0)).y_mm == 0 and place(message(y_mm=0)).x_mm == 20
    assert place(message(x_mm=7.5)).x_mm == 7.5


@pytest.mark.parametrize(
    "given", [{"page": 0}, {"x_mm": 0}, {"y_mm": 0}, {"page": 2, "x_mm": 30}]
)
def test_a_place_beside_a_field_or_keyword_is_refused_even_when_zero(given):
    error = _refused(placement, pb.SealPdfRequest(field_name="Approval", **given))
    assert error.field == "field_name"
    assert all(name in error.message for name in given)
    error = _refused(stamp_place, pb.SealOfdRequest(keyword="盖章", **given))
    assert error.field == "keyword"
    assert all(name in error.message for name in given)
    assert placement(pb.SealPdfRequest(field_name="Approval")).page == 0
    assert stamp_place(pb.SealOfdRequest(keyword="盖章")).keyword == "盖章"


async def test_a_stamp_at_the_corner_of_the_page_through_the_rpcs(seal_stub, operator):
    stub = seal_stub(f"dept:{await seal_owner(operator)}")
    seal = (
        await stub.RegisterSeal(pb.RegisterSealRequest(name="示例公司", suite="es256"))
    ).seal
    sealed = await stub.SealOfd(
        pb.SealOfdRequest(seal_id=seal.seal_id, ofd=make_ofd(), x_mm=0, y_mm=0)
    )
    signature = parse_xml(unzip(sealed.ofd)[sealed.signature_path[1:]], "s")
    [annot] = signature.iter(f"{OFD}StampAnnot")
    assert annot.get("Boundary", "").split()[:2] == ["0", "0"]

    pdf = await stub.SealPdf(
        pb.SealPdfRequest(seal_id=seal.seal_id, pdf=blank_pdf(), x_mm=0, y_mm=0)
    )
    assert _stamp_corner(pdf.pdf) == (0, 0)
    pdf = await stub.SealPdf(pb.SealPdfRequest(seal_id=seal.seal_id, pdf=blank_pdf()))
    assert _stamp_corner(pdf.pdf) == pytest.approx((20 * 72 / 25.4,) * 2, abs=1e-3)


def _stamp_corner(pdf: bytes) -> tuple[float, float]:
    """The lower-left corner of the signature field's widget in ``pdf``, in points
    from its first page's lower-left corner."""
    reader = PdfFileReader(io.BytesIO(pdf), strict=False)
    [field] = [
        f.get_object()
        for f in reader.root["/AcroForm"]["/Fields"]
        if f.get_object().get("/FT") == "/Sig"
    ]
    widget = field if "/Rect" in field else field["/Kids"][0].get_object()
    media = reader.root["/Pages"]["/Kids"][0]["/MediaBox"]
    (x0, y0), (x, y) = (
        (float(box[0]), float(box[1])) for box in (media, widget["/Rect"])
    )
    return x - x0, y - y0
