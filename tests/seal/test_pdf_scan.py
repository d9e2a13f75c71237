"""atk43 F2 and F3 by kind: objects read as bytes (services/seal/pdf_scan.py).

F3: an object nothing reaches costs its bytes at regular-expression speed, not
pyHanko's tokens, to seal and to verify, whatever plain syntax fills it (numbers,
references, names, strings, a dictionary holding a large array, an object stream's
member). What the scan says sure agrees with pyHanko's own reading (the numbers
named, no key given twice), on hand-written and generated objects, so every key
given twice is still heard.

F2: a name pyHanko reads as another (bytes that are no UTF-8, an escaped control
byte) written or rewritten after a seal makes it MODIFIED, wherever it stands (a
value, an array, an object stream); sealing refuses a PDF whose object the seal
rewrites holds one, and seals one whose such names the seal leaves as written.
"""

from __future__ import annotations

import io
import random
import time

import pytest
from pyhanko.pdf_utils import generic

from certseal.errors import CertsealError
from services.seal.pdf import MAX_PDF_NESTING
from services.seal.pdf_after import _numbers_named
from services.seal.pdf_scan import MAX_SURE_NESTING, name_problem, scan
from services.seal.pdf_twice import REWRITTEN, hearing
from services.seal.pdf_verify import read_pdf_seals
from tests.seal.field_pdfs import Tree, page_pdf
from tests.seal.test_atk38_pdf_streams import stream_update
from tests.seal.test_atk38c_pdf import classic_pdf
from tests.seal.test_atk38d import raw_update
from tests.seal.test_atk43_pdf import _PLAIN, _latin_utf8_page
from tests.seal.test_field_pdfs import keys, seal, seal_ca  # noqa: F401

_MIB = 800 << 10

#: objects nothing reaches, each about 0.8 MiB of one kind of plain syntax
LARGE = {
    "numbers": b"[" + b"0 " * (_MIB // 2) + b"]",
    "references": b"[" + b"1 0 R " * (_MIB // 6) + b"]",
    "names": b"[" + b"/a " * (_MIB // 3) + b"]",
    "strings": b"[" + b"(a) " * (_MIB // 4) + b"]",
    "dictionary holding an array": b"<< /A [" + b"0 " * (_MIB // 2) + b"] >>",
    "many keys": b"<< " + b"".join(b"/k%d 0 " % i for i in range(_MIB // 10)) + b">>",
}


def _object_stream(number: int, member: int, body: bytes) -> bytes:
    """An uncompressed object stream (``number``) holding ``member`` as ``body``."""
    head = b"%d 0 " % member
    data = head + body
    return b"<< /Type /ObjStm /N 1 /First %d /Length %d >>\nstream\n%s\nendstream" % (
        len(head),
        len(data),
        data,
    )


class _Lenient:
    strict = False

    def get_pdf_handler(self) -> _Lenient:
        return self


def _pyhanko(body: bytes) -> tuple[set[int], bool] | None:
    """The numbers pyHanko's reading of ``body`` names and whether it heard a key
    given twice, or None when it cannot read it."""
    try:
        with hearing() as heard:
            value = generic.read_object(io.BytesIO(body), _Lenient())  # type: ignore[arg-type]
    except Exception:
        return None
    return _numbers_named(value), bool(heard)


HAND_WRITTEN = [
    b"<< /Type /Page /Parent 2 0 R /Contents [5 0 R 6 0 R] /MediaBox [0 0 595 842] >>",
    b"[0 1 0 R]",
    b"[1  0\n R]",
    b"<< /A [1 2 3 R] >>",
    b"<</A 1 0 R/B[2 0 R]/C<</D 3 0 R>>>>",
    b"[(x 1 0 R) 5 0 R (a(b)c\\)) <01 ab>]",
    b"<< /A 1 /A 2 >>",
    b"<< /A << /B 1 /B 2 >> >>",
    b"[<< /A 1 >> << /A 1 /A 2 >>]",
    b"<< /#E9 1 /#C3#A9 2 >>",
    b"<< /A#42 1 /AB 2 >>",
    b"[+1 0 R]",
    b"[% 1 0 R\n 2]",
    b"<< /A 1 0 R /A 2 0 R >>",
    b"<< /Length 5 >>\nstream\nhello\nendstream",
    b"[(\\q) 1 0 R]",
    b"[1 0 R]",
    b"[true false null /R 7 0 R]",
    b"<< /A >>",
]


def _generated(rng: random.Random, depth: int = 0) -> bytes:
    """A random object of plain syntax and some that is not, with keys that repeat
    now and then."""
    space = rng.choice([b" ", b"\n", b"  ", b"\r\n", b"", b"\t"])
    pick = rng.random()
    if depth < 4 and pick < 0.25:
        keys_ = [rng.choice([b"/A", b"/B", b"/#41", b"/#E9", b"/#C3#A9", b"/C"])]
        keys_ += [rng.choice([b"/A", b"/B", b"/D", b"/E", b"/F"]) for _ in range(3)]
        return (
            b"<<"
            + b"".join(
                k + rng.choice([b" ", b""]) + _generated(rng, depth + 1) + space
                for k in keys_[: rng.randint(0, 4)]
            )
            + b">>"
        )
    if depth < 4 and pick < 0.45:
        items = [_generated(rng, depth + 1) for _ in range(rng.randint(0, 5))]
        return b"[" + b" ".join(items) + space + b"]"
    return rng.choice(
        [
            b"%d 0 R" % rng.randint(0, 30),
            b"%d%s%d%sR"
            % (rng.randint(0, 30), space or b" ", rng.randint(0, 2), space or b" "),
            b"%d" % rng.randint(-5, 30),
            b"1.5",
            b"/Name",
            b"/#E9",
            b"(s %d 0 R)" % rng.randint(0, 9),
            b"(a\\)b(c))",
            b"<0a1B>",
            b"true",
            b"null",
            b"R",
            b"%c\n1",
        ]
    )


_BYTES = b" \n\r\t\x0b\x00()<>[]{}/%#R0123456789.+-abeflnrstuE9\\"


def _mutated(rng: random.Random) -> bytes:
    """A generated object with a few bytes deleted, inserted or replaced."""
    body = bytearray(_generated(rng))
    for _ in range(rng.randint(1, 3)):
        at = rng.randrange(len(body) + 1)
        if rng.random() < 0.4 and body:
            del body[min(at, len(body) - 1)]
        else:
            body.insert(at, rng.choice(_BYTES))
    return bytes(body)


def test_a_sure_scan_reads_what_pyhanko_reads():
    """Where the scan is sure, pyHanko names the same numbers and hears no key
    given twice; every object in which pyHanko hears one leaves the scan unsure."""
    rng = random.Random(43)
    bodies = HAND_WRITTEN + [_generated(rng) for _ in range(4000)]
    bodies += [_mutated(rng) for _ in range(4000)]
    sure = 0
    for body in bodies:
        padded = body + b"\nendobj\n"
        found = scan(padded, 0, len(padded))
        read = _pyhanko(padded)
        if read is None:
            continue
        numbers, twice = read
        if twice:
            assert not found.sure, body
        if found.sure:
            sure += 1
            assert set(found.numbers) == numbers, body
    assert sure > 3000


def test_a_comment_to_the_end_of_the_data_is_no_endless_read():
    """pyHanko reads a comment up to an end of line, and at the end of the data
    read on forever: an object stream's member ``%c`` spun a sealing thread."""
    for body in (b"%c", b"[1 %c", b"<< /A %"):
        assert _pyhanko(body) is None
        assert not scan(body, 0, len(body)).sure


@pytest.mark.parametrize("body", [b"%c", b"[1 %c"])
async def test_a_member_whose_comment_runs_to_the_end_is_refused_or_modified(
    sealed_page,
    seal_ca,  # noqa: F811
    keys,  # noqa: F811
    body,
):
    """No endless read: sealing a PDF holding such a member in use is refused naming
    it (an unreadable object in use is not sealed, atk43 F4), and one written after
    a seal makes it MODIFIED, still intact."""
    member = ({41: _object_stream(41, 40, body)}, {40: (2, 41, 0)})
    with pytest.raises(
        CertsealError, match=r"object 40 \(member 0 of object stream 41\)"
    ):
        await seal(seal_ca, keys, stream_update(classic_pdf(_PLAIN, 6), *member))
    [(intact, modified, detail)] = await _verdicts(
        stream_update(sealed_page, *member), seal_ca.cert
    )
    assert intact and modified, detail
    assert "object 40" in detail, detail


def test_names_pyhanko_reads_as_another():
    assert name_problem(b"#E9") and name_problem(b"#c3#28")  # no UTF-8
    assert name_problem(b"a#0A") and name_problem(b"a#4")  # a control byte, an escape
    assert name_problem("é".encode())  # a byte pyHanko does not read unescaped
    assert not name_problem(b"#C3#A9") and not name_problem(b"A#42")
    assert not name_problem(b"Type") and not name_problem(b"a#20b")
    assert MAX_SURE_NESTING <= MAX_PDF_NESTING


# -- F3 by kind ------------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(LARGE))
async def test_an_object_nothing_reaches_seals_quickly_whatever_it_holds(
    seal_ca,  # noqa: F811
    keys,  # noqa: F811
    kind,
):
    pdf = classic_pdf({**_PLAIN, 6: LARGE[kind]}, 7)
    started = time.process_time()
    await seal(seal_ca, keys, pdf)
    spent = time.process_time() - started
    assert spent < 1.0, f"{kind}: {spent:.2f} s of CPU"


@pytest.fixture(scope="module")
async def sealed_page(seal_ca, keys) -> bytes:  # noqa: F811
    return await seal(seal_ca, keys, page_pdf(Tree()))


async def _verdicts(pdf: bytes, ca: bytes) -> list[tuple[bool, bool, str]]:
    return [(s.intact, s.modified, s.detail) for s in await read_pdf_seals(pdf, ca=ca)]


@pytest.mark.parametrize("kind", sorted(LARGE))
async def test_an_object_nothing_reaches_verifies_quickly_whatever_it_holds(
    sealed_page,
    seal_ca,  # noqa: F811
    kind,
):
    updated = raw_update(sealed_page, {(40, 0): LARGE[kind]})
    started = time.process_time()
    [(intact, modified, detail)] = await _verdicts(updated, seal_ca.cert)
    spent = time.process_time() - started
    assert spent < 1.0, f"{kind}: {spent:.2f} s of CPU"
    assert intact and not modified, detail


async def test_a_member_nothing_reaches_verifies_quickly(sealed_page, seal_ca):  # noqa: F811
    updated = stream_update(
        sealed_page,
        {41: _object_stream(41, 40, LARGE["references"])},
        {40: (2, 41, 0)},
    )
    started = time.process_time()
    [(intact, _modified, detail)] = await _verdicts(updated, seal_ca.cert)
    spent = time.process_time() - started
    assert spent < 1.0, f"{spent:.2f} s of CPU"
    assert intact, detail


async def test_a_key_given_twice_in_a_large_object_is_still_heard(
    sealed_page,
    seal_ca,  # noqa: F811
):
    """The scan leaves an object giving a key twice to pyHanko, however large."""
    twice = b"<< /A [" + b"0 " * 1000 + b"] /B 1 /B 2 >>"
    updated = raw_update(sealed_page, {(40, 0): twice})
    [(intact, modified, detail)] = await _verdicts(updated, seal_ca.cert)
    assert intact and modified and detail.startswith(REWRITTEN), detail
    assert "/B" in detail, detail


# -- F2 by kind ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b"[/#E9]",  # a value in an array nothing reaches
        b"<< /Type /#E9 >>",
        b"<< /a#0A 1 >>",  # an escaped control byte
        b"<< /XObject << /#C3#A9 6 0 R /Fm#E9 6 0 R >> >>",
    ],
    ids=["array", "value", "control-byte", "key"],
)
async def test_a_name_pyhanko_reads_as_another_after_the_seal_is_modified(
    sealed_page,
    seal_ca,  # noqa: F811
    body,
):
    updated = raw_update(sealed_page, {(40, 0): body})
    [(intact, modified, detail)] = await _verdicts(updated, seal_ca.cert)
    assert intact and modified and detail.startswith(REWRITTEN), detail
    assert "pyHanko reads it as another name" in detail, detail


async def test_a_name_pyhanko_reads_as_another_in_an_object_stream_is_modified(
    seal_ca,  # noqa: F811
    keys,  # noqa: F811
):
    """The resources renamed from ``/#E9`` to ``/#C3#A9`` in an object stream."""
    sealed = await seal(seal_ca, keys, _latin_utf8_page(b"/#E9"))
    renamed = b"<< /XObject << /#C3#A9 6 0 R >> >>"
    updated = stream_update(
        sealed, {41: _object_stream(41, 3, renamed)}, {3: (2, 41, 0)}
    )
    [(intact, modified, detail)] = await _verdicts(updated, seal_ca.cert)
    assert intact and modified, detail
    assert "object 3, which held the name /#E9" in detail, detail


@pytest.mark.parametrize(
    "page",
    [
        b"/Resources << /XObject << /#E9 6 0 R >> >>",
        b"/Resources 3 0 R /PieceInfo << /#E9 << /LastModified (D:2024) >> >>",
        b"/Resources 3 0 R /Tabs /S /Group << /S /Transparency /CS /a#0A >>",
    ],
    ids=["resources", "piece-info", "control-byte"],
)
async def test_a_pdf_whose_rewritten_page_holds_such_a_name_is_not_sealed(
    seal_ca,  # noqa: F811
    keys,  # noqa: F811
    page,
):
    pdf = classic_pdf(
        {
            **_PLAIN,
            4: b"<< /Type /Page /Parent 2 0 R %s /Contents 5 0 R "
            b"/MediaBox [0 0 595 842] >>" % page,
            6: b"<< /Type /XObject /Subtype /Form /BBox [0 0 1 1] /Length 0 >>\n"
            b"stream\n\nendstream",
        },
        7,
    )
    with pytest.raises(CertsealError) as refused:
        await seal(seal_ca, keys, pdf)
    assert refused.value.field == "pdf"
    assert "object 4, which the seal rewrites" in refused.value.message


async def test_a_pdf_whose_such_names_the_seal_leaves_is_sealed(
    seal_ca,  # noqa: F811
    keys,  # noqa: F811
):
    """Names the seal does not rewrite keep their bytes: a font named in GBK (宋体)
    in resources of their own, an unreferenced object."""
    pdf = classic_pdf(
        {
            **_PLAIN,
            3: b"<< /Font << /F1 6 0 R >> >>",
            6: b"<< /Type /Font /Subtype /Type1 /BaseFont /#CB#CE#CC#E5 >>",
            7: b"[/#E9]",
        },
        8,
    )
    sealed = await seal(seal_ca, keys, pdf)
    assert b"/#CB#CE#CC#E5" in sealed
    [(intact, modified, detail)] = await _verdicts(sealed, seal_ca.cert)
    assert intact and not modified, detail
