"""A presentation code's claim undecided (docs/architecture.md §2c, "First in the log
wins"): its UNAVAILABLE, said of one code or of a VerifyCodes request's codes. Apart
from :mod:`services.verifier.claims`, which imports aiokafka, so that the CLI reads
the reason without it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from certseal.errors import MAX_DETAILS, CertsealError, ErrorKind

#: the ``reason`` of a claim's UNAVAILABLE (the CLI adds its attempts and time)
UNDECIDED = "claim_undecided"


#: at most this many of a batch's codes are named, fewer when its message would not
#: fit whole within :data:`certseal.errors.MAX_DETAILS`; the rest are counted
NAMED_AT_MOST = 3

#: a batch's code as its message names it: by its place in the request
CODE_NAMED = re.compile(r"codes\[(\d+)\]")


class Undecided(CertsealError):
    """A claim undecided (UNAVAILABLE, reason :data:`UNDECIDED`): :func:`unavailable`'s
    error, keeping ``why`` and ``handed`` so a batch's answer can say it again naming
    its codes (:meth:`of_codes`)."""

    def __init__(self, why: str, handed: bool, codes: Sequence[int] = ()):
        n = len(codes)
        if codes:  # a VerifyCodes request's, by their places in it, named last
            what = (
                f"{n} presentation code{'s' if n > 1 else ''} of this request could "
                f"not {'all ' if n > 1 else ''}be claimed ({why}): none of its codes is "
                "answered; "
            )
        else:
            what = f"the presentation code could not be claimed ({why}); "
        said = (
            what
            + ("not retried: the claim may still reach the log; " if handed else "")
            + "retry later: if a retry says REPLAYED, this attempt reached the log "
            "after all and was never answered VALID: ask the holder for a new code"
        )
        # as many places as fit whole in the details a caller reads (atk60: a long
        # wait's reason cut the third place); none when none fits
        which = ""
        for named in range(min(n, NAMED_AT_MOST), 0, -1):
            shown = ", ".join(f"codes[{at}]" for at in codes[:named])
            more = f" and {n - named} more" if n > named else ""
            listed = f". {'They are' if n > 1 else 'It is'} {shown}{more}"
            if len(f"codes: {said}{listed}") <= MAX_DETAILS:
                which = listed
                break
        super().__init__(
            ErrorKind.UNAVAILABLE,
            said + which,
            field="codes" if codes else None,
            reason=UNDECIDED,
        )
        self.why, self.handed = why, handed
        self.retried = not handed

    def of_codes(self, codes: Sequence[int]) -> Undecided:
        """The same undecided claim, said of a request's ``codes`` (their places)."""
        return Undecided(self.why, self.handed, codes)


def on_lines(message: str, lines: Sequence[int]) -> str:
    """``message`` with each ``codes[i]`` it names (:data:`CODE_NAMED`) said as
    ``line N``, ``lines[i]`` being the file line of the request's i-th code:
    ``certseal verify --codes`` names what a person can find in the file."""

    def line(named: re.Match[str]) -> str:
        at = int(named[1])
        return f"line {lines[at]}" if at < len(lines) else named[0]

    return CODE_NAMED.sub(line, message)


def unavailable(why: str, *, handed: bool = False) -> Undecided:
    """A claim undecided: retryable, but for one ``handed`` to the broker, which may
    still reach the log (a retry finds it there, REPLAYED, or waits out the bound
    again): gRPC's retries are asked not to (:attr:`CertsealError.retried`)."""
    return Undecided(why, handed)
