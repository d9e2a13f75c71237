"""The EventFeed and EventFeedAdmin gRPC servicers: convert, call the service."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc

from certseal.rpc import current_caller
from certseal.timestamps import ts
from certseal.v1 import feed_pb2 as pb
from certseal.v1 import feed_pb2_grpc
from services.feed.domain import Entitlement, Filter
from services.feed.service import FeedService, entitlement_of, feed_time
from services.feed.webhooks import WebhookRegistry


def entitlement_message(entitlement: Entitlement) -> pb.Entitlement:
    """The proto view of an entitlement."""
    return pb.Entitlement(
        integrator=entitlement.integrator,
        departments=sorted(entitlement.departments),
        licence_types=sorted(entitlement.licence_types),
        event_types=sorted(entitlement.event_types),
    )


class EventFeedServicer(feed_pb2_grpc.EventFeedServicer):
    """Streams what the calling integrator may see."""

    def __init__(self, *, service: FeedService):
        self._service = service

    async def Subscribe(
        self, request: pb.SubscribeRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.FeedEvent]:
        start = request.WhichOneof("start") or "earliest"
        wanted = Filter(
            frozenset(request.departments),
            frozenset(request.licence_types),
            frozenset(request.event_types),
        )
        async for event in self._service.subscribe(
            current_caller(), wanted, start=start, token=request.token
        ):
            yield pb.FeedEvent(
                token=event.token,
                id=event.headers.get("ce_id", ""),
                type=event.headers.get("ce_type", "").removeprefix("cn.gov.certseal."),
                source=event.headers.get("ce_source", ""),
                subject=event.key,
                time=ts(feed_time(event.headers)),
                topic=event.topic,
                data=event.value,
                content_type=event.headers.get("content-type", ""),
            )


class EventFeedAdminServicer(feed_pb2_grpc.EventFeedAdminServicer):
    """Operators set entitlements, register webhooks, replay parked deliveries."""

    def __init__(self, *, service: FeedService, webhooks: WebhookRegistry):
        self._service = service
        self._webhooks = webhooks

    async def SetEntitlement(
        self, request: pb.SetEntitlementRequest, context: grpc.aio.ServicerContext
    ) -> pb.SetEntitlementResponse:
        e = request.entitlement
        saved = await self._service.set_entitlement(
            current_caller(),
            entitlement_of(e.integrator, e.departments, e.licence_types, e.event_types),
        )
        return pb.SetEntitlementResponse(entitlement=entitlement_message(saved))

    async def GetEntitlement(
        self, request: pb.GetEntitlementRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetEntitlementResponse:
        found = await self._service.get_entitlement(
            current_caller(), request.integrator
        )
        return pb.GetEntitlementResponse(entitlement=entitlement_message(found))

    async def RegisterWebhook(
        self, request: pb.RegisterWebhookRequest, context: grpc.aio.ServicerContext
    ) -> pb.RegisterWebhookResponse:
        webhook = await self._webhooks.register(
            str(current_caller()),
            name=request.name,
            integrator=request.integrator,
            url=request.url,
            wanted=Filter(
                frozenset(request.departments),
                frozenset(request.licence_types),
                frozenset(request.event_types),
            ),
            secret=request.secret,
            now=self._service.now(),
        )
        return pb.RegisterWebhookResponse(name=webhook.name)

    async def ListParkedDeliveries(
        self,
        request: pb.ListParkedDeliveriesRequest,
        context: grpc.aio.ServicerContext,
    ) -> pb.ListParkedDeliveriesResponse:
        parked = []
        for offset, record in await self._webhooks.pending(request.webhook):
            headers = {k: v.decode() for k, v in record.headers or ()}
            parked.append(
                pb.ParkedDelivery(
                    dead_letter_offset=offset,
                    event_id=headers.get("ce_id", ""),
                    type=headers.get("ce_type", "").removeprefix("cn.gov.certseal."),
                    subject=headers.get("ce_subject", ""),
                    reason=headers.get("reason", ""),
                )
            )
        return pb.ListParkedDeliveriesResponse(parked=parked)

    async def ReplayParkedDeliveries(
        self,
        request: pb.ReplayParkedDeliveriesRequest,
        context: grpc.aio.ServicerContext,
    ) -> pb.ReplayParkedDeliveriesResponse:
        delivered, failing = await self._webhooks.replay(
            request.webhook, self._service.now()
        )
        return pb.ReplayParkedDeliveriesResponse(
            delivered=delivered, still_failing=failing
        )
