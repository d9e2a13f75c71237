"""The files the seal commands read, told by their content before any call.

A new user's trial typed ``seal verify IN.pdf IN.ses`` (the arguments swapped) and
got ``verdict MALFORMED … not DER``, exit 1: a verdict on a signature never given.
A file that is plainly another kind than the command takes (a PDF, an OFD package, a
PNG, a PEM certificate, a DER signature: :data:`certseal.filekinds.OUTPUT_KINDS`
tells them, as it does for the files a command writes) is bad input, named by the
argument that gave it (``error: signature: IN.pdf is a PDF, not an SES_Signature
(arguments swapped?)``, exit 2). A file of no kind known here is the service's to
judge: a damaged signature that is still DER gets its MALFORMED verdict. A PDF
or an OFD package is told by its content alone, so a file of no kind known here is
refused as one too (trial 2a: ``seal verify-ofd README.md``, ``seal pdf SEAL
OUT.ofd`` were named by the service's ``pdf`` and ``ofd`` fields and misdescribed:
``error: file: README.md is not an OFD package (not a ZIP archive)``).

A sealed file written over the file read says so (:func:`write_sealed`).
"""

from __future__ import annotations

import os

from certseal.bounds import DOCUMENT_FILE_LIMIT, MAX_DOCUMENT_FILE_BYTES
from certseal.cli_options import write_output
from certseal.errors import invalid
from certseal.filekinds import OFD, PDF, SIGNATURE, kind_of, refuse_other_kind
from certseal.files import read_input_file
from certseal.text import shown_name

__all__ = [
    "OFD",
    "PDF",
    "SIGNATURE",
    "check_signed",
    "read_as",
    "read_document",
    "write_sealed",
]

#: the command that verifies each kind, and the one that seals it
_VERIFIES = {
    PDF: "seal verify-pdf FILE",
    OFD: "seal verify-ofd FILE",
    SIGNATURE: "seal verify SIGNATURE FILE",
}
_SEALS = {PDF: "seal pdf SEAL-ID FILE", OFD: "seal ofd SEAL-ID FILE"}


def read_document(name: str, field: str) -> bytes:
    """A document, PDF, signature or picture file: a regular file within the CLI's
    own bound, :data:`~certseal.bounds.MAX_DOCUMENT_FILE_BYTES` (it keeps the CLI's
    memory bounded; the seal service holds a document to its own limit), else
    INVALID_ARGUMENT (``field``) saying the size and the bound in MiB."""
    return read_input_file(
        name, field, MAX_DOCUMENT_FILE_BYTES, limit_text=DOCUMENT_FILE_LIMIT
    )


def read_as(name: str, field: str, kind: str, *, sealing: str = "") -> bytes:
    """The file ``name`` (within the document bound), unless it is plainly not
    ``kind`` (:func:`certseal.filekinds.what_it_is`): then INVALID_ARGUMENT
    (``field``) saying what it is and, of a kind the seal commands take, the
    command that takes it (that seals it, when ``sealing``: the seal id given). A
    file not found where the seal id given is a file is said as swapped arguments
    (trial47: ``seal pdf IN.pdf SEAL-ID`` said the seal id could not be read)."""
    if sealing and not os.path.lexists(name) and os.path.isfile(sealing):
        raise invalid(
            field,
            f"{shown_name(name)} is not found, and the seal id given, "
            f"{shown_name(sealing)}, is a file (arguments swapped? {_SEALS[kind]})",
        )
    data = read_document(name, field)
    takes = {k: f" ({c} takes it)" for k, c in _VERIFIES.items()}
    if sealing:
        takes.update({k: f" ({c} seals it)" for k, c in _SEALS.items()})
    refuse_other_kind(data, name, field, kind, takes)
    return data


def check_signed(signature: bytes, signature_name: str, document: bytes) -> None:
    """``seal verify``'s signature, read from ``signature_name``: one that is of
    another known kind or not DER at all (no SEQUENCE) is INVALID_ARGUMENT
    (``signature``), said as swapped arguments when the document (``document``: it,
    or its first chunk, :func:`services.seal.cli_document.verify_request`) is the
    signature."""
    found = kind_of(signature)
    if found == SIGNATURE or (found is None and signature.startswith(b"\x30")):
        return
    what = f"{found}, not" if found else "not DER, so not"
    swapped = kind_of(document) == SIGNATURE
    hint = " (arguments swapped?)" if swapped else ""
    if not swapped and found in (PDF, OFD):
        hint = f" ({_VERIFIES[found]} verifies a sealed one)"
    raise invalid(
        "signature", f"{shown_name(signature_name)} is {what} an SES_Signature{hint}"
    )


def write_sealed(out: str, data: bytes, source: str, replaced: str) -> str:
    """Write ``data`` to ``out`` (``--out``, :func:`certseal.cli_options.write_output`)
    and return the file as the command's report names it: its name, and when it is
    now the file ``source`` names, the file read (given as the same path, another
    path to it, or a symbolic link either way), that it replaced ``replaced`` (the
    file read, which may carry seals already): trial49 L10, ``seal pdf S IN.pdf
    --out IN.pdf`` said only "sealed PDF written to IN.pdf". Compared after the write: a hard link to the
    file read, written, leaves the original under its other name. The file read
    left with no name by the write is replaced too: ``/dev/stdin`` redirected from
    ``IN.pdf`` (its descriptor keeps the original, unlinked; atk52)."""
    before = _file_identity(source)
    write_output(out, data, "out")
    shown = shown_name(out)
    try:
        same = os.path.samefile(out, source)
    except OSError:  # either gone, or not to be looked at: not known to be one
        same = False
    after = _file_identity(source)
    unnamed = before is not None and after == (*before[:2], 0) and before[2] > 0
    if not (same or unnamed):
        return shown
    given = "" if out == source else f" (given as {shown_name(source)})"
    return f"{shown}, replacing {replaced}{given}"


def _file_identity(path: str) -> tuple[int, int, int] | None:
    """The device, inode and link count of the file ``path`` names, or None."""
    try:
        status = os.stat(path)
    except OSError:
        return None
    return status.st_dev, status.st_ino, status.st_nlink
