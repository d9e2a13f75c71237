"""The encodings an OFD package's XML is read in: only those expat reads as a reader
of that encoding does (services/seal/ofd_xml.py ``_decoded``).

Expat reads an encoding it does not know through Python's codec one byte at a time,
so a stateful encoding (HZ, ISO-2022, UTF-7) or a transforming one (unicode_escape)
was read as plain text where its own readers see shifts and escapes: two readers of
one OFD.xml saw two DocRoots.
"""

from __future__ import annotations

import codecs

import pytest

from certseal.errors import CertsealError, ErrorKind
from services.seal.ofd_xml import parse_xml

_DOC_ROOT = "Doc_0/Document.xml"


def _ofd_xml(encoding: str, doc_root: bytes = _DOC_ROOT.encode()) -> bytes:
    return (
        f'<?xml version="1.0" encoding="{encoding}"?><ofd:OFD '.encode()
        + b'xmlns:ofd="http://www.ofdspec.org/2016"><ofd:DocBody><ofd:DocRoot>'
        + doc_root
        + b"</ofd:DocRoot></ofd:DocBody></ofd:OFD>"
    )


def _refused(data: bytes) -> CertsealError:
    with pytest.raises(CertsealError) as err:
        parse_xml(data, "OFD.xml")
    assert err.value.kind is ErrorKind.INVALID_ARGUMENT
    assert err.value.field == "ofd"
    assert "OFD.xml" in err.value.message
    return err.value


@pytest.mark.parametrize(
    ("encoding", "doc_root"),
    [
        # each reads as Doc_0/Document.xml to expat and as another name to its readers
        ("HZ", b"Doc_0/~{Document~}.xml"),
        ("hz-gb-2312", b"Doc_0/~{Document~}.xml"),
        ("ISO-2022-JP", b"Doc_0/\x1b$BDocument\x1b(B.xml"),
        ("iso2022_jp_2", b"Doc_0/\x1b$BDocument\x1b(B.xml"),
        ("ISO-2022-KR", b"Doc_0/Document.xml"),
        ("unicode_escape", b"Doc_0\\x2fEvil.xml"),
        ("raw_unicode_escape", b"Doc_0/\\u0044ocument.xml"),
        ("UTF-7", b"Doc_0+AC8-Evil.xml"),
        ("utf-8-sig", b"Doc_0/Document.xml"),
        ("Shift_JIS", b"Doc_0/Document.xml"),
        ("Big5", b"Doc_0/Document.xml"),
        ("UTF-32", b"Doc_0/Document.xml"),
        ("x-no-such-encoding", b"Doc_0/Document.xml"),
        ("rot13", b"Doc_0/Document.xml"),
        ("punycode", b"Doc_0/Document.xml"),
        ("idna", b"Doc_0/Document.xml"),
        # a name Python resolves after folding its punctuation, past any length
        ("-" * 80 + "hz", b"Doc_0/Document.xml"),
        ("_" * 200 + "ISO-2022-JP", b"Doc_0/Document.xml"),
    ],
)
def test_an_encoding_expat_would_misread_or_cannot_read_is_refused(encoding, doc_root):
    error = _refused(_ofd_xml(encoding, doc_root))
    assert repr(encoding) in error.message or encoding in error.message
    assert "cannot be read in" in error.message


@pytest.mark.parametrize(
    ("encoding", "text"),
    [
        ("UTF-8", "行政许可"),
        ("utf8", "行政许可"),
        ("US-ASCII", "Document"),
        ("ISO-8859-1", "Café"),
        ("windows-1252", "Café €"),
        ("KOI8-R", "Документ"),
        ("cp1251", "Документ"),
        ("latin-1", "Ærø"),
        ("GBK", "行政许可"),
        ("GB2312", "行政许可"),
        ("GB18030", "行政许可 €"),
    ],
)
def test_encodings_read_as_their_readers_read_them_are_kept(encoding, text):
    declared = _ofd_xml(encoding, b"@@").decode("ascii")
    data = declared.replace("@@", text).encode(codecs.lookup(encoding).name)
    root = parse_xml(data, "OFD.xml")
    assert root[0][0].text == text


def test_utf8s_mark_with_another_declared_encoding_is_refused():
    bom = codecs.BOM_UTF8
    # expat follows the declaration after the mark: KOI8-R's 0xC1 would be "а"
    error = _refused(bom + _ofd_xml("KOI8-R", b"Doc_0/\xc1.xml"))
    assert "byte order mark" in error.message and "KOI8-R" in error.message
    _refused(bom + _ofd_xml("unicode_escape", b"Doc_0\\x2fEvil.xml"))
    _refused(bom + _ofd_xml("GBK", "行政".encode("gbk")))
    root = parse_xml(bom + _ofd_xml("UTF-8", "行政".encode()), "OFD.xml")
    assert root[0][0].text == "行政"


def test_utf16_declared_and_written_is_read():
    text = _ofd_xml("UTF-16", "行政".encode()).decode("utf-8")
    root = parse_xml(text.encode("utf-16"), "OFD.xml")
    assert root[0][0].text == "行政"
