"""The operator's webhook administration of the event feed: register, list and
remove webhooks, list and replay their parked deliveries (a part of
:class:`services.feed.service.FeedService`, apart by size). The deliveries
themselves run in :mod:`services.feed.webhooks`."""

from __future__ import annotations

from certseal.audit import AuditEntry
from certseal.crypto import KeyWrapper
from certseal.errors import CertsealError, ErrorKind, invalid, not_found
from certseal.paging import page
from certseal.rpc import Caller
from certseal.text import did_you_mean, nearest_of_kind
from certseal.timestamps import Clock
from services.feed.domain import Entitlement, Filter, ParkedDelivery, Webhook
from services.feed.events import event_meta
from services.feed.filters import (
    check_lets_through,
    check_webhook_filter,
    webhooks_outside,
)
from services.feed.identities import check_webhook_name, integrator_identity
from services.feed.storage import FeedStore, WebhookRow
from services.feed.webhooks import WebhookEngine


class WebhookAdministration:
    """Webhook administration over the feed's store (mixed into FeedService)."""

    _store: FeedStore
    _wrapper: KeyWrapper
    _webhooks: WebhookEngine
    _clock: Clock

    async def entitlement(self, integrator: str) -> Entitlement | None:
        """The integrator's entitlement, if the operator set one."""
        return await self._store.entitlement(integrator)

    async def register_webhook(
        self,
        caller: Caller,
        *,
        name: str,
        integrator: str,
        url: str,
        wanted: Filter,
        secret: bytes,
    ) -> tuple[Webhook, str]:
        """Register (or replace) a webhook; audited (``feed.webhook``); with a
        warning ('' for none) when it posts nothing yet (:meth:`_posts_nothing`). The
        secret is stored wrapped under the KEK (AES-256-GCM).
        INVALID_ARGUMENT unless ``name`` is 1 to 40 of a-z, 0-9 and '-', ``url`` is
        https, ``secret`` has at least 16 bytes and ``integrator`` is
        ``integrator:<name>`` (:func:`integrator_identity`), and ``wanted`` names at
        most 1,000 values per list, each some event carries and its entitlement, once
        set, lets through (as a subscription's). PERMISSION_DENIED when the
        integrator's entitlement lets no event through."""
        check_webhook_name(name)
        await self._webhooks.egress.check_url(url)
        if len(secret) < 16:
            raise invalid("secret", "must have at least 16 bytes")
        integrator = integrator_identity(integrator)
        entitled = await self.entitlement(integrator)
        check_webhook_filter(wanted, entitled)
        now = self._clock()
        row = WebhookRow(
            name, integrator, url, wanted, self._wrapper.wrap(f"webhook:{name}", secret)
        )
        audit = AuditEntry(now, str(caller), "feed.webhook", name, details={"url": url})
        await self._store.put_webhook(row, at=now, by=str(caller), audit=[audit])
        warning = await self._posts_nothing(integrator, entitled)
        return Webhook(name, integrator, url, wanted, secret), warning

    async def _posts_nothing(
        self, integrator: str, entitled: Entitlement | None
    ) -> str:
        """Why a webhook of ``integrator`` posts nothing yet: no entitlement set, with
        the entitled integrator its name is likely a typo of (trial74: a mistyped
        integrator was registered silently, for good); '' when it has one."""
        if entitled is not None:
            return ""
        near = nearest_of_kind(integrator, await self._store.integrators())
        return (
            f"{integrator} has no entitlement: the webhook posts nothing until an "
            "operator gives one (certseal feed entitle)"
            + (f"; did you mean {near}?" if near else "")
        )

    async def list_webhooks(
        self, integrator: str = "", size: int = 0, token: str = ""
    ) -> tuple[list[tuple[WebhookRow, str]], str]:
        """(A page of the registered webhooks, ``integrator``'s when given, by name,
        each with why its integrator's entitlement as it stands does not cover its
        filter ('' when it does): none set, every right withdrawn, or each list
        outside (:func:`~services.feed.filters.webhooks_outside`); the next page's
        token or ""). Their secrets stay wrapped. INVALID_ARGUMENT for an
        ``integrator`` not ``integrator:<name>``, and as :func:`certseal.paging.page`
        says."""
        window = page(size, token)
        rows, after = window.split(
            await self._store.webhooks(
                integrator_identity(integrator) if integrator else None,
                window.after,
                window.limit + 1,
            ),
            lambda row: row.name,
        )
        return [(row, await self._outside(row)) for row in rows], after

    async def _outside(self, row: WebhookRow) -> str:
        """Why webhook ``row``'s integrator's entitlement as it stands does not cover
        its filter, or ''."""
        entitled = await self.entitlement(row.integrator)
        if entitled is None:
            return await self._posts_nothing(row.integrator, entitled)
        try:
            check_lets_through(entitled)
        except CertsealError as exc:
            return exc.message
        return webhooks_outside(entitled, {row.name: row.filter}).get(row.name, "")

    async def remove_webhook(self, caller: Caller, name: str) -> str:
        """Remove webhook ``name`` and its replay records; audited
        (``feed.unhook``); its delivery loop ends at the dispatcher's next poll (1 s).
        Its parked deliveries stay on the dead-letter topic, listed again for a
        webhook registered later under the same name (each replayed only as that
        one's entitlement and filter allow). INVALID_ARGUMENT for a name no webhook
        can have; NOT_FOUND for one no webhook has, naming the likely typo."""
        check_webhook_name(name)
        now = self._clock()
        audit = AuditEntry(now, str(caller), "feed.unhook", name)
        if not await self._store.delete_webhook(name, audit=[audit]):
            known = [row.name for row in await self._store.webhooks()]
            raise CertsealError(
                ErrorKind.NOT_FOUND,
                f"webhook {name} not found; {did_you_mean(name, known)}certseal feed "
                "webhooks lists them",
                field="name",
            )
        return name

    async def webhooks(self) -> list[Webhook]:
        """Every registered webhook, its secret unwrapped."""
        return [self._unwrapped(r) for r in await self._store.webhooks()]

    async def webhook(self, name: str) -> Webhook:
        """One webhook; INVALID_ARGUMENT for a name no webhook can have, NOT_FOUND
        when no webhook has that name."""
        row = await self._store.webhook(check_webhook_name(name))
        if row is None:
            raise not_found(f"webhook {name}", field="name")
        return self._unwrapped(row)

    def _unwrapped(self, row: WebhookRow) -> Webhook:
        secret = self._wrapper.unwrap_secret(f"webhook:{row.name}", row.wrapped_secret)
        return Webhook(row.name, row.integrator, row.url, row.filter, secret)

    async def parked_deliveries(self, name: str) -> list[ParkedDelivery]:
        """Parked deliveries of a webhook not replayed yet, in dead-letter order;
        NOT_FOUND for an unknown webhook."""
        await self.webhook(name)
        replayed = await self._store.replayed(name)
        return [
            p
            for p in await self._webhooks.parked(name)
            if p.dead_letter_offset not in replayed
        ]

    async def replay_parked(self, caller: Caller, name: str) -> tuple[int, int, int]:
        """Deliver the parked events again, in order: (delivered, still failing,
        skipped); audited (``feed.replay``).

        A replay is a delivery: an event the integrator's entitlement as it stands
        now, or the webhook's filter, does not let through is not posted but
        skipped, and dropped from the parked list. Each one delivered is recorded,
        so it is neither listed nor replayed again.
        """
        webhook = await self.webhook(name)
        now = self._clock()
        entitlement = await self.entitlement(webhook.integrator)
        allowed: list[ParkedDelivery] = []
        skipped: list[ParkedDelivery] = []
        for one in await self.parked_deliveries(name):
            meta = event_meta(one.headers.get("topic", ""), one.headers, one.value)
            passes = (
                meta is not None
                and entitlement is not None
                and entitlement.allows(meta)
                and webhook.filter.matches(meta)
            )
            (allowed if passes else skipped).append(one)

        async def delivered(offset: int) -> None:
            await self._store.mark_replayed(name, offset, now)

        sent, failing = await self._webhooks.redeliver(
            webhook, allowed, on_delivered=delivered
        )
        audit = AuditEntry(
            now,
            str(caller),
            "feed.replay",
            name,
            details={
                "delivered": sent,
                "still_failing": failing,
                "skipped": len(skipped),
                "skipped_events": [p.headers.get("ce_id", "") for p in skipped],
            },
        )
        await self._store.end_replay(
            name, [p.dead_letter_offset for p in skipped], at=now, audit=[audit]
        )
        return sent, failing, len(skipped)
