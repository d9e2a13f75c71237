"""The webhook contract's pure parts: the signature recipe and the retry schedule.

A delivery's ``X-Certseal-Signature`` is ``t=<unix seconds>,v1=<hex HMAC-SHA256 of
"<t>.<body>">`` under the webhook's secret (its bytes exactly as registered); a receiver
accepts it within :data:`SIGNATURE_TOLERANCE_S` of its own clock and dedupes on the
signed body's ``id`` (docs/events.md, "Verifying a delivery"). A failing endpoint is
retried per :class:`RetryPolicy`.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass

#: seconds a receiver accepts between a signature's ``t`` and its own clock (either way)
SIGNATURE_TOLERANCE_S = 300
_SIGNATURE = re.compile(r"t=([0-9]{1,12}),v1=([0-9a-f]{64})")


def signature_header(secret: bytes, body: bytes, now: float) -> str:
    """``t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" under secret>``.

    ``secret`` is the webhook's secret exactly as registered (no trimming), ``body`` the
    exact bytes POSTed, ``t`` the whole seconds of ``now`` in ASCII decimal.
    """
    stamp = str(int(now))
    digest = hmac.new(secret, stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={stamp},v1={digest}"


def verify_signature(
    secret: bytes,
    body: bytes,
    header: str,
    *,
    now: float,
    tolerance_s: float = SIGNATURE_TOLERANCE_S,
) -> bool:
    """Whether ``header`` signs ``body`` under ``secret`` at a time within
    ``tolerance_s`` of ``now`` (unix seconds): what a receiver checks. A capture
    replayed later than the tolerance fails; inside it, the receiver's dedupe on the
    body's ``id`` stops the repeat. Constant-time comparison."""
    match = _SIGNATURE.fullmatch(header.strip())
    if match is None:
        return False
    stamp, digest = match.groups()
    if abs(now - int(stamp)) > tolerance_s:
        return False
    expected = hmac.new(
        secret, stamp.encode() + b"." + body, hashlib.sha256
    ).hexdigest()
    return hmac.compare_digest(expected, digest)


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter over a retry window, then parking.

    Retry ``n`` (1-based) waits ``min(max_delay_s, first_delay_s * 2**(n-1))`` less a
    random share of up to ``jitter`` of it (so endpoints that failed together do not
    retry together); retries go on until ``window_s`` after the event's first failed
    attempt, the last one at the end of the window, and only then is it parked.
    """

    window_s: float = 24 * 3600.0
    first_delay_s: float = 1.0
    max_delay_s: float = 600.0
    jitter: float = 0.5

    def delay(self, attempt: int, draw: float) -> float:
        """Seconds to wait before retry ``attempt`` (1-based); ``draw`` in [0, 1)."""
        base = min(self.max_delay_s, self.first_delay_s * 2.0 ** min(attempt - 1, 60))
        return base * (1.0 - self.jitter * draw)
