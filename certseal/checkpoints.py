"""Signed checkpoints of a transparency log (pure).

Formats: C2SP tlog-checkpoint (the note text: origin line, tree size in decimal, the
base64 root hash, optional extension lines) inside a C2SP signed-note (the text, a blank
line, then one ``— <key name> <base64(key ID || signature)>`` line per signature).
Ed25519 signatures are signature type 0x01: the key ID is the first 4 bytes of
SHA-256(key name || 0x0A || 0x01 || public key), and the signature is over the note text
(including its final newline). A verifier key is written
``<name>+<hex key ID>+<base64(0x01 || public key)>``, as Go's ``golang.org/x/mod/sumdb/
note`` and every C2SP witness reads it.

Parsing outside notes is bounded (:data:`MAX_NOTE_BYTES`, :data:`MAX_SIGNATURES`);
every failure is a :class:`CertsealError` naming the field.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from certseal.errors import CertsealError, ErrorKind
from certseal.merkle import HASH_SIZE

#: the largest signed note read from outside (bytes)
MAX_NOTE_BYTES = 16 * 1024
#: the most signature lines read from one note
MAX_SIGNATURES = 64
ED25519_TYPE = 0x01
_EM_DASH = "\u2014 "
_DECIMAL = re.compile(r"0|[1-9][0-9]{0,18}")
_KEY_NAME = re.compile(r"[^\s+]+")


def _bad(message: str, field: str = "checkpoint") -> CertsealError:
    return CertsealError(ErrorKind.INVALID_ARGUMENT, message, field=field)


def _b64decode(text: str, field: str) -> bytes:
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise _bad(f"not standard base64: {text[:40]!r}", field) from None


def key_id(name: str, public_key: bytes) -> bytes:
    """The C2SP signed-note key ID of an Ed25519 key: 4 bytes."""
    return hashlib.sha256(
        name.encode() + b"\n" + bytes([ED25519_TYPE]) + public_key
    ).digest()[:4]


@dataclass(frozen=True, slots=True)
class NoteVerifier:
    """One Ed25519 note-verifier key: its name, key ID and raw 32-byte public key."""

    name: str
    key_id: bytes
    public_key: bytes

    @classmethod
    def parse(cls, text: str, field: str = "log_key") -> NoteVerifier:
        """Read ``<name>+<hex key ID>+<base64(0x01 || key)>``; INVALID_ARGUMENT if not."""
        parts = text.strip().split("+", 2)
        if len(parts) != 3 or not _KEY_NAME.fullmatch(parts[0]):
            raise _bad("a verifier key is <name>+<hex key ID>+<base64 key>", field)
        name, hex_id, b64 = parts
        try:
            kid = bytes.fromhex(hex_id)
        except ValueError:
            raise _bad("the key ID is not hexadecimal", field) from None
        raw = _b64decode(b64, field)
        if len(kid) != 4 or len(raw) != 33 or raw[0] != ED25519_TYPE:
            raise _bad(
                "only Ed25519 verifier keys (type 0x01, 32 bytes) are read", field
            )
        if key_id(name, raw[1:]) != kid:
            raise _bad("the key ID does not match the key", field)
        return cls(name, kid, raw[1:])

    def encode(self) -> str:
        """``<name>+<hex key ID>+<base64(0x01 || key)>``."""
        raw = bytes([ED25519_TYPE]) + self.public_key
        return f"{self.name}+{self.key_id.hex()}+{base64.b64encode(raw).decode()}"


class NoteSigner:
    """Signs notes with an Ed25519 key under a key name (the log's origin)."""

    def __init__(
        self, name: str, private_key: Ed25519PrivateKey, field: str = "origin"
    ):
        """INVALID_ARGUMENT naming ``field`` (the setting that gave ``name``) for a
        key name with a space or a '+' (C2SP signed-note)."""
        if not _KEY_NAME.fullmatch(name):
            raise _bad("a key name has no spaces and no '+'", field)
        self.name = name
        self._key = private_key
        public = private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.verifier = NoteVerifier(name, key_id(name, public), public)

    def sign(self, text: str) -> str:
        """The signed note: ``text``, a blank line and this key's signature line."""
        body = text.encode()
        signature = self._key.sign(body)
        blob = base64.b64encode(self.verifier.key_id + signature).decode()
        return f"{text}\n{_EM_DASH}{self.name} {blob}\n"


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A C2SP tlog-checkpoint: the log's origin, tree size and root hash."""

    origin: str
    size: int
    root_hash: bytes
    #: extension lines, without their newlines
    extensions: tuple[str, ...] = ()

    def text(self) -> str:
        """The checkpoint's note text (each line newline-terminated)."""
        lines = [self.origin, str(self.size), base64.b64encode(self.root_hash).decode()]
        return "".join(f"{line}\n" for line in (*lines, *self.extensions))

    @classmethod
    def parse_text(cls, text: str) -> Checkpoint:
        """Read a checkpoint's note text; INVALID_ARGUMENT (field ``checkpoint``) if
        it is not one."""
        if not text.endswith("\n"):
            raise _bad("a checkpoint ends with a newline")
        lines = text[:-1].split("\n")
        if len(lines) < 3 or not lines[0] or any(not line for line in lines[3:]):
            raise _bad("a checkpoint has an origin, a tree size and a root hash line")
        if not _DECIMAL.fullmatch(lines[1]):
            raise _bad(f"the tree size {lines[1][:30]!r} is not a decimal number")
        root = _b64decode(lines[2], "checkpoint")
        if len(root) != HASH_SIZE:
            raise _bad(f"the root hash is {len(root)} bytes, not {HASH_SIZE}")
        return cls(lines[0], int(lines[1]), root, tuple(lines[3:]))


def sign_checkpoint(checkpoint: Checkpoint, signer: NoteSigner) -> str:
    """The checkpoint as a signed note; its origin must be the signer's key name."""
    if checkpoint.origin != signer.name:
        raise _bad("the checkpoint's origin must be the log key's name", "origin")
    return signer.sign(checkpoint.text())


def open_checkpoint(note: str, verifier: NoteVerifier) -> Checkpoint:
    """The checkpoint in signed note ``note`` if ``verifier`` signed it.

    Raises :class:`CertsealError`: INVALID_ARGUMENT (field ``checkpoint``) for a note
    that is too large or malformed, FAILED_PRECONDITION (field ``checkpoint``) when no
    valid signature of ``verifier`` is on it or its origin is not the key's name.
    Signatures of other keys are ignored, as C2SP signed-note says.
    """
    if len(note.encode()) > MAX_NOTE_BYTES:
        raise _bad(f"a signed note is at most {MAX_NOTE_BYTES} bytes")
    if any(ord(c) < 0x20 and c != "\n" for c in note):
        raise _bad("a signed note holds no control characters other than newlines")
    text, sep, signatures = note.rpartition("\n\n")
    if not sep or not signatures.endswith("\n"):
        raise _bad("a signed note is its text, a blank line and signature lines")
    text += "\n"
    lines = signatures[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise _bad(f"a signed note has at most {MAX_SIGNATURES} signatures")
    public = Ed25519PublicKey.from_public_bytes(verifier.public_key)
    signed = False
    for line in lines:
        if not line.startswith(_EM_DASH):
            raise _bad("a signature line starts with an em dash and a space")
        name, _, blob = line[len(_EM_DASH) :].rpartition(" ")
        raw = _b64decode(blob, "checkpoint")
        if len(raw) < 5:
            raise _bad("a signature is a key ID and a signature")
        if name != verifier.name or raw[:4] != verifier.key_id:
            continue
        try:
            public.verify(raw[4:], text.encode())
        except InvalidSignature:
            raise CertsealError(
                ErrorKind.FAILED_PRECONDITION,
                f"the signature of {verifier.name} on the checkpoint is not valid",
                field="checkpoint",
            ) from None
        signed = True
    if not signed:
        raise CertsealError(
            ErrorKind.FAILED_PRECONDITION,
            f"the checkpoint carries no signature of {verifier.name}",
            field="checkpoint",
        )
    checkpoint = Checkpoint.parse_text(text)
    if checkpoint.origin != verifier.name:
        raise CertsealError(
            ErrorKind.FAILED_PRECONDITION,
            f"the checkpoint's origin {checkpoint.origin!r} is not the log {verifier.name!r}",
            field="checkpoint",
        )
    return checkpoint
