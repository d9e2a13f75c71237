"""The EventFeed and EventFeedAdmin gRPC servicers: convert, call the service."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import grpc

from certseal.idempotency import idempotent
from certseal.rpc import current_caller
from certseal.v1 import feed_pb2 as pb
from certseal.v1 import feed_pb2_grpc
from services.feed import convert
from services.feed.domain import SUBSCRIBED
from services.feed.service import FeedService


class EventFeedServicer(feed_pb2_grpc.EventFeedServicer):
    """Streams what the calling integrator may see."""

    def __init__(self, *, service: FeedService):
        self._service = service

    async def Subscribe(
        self, request: pb.SubscribeRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.FeedEvent]:
        start = request.WhichOneof("start") or "earliest"
        # closed as soon as the stream ends, so its subscription slot is given back
        async with contextlib.aclosing(
            self._service.subscribe(
                current_caller(),
                convert.filter_of(request),
                start=start,
                token=request.token,
                # the headers go out once the stream stands at its start, so a
                # subscriber can say it is open before the first event comes (a
                # refusal's trailers-only answer carries no such header)
                opened=lambda: context.send_initial_metadata((SUBSCRIBED,)),
            )
        ) as events:
            async for event in events:
                yield convert.feed_event(event)


class EventFeedAdminServicer(feed_pb2_grpc.EventFeedAdminServicer):
    """Operators set entitlements, register webhooks, replay parked deliveries."""

    def __init__(self, *, service: FeedService):
        self._service = service

    @idempotent
    async def SetEntitlement(
        self, request: pb.SetEntitlementRequest, context: grpc.aio.ServicerContext
    ) -> pb.SetEntitlementResponse:
        saved, outside = await self._service.set_entitlement(
            current_caller(), convert.entitlement_of(request.entitlement)
        )
        return pb.SetEntitlementResponse(
            entitlement=convert.entitlement_message(saved),
            webhooks_outside=[
                pb.WebhookOutside(webhook=name, why=why)
                for name, why in outside.items()
            ],
        )

    @idempotent
    async def RemoveEntitlement(
        self, request: pb.RemoveEntitlementRequest, context: grpc.aio.ServicerContext
    ) -> pb.RemoveEntitlementResponse:
        removed = await self._service.remove_entitlement(
            current_caller(), request.integrator
        )
        return pb.RemoveEntitlementResponse(
            entitlement=convert.entitlement_message(removed)
        )

    async def GetEntitlement(
        self, request: pb.GetEntitlementRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetEntitlementResponse:
        found = await self._service.get_entitlement(
            current_caller(), request.integrator
        )
        return pb.GetEntitlementResponse(entitlement=convert.entitlement_message(found))

    async def ListEntitlements(
        self, request: pb.ListEntitlementsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListEntitlementsResponse:
        found, token = await self._service.list_entitlements(
            request.page_size, request.page_token
        )
        return pb.ListEntitlementsResponse(
            entitlements=[convert.entitlement_message(e) for e in found],
            next_page_token=token,
        )

    @idempotent
    async def RegisterWebhook(
        self, request: pb.RegisterWebhookRequest, context: grpc.aio.ServicerContext
    ) -> pb.RegisterWebhookResponse:
        webhook, warning = await self._service.register_webhook(
            current_caller(),
            name=request.name,
            integrator=request.integrator,
            url=request.url,
            wanted=convert.filter_of(request),
            secret=request.secret,
        )
        return pb.RegisterWebhookResponse(name=webhook.name, warning=warning)

    async def ListWebhooks(
        self, request: pb.ListWebhooksRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListWebhooksResponse:
        listed, token = await self._service.list_webhooks(
            request.integrator, request.page_size, request.page_token
        )
        return pb.ListWebhooksResponse(
            webhooks=[
                convert.webhook_listed(r.name, r.integrator, r.url, r.filter, why)
                for r, why in listed
            ],
            next_page_token=token,
        )

    @idempotent
    async def RemoveWebhook(
        self, request: pb.RemoveWebhookRequest, context: grpc.aio.ServicerContext
    ) -> pb.RemoveWebhookResponse:
        name = await self._service.remove_webhook(current_caller(), request.name)
        return pb.RemoveWebhookResponse(name=name)

    async def ListParkedDeliveries(
        self,
        request: pb.ListParkedDeliveriesRequest,
        context: grpc.aio.ServicerContext,
    ) -> pb.ListParkedDeliveriesResponse:
        parked = await self._service.parked_deliveries(request.webhook)
        return pb.ListParkedDeliveriesResponse(
            parked=[convert.parked_message(p) for p in parked]
        )

    @idempotent
    async def ReplayParkedDeliveries(
        self,
        request: pb.ReplayParkedDeliveriesRequest,
        context: grpc.aio.ServicerContext,
    ) -> pb.ReplayParkedDeliveriesResponse:
        delivered, failing, skipped = await self._service.replay_parked(
            current_caller(), request.webhook
        )
        return pb.ReplayParkedDeliveriesResponse(
            delivered=delivered, still_failing=failing, skipped=skipped
        )
