"""The verifier's code jobs: pure functions a code-pool worker runs on a chunk of codes.

They touch no table: the event loop looks up what :func:`evaluate_all` needs
(:class:`CodeInputs`) between the two jobs (:mod:`services.verifier.service`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence

from certseal import codes
from services.verifier.domain import (
    Check,
    IndexEntry,
    Outcome,
    ParsedCode,
    TrustEntry,
    Verdict,
    Verification,
    evaluate,
    malformed,
    parse_code,
)


@dataclasses.dataclass(frozen=True, slots=True)
class CodeInputs:
    """What :func:`evaluate` needs for one code, looked up on the loop."""

    code: ParsedCode | Verification  # a malformed code's result is already known
    trust: TrustEntry | None
    index: IndexEntry | None
    nonce_seen: bool
    now: dt.datetime
    #: :func:`~services.verifier.caches.signature_digest` of the code under its
    #: trusted key (b"": no trusted key), and whether that check passed before
    signature: bytes = b""
    signature_known: bool = False


def parse_all(texts: Sequence[str]) -> list[ParsedCode | Verification]:
    """Decode each text (in a pool worker): a parsed code, or the MALFORMED result."""
    parsed: list[ParsedCode | Verification] = []
    for text in texts:
        try:
            parsed.append(parse_code(text))
        except codes.MalformedCode as exc:
            parsed.append(malformed(exc))
    return parsed


def needs_signature_check(inputs: Sequence[CodeInputs]) -> bool:
    """Whether :func:`evaluate_all` of ``inputs`` computes a signature (the CPU
    work that goes to the pool)."""
    return any(
        isinstance(i.code, ParsedCode) and i.trust is not None and not i.signature_known
        for i in inputs
    )


def evaluate_all(inputs: Sequence[CodeInputs]) -> list[Verification]:
    """The verdict of each code (in a pool worker when it checks signatures)."""
    return [
        i.code
        if isinstance(i.code, Verification)
        else evaluate(
            i.code,
            trust=i.trust,
            index=i.index,
            nonce_seen=i.nonce_seen,
            now=i.now,
            signature_known=i.signature_known,
        )
        for i in inputs
    ]


def signature_passed(result: Verification) -> bool:
    """Whether ``result``'s signature check passed."""
    return any(
        c.name == "signature" and c.outcome is Outcome.PASSED for c in result.checks
    )


def replayed(accepted: Verification) -> Verification:
    """The REPLAYED result of a presentation code evaluated VALID whose claim was not
    the first in the log (services/verifier/claims.py): what :func:`evaluate` gives it
    with ``nonce_seen``: the checks up to the key's, then the failed replay check."""
    kept: list[Check] = []
    for check in accepted.checks:
        kept.append(check)
        if check.name == "key":
            break
    kept.append(Check("replay", Outcome.FAILED, "this presentation code was used"))
    return dataclasses.replace(accepted, verdict=Verdict.REPLAYED, checks=tuple(kept))
