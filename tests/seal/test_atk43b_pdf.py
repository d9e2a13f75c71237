"""atk43 F1 and F4 at their kind (tests/seal/test_atk43_pdf.py found one of each).

F1, what pyHanko takes from an older trailer that poppler and pdf.js do not (they
read the newest trailer alone; ``services.seal.pdf_trailers``): after a seal, a
trailer leaving out /Root, /Encrypt, /ID (encrypted) or an /Info with a /Title
makes the seal MODIFIED, naming the key; a PDF whose newest trailer does is not
sealed; a /Root that is no reference to a dictionary is refused in words.

F4, what pyHanko's parser raises on malformed input that nothing caught
(``decimal.InvalidOperation`` for ``1.2.3``, ``zlib.error`` for a Flate stream
that does not decompress; found by fuzzing seal_pdf and read_pdf_seals with random
mutations of small PDFs, classic and with compressed object and cross-reference
streams, a few thousand cases): sealing is a refusal naming the object, and an
object written after the seal that cannot be read, of any kind, makes the seal
MODIFIED naming it (before, every such object made VerifyPdf refuse the file, and
those two ended in INTERNAL); one pyHanko's difference analysis reads (the page
written again) leaves the seal intact and MODIFIED, not broken.
"""

from __future__ import annotations

import re
import zlib

import pytest

from certseal.errors import CertsealError
from services.seal.pdf_verify import read_pdf_seals
from tests.seal.field_pdfs import USER_PASSWORD, assemble_pdf, encrypt, page_pdf
from tests.seal.test_atk38_pdf_streams import object_stream, stream_update
from tests.seal.test_atk38c_pdf import classic_pdf
from tests.seal.test_atk38d import raw_update
from tests.seal.test_field_pdfs import keys, seal, seal_ca  # noqa: F401

_PAGE = [
    b"<< /Type /Catalog /Pages 2 0 R >>",
    b"<< /Type /Pages /Kids [4 0 R] /Count 1 >>",
    b"<< >>",
    b"<< /Type /Page /Parent 2 0 R /Resources 3 0 R /Contents 5 0 R "
    b"/MediaBox [0 0 595 842] >>",
    b"<< /Length 20 >>\nstream\n0.5 g 0 0 10 10 re f\nendstream",
]


def _with_info(info: bytes) -> bytes:
    """A one-page PDF whose trailer names ``info`` (object 6) as its /Info."""
    pdf = assemble_pdf([*_PAGE, info])
    return pdf.replace(b"/Root 1 0 R", b"/Root 1 0 R /Info 6 0 R")


def _last_trailer(pdf: bytes) -> bytes:
    """The entries of ``pdf``'s last (classic) trailer but /Size and /Prev."""
    text = pdf[pdf.rindex(b"trailer") :]
    entries = text[text.index(b"<<") + 2 : text.index(b">>\nstartxref")]
    return re.sub(rb"/(Size|Prev) \d+", b"", entries)


def _update(pdf: bytes, objects: dict[int, bytes], *, drop: tuple[bytes, ...]) -> bytes:
    """``pdf`` with a classic update defining ``objects`` whose trailer repeats the
    last one's entries but those named in ``drop``."""
    entries = _last_trailer(pdf)
    for key in drop:
        entries = re.sub(key + rb"\s*(\d+ \d+ R|\[[^\]]*\])", b"", entries)
    prev = int(re.findall(rb"startxref\s+(\d+)", pdf)[-1])
    size = int(re.findall(rb"/Size (\d+)", pdf)[-1])
    out, offsets = bytearray(pdf), {}
    for number, body in sorted(objects.items()):
        offsets[number] = len(out)
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 1\n0000000000 65535 f \n" + b"".join(
        b"%d 1\n%010d 00000 n \n" % (n, at) for n, at in sorted(offsets.items())
    )
    size = max(size, *(n + 1 for n in objects))
    out += b"trailer\n<< /Size %d /Prev %d %s >>\nstartxref\n%d\n%%%%EOF\n" % (
        size,
        prev,
        entries.strip(),
        xref,
    )
    return bytes(out)


async def _one(pdf: bytes, ca: bytes, password: str = "") -> tuple[bool, bool, str]:
    [found] = await read_pdf_seals(pdf, ca=ca, password=password)
    return found.intact, found.modified, found.detail


async def _refused(seal_ca, keys, pdf: bytes, **kwargs) -> CertsealError:  # noqa: F811
    with pytest.raises(CertsealError) as err:
        await seal(seal_ca, keys, pdf, **kwargs)
    assert err.value.field == "pdf", err.value
    return err.value


@pytest.fixture(scope="module")
async def sealed_titled(seal_ca, keys) -> bytes:  # noqa: F811
    return await seal(seal_ca, keys, _with_info(b"<< /Title (Licence) >>"))


@pytest.fixture(scope="module")
async def sealed_plain(seal_ca, keys) -> bytes:  # noqa: F811
    """A sealed page without /Info (the stream updates below write none)."""
    return await seal(seal_ca, keys, page_pdf())


# -- F1: a key taken from an older trailer ---------------------------------------------


async def test_an_update_leaving_out_a_titled_info_is_modified(sealed_titled, seal_ca):  # noqa: F811
    updated = _update(sealed_titled, {40: b"[1 2]"}, drop=(b"/Info",))
    intact, modified, detail = await _one(updated, seal_ca.cert)
    assert intact and modified, detail
    assert detail.startswith("the trailer of revision 2 leaves out /Info"), detail


async def test_an_update_repeating_its_trailer_is_no_change(sealed_titled, seal_ca):  # noqa: F811
    """The control: the same update with every key repeated (and /ID, which names
    an unencrypted file to no reader that shows it, left out)."""
    updated = _update(sealed_titled, {40: b"[1 2]"}, drop=(b"/ID",))
    intact, modified, detail = await _one(updated, seal_ca.cert)
    assert intact and not modified, detail


async def test_an_update_leaving_out_an_untitled_info_is_no_change(seal_ca, keys):  # noqa: F811
    """/Info without /Title: nothing in it shows (author, subject)."""
    sealed = await seal(seal_ca, keys, _with_info(b"<< /Author (Clerk) >>"))
    updated = _update(sealed, {40: b"[1 2]"}, drop=(b"/Info",))
    intact, modified, detail = await _one(updated, seal_ca.cert)
    assert intact and not modified, detail


async def test_a_trailer_without_root_between_whole_ones_is_modified(
    sealed_titled,
    seal_ca,  # noqa: F811
):
    """An update without /Root and one after it with every key: the seal is
    modified all the same (what poppler showed of the file changed in between)."""
    rootless = _update(sealed_titled, {40: b"[1 2]"}, drop=(b"/Root",))
    whole = raw_update(rootless, {(41, 0): b"[3 4]"})
    intact, modified, detail = await _one(whole, seal_ca.cert)
    assert intact and modified, detail
    assert "revision 2 leaves out /Root" in detail, detail


@pytest.mark.parametrize(
    ("drop", "said"),
    [((b"/Encrypt", b"/ID"), "/Encrypt, /ID"), ((b"/ID",), "/ID")],
    ids=["encrypt", "id"],
)
async def test_an_encrypted_update_leaving_out_its_keys_is_modified(
    seal_ca,  # noqa: F811
    keys,  # noqa: F811
    drop,
    said,
):
    sealed = await seal(
        seal_ca, keys, encrypt(page_pdf(), "aes-128"), password=USER_PASSWORD
    )
    assert (await _one(sealed, seal_ca.cert, USER_PASSWORD))[:2] == (True, False)
    updated = _update(sealed, {40: b"[1 2]"}, drop=drop)
    intact, modified, detail = await _one(updated, seal_ca.cert, USER_PASSWORD)
    assert intact and modified, detail
    assert f"leaves out {said}," in detail, detail


async def test_a_pdf_whose_newest_trailer_leaves_out_a_titled_info_is_not_sealed(
    seal_ca,  # noqa: F811
    keys,  # noqa: F811
):
    submitted = _update(
        _with_info(b"<< /Title (Licence) >>"), {40: b"[1 2]"}, drop=(b"/Info",)
    )
    err = await _refused(seal_ca, keys, submitted)
    assert err.message.startswith("its newest trailer leaves out /Info"), err


@pytest.mark.parametrize(
    ("root", "said"),
    [
        (b"null", "its trailer's /Root is null, not a reference"),
        (b"1", "its trailer's /Root is a number, not a reference"),
        (b"<< /Type /Catalog /Pages 2 0 R >>", "its trailer's /Root is a dictionary"),
        (b"9 0 R", "its trailer's /Root names object 9, which is null"),
    ],
    ids=["null", "number", "dictionary", "dangling"],
)
async def test_a_root_that_is_no_reference_is_refused_in_words(
    seal_ca,  # noqa: F811
    keys,  # noqa: F811
    root,
    said,
):
    """Before: "'NullObject' object has no attribute 'reference'", or a bare
    assert, sealing and verifying."""
    pdf = page_pdf().replace(b"/Root 1 0 R", b"/Root " + root)
    err = await _refused(seal_ca, keys, pdf)
    assert err.message.startswith(said), err
    with pytest.raises(CertsealError) as verified:
        await read_pdf_seals(pdf, ca=seal_ca.cert)
    assert verified.value.field == "pdf" and verified.value.message == err.message


# -- F4: an object pyHanko's parser cannot read ----------------------------------------

_PLAIN = dict(enumerate(_PAGE, 1))


@pytest.mark.parametrize(
    "body",
    [b"[1.2.3]", b"[.]", b"[+-.]", b"[1,2]", b"(open", b"<zz>", b"<< /A 1 /B >>"],
)
async def test_an_unreadable_object_after_the_seal_is_modified(
    sealed_titled,
    seal_ca,  # noqa: F811
    body,
):
    """Any object pyHanko cannot read, written after the seal (nothing reaches it),
    makes the seal MODIFIED naming it (before: INVALID_ARGUMENT in pyHanko's words,
    or, for a number Decimal does not take, INTERNAL)."""
    updated = raw_update(sealed_titled, {(40, 0): body})
    intact, modified, detail = await _one(updated, seal_ca.cert)
    assert intact and modified, detail
    assert detail.startswith(
        "object 40, written after it (revision 2), cannot be read, so what PDF "
        "readers make of it cannot be told: "
    ), detail


async def test_an_unreadable_member_after_the_seal_is_modified_naming_it(
    sealed_plain,
    seal_ca,  # noqa: F811
):
    updated = stream_update(
        sealed_plain,
        {41: object_stream([(42, b"[1 2]"), (43, b"<< /A 1.2.3 >>")])},
        {42: (2, 41, 0), 43: (2, 41, 1)},
    )
    intact, modified, detail = await _one(updated, seal_ca.cert)
    assert intact and modified, detail
    assert detail.startswith(
        "object 43 (member 1 of object stream 41), written after it (revision 2), "
        "cannot be read, so what PDF readers make of it cannot be told: a number in "
        "it is malformed"
    ), detail


def _flate_members(members: list[tuple[int, bytes]], *, broken: bool) -> bytes:
    """An object stream of ``members``, Flate-compressed; ``broken``: cut short."""
    raw = object_stream(members)
    head, _, rest = raw.partition(b"stream\n")
    data = zlib.compress(rest.rsplit(b"\nendstream", 1)[0])
    data = data[: len(data) // 2] if broken else data
    head = re.sub(rb"/Length \d+", b"/Length %d /Filter /FlateDecode" % len(data), head)
    return head + b"stream\n" + data + b"\nendstream"


async def test_an_object_stream_that_does_not_decompress_after_the_seal_is_modified(
    sealed_plain,
    seal_ca,  # noqa: F811
):
    """Before: zlib.error, INTERNAL (``pdfend.check_object_streams``)."""
    updated = stream_update(
        sealed_plain,
        {41: _flate_members([(42, b"[1 2]")], broken=True)},
        {42: (2, 41, 0)},
    )
    intact, modified, detail = await _one(updated, seal_ca.cert)
    assert intact and modified, detail
    assert "object 42 (member 0 of object stream 41)" in detail, detail
    assert "does not decompress" in detail, detail


@pytest.mark.parametrize("token", [b"1.2.3", b".", b"+-.", b"1,2"])
async def test_sealing_a_malformed_number_is_refused_naming_the_object(
    seal_ca,  # noqa: F811
    keys,  # noqa: F811
    token,
):
    pdf = classic_pdf({**_PLAIN, 6: b"[%s]" % token}, 7)
    err = await _refused(seal_ca, keys, pdf)
    assert "object 6 cannot be read" in err.message, err


async def test_sealing_an_object_stream_that_does_not_decompress_is_refused(
    seal_ca,  # noqa: F811
    keys,  # noqa: F811
):
    """Before: zlib.error, INTERNAL."""
    sealed = await seal(seal_ca, keys, page_pdf())
    submitted = stream_update(
        sealed, {41: _flate_members([(42, b"[1 2]")], broken=True)}, {42: (2, 41, 0)}
    )
    err = await _refused(seal_ca, keys, submitted)
    assert "object 42 (member 0 of object stream 41) cannot be read" in err.message
    assert "does not decompress" in err.message, err


@pytest.mark.parametrize("in_stream", [False, True], ids=["classic", "member"])
async def test_a_page_rewritten_unreadable_after_the_seal_is_modified_not_broken(
    sealed_plain,
    seal_ca,  # noqa: F811
    in_stream,
):
    """The page written again after the seal with a number pyHanko cannot read:
    pyHanko's difference analysis fails on it (before: INTERNAL; the member read as
    null failed as "No container reference available"), its signature still holds:
    intact and MODIFIED, naming the page."""
    page = (
        b"<< /Type /Page /Parent 2 0 R /Resources 3 0 R /Contents 5 0 R "
        b"/MediaBox [0 0 595.5.5 842] >>"
    )
    if in_stream:
        updated = stream_update(
            sealed_plain, {41: object_stream([(4, page)])}, {4: (2, 41, 0)}
        )
    else:
        updated = raw_update(sealed_plain, {(4, 0): page})
    intact, modified, detail = await _one(updated, seal_ca.cert)
    assert intact and modified, detail
    assert detail.startswith("object 4"), detail
    assert "written after it (revision 2), cannot be read" in detail, detail
