"""atk34 (a): a location naming a file the package does not hold, by a character
that does not print.

A ``DocRoot`` of ``Doc_0/Document.xml`` and a zero-width space (U+200B), or a
right-to-left override (U+202E) before a reversed name, is refused, INVALID_ARGUMENT
``ofd``: "the package has no Doc_0/Document.xml" with the character as it is
(ofd_package.package_xml's message). A user (or the console, the message shown as
it came) reads that the package lacks the very file it holds, or a name shown in
another order than it is. The kernel's rule for a name in a message
(certseal.text.shown_name: quoted, each character that does not print escaped, as
``'/' names no file`` is already said) is not applied here.

A user needs the name as it is: ``'Doc_0/Document.xml\\u200b'``.
"""

import re

import pytest

from certseal.errors import CertsealError, ErrorKind, status_details
from services.seal.ofd import open_document
from services.seal.ofd_package import read_package
from tests.seal.ofd_samples import make_ofd, unzip, zip_files


def _with_root(root: str) -> bytes:
    files = unzip(make_ofd())
    files["OFD.xml"] = re.sub(
        rb"<ofd:DocRoot>[^<]*</ofd:DocRoot>",
        lambda _: b"<ofd:DocRoot>" + root.encode() + b"</ofd:DocRoot>",
        files["OFD.xml"],
    )
    return zip_files(files)


def _refusal(root: str) -> str:
    with pytest.raises(CertsealError) as refused:
        open_document(read_package(_with_root(root)))
    assert (refused.value.kind, refused.value.field) == (
        ErrorKind.INVALID_ARGUMENT,
        "ofd",
    )
    # what the caller reads: the reply's details (certseal.errors.status_details)
    return status_details(refused.value).removeprefix("ofd: ")


def test_control_a_printable_missing_root_is_named():
    assert _refusal("Doc_0/Missing.xml") == "the package has no Doc_0/Missing.xml"


@pytest.mark.parametrize(
    ("root", "escaped"),
    [
        ("Doc_0/Document.xml\u200b", "\\u200b"),
        ("Doc_0/\u202elmx.tnemucoD", "\\u202e"),
    ],
    ids=["zero-width-space", "right-to-left-override"],
)
def test_a_missing_root_of_characters_that_do_not_print_is_named_escaped(root, escaped):
    message = _refusal(root)
    assert message.isprintable(), message.encode("unicode_escape")
    assert escaped in message
