"""atk-day: an OFD XML declaration whose version expat takes but certseal's pattern
does not (services/seal/ofd_xml.py ``_DECLARATION`` wants ``[0-9.]+``; expat takes any
of ``[A-Za-z0-9._-]``) is passed to expat unexamined, so a transforming encoding
declared after it is read byte by byte again.

Rule (179c4d0, services/seal/ofd_xml.py ``_decoded``): OFD XML in a stateful or
transforming encoding is refused, "not read byte by byte": otherwise certseal and a
reader of the declared encoding see two DocRoots in one OFD.xml.
"""

from __future__ import annotations

import pytest

from certseal.errors import CertsealError, ErrorKind
from services.seal.ofd_xml import parse_xml


def _ofd_xml(version: str, encoding: str, doc_root: bytes) -> bytes:
    return (
        f'<?xml version="{version}" encoding="{encoding}"?><ofd:OFD '.encode()
        + b'xmlns:ofd="http://www.ofdspec.org/2016"><ofd:DocBody><ofd:DocRoot>'
        + doc_root
        + b"</ofd:DocRoot></ofd:DocBody></ofd:OFD>"
    )


@pytest.mark.parametrize("version", ["1.x", "1_0", "v1", "1.0-1"])
@pytest.mark.parametrize(
    ("encoding", "doc_root"),
    [
        ("unicode_escape", b"Doc_0\\x2fEvil.xml"),
        ("raw_unicode_escape", b"Doc_0/\\u0045vil.xml"),
    ],
    ids=["unicode_escape", "raw_unicode_escape"],
)
def test_a_transforming_encoding_behind_an_odd_version_is_refused(
    version, encoding, doc_root
):
    with pytest.raises(CertsealError) as err:
        parse_xml(_ofd_xml(version, encoding, doc_root), "OFD.xml")
    assert err.value.kind is ErrorKind.INVALID_ARGUMENT
    assert err.value.field == "ofd"
