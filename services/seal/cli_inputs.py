"""The files the seal commands read, told by their content before any call.

A new user's trial typed ``seal verify IN.pdf IN.ses`` (the arguments swapped) and
got ``verdict MALFORMED … not DER``, exit 1: a verdict on a signature never given.
A file that is plainly another kind than the command takes (a PDF, an OFD package, a
PNG, a PEM certificate, a DER signature: :data:`certseal.cli_options.OUTPUT_KINDS`
tells them, as it does for the files a command writes) is bad input, named by the
argument that gave it (``error: signature: IN.pdf is a PDF, not an SES_Signature
(arguments swapped?)``, exit 2). A file of no kind known here is the service's to
judge: a damaged signature that is still DER gets its MALFORMED verdict.
"""

from __future__ import annotations

from pathlib import Path

from certseal.bounds import MAX_DOCUMENT_FILE_BYTES
from certseal.cli_options import OUTPUT_KINDS
from certseal.errors import invalid
from certseal.files import read_input_file

PDF = "a PDF"
OFD = "an OFD package (ZIP)"
SIGNATURE = "a DER SES_Signature"

#: what each kind is called when it is the one missing, and the command taking it
_WANTED = {
    PDF: ("a PDF", "seal verify-pdf FILE"),
    OFD: ("an OFD package", "seal verify-ofd FILE"),
    SIGNATURE: ("an SES_Signature", "seal verify SIGNATURE FILE"),
}


def kind_of(data: bytes, name: str) -> str | None:
    """The kind of file (of :data:`~certseal.cli_options.OUTPUT_KINDS`) ``data``,
    read from the file ``name``, is; None for none of them."""
    path, head = Path(name), data[:1024]
    return next((k for k, is_kind in OUTPUT_KINDS.items() if is_kind(path, head)), None)


def read_as(name: str, field: str, kind: str) -> bytes:
    """The file ``name`` (within the document bound), unless it is plainly another
    kind than ``kind``: then INVALID_ARGUMENT (``field``) saying what it is and the
    command that takes it."""
    data = read_input_file(name, field, MAX_DOCUMENT_FILE_BYTES)
    found = kind_of(data, name)
    if found is not None and found != kind:
        wanted, _ = _WANTED[kind]
        taken = _WANTED.get(found)
        hint = f" ({taken[1]} takes it)" if taken else ""
        raise invalid(field, f"{name} is {found}, not {wanted}{hint}")
    return data


def read_signed(signature_name: str, document_name: str) -> tuple[bytes, bytes]:
    """``seal verify``'s signature and document. A signature that is of another known
    kind or not DER at all (no SEQUENCE) is INVALID_ARGUMENT (``signature``), said
    as swapped arguments when the document is the signature."""
    signature = read_input_file(signature_name, "signature", MAX_DOCUMENT_FILE_BYTES)
    document = read_input_file(document_name, "file", MAX_DOCUMENT_FILE_BYTES)
    found = kind_of(signature, signature_name)
    if found == SIGNATURE or (found is None and signature.startswith(b"\x30")):
        return signature, document
    what = f"{found}, not" if found else "not DER, so not"
    swapped = kind_of(document, document_name) == SIGNATURE
    hint = " (arguments swapped?)" if swapped else ""
    if not swapped and found in (PDF, OFD):
        hint = f" ({_WANTED[found][1]} verifies a sealed one)"
    raise invalid("signature", f"{signature_name} is {what} an SES_Signature{hint}")
