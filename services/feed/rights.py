"""An integrator's entitlement as one of its subscriptions holds it: re-read every
``refresh`` seconds, so that a withdrawn right ends the stream, and kept through a
moment the database does not answer, so that a failover does not end every stream
(atk60: a quiet stream ended UNAVAILABLE at the first failed read, and one started at
``latest`` with no event yet had no token to resume from)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from certseal.retries import transient_error
from services.feed.domain import Entitlement

log = logging.getLogger(__name__)

STALE_S = 60.0
"""How long a subscription keeps the entitlement it last read while every re-read
fails for a moment (seconds); past it the failure ends the stream."""


class HeldRights:
    """``read()`` gives the entitlement again (raising PERMISSION_DENIED when it lets
    nothing through any more); ``check`` refuses one read again that no longer
    covers what the holder asked for (raising ends the stream); ``clock`` is the
    event loop's time."""

    def __init__(
        self,
        read: Callable[[], Awaitable[Entitlement]],
        held: Entitlement,
        refresh: float,
        clock: Callable[[], float],
        check: Callable[[Entitlement], None] = lambda _: None,
    ):
        self._read, self._held, self._refresh, self._clock = read, held, refresh, clock
        self._check = check
        self._checked = self._good = clock()

    async def now(self) -> Entitlement:
        """The entitlement to apply now: read again once ``refresh`` has passed since
        the last try. A transient failure of that read (the database away:
        :func:`certseal.retries.transient_error`) keeps the one held, logged, until
        :data:`STALE_S` has passed since the last good read; any other failure, or
        that one past it, is raised: the stream ends."""
        now = self._clock()
        if now - self._checked < self._refresh:
            return self._held
        self._checked = now
        try:
            fresh = await self._read()
        except Exception as exc:
            if transient_error(exc) is None or now - self._good >= STALE_S:
                raise
            log.warning(
                "event feed: %s's entitlement could not be read again (%s); the one "
                "read %.0f s ago holds",
                self._held.integrator,
                type(exc).__name__,
                now - self._good,
            )
        else:
            self._check(fresh)
            self._held, self._good = fresh, now
        return self._held
