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
every failure is a :class:`CertsealError` naming the field (text that is not UTF-8, a
``str`` holding a lone surrogate, included). A checkpoint of tree size 0 must have the
empty tree's root hash, SHA-256("") (RFC 9162 §2.1.1): one with another root is read
as what it is, a tree head no later tree extends, and refused.
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
from certseal.merkle import EMPTY_ROOT, HASH_SIZE

#: the largest signed note read from outside (bytes)
MAX_NOTE_BYTES = 16 * 1024
#: the most signature lines read from one note
MAX_SIGNATURES = 64
ED25519_TYPE = 0x01
_EM_DASH = "\u2014 "
_DECIMAL = re.compile(r"0|[1-9][0-9]{0,18}")
_KEY_NAME = re.compile(r"[^\s+]+")
#: a verifier key's key ID: exactly 8 hex digits (Go's note.NewVerifier)
_KEY_ID = re.compile(r"[0-9a-fA-F]{8}")


def _bad(message: str, field: str = "checkpoint") -> CertsealError:
    return CertsealError(ErrorKind.INVALID_ARGUMENT, message, field=field)


def _utf8(text: str, field: str) -> bytes:
    """``text`` as UTF-8; INVALID_ARGUMENT (``field``) for a ``str`` that has none (a
    lone surrogate, as ``surrogateescape`` or a JSON ``\\ud800`` leaves)."""
    try:
        return text.encode()
    except UnicodeEncodeError:
        raise _bad("not UTF-8 text (it holds a lone surrogate)", field) from None


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
        """Read ``<name>+<hex key ID>+<base64(0x01 || key)>`` (C2SP signed-note, as
        Go's ``note.NewVerifier``: a name with no white space and no '+', a key ID of
        exactly 8 hex digits, an Ed25519 key); INVALID_ARGUMENT (``field``) if not."""
        _utf8(text, field)
        parts = text.strip().split("+", 2)
        if len(parts) != 3 or not _KEY_NAME.fullmatch(parts[0]):
            raise _bad("a verifier key is <name>+<hex key ID>+<base64 key>", field)
        name, hex_id, b64 = parts
        if not _KEY_ID.fullmatch(hex_id):
            raise _bad(f"the key ID {hex_id[:20]!r} is not 8 hex digits", field)
        kid = bytes.fromhex(hex_id)
        raw = _b64decode(b64, field)
        if len(raw) != 33 or raw[0] != ED25519_TYPE:
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
        key name with a space or a '+' (C2SP signed-note) or that is not UTF-8."""
        _utf8(name, field)
        if not _KEY_NAME.fullmatch(name):
            raise _bad("a key name has no spaces and no '+'", field)
        self.name = name
        self._key = private_key
        public = private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.verifier = NoteVerifier(name, key_id(name, public), public)

    def sign(self, text: str) -> str:
        """The signed note: ``text``, a blank line and this key's signature line."""
        body = _utf8(text, "checkpoint")
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
        """Read a checkpoint's note text (C2SP tlog-checkpoint).

        Raises :class:`CertsealError` (field ``checkpoint``): INVALID_ARGUMENT if it
        is not one; FAILED_PRECONDITION for tree size 0 with a root hash other than
        the empty tree's, SHA-256("") (RFC 9162 §2.1.1): no such tree exists.
        """
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
        checkpoint = cls(lines[0], int(lines[1]), root, tuple(lines[3:]))
        _refuse_empty_tree_with_a_root(checkpoint)
        return checkpoint


def _refuse_empty_tree_with_a_root(checkpoint: Checkpoint) -> None:
    """FAILED_PRECONDITION (``checkpoint``) for tree size 0 with another root hash
    than SHA-256("") (RFC 9162 §2.1.1): a head no later tree can extend."""
    if checkpoint.size == 0 and checkpoint.root_hash != EMPTY_ROOT:
        raise CertsealError(
            ErrorKind.FAILED_PRECONDITION,
            "a checkpoint of tree size 0 must have the empty tree's root hash, "
            'SHA-256("") (RFC 9162 §2.1.1), not '
            f"{base64.b64encode(checkpoint.root_hash).decode()}",
            field="checkpoint",
        )


def sign_checkpoint(checkpoint: Checkpoint, signer: NoteSigner) -> str:
    """The checkpoint as a signed note; its origin must be the signer's key name
    (INVALID_ARGUMENT, ``origin``), and a size-0 one must have the empty tree's root
    (FAILED_PRECONDITION, ``checkpoint``: RFC 9162 §2.1.1)."""
    if checkpoint.origin != signer.name:
        raise _bad("the checkpoint's origin must be the log key's name", "origin")
    _refuse_empty_tree_with_a_root(checkpoint)
    return signer.sign(checkpoint.text())


def open_checkpoint(note: str, verifier: NoteVerifier) -> Checkpoint:
    """The checkpoint in signed note ``note`` if ``verifier`` signed it.

    Raises :class:`CertsealError`: INVALID_ARGUMENT (field ``checkpoint``) for a note
    that is too large, not UTF-8 text (a lone surrogate) or malformed (C2SP
    signed-note: a signature line whose key name is empty or holds a space or a '+'
    included), FAILED_PRECONDITION (field ``checkpoint``) when no valid signature of
    ``verifier`` is on it, its origin is not the key's name, or it is of tree size 0
    with another root than the empty tree's (RFC 9162 §2.1.1). Signatures of other
    keys are ignored, as C2SP signed-note says.
    """
    if len(note) > MAX_NOTE_BYTES or len(_utf8(note, "checkpoint")) > MAX_NOTE_BYTES:
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
        # C2SP signed-note: the key name up to the first space, non-empty, with no
        # white space or '+'; Go's note.Open refuses the whole note otherwise
        name, sep, blob = line[len(_EM_DASH) :].partition(" ")
        if not sep or " " in blob or not _KEY_NAME.fullmatch(name):
            raise _bad(
                "a signature line is '— <key name> <base64>', the key name not "
                "empty, with no white space and no '+'"
            )
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
