"""The usage record (用证记录) use cases: the holder app's listing, the entries the
topics bring, and the retention (docs/architecture.md, "The usage record")."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Sequence

from google.protobuf.message import DecodeError

from certseal.errors import invalid
from certseal.paging import page
from certseal.rpc import Caller
from certseal.timestamps import Clock
from services.issuer.domain import LicenceRecord
from services.issuer.events import authorisation_usage_entries
from services.issuer.service.common import Auditor
from services.issuer.service.reading import HolderId, Reader, asked_licence, viewed
from services.issuer.storage import IssuerStore
from services.issuer.usage import (
    UsageEntry,
    UsageKind,
    after_key,
    retention_cutoff,
)

log = logging.getLogger(__name__)


def storable(entry: UsageEntry) -> bool:
    """Whether PostgreSQL can store ``entry``'s text (it refuses a NUL character);
    one that cannot is logged and left out rather than failing its batch."""
    values = {f.name: getattr(entry, f.name) for f in dataclasses.fields(entry)}
    bad = [name for name, v in values.items() if isinstance(v, str) and "\x00" in v]
    if bad:
        log.warning(
            "usage record: entry %r has a NUL in %s, skipped", entry.entry_id, bad
        )
    return not bad


VIEW_WINDOW = dt.timedelta(minutes=10)
"""How long one ``viewed`` entry of a usage-record listing covers the same app's later
pages (ListLicenceUsage with a page token) of the same lineage.

The first page of a listing always records a view. A page read with a token records
one too unless the app already has a listing's view of this lineage within this
window: an honest app paging through a long record leaves one entry, not one per page
(which would grow the record as fast as it is read), while a page token, only a page
key hex-encoded (:mod:`certseal.paging`) that any app can make, reads nothing unseen.
Every read of the record by an app is then at most this long after a view the citizen
sees. Ten minutes is far longer than paging through the record takes (at most 500
entries a page, a few pages) and short enough that an app reading it again later
shows again."""


class UsageRecord:
    """Reads and keeps the usage record; only the holder's own app reads it."""

    def __init__(
        self,
        *,
        store: IssuerStore,
        reader: Reader,
        auditor: Auditor,
        clock: Clock,
        retention_days: int,
    ):
        self._store = store
        self._reader = reader
        self._auditor = auditor
        self._clock = clock
        self.retention_days = retention_days

    async def list(
        self,
        caller: Caller,
        text: str,
        *,
        holder: HolderId | None,
        page_size: int,
        page_token: str,
        newest_first: bool = False,
        kinds: Sequence[UsageKind] = (),
    ) -> tuple[list[UsageEntry], str]:
        """A page of the usage record of licence ``text`` (an identifier or a lineage:
        every entry of its lineage, or those of ``kinds``; oldest first, or
        ``newest_first``) and the next page's token ("" after the last page).
        ``page_size`` at most 500 (0: 50).

        Only a holder app naming the licence's holder reads it: a licence of another
        holder, of a type the app is not granted or that does not exist is NOT_FOUND
        (the same answer); any other caller kind is an audited PERMISSION_DENIED. The
        read itself is an entry of kind viewed (action ``licence.usage``): every first
        page records one, and a page read with a token records one when this app has
        no such entry of the lineage within :data:`VIEW_WINDOW` (so a token the app
        made itself reads nothing unseen, and paging through adds no entry per page).
        Every page is audited.
        INVALID_ARGUMENT for a bad page size or token, or no holder.
        """
        if caller.kind != "app":
            raise await self._auditor.deny(
                caller,
                "licence.usage",
                asked_licence(text),
                "only the holder's app reads a usage record",
            )
        window = page(page_size, page_token)
        try:
            after = after_key(window.after)
        except ValueError:
            raise invalid(
                "page_token", "is not a token this service returned"
            ) from None
        record = await self._reader.readable(
            caller, text, "licence.usage", holder=holder, view=not page_token
        )
        if page_token:
            await self._view_of_later_page(caller, record)
        found = await self._store.licence_usage(
            record.lineage,
            after,
            window.limit + 1,
            newest_first=newest_first,
            kinds=kinds,
        )
        return window.split(found, lambda e: e.page_key)

    async def _view_of_later_page(self, caller: Caller, record: LicenceRecord) -> None:
        """Record ``caller``'s read of a page after the first as a view, unless its
        listing's view of the lineage lies within :data:`VIEW_WINDOW`; stored before
        the page is read, so no page is answered without one."""
        now = self._clock()
        actor = str(caller)
        if await self._store.viewed_since(
            record.lineage, actor, "licence.usage", now - VIEW_WINDOW
        ):
            return
        await self._store.record_usage(
            [viewed(caller, record, "licence.usage", now)], now
        )

    async def record(self, entries: Sequence[UsageEntry]) -> int:
        """Keep the entries consumed from the topics (each once; those past
        retention and those of lineages this issuer does not hold are dropped).
        Returns how many were new."""
        cutoff = retention_cutoff(self._clock(), self.retention_days)
        kept = [e for e in entries if e.occurred_at >= cutoff]
        if not kept:  # e.g. a batch of licence.issued events: no transaction at all
            return 0
        return await self._store.record_usage_from_topics(kept, self._clock())

    async def backfill(self) -> int:
        """Make the entries of the authorisation events still in the outbox and within
        retention (each once: its id is its event's id, so one written with its event
        is left as it is). A previous version published them for the usage consumer to
        read from the licence topic, which it no longer reads; run at each start of
        the consumer and with each prune, it also covers a previous version's issuer
        still running beside this one. Returns how many entries were new."""
        cutoff = retention_cutoff(self._clock(), self.retention_days)
        values = await self._store.authorisation_events(cutoff)
        entries: list[UsageEntry] = []
        for value in values:
            try:
                made = authorisation_usage_entries(value)
            except (DecodeError, ValueError, OverflowError) as exc:
                # not ours to mend (the relay publishes it as it is): one row that
                # is no entry (broken, a time past year 9999) stops no other
                log.warning("usage record: an outbox row is no entry, skipped: %s", exc)
                continue
            entries += [e for e in made if storable(e)]
        return await self.record(entries)

    async def prune(self) -> int:
        """Delete the entries past retention (``retention_days`` before now, from the
        injected clock); how many were deleted."""
        cutoff = retention_cutoff(self._clock(), self.retention_days)
        total = 0
        while deleted := await self._store.prune_usage(cutoff):
            total += deleted
        return total
