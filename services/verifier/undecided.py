"""A presentation code's claim undecided (docs/architecture.md §2c, "First in the log
wins"): its UNAVAILABLE, said of one code or of a VerifyCodes request's codes. Apart
from :mod:`services.verifier.claims`, which imports aiokafka, so that the CLI reads
the reason without it.
"""

from __future__ import annotations

from collections.abc import Sequence

from certseal.errors import CertsealError, ErrorKind

#: the ``reason`` of a claim's UNAVAILABLE (the CLI adds its attempts and time)
UNDECIDED = "claim_undecided"


class Undecided(CertsealError):
    """A claim undecided (UNAVAILABLE, reason :data:`UNDECIDED`): :func:`unavailable`'s
    error, keeping ``why`` and ``handed`` so a batch's answer can say it again naming
    its codes (:meth:`of_codes`)."""

    def __init__(self, why: str, handed: bool, codes: Sequence[int] = ()):
        if codes:  # a VerifyCodes request's, by their positions in it
            shown = ", ".join(f"codes[{at}]" for at in codes[:8])
            more = f" and {len(codes) - 8} more" if len(codes) > 8 else ""
            what = (
                f"the presentation code{'s' if len(codes) > 1 else ''} {shown}{more} "
                "of this request (none of its codes is answered)"
            )
            verb = "were" if len(codes) > 1 else "was"
        else:
            what, verb = "the presentation code", "was"
        super().__init__(
            ErrorKind.UNAVAILABLE,
            f"{what} could not be claimed ({why}); "
            + ("not retried: the claim may still reach the log; " if handed else "")
            + f"retry later: if the retry says REPLAYED, this attempt reached the log "
            f"after all and {verb} never answered VALID: ask the holder for a new code",
            field="codes" if codes else None,
            reason=UNDECIDED,
        )
        self.why, self.handed = why, handed
        self.retried = not handed

    def of_codes(self, codes: Sequence[int]) -> Undecided:
        """The same undecided claim, said of a request's ``codes`` (their positions)."""
        return Undecided(self.why, self.handed, codes)


def unavailable(why: str, *, handed: bool = False) -> Undecided:
    """A claim undecided: retryable, but for one ``handed`` to the broker, which may
    still reach the log (a retry finds it there, REPLAYED, or waits out the bound
    again): gRPC's retries are asked not to (:attr:`CertsealError.retried`)."""
    return Undecided(why, handed)
