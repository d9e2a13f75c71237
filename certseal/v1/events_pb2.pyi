import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from certseal.v1 import licence_pb2 as _licence_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class LicenceEvent(_message.Message):
    __slots__ = ("event_id", "type", "lineage", "identifier", "version", "lineage_version", "status", "operation", "reason", "actor_department", "occurred_at", "type_code", "issuer_code", "valid_from", "valid_until", "replaces", "holder_ref", "kid", "transferred_to", "restricted_fields", "restricted_sealed", "authorisation")
    class RestrictedFieldsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _licence_pb2.FieldValue
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_licence_pb2.FieldValue, _Mapping]] = ...) -> None: ...
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    LINEAGE_FIELD_NUMBER: _ClassVar[int]
    IDENTIFIER_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    LINEAGE_VERSION_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    OPERATION_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    ACTOR_DEPARTMENT_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    TYPE_CODE_FIELD_NUMBER: _ClassVar[int]
    ISSUER_CODE_FIELD_NUMBER: _ClassVar[int]
    VALID_FROM_FIELD_NUMBER: _ClassVar[int]
    VALID_UNTIL_FIELD_NUMBER: _ClassVar[int]
    REPLACES_FIELD_NUMBER: _ClassVar[int]
    HOLDER_REF_FIELD_NUMBER: _ClassVar[int]
    KID_FIELD_NUMBER: _ClassVar[int]
    TRANSFERRED_TO_FIELD_NUMBER: _ClassVar[int]
    RESTRICTED_FIELDS_FIELD_NUMBER: _ClassVar[int]
    RESTRICTED_SEALED_FIELD_NUMBER: _ClassVar[int]
    AUTHORISATION_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    type: str
    lineage: str
    identifier: str
    version: int
    lineage_version: int
    status: _licence_pb2.LicenceStatus
    operation: _licence_pb2.LicenceOperation
    reason: str
    actor_department: str
    occurred_at: _timestamp_pb2.Timestamp
    type_code: str
    issuer_code: str
    valid_from: _timestamp_pb2.Timestamp
    valid_until: _timestamp_pb2.Timestamp
    replaces: str
    holder_ref: str
    kid: str
    transferred_to: str
    restricted_fields: _containers.MessageMap[str, _licence_pb2.FieldValue]
    restricted_sealed: SealedFields
    authorisation: AuthorisationChange
    def __init__(self, event_id: _Optional[str] = ..., type: _Optional[str] = ..., lineage: _Optional[str] = ..., identifier: _Optional[str] = ..., version: _Optional[int] = ..., lineage_version: _Optional[int] = ..., status: _Optional[_Union[_licence_pb2.LicenceStatus, str]] = ..., operation: _Optional[_Union[_licence_pb2.LicenceOperation, str]] = ..., reason: _Optional[str] = ..., actor_department: _Optional[str] = ..., occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., type_code: _Optional[str] = ..., issuer_code: _Optional[str] = ..., valid_from: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., valid_until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., replaces: _Optional[str] = ..., holder_ref: _Optional[str] = ..., kid: _Optional[str] = ..., transferred_to: _Optional[str] = ..., restricted_fields: _Optional[_Mapping[str, _licence_pb2.FieldValue]] = ..., restricted_sealed: _Optional[_Union[SealedFields, _Mapping]] = ..., authorisation: _Optional[_Union[AuthorisationChange, _Mapping]] = ...) -> None: ...

class AuthorisationChange(_message.Message):
    __slots__ = ("authorisation_id", "department_code", "counter", "purpose", "fields", "expires_at")
    AUTHORISATION_ID_FIELD_NUMBER: _ClassVar[int]
    DEPARTMENT_CODE_FIELD_NUMBER: _ClassVar[int]
    COUNTER_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    authorisation_id: str
    department_code: str
    counter: str
    purpose: str
    fields: _containers.RepeatedScalarFieldContainer[str]
    expires_at: _timestamp_pb2.Timestamp
    def __init__(self, authorisation_id: _Optional[str] = ..., department_code: _Optional[str] = ..., counter: _Optional[str] = ..., purpose: _Optional[str] = ..., fields: _Optional[_Iterable[str]] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class SealedFields(_message.Message):
    __slots__ = ("kid", "nonce", "ciphertext")
    KID_FIELD_NUMBER: _ClassVar[int]
    NONCE_FIELD_NUMBER: _ClassVar[int]
    CIPHERTEXT_FIELD_NUMBER: _ClassVar[int]
    kid: str
    nonce: bytes
    ciphertext: bytes
    def __init__(self, kid: _Optional[str] = ..., nonce: _Optional[bytes] = ..., ciphertext: _Optional[bytes] = ...) -> None: ...

class RestrictedFields(_message.Message):
    __slots__ = ("values",)
    class ValuesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _licence_pb2.FieldValue
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_licence_pb2.FieldValue, _Mapping]] = ...) -> None: ...
    VALUES_FIELD_NUMBER: _ClassVar[int]
    values: _containers.MessageMap[str, _licence_pb2.FieldValue]
    def __init__(self, values: _Optional[_Mapping[str, _licence_pb2.FieldValue]] = ...) -> None: ...

class LicenceUsedEvent(_message.Message):
    __slots__ = ("event_id", "type", "lineage", "identifier", "verdict", "counter", "purpose", "verifier_group", "occurred_at", "code_kind", "nonce_hash", "code_expires_at", "clerk", "via", "uses")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    LINEAGE_FIELD_NUMBER: _ClassVar[int]
    IDENTIFIER_FIELD_NUMBER: _ClassVar[int]
    VERDICT_FIELD_NUMBER: _ClassVar[int]
    COUNTER_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    VERIFIER_GROUP_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    CODE_KIND_FIELD_NUMBER: _ClassVar[int]
    NONCE_HASH_FIELD_NUMBER: _ClassVar[int]
    CODE_EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    CLERK_FIELD_NUMBER: _ClassVar[int]
    VIA_FIELD_NUMBER: _ClassVar[int]
    USES_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    type: str
    lineage: str
    identifier: str
    verdict: str
    counter: str
    purpose: str
    verifier_group: str
    occurred_at: _timestamp_pb2.Timestamp
    code_kind: str
    nonce_hash: str
    code_expires_at: _timestamp_pb2.Timestamp
    clerk: str
    via: str
    uses: _containers.RepeatedCompositeFieldContainer[LicenceUse]
    def __init__(self, event_id: _Optional[str] = ..., type: _Optional[str] = ..., lineage: _Optional[str] = ..., identifier: _Optional[str] = ..., verdict: _Optional[str] = ..., counter: _Optional[str] = ..., purpose: _Optional[str] = ..., verifier_group: _Optional[str] = ..., occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., code_kind: _Optional[str] = ..., nonce_hash: _Optional[str] = ..., code_expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., clerk: _Optional[str] = ..., via: _Optional[str] = ..., uses: _Optional[_Iterable[_Union[LicenceUse, _Mapping]]] = ...) -> None: ...

class LicenceUse(_message.Message):
    __slots__ = ("lineage", "identifier", "verdict", "code_kind", "nonce_hash", "code_expires_at", "occurred_at")
    LINEAGE_FIELD_NUMBER: _ClassVar[int]
    IDENTIFIER_FIELD_NUMBER: _ClassVar[int]
    VERDICT_FIELD_NUMBER: _ClassVar[int]
    CODE_KIND_FIELD_NUMBER: _ClassVar[int]
    NONCE_HASH_FIELD_NUMBER: _ClassVar[int]
    CODE_EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    lineage: str
    identifier: str
    verdict: str
    code_kind: str
    nonce_hash: str
    code_expires_at: _timestamp_pb2.Timestamp
    occurred_at: _timestamp_pb2.Timestamp
    def __init__(self, lineage: _Optional[str] = ..., identifier: _Optional[str] = ..., verdict: _Optional[str] = ..., code_kind: _Optional[str] = ..., nonce_hash: _Optional[str] = ..., code_expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class TrustEvent(_message.Message):
    __slots__ = ("event_id", "type", "kid", "department_code", "suite", "status", "public_key", "not_before", "not_after", "revoked_at", "reason", "actor", "occurred_at", "key_version", "presentation_key")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    KID_FIELD_NUMBER: _ClassVar[int]
    DEPARTMENT_CODE_FIELD_NUMBER: _ClassVar[int]
    SUITE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    NOT_BEFORE_FIELD_NUMBER: _ClassVar[int]
    NOT_AFTER_FIELD_NUMBER: _ClassVar[int]
    REVOKED_AT_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    KEY_VERSION_FIELD_NUMBER: _ClassVar[int]
    PRESENTATION_KEY_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    type: str
    kid: str
    department_code: str
    suite: str
    status: _licence_pb2.KeyStatus
    public_key: bytes
    not_before: _timestamp_pb2.Timestamp
    not_after: _timestamp_pb2.Timestamp
    revoked_at: _timestamp_pb2.Timestamp
    reason: str
    actor: str
    occurred_at: _timestamp_pb2.Timestamp
    key_version: int
    presentation_key: bool
    def __init__(self, event_id: _Optional[str] = ..., type: _Optional[str] = ..., kid: _Optional[str] = ..., department_code: _Optional[str] = ..., suite: _Optional[str] = ..., status: _Optional[_Union[_licence_pb2.KeyStatus, str]] = ..., public_key: _Optional[bytes] = ..., not_before: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., not_after: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., revoked_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., reason: _Optional[str] = ..., actor: _Optional[str] = ..., occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., key_version: _Optional[int] = ..., presentation_key: _Optional[bool] = ...) -> None: ...

class SealEvent(_message.Message):
    __slots__ = ("event_id", "type", "seal_id", "owner_code", "seal_type", "suite", "status", "valid_start", "valid_end", "revoked_at", "reason", "actor", "occurred_at", "seal_version", "seal_certificate", "document_digest", "digest_algorithm", "signed_at")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    SEAL_ID_FIELD_NUMBER: _ClassVar[int]
    OWNER_CODE_FIELD_NUMBER: _ClassVar[int]
    SEAL_TYPE_FIELD_NUMBER: _ClassVar[int]
    SUITE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    VALID_START_FIELD_NUMBER: _ClassVar[int]
    VALID_END_FIELD_NUMBER: _ClassVar[int]
    REVOKED_AT_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    SEAL_VERSION_FIELD_NUMBER: _ClassVar[int]
    SEAL_CERTIFICATE_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_DIGEST_FIELD_NUMBER: _ClassVar[int]
    DIGEST_ALGORITHM_FIELD_NUMBER: _ClassVar[int]
    SIGNED_AT_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    type: str
    seal_id: str
    owner_code: str
    seal_type: str
    suite: str
    status: str
    valid_start: _timestamp_pb2.Timestamp
    valid_end: _timestamp_pb2.Timestamp
    revoked_at: _timestamp_pb2.Timestamp
    reason: str
    actor: str
    occurred_at: _timestamp_pb2.Timestamp
    seal_version: int
    seal_certificate: bytes
    document_digest: str
    digest_algorithm: str
    signed_at: _timestamp_pb2.Timestamp
    def __init__(self, event_id: _Optional[str] = ..., type: _Optional[str] = ..., seal_id: _Optional[str] = ..., owner_code: _Optional[str] = ..., seal_type: _Optional[str] = ..., suite: _Optional[str] = ..., status: _Optional[str] = ..., valid_start: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., valid_end: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., revoked_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., reason: _Optional[str] = ..., actor: _Optional[str] = ..., occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., seal_version: _Optional[int] = ..., seal_certificate: _Optional[bytes] = ..., document_digest: _Optional[str] = ..., digest_algorithm: _Optional[str] = ..., signed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class FieldTitle(_message.Message):
    __slots__ = ("name", "title", "public")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    PUBLIC_FIELD_NUMBER: _ClassVar[int]
    name: str
    title: str
    public: bool
    def __init__(self, name: _Optional[str] = ..., title: _Optional[str] = ..., public: _Optional[bool] = ...) -> None: ...

class DirectoryEvent(_message.Message):
    __slots__ = ("event_id", "type", "kind", "code", "name", "entry_version", "fields", "actor", "occurred_at")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    ENTRY_VERSION_FIELD_NUMBER: _ClassVar[int]
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    type: str
    kind: str
    code: str
    name: str
    entry_version: int
    fields: _containers.RepeatedCompositeFieldContainer[FieldTitle]
    actor: str
    occurred_at: _timestamp_pb2.Timestamp
    def __init__(self, event_id: _Optional[str] = ..., type: _Optional[str] = ..., kind: _Optional[str] = ..., code: _Optional[str] = ..., name: _Optional[str] = ..., entry_version: _Optional[int] = ..., fields: _Optional[_Iterable[_Union[FieldTitle, _Mapping]]] = ..., actor: _Optional[str] = ..., occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
