import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Entitlement(_message.Message):
    __slots__ = ("integrator", "departments", "licence_types", "event_types")
    INTEGRATOR_FIELD_NUMBER: _ClassVar[int]
    DEPARTMENTS_FIELD_NUMBER: _ClassVar[int]
    LICENCE_TYPES_FIELD_NUMBER: _ClassVar[int]
    EVENT_TYPES_FIELD_NUMBER: _ClassVar[int]
    integrator: str
    departments: _containers.RepeatedScalarFieldContainer[str]
    licence_types: _containers.RepeatedScalarFieldContainer[str]
    event_types: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, integrator: _Optional[str] = ..., departments: _Optional[_Iterable[str]] = ..., licence_types: _Optional[_Iterable[str]] = ..., event_types: _Optional[_Iterable[str]] = ...) -> None: ...

class SubscribeRequest(_message.Message):
    __slots__ = ("event_types", "departments", "licence_types", "earliest", "latest", "token")
    EVENT_TYPES_FIELD_NUMBER: _ClassVar[int]
    DEPARTMENTS_FIELD_NUMBER: _ClassVar[int]
    LICENCE_TYPES_FIELD_NUMBER: _ClassVar[int]
    EARLIEST_FIELD_NUMBER: _ClassVar[int]
    LATEST_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    event_types: _containers.RepeatedScalarFieldContainer[str]
    departments: _containers.RepeatedScalarFieldContainer[str]
    licence_types: _containers.RepeatedScalarFieldContainer[str]
    earliest: bool
    latest: bool
    token: str
    def __init__(self, event_types: _Optional[_Iterable[str]] = ..., departments: _Optional[_Iterable[str]] = ..., licence_types: _Optional[_Iterable[str]] = ..., earliest: _Optional[bool] = ..., latest: _Optional[bool] = ..., token: _Optional[str] = ...) -> None: ...

class FeedEvent(_message.Message):
    __slots__ = ("token", "id", "type", "source", "subject", "time", "topic", "data", "content_type")
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    TOPIC_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    token: str
    id: str
    type: str
    source: str
    subject: str
    time: _timestamp_pb2.Timestamp
    topic: str
    data: bytes
    content_type: str
    def __init__(self, token: _Optional[str] = ..., id: _Optional[str] = ..., type: _Optional[str] = ..., source: _Optional[str] = ..., subject: _Optional[str] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., topic: _Optional[str] = ..., data: _Optional[bytes] = ..., content_type: _Optional[str] = ...) -> None: ...

class SetEntitlementRequest(_message.Message):
    __slots__ = ("entitlement",)
    ENTITLEMENT_FIELD_NUMBER: _ClassVar[int]
    entitlement: Entitlement
    def __init__(self, entitlement: _Optional[_Union[Entitlement, _Mapping]] = ...) -> None: ...

class SetEntitlementResponse(_message.Message):
    __slots__ = ("entitlement", "webhooks_outside")
    ENTITLEMENT_FIELD_NUMBER: _ClassVar[int]
    WEBHOOKS_OUTSIDE_FIELD_NUMBER: _ClassVar[int]
    entitlement: Entitlement
    webhooks_outside: _containers.RepeatedCompositeFieldContainer[WebhookOutside]
    def __init__(self, entitlement: _Optional[_Union[Entitlement, _Mapping]] = ..., webhooks_outside: _Optional[_Iterable[_Union[WebhookOutside, _Mapping]]] = ...) -> None: ...

class WebhookOutside(_message.Message):
    __slots__ = ("webhook", "why")
    WEBHOOK_FIELD_NUMBER: _ClassVar[int]
    WHY_FIELD_NUMBER: _ClassVar[int]
    webhook: str
    why: str
    def __init__(self, webhook: _Optional[str] = ..., why: _Optional[str] = ...) -> None: ...

class GetEntitlementRequest(_message.Message):
    __slots__ = ("integrator",)
    INTEGRATOR_FIELD_NUMBER: _ClassVar[int]
    integrator: str
    def __init__(self, integrator: _Optional[str] = ...) -> None: ...

class GetEntitlementResponse(_message.Message):
    __slots__ = ("entitlement",)
    ENTITLEMENT_FIELD_NUMBER: _ClassVar[int]
    entitlement: Entitlement
    def __init__(self, entitlement: _Optional[_Union[Entitlement, _Mapping]] = ...) -> None: ...

class ListEntitlementsRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListEntitlementsResponse(_message.Message):
    __slots__ = ("entitlements", "next_page_token")
    ENTITLEMENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    entitlements: _containers.RepeatedCompositeFieldContainer[Entitlement]
    next_page_token: str
    def __init__(self, entitlements: _Optional[_Iterable[_Union[Entitlement, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class RemoveEntitlementRequest(_message.Message):
    __slots__ = ("integrator",)
    INTEGRATOR_FIELD_NUMBER: _ClassVar[int]
    integrator: str
    def __init__(self, integrator: _Optional[str] = ...) -> None: ...

class RemoveEntitlementResponse(_message.Message):
    __slots__ = ("entitlement",)
    ENTITLEMENT_FIELD_NUMBER: _ClassVar[int]
    entitlement: Entitlement
    def __init__(self, entitlement: _Optional[_Union[Entitlement, _Mapping]] = ...) -> None: ...

class RegisterWebhookRequest(_message.Message):
    __slots__ = ("name", "integrator", "url", "secret", "event_types", "departments", "licence_types")
    NAME_FIELD_NUMBER: _ClassVar[int]
    INTEGRATOR_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    SECRET_FIELD_NUMBER: _ClassVar[int]
    EVENT_TYPES_FIELD_NUMBER: _ClassVar[int]
    DEPARTMENTS_FIELD_NUMBER: _ClassVar[int]
    LICENCE_TYPES_FIELD_NUMBER: _ClassVar[int]
    name: str
    integrator: str
    url: str
    secret: bytes
    event_types: _containers.RepeatedScalarFieldContainer[str]
    departments: _containers.RepeatedScalarFieldContainer[str]
    licence_types: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, name: _Optional[str] = ..., integrator: _Optional[str] = ..., url: _Optional[str] = ..., secret: _Optional[bytes] = ..., event_types: _Optional[_Iterable[str]] = ..., departments: _Optional[_Iterable[str]] = ..., licence_types: _Optional[_Iterable[str]] = ...) -> None: ...

class RegisterWebhookResponse(_message.Message):
    __slots__ = ("name", "warning")
    NAME_FIELD_NUMBER: _ClassVar[int]
    WARNING_FIELD_NUMBER: _ClassVar[int]
    name: str
    warning: str
    def __init__(self, name: _Optional[str] = ..., warning: _Optional[str] = ...) -> None: ...

class ListWebhooksRequest(_message.Message):
    __slots__ = ("integrator", "page_size", "page_token")
    INTEGRATOR_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    integrator: str
    page_size: int
    page_token: str
    def __init__(self, integrator: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class WebhookListed(_message.Message):
    __slots__ = ("name", "integrator", "url", "event_types", "departments", "licence_types", "outside")
    NAME_FIELD_NUMBER: _ClassVar[int]
    INTEGRATOR_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    EVENT_TYPES_FIELD_NUMBER: _ClassVar[int]
    DEPARTMENTS_FIELD_NUMBER: _ClassVar[int]
    LICENCE_TYPES_FIELD_NUMBER: _ClassVar[int]
    OUTSIDE_FIELD_NUMBER: _ClassVar[int]
    name: str
    integrator: str
    url: str
    event_types: _containers.RepeatedScalarFieldContainer[str]
    departments: _containers.RepeatedScalarFieldContainer[str]
    licence_types: _containers.RepeatedScalarFieldContainer[str]
    outside: str
    def __init__(self, name: _Optional[str] = ..., integrator: _Optional[str] = ..., url: _Optional[str] = ..., event_types: _Optional[_Iterable[str]] = ..., departments: _Optional[_Iterable[str]] = ..., licence_types: _Optional[_Iterable[str]] = ..., outside: _Optional[str] = ...) -> None: ...

class ListWebhooksResponse(_message.Message):
    __slots__ = ("webhooks", "next_page_token")
    WEBHOOKS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    webhooks: _containers.RepeatedCompositeFieldContainer[WebhookListed]
    next_page_token: str
    def __init__(self, webhooks: _Optional[_Iterable[_Union[WebhookListed, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class RemoveWebhookRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class RemoveWebhookResponse(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ParkedDelivery(_message.Message):
    __slots__ = ("dead_letter_offset", "event_id", "type", "subject", "reason")
    DEAD_LETTER_OFFSET_FIELD_NUMBER: _ClassVar[int]
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    dead_letter_offset: int
    event_id: str
    type: str
    subject: str
    reason: str
    def __init__(self, dead_letter_offset: _Optional[int] = ..., event_id: _Optional[str] = ..., type: _Optional[str] = ..., subject: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class ListParkedDeliveriesRequest(_message.Message):
    __slots__ = ("webhook",)
    WEBHOOK_FIELD_NUMBER: _ClassVar[int]
    webhook: str
    def __init__(self, webhook: _Optional[str] = ...) -> None: ...

class ListParkedDeliveriesResponse(_message.Message):
    __slots__ = ("parked",)
    PARKED_FIELD_NUMBER: _ClassVar[int]
    parked: _containers.RepeatedCompositeFieldContainer[ParkedDelivery]
    def __init__(self, parked: _Optional[_Iterable[_Union[ParkedDelivery, _Mapping]]] = ...) -> None: ...

class ReplayParkedDeliveriesRequest(_message.Message):
    __slots__ = ("webhook",)
    WEBHOOK_FIELD_NUMBER: _ClassVar[int]
    webhook: str
    def __init__(self, webhook: _Optional[str] = ...) -> None: ...

class ReplayParkedDeliveriesResponse(_message.Message):
    __slots__ = ("delivered", "still_failing", "skipped")
    DELIVERED_FIELD_NUMBER: _ClassVar[int]
    STILL_FAILING_FIELD_NUMBER: _ClassVar[int]
    SKIPPED_FIELD_NUMBER: _ClassVar[int]
    delivered: int
    still_failing: int
    skipped: int
    def __init__(self, delivered: _Optional[int] = ..., still_failing: _Optional[int] = ..., skipped: _Optional[int] = ...) -> None: ...
