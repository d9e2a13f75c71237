"""What a verifier worker remembers between verifications so as not to compute it
again: decoded code texts and signatures that verified.

Both are pure functions of their keys, so a remembered answer is the answer: a code's
text decodes to the same claims every time (:func:`services.verifier.domain.parse_code`),
and a signature check with the same :func:`~services.verifier.domain.signature_digest`
(alg, public key, signed bytes, signature) has the same outcome. Neither holds a key's
status, a licence's status or a time: those checks run in every verdict. Both live on
the event loop (no lock) and are bounded; beyond the bound all entries are dropped at
once, which costs one decode or check per code afterwards, never a wrong answer.
"""

from __future__ import annotations

from services.verifier.domain import ParsedCode, Verification


class DecodedCodes:
    """Code text -> its decode (a :class:`ParsedCode`, or the MALFORMED result).

    A static licence code is scanned again and again; its text is the key, as the
    scanner delivered it (texts that differ by case or white space decode to the same
    code but are kept apart: that costs a decode, never a wrong answer).
    """

    def __init__(self, *, size: int = 16384, max_text: int = 2048):
        self._size = size
        self._max_text = max_text
        self._decoded: dict[str, ParsedCode | Verification] = {}

    def get(self, text: str) -> ParsedCode | Verification | None:
        """The remembered decode of ``text``, or None."""
        return self._decoded.get(text)

    def add(self, text: str, decoded: ParsedCode | Verification) -> None:
        """Remember the decode of ``text`` (a text longer than ``max_text`` is not
        kept: the bound on memory is ``size`` × ``max_text`` characters)."""
        if len(text) > self._max_text:
            return
        if len(self._decoded) >= self._size:
            self._decoded.clear()
        self._decoded[text] = decoded


class VerifiedSignatures:
    """Digests (:func:`~services.verifier.domain.signature_digest`) of signature
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
