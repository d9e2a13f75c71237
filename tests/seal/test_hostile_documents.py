"""Hostile pictures, PDFs and DER for the seal service (issue 13, kind 1).

Each is refused cleanly (INVALID_ARGUMENT naming the field, FAILED_PRECONDITION for a
stored picture, or a MALFORMED verdict), never INTERNAL, and fast. The RPC cases run
against a real seal service on the session's stack; the rest call the decoders.
"""

from __future__ import annotations

import datetime as dt
import io
import struct
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager

import grpc
import pytest
from PIL import Image

from certseal.crypto import SoftwareSigner, Suite, generate_key
from certseal.devpki import DevCA
from certseal.errors import CertsealError, ErrorKind
from certseal.v1 import seal_pb2 as pb
from certseal.v1 import seal_pb2_grpc
from services.seal import pdf as seal_pdf_module
from services.seal.certificates import issue_certificate
from services.seal.domain import SealVerdict, verify_sealed_document
from services.seal.inspect import describe
from services.seal.pdf import Placement, seal_pdf
from services.seal.pdf_service import PdfSealService
from services.seal.pdf_verify import read_pdf_seals
from services.seal.picture import (
    MAX_PICTURE_BYTES,
    MAX_PICTURE_PIXELS,
    check_png,
    load_picture,
    round_seal,
)
from services.seal.service import SealCa
from services.seal.ses import MAX_SES_BYTES
from tests.conftest import blank_pdf, fresh_uscc
from tests.seal.field_pdfs import assemble_pdf

FAST_S = 1.0  # generous: each refusal takes milliseconds


@contextmanager
def fast(seconds: float = FAST_S) -> Iterator[None]:
    started = time.perf_counter()
    yield
    elapsed = time.perf_counter() - started
    assert elapsed < seconds, f"took {elapsed:.3f} s"


# -- hostile inputs -------------------------------------------------------------------


def _chunk(kind: bytes, data: bytes) -> bytes:
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))


def png_declaring(width: int, height: int, *, complete: bool = False) -> bytes:
    """An RGBA PNG declaring ``width`` × ``height`` transparent pixels: complete (a
    13,000 × 13,000 one compresses to about 660 KB: the issue's example), or with 1 KiB
    of pixel data only."""
    if complete:
        # one fully flushed raw-deflate block of rows, repeated: each copy stands alone
        rows = next(n for n in (100, 10, 1) if height % n == 0)
        block = b"\x00" * ((1 + 4 * width) * rows)
        raw = zlib.compressobj(9, wbits=-15)
        piece = raw.compress(block) + raw.flush(zlib.Z_FULL_FLUSH)
        adler = 1
        for _ in range(height // rows):
            adler = zlib.adler32(block, adler)
        idat = (
            b"\x78\xda"
            + piece * (height // rows)
            + zlib.compressobj(9, wbits=-15).flush()
            + struct.pack(">I", adler)
        )
    else:
        idat = zlib.compress(b"\x00" * 1024)
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", ihdr)
        + _chunk(b"IDAT", idat)
        + _chunk(b"IEND", b"")
    )


@pytest.fixture(scope="module")
def png_13000() -> bytes:
    data = png_declaring(13_000, 13_000, complete=True)
    assert 600_000 < len(data) < 700_000  # the issue's 657 KB
    return data


def minimal_pdf(catalog_extra: bytes) -> bytes:
    """A one-page PDF with ``catalog_extra`` inside its catalog dictionary."""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R " + catalog_extra + b" >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>",
    ]
    return assemble_pdf(objects)


def nested_arrays(depth: int) -> bytes:
    return minimal_pdf(b"/X " + b"[" * depth + b"]" * depth)


def nested_dictionaries(depth: int) -> bytes:
    return minimal_pdf(b"/X " + b"<< /A " * depth + b"1" + b" >>" * depth)


def deep_der(depth: int) -> bytes:
    """``depth`` SEQUENCEs nested in one another (built in linear time)."""
    inner = b"\x05\x00"  # NULL
    headers, size = [], len(inner)
    for _ in range(depth):
        length = bytes([size]) if size < 128 else b"\x84" + size.to_bytes(4, "big")
        headers.append(b"\x30" + length)
        size += len(headers[-1])
    return b"".join(reversed(headers)) + inner


# -- the seal service over gRPC -------------------------------------------------------


async def _warm(stub: seal_pb2_grpc.SealStub) -> None:
    """Connect (TLS handshake) before timing, and see the service answer a real PDF."""
    assert (await stub.VerifyPdf(pb.VerifyPdfRequest(pdf=blank_pdf()))).seals == []


async def _refused(call, request) -> grpc.aio.AioRpcError:
    with fast(), pytest.raises(grpc.aio.AioRpcError) as err:
        await call(request)
    return err.value


def _field(err: grpc.aio.AioRpcError) -> str:
    return str(dict(err.trailing_metadata() or ()).get("certseal-error-field", ""))


async def test_the_13000_square_png_is_refused_as_a_seal_picture(seal_stub, png_13000):
    stub = seal_stub("operator:hostile-pictures")
    await _warm(stub)
    err = await _refused(
        stub.RegisterSeal,
        pb.RegisterSealRequest(
            owner_code=fresh_uscc(), name="示例", suite="es256", picture=png_13000
        ),
    )
    assert err.code() is grpc.StatusCode.INVALID_ARGUMENT, err.details()
    assert _field(err) == "picture"
    assert "13000 × 13000 pixels" in (err.details() or "")


async def test_verify_pdf_of_5000_nested_arrays_is_a_client_error(seal_stub):
    stub = seal_stub(f"dept:{fresh_uscc()}")
    await _warm(stub)
    for hostile in (
        nested_arrays(5000),
        nested_arrays(1000),
        nested_dictionaries(5000),
    ):
        err = await _refused(stub.VerifyPdf, pb.VerifyPdfRequest(pdf=hostile))
        assert err.code() is grpc.StatusCode.INVALID_ARGUMENT, err.details()
        assert _field(err) == "pdf"
    await _warm(stub)  # and the service still answers a real PDF


async def test_an_oversized_or_deep_ses_signature(seal_stub):
    stub = seal_stub(f"dept:{fresh_uscc()}")
    await _warm(stub)
    err = await _refused(
        stub.VerifySealedDocument,
        pb.VerifySealedDocumentRequest(
            signature=b"\x30" * (MAX_SES_BYTES + 1), document_digest=b"\x00" * 32
        ),
    )
    assert err.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert _field(err) == "signature"
    deep = deep_der(100_000)
    with fast():
        reply = await stub.VerifySealedDocument(
            pb.VerifySealedDocumentRequest(signature=deep, document_digest=b"\x00" * 32)
        )
    assert reply.verdict == "MALFORMED"


# -- seal pictures ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (png_declaring(2049, 2048), "the limit is"),
        (png_declaring(2**31 - 1, 2**31 - 1), "the limit is"),
        (png_declaring(1, MAX_PICTURE_PIXELS + 1), "the limit is"),
        (png_declaring(64, 64), "is not a readable PNG"),  # truncated pixels
        (b"\x00" * (MAX_PICTURE_BYTES + 1), "bytes); the limit is 1 MiB"),
        (b"GIF89a" + b"\x00" * 64, "is not a readable PNG"),
    ],
    ids=["2049x2048", "2^31 square", "1 column too tall", "truncated", "2 MiB", "gif"],
)
def test_hostile_seal_pictures_are_refused_before_decoding(data, why):
    with fast(), pytest.raises(CertsealError) as err:
        check_png(data)
    assert err.value.kind is ErrorKind.INVALID_ARGUMENT
    assert err.value.field == "picture" and why in err.value.message


def test_a_16_bit_picture_is_refused():
    out = io.BytesIO()
    Image.new("I;16", (32, 32)).save(out, "PNG")
    with pytest.raises(CertsealError, match="pixel mode"):
        check_png(out.getvalue())


@pytest.mark.parametrize("mode", ["1", "L", "LA", "P", "RGB", "RGBA"])
def test_pictures_of_every_accepted_mode_become_rgba(mode):
    out = io.BytesIO()
    Image.new(mode, (40, 30)).save(out, "PNG")
    picture = load_picture(out.getvalue())
    assert picture.mode == "RGBA" and picture.size == (40, 30)


@pytest.fixture(scope="module")
def es256_seal(tmp_path_factory) -> tuple[SoftwareSigner, bytes, bytes]:
    """An es256 seal key, its certificate and the seal CA, without the registry."""
    ca = DevCA(tmp_path_factory.mktemp("hostile-seal-ca"), name="hostile seal CA")
    seal_ca = SealCa.from_files(str(ca.ca_file), str(ca.folder / "ca.key"))
    key = generate_key(Suite.ES256)
    now = dt.datetime.now(dt.UTC)
    cert = issue_certificate(
        ca_key=seal_ca.key,
        ca_cert=seal_ca.cert,
        common_name="seal:hostile",
        public_key_der=key.public_key_der,
        not_before=now - dt.timedelta(days=1),
        not_after=now + dt.timedelta(days=1),
    )
    signer = SoftwareSigner(Suite.ES256, key.private_bytes, key.public_key_der)
    return signer, cert, seal_ca.cert


async def _seal(es256_seal, pdf: bytes, picture: bytes) -> bytes:
    signer, cert, ca = es256_seal
    return await seal_pdf(
        pdf,
        signer=signer,
        cert=cert,
        ca=ca,
        picture_png=picture,
        placement=Placement(),
        new_field_name="Seal-hostile",
    )


async def test_sealing_with_a_stored_oversized_picture_is_refused(
    es256_seal, png_13000
):
    """A seal registered before pictures were decode-checked: refused at sealing."""
    with fast(), pytest.raises(CertsealError) as err:
        await _seal(es256_seal, blank_pdf(), png_13000)
    assert err.value.kind is ErrorKind.FAILED_PRECONDITION
    assert "13000 × 13000 pixels" in err.value.message


async def test_sealing_with_a_palette_picture_works(es256_seal):
    out = io.BytesIO()
    round_seal_png = round_seal("示例").data
    Image.open(io.BytesIO(round_seal_png)).convert("P").save(out, "PNG")
    sealed = await _seal(es256_seal, blank_pdf(), out.getvalue())
    found = await read_pdf_seals(sealed, ca=es256_seal[2])
    assert [s.intact for s in found] == [True]


async def test_the_generated_one_colour_picture_is_drawn_red_by_a_pdf_reader(
    es256_seal, tmp_path
):
    """The generated picture is a palette PNG with tRNS (picture.one_colour_png):
    sealed into a PDF, poppler draws its stamp red over the white page, opaque in the
    middle (the star) and not over the page's corner (atk50 asked it be rendered)."""
    import asyncio
    import shutil
    import subprocess

    pdftoppm = shutil.which("pdftoppm")
    assert pdftoppm, "make test installs poppler-utils"
    sealed = await _seal(es256_seal, blank_pdf(), round_seal("示例").data)
    (tmp_path / "sealed.pdf").write_bytes(sealed)
    await asyncio.to_thread(
        subprocess.run,
        [pdftoppm, "-r", "72", "-png", "-singlefile", "sealed.pdf", "page"],
        cwd=tmp_path,
        check=True,
        timeout=60,
    )
    page = Image.open(tmp_path / "page.png").convert("RGB")
    mm = 72 / 25.4  # Placement(): 20 mm from the lower left, 42 mm across
    centre = (round(41 * mm), page.height - round(41 * mm))
    drawn = page.getpixel(centre)  # RED, within the renderer's rounding
    assert all(abs(a - b) <= 6 for a, b in zip(drawn, (218, 37, 29), strict=True)), (
        drawn
    )
    assert page.getpixel((2, 2)) == (255, 255, 255)


# -- PDFs -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "pdf",
    [
        nested_arrays(5000),
        nested_arrays(1000),
        nested_arrays(100_000),
        nested_dictionaries(5000),
        b"%PDF-1.7\n" + b"\x00" * 1000,
    ],
    ids=[
        "arrays 5000",
        "arrays 1000",
        "arrays 100000",
        "dicts 5000",
        "zeros",
    ],
)
async def test_hostile_pdfs_are_invalid_arguments_when_sealing_and_verifying(
    es256_seal, pdf
):
    with fast(), pytest.raises(CertsealError) as err:
        await read_pdf_seals(pdf, ca=es256_seal[2])
    assert err.value.kind is ErrorKind.INVALID_ARGUMENT and err.value.field == "pdf"
    with fast(), pytest.raises(CertsealError) as err:
        await _seal(es256_seal, pdf, round_seal("示例").data)
    assert err.value.kind is ErrorKind.INVALID_ARGUMENT and err.value.field == "pdf"


NESTING = seal_pdf_module.MAX_PDF_NESTING


@pytest.mark.parametrize(
    "pdf",
    [
        nested_arrays(5000),
        nested_arrays(100_000),
        nested_dictionaries(5000),
        nested_dictionaries(100_000),
        nested_arrays(NESTING),  # with the catalog: one level beyond the bound
        nested_dictionaries(NESTING),
        minimal_pdf(b"/X [ << /A [ " * 40 + b"1" + b" ] >> ]" * 40),
    ],
    ids=[
        "arrays 5000",
        "arrays 100000",
        "dicts 5000",
        "dicts 100000",
        "arrays one beyond",
        "dicts one beyond",
        "mixed 80",
    ],
)
async def test_pdf_nesting_beyond_the_named_bound_is_refused_before_recursing(
    es256_seal, pdf
):
    for attempt in (
        lambda: read_pdf_seals(pdf, ca=es256_seal[2]),
        lambda: _seal(es256_seal, pdf, round_seal("示例").data),
    ):
        with fast(), pytest.raises(CertsealError) as err:
            await attempt()
        assert err.value.kind is ErrorKind.INVALID_ARGUMENT and err.value.field == "pdf"
        assert f"the limit is {NESTING} levels (MAX_PDF_NESTING)" in str(err.value)


@pytest.mark.parametrize("nested", [nested_arrays, nested_dictionaries])
async def test_pdf_nesting_at_the_bound_is_read_and_sealed(es256_seal, nested):
    pdf = nested(NESTING - 1)  # the catalog is the first level
    assert await read_pdf_seals(pdf, ca=es256_seal[2]) == []
    sealed = await _seal(es256_seal, pdf, round_seal("示例").data)
    assert [s.intact for s in await read_pdf_seals(sealed, ca=es256_seal[2])] == [True]


async def test_verify_pdf_is_bounded_in_size():
    pdfs = PdfSealService(
        seals=None,  # type: ignore[arg-type]
        store=None,  # type: ignore[arg-type]
        seal_ca=None,  # type: ignore[arg-type]
        max_document_bytes=1000,
    )
    with pytest.raises(
        CertsealError, match=r"the limit is 1,000 bytes \(\[seal\] max_document_bytes\)"
    ):
        await pdfs.verify_pdf(b"%PDF-1.7\n" + b" " * 1000)


def test_pdf_decode_limits_are_tighter_than_pyhankos_defaults():
    limits = seal_pdf_module.PDF_DECODE_LIMITS
    assert limits.per_stream.max_output_size == seal_pdf_module.MAX_PDF_STREAM_BYTES
    assert limits.document_budget is not None
    assert limits.document_budget.total(60 * 1024 * 1024) == 480 * 1024 * 1024


# -- DER ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "der",
    [
        deep_der(100_000),
        deep_der(2000),
        b"\x30\x84\xff\xff\xff\xff",
        b"\x30\x80" * 1000,
    ],
    ids=["100000 deep", "2000 deep", "4 GiB length", "indefinite"],
)
def test_hostile_der_is_malformed_or_refused(der):
    with fast():
        result = verify_sealed_document(
            der,
            document_hash=b"\x00" * 32,
            seal_ca=b"",
            seal_status=None,
            now=dt.datetime.now(dt.UTC),
        )
    assert result.verdict is SealVerdict.MALFORMED
    with fast(), pytest.raises(CertsealError) as err:
        describe(der)
    assert err.value.field == "file"


def test_inspect_refuses_an_oversized_file():
    with pytest.raises(CertsealError, match="the limit is"):
        describe(b"\x30" * (MAX_SES_BYTES + 1))
