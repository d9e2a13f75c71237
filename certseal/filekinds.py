"""What kind of file a command is given or would replace, told by its content (the
first KiB, and for DER and OFD its size or ZIP directory) or, for a file a command
writes, by its name's extension.

The content is the bytes the command read (and holds, and would send), never the
path opened again: a file swapped for another after the read (an editor's save,
another process) must not decide the check, and a FIFO swapped in must not block
it. A name in a refusal is shown by :func:`certseal.text.shown_name` (a name with a
line feed or an escape sequence forges no second ``error:`` line).

Commands read and write PDFs, OFD packages, DER signatures, PNG pictures, PEM
certificates and signed checkpoints. A new user's trials gave one where another was
taken (``seal pdf SEAL OUT.ofd``, ``log verify --old Makefile``, ``--out l3.ofd``
for a PDF) and were answered in the service's field names or not at all: a file of
a kind known here that is not the kind the command takes is refused by the
argument that named it, saying what the file is (:func:`refuse_other_kind`), and
an output whose extension names another kind than the command writes is refused
before the command runs (:func:`named_kind`). Split from
:mod:`certseal.cli_options` by size.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path

from certseal.errors import invalid
from certseal.text import shown_name

PDF = "a PDF"
OFD = "an OFD package (ZIP)"
SIGNATURE = "a DER SES_Signature"
CHECKPOINT = "a signed checkpoint"
PNG = "a PNG image"


def _der(data: bytes) -> bool:
    """Whether ``data`` is one DER SEQUENCE (X.690 §8.1): its header's length says
    where it ends, and it ends with the file (a text starting with "0" is none)."""
    head = data[:8]
    if len(head) < 2 or head[0] != 0x30:
        return False
    if head[1] < 0x80:
        header, length = 2, head[1]
    elif 0x81 <= head[1] <= 0x84 and len(head) >= 2 + (head[1] & 0x7F):
        count = head[1] & 0x7F
        header, length = 2 + count, int.from_bytes(head[2 : 2 + count], "big")
    else:
        return False
    return header + length == len(data)


def _zip_names(data: bytes) -> list[str] | None:
    """The names in the ZIP directory of ``data`` (the bytes read, bounded by that
    read), or None when ``data`` is no readable ZIP."""
    if not data.startswith(b"PK\x03\x04"):
        return None
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as package:
            return package.namelist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return None


def _ofd(data: bytes) -> bool:
    """Whether ``data`` is a ZIP holding an ``OFD.xml`` (GB/T 33190 §7.2), not any
    ZIP (a .docx)."""
    names = _zip_names(data)
    return names is not None and any(n.lower() == "ofd.xml" for n in names)


_CHECKPOINT_LINES = re.compile(rb"[^\s]+\n[0-9]+\n[A-Za-z0-9+/]{43}=\n")

#: what a command writes, told by the file's bytes (its first KiB, and for DER and
#: OFD its size or ZIP directory): an existing file the command would replace must be one
#: (or empty), so that a mistyped ``--out`` never replaces README.md or a key
#: (a new user's trial: every writer but ``bundle fetch`` replaced them)
OUTPUT_KINDS: dict[str, Callable[[bytes], bool]] = {
    PDF: lambda data: data[:1024].lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"%PDF-"),
    OFD: _ofd,
    PNG: lambda data: data.startswith(b"\x89PNG\r\n\x1a\n"),
    SIGNATURE: _der,
    "a PEM certificate": lambda data: (
        data[:1024].lstrip().startswith(b"-----BEGIN CERTIFICATE-----")
    ),
    CHECKPOINT: lambda data: _CHECKPOINT_LINES.match(data[:1024]) is not None,
}
#: the kind a file's extension names: the kinds the commands write and read by it,
#: and kinds no command writes whose names no one gives what a command does write
#: (trial45: a PDF written as x.docx, a PNG as x.jpg; atk46 F5, F6: as x.pem, qr.der,
#: x.zip, x.jfif, x.rtf ...). Text (.txt, .json) is left out: a checkpoint is text.
_EXTENSIONS = {
    ".pdf": PDF,
    ".ofd": OFD,
    ".zip": OFD,  # an OFD package is a ZIP: a PDF named .zip is refused
    ".png": PNG,
    ".der": SIGNATURE,
    ".sig": SIGNATURE,
    **dict.fromkeys((".pem", ".crt", ".cer"), "a PEM certificate"),
    **dict.fromkeys((".p7s", ".p7b", ".p7m", ".p12", ".pfx"), "a PKCS file"),
    **dict.fromkeys(
        (".jpg", ".jpeg", ".jfif", ".gif", ".bmp", ".tif", ".tiff", ".webp", ".heic",
         ".heif", ".avif", ".svg", ".ico"),
        "an image of another format",
    ),
    **dict.fromkeys(
        (".doc", ".docx", ".docm", ".dotx", ".xls", ".xlsx", ".xlsm", ".ppt", ".pptx",
         ".pptm", ".odt", ".ods", ".odp", ".rtf", ".wps", ".et", ".dps"),
        "an office document",
    ),
}  # fmt: skip

#: the start of a checkpoint (origin, tree size, root hash) as the note parser
#: reads one, its origin any text
_NOTE_START = re.compile(rb"[^\n]+\n[0-9]+\n[A-Za-z0-9+/]{43}=\n")

#: what a file that is no known kind is said to be, when another kind was wanted
_NOT = {
    PDF: "is not a PDF (no %PDF- header)",
    CHECKPOINT: "is not a signed checkpoint (its first lines are no origin, tree "
    "size and base64 root hash: certseal log checkpoint --out FILE writes one)",
}


def kind_of(data: bytes) -> str | None:
    """The kind of file (of :data:`OUTPUT_KINDS`) ``data``, the bytes read from a
    file, is; None for none of them."""
    return next((k for k, is_kind in OUTPUT_KINDS.items() if is_kind(data)), None)


def named_kind(name: str | Path) -> str | None:
    """The kind (:data:`PDF`, :data:`OFD`, :data:`PNG`, an image of another format,
    an office document) the extension of ``name`` names, as a reader opening it by
    its name takes it; None for any other name."""
    return _EXTENSIONS.get(Path(name).suffix.lower())


def called(kind: str) -> str:
    """``kind`` as a sentence names the kind wanted (``an OFD package``)."""
    return {
        OFD: "an OFD package",
        SIGNATURE: "an SES_Signature",
        PNG: "an image (PNG, JPEG or HEIC)",  # the pictures certseal.qr reads
    }.get(kind, kind)


def what_it_is(data: bytes, wanted: str, hints: Mapping[str, str] = {}) -> str | None:
    """What a file holding ``data`` (the bytes read) is, when a command wanted ``wanted``
    (one of :data:`OUTPUT_KINDS`): ``is a PDF, not an OFD package`` and the hint
    ``hints`` holds for a PDF (`` (seal verify-pdf FILE takes it)``) for another
    known kind; ``is not a PDF (no %PDF- header)`` for none known when ``wanted``
    is told by its content alone (a PDF, an OFD package, a checkpoint); None when
    it is of ``wanted``'s kind, or may be (a damaged signature or ZIP is the
    service's to judge)."""
    found = kind_of(data)
    if found == wanted:
        return None
    if found is not None:
        return f"is {found}, not {called(wanted)}{hints.get(found, '')}"
    if wanted == OFD:
        if not data.startswith(b"PK\x03\x04"):
            return "is not an OFD package (not a ZIP archive)"
        if _zip_names(data) is None:
            return None  # a damaged package: the service says what is wrong
        return "is a ZIP archive but not an OFD package (no OFD.xml)"
    if wanted == CHECKPOINT and _NOTE_START.match(data[:1024]):
        return None  # an origin with a space, a damaged signature: the parser says
    return _NOT.get(wanted)


def refuse_other_kind(
    data: bytes,
    name: str | Path,
    field: str,
    wanted: str,
    hints: Mapping[str, str] = {},
) -> None:
    """INVALID_ARGUMENT (``field``, the argument or option that named the file)
    when the file ``name`` holding ``data`` is plainly not ``wanted``
    (:func:`what_it_is`): ``old: NAME is a PDF, not a signed checkpoint``."""
    said = what_it_is(data, wanted, hints)
    if said is not None:
        raise invalid(field, f"{shown_name(name)} {said}")


def looks_like_text(data: bytes) -> bool:
    """Whether ``data`` (a file's bytes) reads as text: its first KiB UTF-8 (a
    character cut at its end allowed) with no NUL and no control character but tab,
    line feed, carriage return and form feed. A README given for a seal or picture."""
    head = data[:1024]
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 3:
            return False
        text = head[: exc.start].decode("utf-8")
    return bool(text) and not any(c < " " and c not in "\t\n\r\f" for c in text)


#: the first bytes of a PNG and of a JPEG (a HEIC's are its ftyp box, at 4)
_PICTURES = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff")


def not_a_picture(data: bytes) -> str | None:
    """What a file holding ``data`` is not, when it starts as no picture
    :mod:`certseal.qr` reads does (``is not a PNG, JPEG or HEIC image: it looks
    like text``); None when it may be one (its decoder judges the rest)."""
    if data.startswith(_PICTURES) or data[4:8] == b"ftyp":
        return None
    text = ": it looks like text" if looks_like_text(data) else ""
    return f"is not a PNG, JPEG or HEIC image{text}"
