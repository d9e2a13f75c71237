"""What a verifier worker remembers between verifications so as not to compute it
again: decoded code texts, signatures that verified, index entries as parsed from
their stored bytes, and the verdicts of static licence codes (:class:`KeptResults`).

Each is a pure function of its key, so a remembered answer is the answer: a code's
text decodes to the same claims every time (:func:`services.verifier.domain.parse_code`),
a signature check with the same :func:`signature_digest`
(alg, public key, signed bytes, signature) has the same outcome, and a stored licence
event (its bytes, the key) is the same entry (the index keys are fixed for the
process's life). None but :class:`KeptResults` holds a time or decides a verdict,
and it only by the very objects the checks were run on: the index is read for every
code (an entry is looked up by the bytes read), and every check runs in every
verdict, or its outcome is the one the same inputs gave. They live on the event loop (no lock) and are bounded; beyond the bound all
entries are dropped at once, which costs one decode or check per code afterwards,
never a wrong answer.
"""

from __future__ import annotations

import datetime as dt
import hashlib

from services.verifier.domain import (
    CodeKind,
    IndexEntry,
    ParsedCode,
    TrustEntry,
    Verdict,
    Verification,
)


def signature_digest(code: ParsedCode, public_key: bytes) -> bytes:
    """SHA-256 over what one signature check depends on: the COSE alg, the public key
    (DER), the signed structure's protected header and payload, and the signature,
    each length-prefixed. Equal digests mean the same check with the same outcome, so
    a check that passed once may be remembered by its digest
    (:class:`VerifiedSignatures`)."""
    digest = hashlib.sha256()
    for part in (
        str(code.decoded.alg).encode(),
        public_key,
        code.decoded.protected,
        code.decoded.payload,
        code.decoded.signature,
    ):
        digest.update(len(part).to_bytes(4, "big"))
        digest.update(part)
    return digest.digest()


class DecodedCodes:
    """Code text -> its :class:`ParsedCode`, and the texts that did not decode.

    A static licence code is scanned again and again; its text is the key, as the
    scanner delivered it (texts that differ by case or white space decode to the same
    code but are kept apart: that costs a decode, never a wrong answer). A text that
    did not decode is only marked, never answered from here: it is decoded again, in
    full, on the code pool in a fair turn each time, so a flood of hostile codes keeps
    waiting its turns there (services/verifier/offload.py) rather than being answered
    at once on the loop, again and again, in front of every other counter.
    """

    def __init__(self, *, size: int = 16384, max_text: int = 2048):
        self._size = size
        self._max_text = max_text
        self._decoded: dict[str, ParsedCode] = {}
        self._undecodable: set[str] = set()
        self._held: set[int] = set()  # the ids of the decodes held (:meth:`holds`)

    def get(self, text: str) -> ParsedCode | None:
        """The remembered decode of ``text``, or None."""
        return self._decoded.get(text)

    def add(self, text: str, decoded: ParsedCode | Verification) -> None:
        """Remember the decode of ``text`` (a text longer than ``max_text`` is not
        kept: the bound on memory is ``size`` × ``max_text`` characters); a
        MALFORMED result marks the text (:meth:`undecodable`)."""
        if len(text) > self._max_text:
            return
        if len(self._decoded) + len(self._undecodable) >= self._size:
            self._decoded.clear()
            self._undecodable.clear()
            self._held.clear()
        if isinstance(decoded, ParsedCode):
            self._decoded[text] = decoded
            self._held.add(id(decoded))
        else:
            self._undecodable.add(text)

    def holds(self, code: ParsedCode) -> bool:
        """Whether ``code`` is a decode this cache holds (what may be kept by it:
        :class:`KeptResults`; a text over ``max_text`` is decoded afresh each time)."""
        return id(code) in self._held

    def undecodable(self, text: str) -> bool:
        """Whether ``text`` was seen not to decode (within the limits it was tried)."""
        return text in self._undecodable


class VerifiedSignatures:
    """Digests (:func:`signature_digest`) of signature
    checks that passed. Only passes are kept: a forged code is checked every time."""

    def __init__(self, *, size: int = 65536):
        self._size = size
        self._passed: set[bytes] = set()

    def __contains__(self, digest: object) -> bool:
        return digest in self._passed

    def add(self, digest: bytes) -> None:
        """Remember a check that passed."""
        if len(self._passed) >= self._size:
            self._passed.clear()
        self._passed.add(digest)


class IndexEntries:
    """Stored licence event (bytes) -> its :class:`IndexEntry`, restricted values
    opened. Only entries whose restricted values opened (or had none) are kept: one
    that did not is parsed, logged and counted again each time."""

    def __init__(self, *, size: int = 16384):
        self._size = size
        self._entries: dict[bytes, IndexEntry] = {}
        self._held: set[int] = set()  # the ids of the entries held (:meth:`holds`)

    def get(self, stored: bytes) -> IndexEntry | None:
        """The remembered entry of ``stored``, or None."""
        return self._entries.get(stored)

    def add(self, stored: bytes, entry: IndexEntry) -> None:
        """Remember the entry of ``stored``."""
        if len(self._entries) >= self._size:
            self._entries.clear()
            self._held.clear()
        self._entries[stored] = entry
        self._held.add(id(entry))

    def holds(self, entry: IndexEntry) -> bool:
        """Whether ``entry`` is one this cache holds (one whose restricted values did
        not open is parsed afresh each time: not to be kept by it)."""
        return id(entry) in self._held


#: verdicts that depend on the time of the check (evaluate's validity window): not kept
_TIMED = frozenset({Verdict.EXPIRED, Verdict.NOT_YET_VALID})


class KeptResults:
    """The verdict of a static licence code, kept by the very objects it was
    evaluated from: the code as decoded (:class:`DecodedCodes`), its trust list entry
    and its index entry (each a new object when what it stands for changes: a key
    revoked, a licence revoked, amended or transferred), so a static code scanned
    again is answered with the checks' outcome for the same inputs, without running
    them again (issue 17: ``evaluate``, the signature digest and the lookups they
    need were about a tenth of a VerifyCode's CPU in the worker).

    :func:`~services.verifier.domain.evaluate` reads the time only in a licence
    code's validity window (the key's checks use the signing time): a kept VALID is
    given only while ``now`` is inside its entry's window, EXPIRED and NOT_YET_VALID
    are never kept, and every other verdict is decided before the window. A
    presentation code (its lifetime and its nonce) is never kept. The entries hold
    their objects, so an object's ``id`` is not reused while it is a key; only
    objects their own caches hold are kept by (the worker checks
    :meth:`DecodedCodes.holds` and :meth:`IndexEntries.holds`: a code over the text
    bound, or an entry whose restricted values did not open, is a new object at every
    scan, atk35b). Bounded as the other caches: all dropped at once beyond ``size``.
    """

    def __init__(self, *, size: int = 16384):
        self._size = size
        self._kept: dict[
            tuple[int, int, int],
            tuple[ParsedCode, TrustEntry | None, IndexEntry | None, Verification],
        ] = {}

    def get(
        self,
        code: ParsedCode,
        trust: TrustEntry | None,
        index: IndexEntry | None,
        now: dt.datetime,
    ) -> Verification | None:
        """The verdict kept for these objects that holds at ``now``, or None."""
        kept = self._kept.get((id(code), id(trust), id(index)))
        if kept is None or kept[0] is not code or kept[1] is not trust:
            return None
        result = kept[3]
        if kept[2] is not index or (
            result.verdict is Verdict.VALID
            and not (index is not None and index.valid_from <= now < index.valid_until)
        ):
            return None
        return result

    def keep(
        self,
        code: ParsedCode,
        trust: TrustEntry | None,
        index: IndexEntry | None,
        result: Verification,
    ) -> None:
        """Keep ``result``, evaluated from these objects (see the class)."""
        if code.kind is not CodeKind.LICENCE or result.verdict in _TIMED:
            return
        if len(self._kept) >= self._size:
            self._kept.clear()
        self._kept[id(code), id(trust), id(index)] = (code, trust, index, result)
