import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from certseal.v1 import licence_pb2 as _licence_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Verdict(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    VERDICT_UNSPECIFIED: _ClassVar[Verdict]
    VERDICT_VALID: _ClassVar[Verdict]
    VERDICT_REVOKED: _ClassVar[Verdict]
    VERDICT_SUSPENDED: _ClassVar[Verdict]
    VERDICT_CANCELLED: _ClassVar[Verdict]
    VERDICT_EXPIRED: _ClassVar[Verdict]
    VERDICT_NOT_YET_VALID: _ClassVar[Verdict]
    VERDICT_SUPERSEDED: _ClassVar[Verdict]
    VERDICT_BAD_SIGNATURE: _ClassVar[Verdict]
    VERDICT_UNKNOWN_ISSUER: _ClassVar[Verdict]
    VERDICT_KEY_REVOKED: _ClassVar[Verdict]
    VERDICT_MALFORMED: _ClassVar[Verdict]
    VERDICT_CODE_EXPIRED: _ClassVar[Verdict]
    VERDICT_REPLAYED: _ClassVar[Verdict]
    VERDICT_UNKNOWN_LICENCE: _ClassVar[Verdict]
VERDICT_UNSPECIFIED: Verdict
VERDICT_VALID: Verdict
VERDICT_REVOKED: Verdict
VERDICT_SUSPENDED: Verdict
VERDICT_CANCELLED: Verdict
VERDICT_EXPIRED: Verdict
VERDICT_NOT_YET_VALID: Verdict
VERDICT_SUPERSEDED: Verdict
VERDICT_BAD_SIGNATURE: Verdict
VERDICT_UNKNOWN_ISSUER: Verdict
VERDICT_KEY_REVOKED: Verdict
VERDICT_MALFORMED: Verdict
VERDICT_CODE_EXPIRED: Verdict
VERDICT_REPLAYED: Verdict
VERDICT_UNKNOWN_LICENCE: Verdict

class VerificationCheck(_message.Message):
    __slots__ = ("name", "passed", "detail")
    NAME_FIELD_NUMBER: _ClassVar[int]
    PASSED_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    name: str
    passed: bool
    detail: str
    def __init__(self, name: _Optional[str] = ..., passed: _Optional[bool] = ..., detail: _Optional[str] = ...) -> None: ...

class IndexFreshness(_message.Message):
    __slots__ = ("last_event_time", "lag_events", "lag_unknown", "lag_measured_at")
    LAST_EVENT_TIME_FIELD_NUMBER: _ClassVar[int]
    LAG_EVENTS_FIELD_NUMBER: _ClassVar[int]
    LAG_UNKNOWN_FIELD_NUMBER: _ClassVar[int]
    LAG_MEASURED_AT_FIELD_NUMBER: _ClassVar[int]
    last_event_time: _timestamp_pb2.Timestamp
    lag_events: int
    lag_unknown: bool
    lag_measured_at: _timestamp_pb2.Timestamp
    def __init__(self, last_event_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., lag_events: _Optional[int] = ..., lag_unknown: _Optional[bool] = ..., lag_measured_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class VerificationResult(_message.Message):
    __slots__ = ("verdict", "checks", "identifier", "lineage", "issuer_code", "type_code", "holder_display_name", "fields", "valid_from", "valid_until", "freshness", "code_kind", "status", "type_name", "issuer_name", "field_titles", "group", "log_checkpoint")
    class FieldsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    class FieldTitlesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    VERDICT_FIELD_NUMBER: _ClassVar[int]
    CHECKS_FIELD_NUMBER: _ClassVar[int]
    IDENTIFIER_FIELD_NUMBER: _ClassVar[int]
    LINEAGE_FIELD_NUMBER: _ClassVar[int]
    ISSUER_CODE_FIELD_NUMBER: _ClassVar[int]
    TYPE_CODE_FIELD_NUMBER: _ClassVar[int]
    HOLDER_DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    VALID_FROM_FIELD_NUMBER: _ClassVar[int]
    VALID_UNTIL_FIELD_NUMBER: _ClassVar[int]
    FRESHNESS_FIELD_NUMBER: _ClassVar[int]
    CODE_KIND_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    TYPE_NAME_FIELD_NUMBER: _ClassVar[int]
    ISSUER_NAME_FIELD_NUMBER: _ClassVar[int]
    FIELD_TITLES_FIELD_NUMBER: _ClassVar[int]
    GROUP_FIELD_NUMBER: _ClassVar[int]
    LOG_CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    verdict: Verdict
    checks: _containers.RepeatedCompositeFieldContainer[VerificationCheck]
    identifier: str
    lineage: str
    issuer_code: str
    type_code: str
    holder_display_name: str
    fields: _containers.ScalarMap[str, str]
    valid_from: _timestamp_pb2.Timestamp
    valid_until: _timestamp_pb2.Timestamp
    freshness: IndexFreshness
    code_kind: str
    status: _licence_pb2.LicenceStatus
    type_name: str
    issuer_name: str
    field_titles: _containers.ScalarMap[str, str]
    group: str
    log_checkpoint: str
    def __init__(self, verdict: _Optional[_Union[Verdict, str]] = ..., checks: _Optional[_Iterable[_Union[VerificationCheck, _Mapping]]] = ..., identifier: _Optional[str] = ..., lineage: _Optional[str] = ..., issuer_code: _Optional[str] = ..., type_code: _Optional[str] = ..., holder_display_name: _Optional[str] = ..., fields: _Optional[_Mapping[str, str]] = ..., valid_from: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., valid_until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., freshness: _Optional[_Union[IndexFreshness, _Mapping]] = ..., code_kind: _Optional[str] = ..., status: _Optional[_Union[_licence_pb2.LicenceStatus, str]] = ..., type_name: _Optional[str] = ..., issuer_name: _Optional[str] = ..., field_titles: _Optional[_Mapping[str, str]] = ..., group: _Optional[str] = ..., log_checkpoint: _Optional[str] = ...) -> None: ...

class VerifyCodeRequest(_message.Message):
    __slots__ = ("code", "purpose")
    CODE_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    code: str
    purpose: str
    def __init__(self, code: _Optional[str] = ..., purpose: _Optional[str] = ...) -> None: ...

class VerifyCodeResponse(_message.Message):
    __slots__ = ("result",)
    RESULT_FIELD_NUMBER: _ClassVar[int]
    result: VerificationResult
    def __init__(self, result: _Optional[_Union[VerificationResult, _Mapping]] = ...) -> None: ...

class VerifyImageRequest(_message.Message):
    __slots__ = ("image", "purpose")
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    image: bytes
    purpose: str
    def __init__(self, image: _Optional[bytes] = ..., purpose: _Optional[str] = ...) -> None: ...

class VerifyImageResponse(_message.Message):
    __slots__ = ("result", "code")
    RESULT_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    result: VerificationResult
    code: str
    def __init__(self, result: _Optional[_Union[VerificationResult, _Mapping]] = ..., code: _Optional[str] = ...) -> None: ...

class VerifyCodesRequest(_message.Message):
    __slots__ = ("codes", "purpose")
    CODES_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    codes: _containers.RepeatedScalarFieldContainer[str]
    purpose: str
    def __init__(self, codes: _Optional[_Iterable[str]] = ..., purpose: _Optional[str] = ...) -> None: ...

class VerifyCodesResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[VerificationResult]
    def __init__(self, results: _Optional[_Iterable[_Union[VerificationResult, _Mapping]]] = ...) -> None: ...

class PartitionStatus(_message.Message):
    __slots__ = ("topic", "partition", "applied_offset", "high_water", "lag")
    TOPIC_FIELD_NUMBER: _ClassVar[int]
    PARTITION_FIELD_NUMBER: _ClassVar[int]
    APPLIED_OFFSET_FIELD_NUMBER: _ClassVar[int]
    HIGH_WATER_FIELD_NUMBER: _ClassVar[int]
    LAG_FIELD_NUMBER: _ClassVar[int]
    topic: str
    partition: int
    applied_offset: int
    high_water: int
    lag: int
    def __init__(self, topic: _Optional[str] = ..., partition: _Optional[int] = ..., applied_offset: _Optional[int] = ..., high_water: _Optional[int] = ..., lag: _Optional[int] = ...) -> None: ...

class GetIndexStatusRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetIndexStatusResponse(_message.Message):
    __slots__ = ("group", "partitions", "licence_entries", "trust_entries", "last_event_time", "licences", "lag_unknown", "lag_measured_at")
    GROUP_FIELD_NUMBER: _ClassVar[int]
    PARTITIONS_FIELD_NUMBER: _ClassVar[int]
    LICENCE_ENTRIES_FIELD_NUMBER: _ClassVar[int]
    TRUST_ENTRIES_FIELD_NUMBER: _ClassVar[int]
    LAST_EVENT_TIME_FIELD_NUMBER: _ClassVar[int]
    LICENCES_FIELD_NUMBER: _ClassVar[int]
    LAG_UNKNOWN_FIELD_NUMBER: _ClassVar[int]
    LAG_MEASURED_AT_FIELD_NUMBER: _ClassVar[int]
    group: str
    partitions: _containers.RepeatedCompositeFieldContainer[PartitionStatus]
    licence_entries: int
    trust_entries: int
    last_event_time: _timestamp_pb2.Timestamp
    licences: int
    lag_unknown: bool
    lag_measured_at: _timestamp_pb2.Timestamp
    def __init__(self, group: _Optional[str] = ..., partitions: _Optional[_Iterable[_Union[PartitionStatus, _Mapping]]] = ..., licence_entries: _Optional[int] = ..., trust_entries: _Optional[int] = ..., last_event_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., licences: _Optional[int] = ..., lag_unknown: _Optional[bool] = ..., lag_measured_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ExportTrustBundleRequest(_message.Message):
    __slots__ = ("since_version", "group")
    SINCE_VERSION_FIELD_NUMBER: _ClassVar[int]
    GROUP_FIELD_NUMBER: _ClassVar[int]
    since_version: int
    group: str
    def __init__(self, since_version: _Optional[int] = ..., group: _Optional[str] = ...) -> None: ...

class ExportTrustBundleResponse(_message.Message):
    __slots__ = ("bundle", "version", "base_version", "valid_until", "listed_licences", "keys", "index_time", "group", "log_checkpoint")
    BUNDLE_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    BASE_VERSION_FIELD_NUMBER: _ClassVar[int]
    VALID_UNTIL_FIELD_NUMBER: _ClassVar[int]
    LISTED_LICENCES_FIELD_NUMBER: _ClassVar[int]
    KEYS_FIELD_NUMBER: _ClassVar[int]
    INDEX_TIME_FIELD_NUMBER: _ClassVar[int]
    GROUP_FIELD_NUMBER: _ClassVar[int]
    LOG_CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    bundle: bytes
    version: int
    base_version: int
    valid_until: _timestamp_pb2.Timestamp
    listed_licences: int
    keys: int
    index_time: _timestamp_pb2.Timestamp
    group: str
    log_checkpoint: str
    def __init__(self, bundle: _Optional[bytes] = ..., version: _Optional[int] = ..., base_version: _Optional[int] = ..., valid_until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., listed_licences: _Optional[int] = ..., keys: _Optional[int] = ..., index_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., group: _Optional[str] = ..., log_checkpoint: _Optional[str] = ...) -> None: ...

class LookupEntriesRequest(_message.Message):
    __slots__ = ("lineages", "group", "group_size")
    LINEAGES_FIELD_NUMBER: _ClassVar[int]
    GROUP_FIELD_NUMBER: _ClassVar[int]
    GROUP_SIZE_FIELD_NUMBER: _ClassVar[int]
    lineages: _containers.RepeatedScalarFieldContainer[bytes]
    group: str
    group_size: int
    def __init__(self, lineages: _Optional[_Iterable[bytes]] = ..., group: _Optional[str] = ..., group_size: _Optional[int] = ...) -> None: ...

class StoredEntry(_message.Message):
    __slots__ = ("lineage", "event")
    LINEAGE_FIELD_NUMBER: _ClassVar[int]
    EVENT_FIELD_NUMBER: _ClassVar[int]
    lineage: bytes
    event: bytes
    def __init__(self, lineage: _Optional[bytes] = ..., event: _Optional[bytes] = ...) -> None: ...

class LookupEntriesResponse(_message.Message):
    __slots__ = ("entries", "freshness")
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    FRESHNESS_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.RepeatedCompositeFieldContainer[StoredEntry]
    freshness: IndexFreshness
    def __init__(self, entries: _Optional[_Iterable[_Union[StoredEntry, _Mapping]]] = ..., freshness: _Optional[_Union[IndexFreshness, _Mapping]] = ...) -> None: ...
