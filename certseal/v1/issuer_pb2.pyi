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

class RevocationKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    REVOCATION_KIND_UNSPECIFIED: _ClassVar[RevocationKind]
    REVOCATION_KIND_REVOKE: _ClassVar[RevocationKind]
    REVOCATION_KIND_SANCTION: _ClassVar[RevocationKind]

class LicenceUsageKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    LICENCE_USAGE_KIND_UNSPECIFIED: _ClassVar[LicenceUsageKind]
    LICENCE_USAGE_KIND_VERIFIED: _ClassVar[LicenceUsageKind]
    LICENCE_USAGE_KIND_AUTHORISED: _ClassVar[LicenceUsageKind]
    LICENCE_USAGE_KIND_AUTHORISATION_REVOKED: _ClassVar[LicenceUsageKind]
    LICENCE_USAGE_KIND_REDEEMED: _ClassVar[LicenceUsageKind]
    LICENCE_USAGE_KIND_DOWNLOADED: _ClassVar[LicenceUsageKind]
    LICENCE_USAGE_KIND_VIEWED: _ClassVar[LicenceUsageKind]
    LICENCE_USAGE_KIND_REDEMPTION_REFUSED: _ClassVar[LicenceUsageKind]

class DocumentFormat(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DOCUMENT_FORMAT_UNSPECIFIED: _ClassVar[DocumentFormat]
    DOCUMENT_FORMAT_PDF: _ClassVar[DocumentFormat]
    DOCUMENT_FORMAT_OFD: _ClassVar[DocumentFormat]
REVOCATION_KIND_UNSPECIFIED: RevocationKind
REVOCATION_KIND_REVOKE: RevocationKind
REVOCATION_KIND_SANCTION: RevocationKind
LICENCE_USAGE_KIND_UNSPECIFIED: LicenceUsageKind
LICENCE_USAGE_KIND_VERIFIED: LicenceUsageKind
LICENCE_USAGE_KIND_AUTHORISED: LicenceUsageKind
LICENCE_USAGE_KIND_AUTHORISATION_REVOKED: LicenceUsageKind
LICENCE_USAGE_KIND_REDEEMED: LicenceUsageKind
LICENCE_USAGE_KIND_DOWNLOADED: LicenceUsageKind
LICENCE_USAGE_KIND_VIEWED: LicenceUsageKind
LICENCE_USAGE_KIND_REDEMPTION_REFUSED: LicenceUsageKind
DOCUMENT_FORMAT_UNSPECIFIED: DocumentFormat
DOCUMENT_FORMAT_PDF: DocumentFormat
DOCUMENT_FORMAT_OFD: DocumentFormat

class IssueLicenceRequest(_message.Message):
    __slots__ = ("type_code", "holder", "fields", "valid_from", "valid_until", "idempotency_key", "suite")
    class FieldsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _licence_pb2.FieldValue
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_licence_pb2.FieldValue, _Mapping]] = ...) -> None: ...
    TYPE_CODE_FIELD_NUMBER: _ClassVar[int]
    HOLDER_FIELD_NUMBER: _ClassVar[int]
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    VALID_FROM_FIELD_NUMBER: _ClassVar[int]
    VALID_UNTIL_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    SUITE_FIELD_NUMBER: _ClassVar[int]
    type_code: str
    holder: _licence_pb2.Holder
    fields: _containers.MessageMap[str, _licence_pb2.FieldValue]
    valid_from: _timestamp_pb2.Timestamp
    valid_until: _timestamp_pb2.Timestamp
    idempotency_key: str
    suite: str
    def __init__(self, type_code: _Optional[str] = ..., holder: _Optional[_Union[_licence_pb2.Holder, _Mapping]] = ..., fields: _Optional[_Mapping[str, _licence_pb2.FieldValue]] = ..., valid_from: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., valid_until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., idempotency_key: _Optional[str] = ..., suite: _Optional[str] = ...) -> None: ...

class IssueLicenceResponse(_message.Message):
    __slots__ = ("licence", "warnings")
    LICENCE_FIELD_NUMBER: _ClassVar[int]
    WARNINGS_FIELD_NUMBER: _ClassVar[int]
    licence: _licence_pb2.Licence
    warnings: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, licence: _Optional[_Union[_licence_pb2.Licence, _Mapping]] = ..., warnings: _Optional[_Iterable[str]] = ...) -> None: ...

class IssueLicencesRequest(_message.Message):
    __slots__ = ("items",)
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedCompositeFieldContainer[IssueLicenceRequest]
    def __init__(self, items: _Optional[_Iterable[_Union[IssueLicenceRequest, _Mapping]]] = ...) -> None: ...

class ItemError(_message.Message):
    __slots__ = ("code", "message", "field")
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    FIELD_FIELD_NUMBER: _ClassVar[int]
    code: str
    message: str
    field: str
    def __init__(self, code: _Optional[str] = ..., message: _Optional[str] = ..., field: _Optional[str] = ...) -> None: ...

class IssueLicencesResult(_message.Message):
    __slots__ = ("index", "licence", "error", "warnings")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    LICENCE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    WARNINGS_FIELD_NUMBER: _ClassVar[int]
    index: int
    licence: _licence_pb2.Licence
    error: ItemError
    warnings: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, index: _Optional[int] = ..., licence: _Optional[_Union[_licence_pb2.Licence, _Mapping]] = ..., error: _Optional[_Union[ItemError, _Mapping]] = ..., warnings: _Optional[_Iterable[str]] = ...) -> None: ...

class IssueLicencesResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[IssueLicencesResult]
    def __init__(self, results: _Optional[_Iterable[_Union[IssueLicencesResult, _Mapping]]] = ...) -> None: ...

class GetLicenceRequest(_message.Message):
    __slots__ = ("identifier", "holder")
    IDENTIFIER_FIELD_NUMBER: _ClassVar[int]
    HOLDER_FIELD_NUMBER: _ClassVar[int]
    identifier: str
    holder: _licence_pb2.Holder
    def __init__(self, identifier: _Optional[str] = ..., holder: _Optional[_Union[_licence_pb2.Holder, _Mapping]] = ...) -> None: ...

class GetLicenceResponse(_message.Message):
    __slots__ = ("licence",)
    LICENCE_FIELD_NUMBER: _ClassVar[int]
    licence: _licence_pb2.Licence
    def __init__(self, licence: _Optional[_Union[_licence_pb2.Licence, _Mapping]] = ...) -> None: ...

class ListLicencesRequest(_message.Message):
    __slots__ = ("holder", "type_code", "status", "page_size", "page_token", "include_superseded")
    HOLDER_FIELD_NUMBER: _ClassVar[int]
    TYPE_CODE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_SUPERSEDED_FIELD_NUMBER: _ClassVar[int]
    holder: _licence_pb2.Holder
    type_code: str
    status: _licence_pb2.LicenceStatus
    page_size: int
    page_token: str
    include_superseded: bool
    def __init__(self, holder: _Optional[_Union[_licence_pb2.Holder, _Mapping]] = ..., type_code: _Optional[str] = ..., status: _Optional[_Union[_licence_pb2.LicenceStatus, str]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., include_superseded: _Optional[bool] = ...) -> None: ...

class ListLicencesResponse(_message.Message):
    __slots__ = ("licences", "next_page_token")
    LICENCES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    licences: _containers.RepeatedCompositeFieldContainer[_licence_pb2.Licence]
    next_page_token: str
    def __init__(self, licences: _Optional[_Iterable[_Union[_licence_pb2.Licence, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class RenewLicenceRequest(_message.Message):
    __slots__ = ("identifier", "valid_from", "valid_until", "idempotency_key")
    IDENTIFIER_FIELD_NUMBER: _ClassVar[int]
    VALID_FROM_FIELD_NUMBER: _ClassVar[int]
    VALID_UNTIL_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    identifier: str
    valid_from: _timestamp_pb2.Timestamp
    valid_until: _timestamp_pb2.Timestamp
    idempotency_key: str
    def __init__(self, identifier: _Optional[str] = ..., valid_from: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., valid_until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class RenewLicenceResponse(_message.Message):
    __slots__ = ("licence",)
    LICENCE_FIELD_NUMBER: _ClassVar[int]
    licence: _licence_pb2.Licence
    def __init__(self, licence: _Optional[_Union[_licence_pb2.Licence, _Mapping]] = ...) -> None: ...

class AmendLicenceRequest(_message.Message):
    __slots__ = ("identifier", "fields", "remove_fields", "holder_name", "reason", "idempotency_key")
    class FieldsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _licence_pb2.FieldValue
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_licence_pb2.FieldValue, _Mapping]] = ...) -> None: ...
    IDENTIFIER_FIELD_NUMBER: _ClassVar[int]
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    REMOVE_FIELDS_FIELD_NUMBER: _ClassVar[int]
    HOLDER_NAME_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    identifier: str
    fields: _containers.MessageMap[str, _licence_pb2.FieldValue]
    remove_fields: _containers.RepeatedScalarFieldContainer[str]
    holder_name: str
    reason: str
    idempotency_key: str
    def __init__(self, identifier: _Optional[str] = ..., fields: _Optional[_Mapping[str, _licence_pb2.FieldValue]] = ..., remove_fields: _Optional[_Iterable[str]] = ..., holder_name: _Optional[str] = ..., reason: _Optional[str] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class AmendLicenceResponse(_message.Message):
    __slots__ = ("licence", "warnings")
    LICENCE_FIELD_NUMBER: _ClassVar[int]
    WARNINGS_FIELD_NUMBER: _ClassVar[int]
    licence: _licence_pb2.Licence
    warnings: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, licence: _Optional[_Union[_licence_pb2.Licence, _Mapping]] = ..., warnings: _Optional[_Iterable[str]] = ...) -> None: ...

class SuspendLicenceRequest(_message.Message):
    __slots__ = ("identifier", "reason")
    IDENTIFIER_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    identifier: str
    reason: str
    def __init__(self, identifier: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class SuspendLicenceResponse(_message.Message):
    __slots__ = ("licence",)
    LICENCE_FIELD_NUMBER: _ClassVar[int]
    licence: _licence_pb2.Licence
    def __init__(self, licence: _Optional[_Union[_licence_pb2.Licence, _Mapping]] = ...) -> None: ...

class UnsuspendLicenceRequest(_message.Message):
    __slots__ = ("identifier", "reason")
    IDENTIFIER_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    identifier: str
    reason: str
    def __init__(self, identifier: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class UnsuspendLicenceResponse(_message.Message):
    __slots__ = ("licence",)
    LICENCE_FIELD_NUMBER: _ClassVar[int]
    licence: _licence_pb2.Licence
    def __init__(self, licence: _Optional[_Union[_licence_pb2.Licence, _Mapping]] = ...) -> None: ...

class RevokeLicenceRequest(_message.Message):
    __slots__ = ("identifier", "reason", "kind")
    IDENTIFIER_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    identifier: str
    reason: str
    kind: RevocationKind
    def __init__(self, identifier: _Optional[str] = ..., reason: _Optional[str] = ..., kind: _Optional[_Union[RevocationKind, str]] = ...) -> None: ...

class RevokeLicenceResponse(_message.Message):
    __slots__ = ("licence",)
    LICENCE_FIELD_NUMBER: _ClassVar[int]
    licence: _licence_pb2.Licence
    def __init__(self, licence: _Optional[_Union[_licence_pb2.Licence, _Mapping]] = ...) -> None: ...

class CancelLicenceRequest(_message.Message):
    __slots__ = ("identifier", "reason")
    IDENTIFIER_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    identifier: str
    reason: str
    def __init__(self, identifier: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class CancelLicenceResponse(_message.Message):
    __slots__ = ("licence",)
    LICENCE_FIELD_NUMBER: _ClassVar[int]
    licence: _licence_pb2.Licence
    def __init__(self, licence: _Optional[_Union[_licence_pb2.Licence, _Mapping]] = ...) -> None: ...

class TransferLicenceRequest(_message.Message):
    __slots__ = ("identifier", "to_department_code", "reason")
    IDENTIFIER_FIELD_NUMBER: _ClassVar[int]
    TO_DEPARTMENT_CODE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    identifier: str
    to_department_code: str
    reason: str
    def __init__(self, identifier: _Optional[str] = ..., to_department_code: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class TransferLicenceResponse(_message.Message):
    __slots__ = ("transferred_out", "transferred_in")
    TRANSFERRED_OUT_FIELD_NUMBER: _ClassVar[int]
    TRANSFERRED_IN_FIELD_NUMBER: _ClassVar[int]
    transferred_out: _licence_pb2.Licence
    transferred_in: _licence_pb2.Licence
    def __init__(self, transferred_out: _Optional[_Union[_licence_pb2.Licence, _Mapping]] = ..., transferred_in: _Optional[_Union[_licence_pb2.Licence, _Mapping]] = ...) -> None: ...

class GetLicenceCodeRequest(_message.Message):
    __slots__ = ("identifier", "holder")
    IDENTIFIER_FIELD_NUMBER: _ClassVar[int]
    HOLDER_FIELD_NUMBER: _ClassVar[int]
    identifier: str
    holder: _licence_pb2.Holder
    def __init__(self, identifier: _Optional[str] = ..., holder: _Optional[_Union[_licence_pb2.Holder, _Mapping]] = ...) -> None: ...

class GetLicenceCodeResponse(_message.Message):
    __slots__ = ("text", "png", "current_identifier")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    PNG_FIELD_NUMBER: _ClassVar[int]
    CURRENT_IDENTIFIER_FIELD_NUMBER: _ClassVar[int]
    text: str
    png: bytes
    current_identifier: str
    def __init__(self, text: _Optional[str] = ..., png: _Optional[bytes] = ..., current_identifier: _Optional[str] = ...) -> None: ...

class CreatePresentationCodeRequest(_message.Message):
    __slots__ = ("identifier", "ttl_seconds", "holder")
    IDENTIFIER_FIELD_NUMBER: _ClassVar[int]
    TTL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    HOLDER_FIELD_NUMBER: _ClassVar[int]
    identifier: str
    ttl_seconds: int
    holder: _licence_pb2.Holder
    def __init__(self, identifier: _Optional[str] = ..., ttl_seconds: _Optional[int] = ..., holder: _Optional[_Union[_licence_pb2.Holder, _Mapping]] = ...) -> None: ...

class CreatePresentationCodeResponse(_message.Message):
    __slots__ = ("text", "png", "expires_at")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    PNG_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    text: str
    png: bytes
    expires_at: _timestamp_pb2.Timestamp
    def __init__(self, text: _Optional[str] = ..., png: _Optional[bytes] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class OnboardDepartmentRequest(_message.Message):
    __slots__ = ("code", "name", "roles")
    CODE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    ROLES_FIELD_NUMBER: _ClassVar[int]
    code: str
    name: str
    roles: _containers.RepeatedScalarFieldContainer[_licence_pb2.DepartmentRole]
    def __init__(self, code: _Optional[str] = ..., name: _Optional[str] = ..., roles: _Optional[_Iterable[_Union[_licence_pb2.DepartmentRole, str]]] = ...) -> None: ...

class OnboardDepartmentResponse(_message.Message):
    __slots__ = ("department",)
    DEPARTMENT_FIELD_NUMBER: _ClassVar[int]
    department: _licence_pb2.Department
    def __init__(self, department: _Optional[_Union[_licence_pb2.Department, _Mapping]] = ...) -> None: ...

class ListDepartmentsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class SetDepartmentRolesRequest(_message.Message):
    __slots__ = ("code", "roles")
    CODE_FIELD_NUMBER: _ClassVar[int]
    ROLES_FIELD_NUMBER: _ClassVar[int]
    code: str
    roles: _containers.RepeatedScalarFieldContainer[_licence_pb2.DepartmentRole]
    def __init__(self, code: _Optional[str] = ..., roles: _Optional[_Iterable[_Union[_licence_pb2.DepartmentRole, str]]] = ...) -> None: ...

class SetDepartmentRolesResponse(_message.Message):
    __slots__ = ("department",)
    DEPARTMENT_FIELD_NUMBER: _ClassVar[int]
    department: _licence_pb2.Department
    def __init__(self, department: _Optional[_Union[_licence_pb2.Department, _Mapping]] = ...) -> None: ...

class ListDepartmentsResponse(_message.Message):
    __slots__ = ("departments",)
    DEPARTMENTS_FIELD_NUMBER: _ClassVar[int]
    departments: _containers.RepeatedCompositeFieldContainer[_licence_pb2.Department]
    def __init__(self, departments: _Optional[_Iterable[_Union[_licence_pb2.Department, _Mapping]]] = ...) -> None: ...

class RegisterLicenceTypeRequest(_message.Message):
    __slots__ = ("type_code", "name", "fields", "default_validity_days", "issuer_codes")
    TYPE_CODE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_VALIDITY_DAYS_FIELD_NUMBER: _ClassVar[int]
    ISSUER_CODES_FIELD_NUMBER: _ClassVar[int]
    type_code: str
    name: str
    fields: _containers.RepeatedCompositeFieldContainer[_licence_pb2.FieldSpec]
    default_validity_days: int
    issuer_codes: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, type_code: _Optional[str] = ..., name: _Optional[str] = ..., fields: _Optional[_Iterable[_Union[_licence_pb2.FieldSpec, _Mapping]]] = ..., default_validity_days: _Optional[int] = ..., issuer_codes: _Optional[_Iterable[str]] = ...) -> None: ...

class RegisterLicenceTypeResponse(_message.Message):
    __slots__ = ("licence_type",)
    LICENCE_TYPE_FIELD_NUMBER: _ClassVar[int]
    licence_type: _licence_pb2.LicenceType
    def __init__(self, licence_type: _Optional[_Union[_licence_pb2.LicenceType, _Mapping]] = ...) -> None: ...

class SetLicenceTypeIssuersRequest(_message.Message):
    __slots__ = ("type_code", "issuer_codes")
    TYPE_CODE_FIELD_NUMBER: _ClassVar[int]
    ISSUER_CODES_FIELD_NUMBER: _ClassVar[int]
    type_code: str
    issuer_codes: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, type_code: _Optional[str] = ..., issuer_codes: _Optional[_Iterable[str]] = ...) -> None: ...

class SetLicenceTypeIssuersResponse(_message.Message):
    __slots__ = ("licence_type", "previous_issuer_codes")
    LICENCE_TYPE_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_ISSUER_CODES_FIELD_NUMBER: _ClassVar[int]
    licence_type: _licence_pb2.LicenceType
    previous_issuer_codes: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, licence_type: _Optional[_Union[_licence_pb2.LicenceType, _Mapping]] = ..., previous_issuer_codes: _Optional[_Iterable[str]] = ...) -> None: ...

class ListLicenceTypesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListLicenceTypesResponse(_message.Message):
    __slots__ = ("licence_types",)
    LICENCE_TYPES_FIELD_NUMBER: _ClassVar[int]
    licence_types: _containers.RepeatedCompositeFieldContainer[_licence_pb2.LicenceType]
    def __init__(self, licence_types: _Optional[_Iterable[_Union[_licence_pb2.LicenceType, _Mapping]]] = ...) -> None: ...

class CreateSigningKeyRequest(_message.Message):
    __slots__ = ("department_code", "suite", "validity_days")
    DEPARTMENT_CODE_FIELD_NUMBER: _ClassVar[int]
    SUITE_FIELD_NUMBER: _ClassVar[int]
    VALIDITY_DAYS_FIELD_NUMBER: _ClassVar[int]
    department_code: str
    suite: str
    validity_days: int
    def __init__(self, department_code: _Optional[str] = ..., suite: _Optional[str] = ..., validity_days: _Optional[int] = ...) -> None: ...

class CreateSigningKeyResponse(_message.Message):
    __slots__ = ("key",)
    KEY_FIELD_NUMBER: _ClassVar[int]
    key: _licence_pb2.SigningKey
    def __init__(self, key: _Optional[_Union[_licence_pb2.SigningKey, _Mapping]] = ...) -> None: ...

class RotateSigningKeyRequest(_message.Message):
    __slots__ = ("department_code", "suite", "validity_days")
    DEPARTMENT_CODE_FIELD_NUMBER: _ClassVar[int]
    SUITE_FIELD_NUMBER: _ClassVar[int]
    VALIDITY_DAYS_FIELD_NUMBER: _ClassVar[int]
    department_code: str
    suite: str
    validity_days: int
    def __init__(self, department_code: _Optional[str] = ..., suite: _Optional[str] = ..., validity_days: _Optional[int] = ...) -> None: ...

class RotateSigningKeyResponse(_message.Message):
    __slots__ = ("key", "retired")
    KEY_FIELD_NUMBER: _ClassVar[int]
    RETIRED_FIELD_NUMBER: _ClassVar[int]
    key: _licence_pb2.SigningKey
    retired: _containers.RepeatedCompositeFieldContainer[_licence_pb2.SigningKey]
    def __init__(self, key: _Optional[_Union[_licence_pb2.SigningKey, _Mapping]] = ..., retired: _Optional[_Iterable[_Union[_licence_pb2.SigningKey, _Mapping]]] = ...) -> None: ...

class RetireSigningKeyRequest(_message.Message):
    __slots__ = ("kid",)
    KID_FIELD_NUMBER: _ClassVar[int]
    kid: str
    def __init__(self, kid: _Optional[str] = ...) -> None: ...

class RetireSigningKeyResponse(_message.Message):
    __slots__ = ("key",)
    KEY_FIELD_NUMBER: _ClassVar[int]
    key: _licence_pb2.SigningKey
    def __init__(self, key: _Optional[_Union[_licence_pb2.SigningKey, _Mapping]] = ...) -> None: ...

class RevokeSigningKeyRequest(_message.Message):
    __slots__ = ("kid", "reason", "revoked_at")
    KID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    REVOKED_AT_FIELD_NUMBER: _ClassVar[int]
    kid: str
    reason: str
    revoked_at: _timestamp_pb2.Timestamp
    def __init__(self, kid: _Optional[str] = ..., reason: _Optional[str] = ..., revoked_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class RevokeSigningKeyResponse(_message.Message):
    __slots__ = ("key",)
    KEY_FIELD_NUMBER: _ClassVar[int]
    key: _licence_pb2.SigningKey
    def __init__(self, key: _Optional[_Union[_licence_pb2.SigningKey, _Mapping]] = ...) -> None: ...

class ListSigningKeysRequest(_message.Message):
    __slots__ = ("department_code",)
    DEPARTMENT_CODE_FIELD_NUMBER: _ClassVar[int]
    department_code: str
    def __init__(self, department_code: _Optional[str] = ...) -> None: ...

class ListSigningKeysResponse(_message.Message):
    __slots__ = ("keys",)
    KEYS_FIELD_NUMBER: _ClassVar[int]
    keys: _containers.RepeatedCompositeFieldContainer[_licence_pb2.SigningKey]
    def __init__(self, keys: _Optional[_Iterable[_Union[_licence_pb2.SigningKey, _Mapping]]] = ...) -> None: ...

class HolderAppGrant(_message.Message):
    __slots__ = ("app", "type_code", "granted_at", "granted_by")
    APP_FIELD_NUMBER: _ClassVar[int]
    TYPE_CODE_FIELD_NUMBER: _ClassVar[int]
    GRANTED_AT_FIELD_NUMBER: _ClassVar[int]
    GRANTED_BY_FIELD_NUMBER: _ClassVar[int]
    app: str
    type_code: str
    granted_at: _timestamp_pb2.Timestamp
    granted_by: str
    def __init__(self, app: _Optional[str] = ..., type_code: _Optional[str] = ..., granted_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., granted_by: _Optional[str] = ...) -> None: ...

class GrantHolderAppRequest(_message.Message):
    __slots__ = ("app", "type_code")
    APP_FIELD_NUMBER: _ClassVar[int]
    TYPE_CODE_FIELD_NUMBER: _ClassVar[int]
    app: str
    type_code: str
    def __init__(self, app: _Optional[str] = ..., type_code: _Optional[str] = ...) -> None: ...

class GrantHolderAppResponse(_message.Message):
    __slots__ = ("grant",)
    GRANT_FIELD_NUMBER: _ClassVar[int]
    grant: HolderAppGrant
    def __init__(self, grant: _Optional[_Union[HolderAppGrant, _Mapping]] = ...) -> None: ...

class RevokeHolderAppRequest(_message.Message):
    __slots__ = ("app", "type_code")
    APP_FIELD_NUMBER: _ClassVar[int]
    TYPE_CODE_FIELD_NUMBER: _ClassVar[int]
    app: str
    type_code: str
    def __init__(self, app: _Optional[str] = ..., type_code: _Optional[str] = ...) -> None: ...

class RevokeHolderAppResponse(_message.Message):
    __slots__ = ("grant",)
    GRANT_FIELD_NUMBER: _ClassVar[int]
    grant: HolderAppGrant
    def __init__(self, grant: _Optional[_Union[HolderAppGrant, _Mapping]] = ...) -> None: ...

class ListHolderAppGrantsRequest(_message.Message):
    __slots__ = ("app",)
    APP_FIELD_NUMBER: _ClassVar[int]
    app: str
    def __init__(self, app: _Optional[str] = ...) -> None: ...

class ListHolderAppGrantsResponse(_message.Message):
    __slots__ = ("grants",)
    GRANTS_FIELD_NUMBER: _ClassVar[int]
    grants: _containers.RepeatedCompositeFieldContainer[HolderAppGrant]
    def __init__(self, grants: _Optional[_Iterable[_Union[HolderAppGrant, _Mapping]]] = ...) -> None: ...

class RepublishRequest(_message.Message):
    __slots__ = ("restart", "max_events")
    RESTART_FIELD_NUMBER: _ClassVar[int]
    MAX_EVENTS_FIELD_NUMBER: _ClassVar[int]
    restart: bool
    max_events: int
    def __init__(self, restart: _Optional[bool] = ..., max_events: _Optional[int] = ...) -> None: ...

class RepublishResponse(_message.Message):
    __slots__ = ("run_id", "part", "published", "done", "resumed", "started_at", "after_key")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    PART_FIELD_NUMBER: _ClassVar[int]
    PUBLISHED_FIELD_NUMBER: _ClassVar[int]
    DONE_FIELD_NUMBER: _ClassVar[int]
    RESUMED_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    AFTER_KEY_FIELD_NUMBER: _ClassVar[int]
    run_id: int
    part: str
    published: int
    done: bool
    resumed: bool
    started_at: _timestamp_pb2.Timestamp
    after_key: str
    def __init__(self, run_id: _Optional[int] = ..., part: _Optional[str] = ..., published: _Optional[int] = ..., done: _Optional[bool] = ..., resumed: _Optional[bool] = ..., started_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., after_key: _Optional[str] = ...) -> None: ...

class ListLicenceUsageRequest(_message.Message):
    __slots__ = ("identifier", "holder", "page_size", "page_token", "newest_first", "kinds")
    IDENTIFIER_FIELD_NUMBER: _ClassVar[int]
    HOLDER_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    NEWEST_FIRST_FIELD_NUMBER: _ClassVar[int]
    KINDS_FIELD_NUMBER: _ClassVar[int]
    identifier: str
    holder: _licence_pb2.Holder
    page_size: int
    page_token: str
    newest_first: bool
    kinds: _containers.RepeatedScalarFieldContainer[LicenceUsageKind]
    def __init__(self, identifier: _Optional[str] = ..., holder: _Optional[_Union[_licence_pb2.Holder, _Mapping]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., newest_first: _Optional[bool] = ..., kinds: _Optional[_Iterable[_Union[LicenceUsageKind, str]]] = ...) -> None: ...

class ListLicenceUsageResponse(_message.Message):
    __slots__ = ("uses", "next_page_token")
    USES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    uses: _containers.RepeatedCompositeFieldContainer[LicenceUsage]
    next_page_token: str
    def __init__(self, uses: _Optional[_Iterable[_Union[LicenceUsage, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class LicenceUsage(_message.Message):
    __slots__ = ("entry_id", "kind", "identifier", "occurred_at", "department_code", "department_name", "counter", "clerk", "verifier_group", "purpose", "verdict", "actor", "action", "reference")
    ENTRY_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    IDENTIFIER_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    DEPARTMENT_CODE_FIELD_NUMBER: _ClassVar[int]
    DEPARTMENT_NAME_FIELD_NUMBER: _ClassVar[int]
    COUNTER_FIELD_NUMBER: _ClassVar[int]
    CLERK_FIELD_NUMBER: _ClassVar[int]
    VERIFIER_GROUP_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    VERDICT_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    entry_id: str
    kind: LicenceUsageKind
    identifier: str
    occurred_at: _timestamp_pb2.Timestamp
    department_code: str
    department_name: str
    counter: str
    clerk: str
    verifier_group: str
    purpose: str
    verdict: str
    actor: str
    action: str
    reference: str
    def __init__(self, entry_id: _Optional[str] = ..., kind: _Optional[_Union[LicenceUsageKind, str]] = ..., identifier: _Optional[str] = ..., occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., department_code: _Optional[str] = ..., department_name: _Optional[str] = ..., counter: _Optional[str] = ..., clerk: _Optional[str] = ..., verifier_group: _Optional[str] = ..., purpose: _Optional[str] = ..., verdict: _Optional[str] = ..., actor: _Optional[str] = ..., action: _Optional[str] = ..., reference: _Optional[str] = ...) -> None: ...

class GetLicenceDocumentRequest(_message.Message):
    __slots__ = ("identifier", "holder", "format")
    IDENTIFIER_FIELD_NUMBER: _ClassVar[int]
    HOLDER_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    identifier: str
    holder: _licence_pb2.Holder
    format: DocumentFormat
    def __init__(self, identifier: _Optional[str] = ..., holder: _Optional[_Union[_licence_pb2.Holder, _Mapping]] = ..., format: _Optional[_Union[DocumentFormat, str]] = ...) -> None: ...

class GetLicenceDocumentResponse(_message.Message):
    __slots__ = ("document", "media_type", "seal_id", "document_digest", "status", "current_identifier")
    DOCUMENT_FIELD_NUMBER: _ClassVar[int]
    MEDIA_TYPE_FIELD_NUMBER: _ClassVar[int]
    SEAL_ID_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_DIGEST_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CURRENT_IDENTIFIER_FIELD_NUMBER: _ClassVar[int]
    document: bytes
    media_type: str
    seal_id: str
    document_digest: str
    status: _licence_pb2.LicenceStatus
    current_identifier: str
    def __init__(self, document: _Optional[bytes] = ..., media_type: _Optional[str] = ..., seal_id: _Optional[str] = ..., document_digest: _Optional[str] = ..., status: _Optional[_Union[_licence_pb2.LicenceStatus, str]] = ..., current_identifier: _Optional[str] = ...) -> None: ...

class Authorisation(_message.Message):
    __slots__ = ("authorisation_id", "code", "identifier", "department_code", "department_name", "counter", "purpose", "fields", "expires_at", "created_at", "revoked_at", "status")
    AUTHORISATION_ID_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    IDENTIFIER_FIELD_NUMBER: _ClassVar[int]
    DEPARTMENT_CODE_FIELD_NUMBER: _ClassVar[int]
    DEPARTMENT_NAME_FIELD_NUMBER: _ClassVar[int]
    COUNTER_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    REVOKED_AT_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    authorisation_id: str
    code: str
    identifier: str
    department_code: str
    department_name: str
    counter: str
    purpose: str
    fields: _containers.RepeatedScalarFieldContainer[str]
    expires_at: _timestamp_pb2.Timestamp
    created_at: _timestamp_pb2.Timestamp
    revoked_at: _timestamp_pb2.Timestamp
    status: str
    def __init__(self, authorisation_id: _Optional[str] = ..., code: _Optional[str] = ..., identifier: _Optional[str] = ..., department_code: _Optional[str] = ..., department_name: _Optional[str] = ..., counter: _Optional[str] = ..., purpose: _Optional[str] = ..., fields: _Optional[_Iterable[str]] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., revoked_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., status: _Optional[str] = ...) -> None: ...

class AuthoriseUseRequest(_message.Message):
    __slots__ = ("identifier", "holder", "department_code", "counter", "purpose", "fields", "expires_at", "valid_days")
    IDENTIFIER_FIELD_NUMBER: _ClassVar[int]
    HOLDER_FIELD_NUMBER: _ClassVar[int]
    DEPARTMENT_CODE_FIELD_NUMBER: _ClassVar[int]
    COUNTER_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    VALID_DAYS_FIELD_NUMBER: _ClassVar[int]
    identifier: str
    holder: _licence_pb2.Holder
    department_code: str
    counter: str
    purpose: str
    fields: _containers.RepeatedScalarFieldContainer[str]
    expires_at: _timestamp_pb2.Timestamp
    valid_days: int
    def __init__(self, identifier: _Optional[str] = ..., holder: _Optional[_Union[_licence_pb2.Holder, _Mapping]] = ..., department_code: _Optional[str] = ..., counter: _Optional[str] = ..., purpose: _Optional[str] = ..., fields: _Optional[_Iterable[str]] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., valid_days: _Optional[int] = ...) -> None: ...

class AuthoriseUseResponse(_message.Message):
    __slots__ = ("authorisation",)
    AUTHORISATION_FIELD_NUMBER: _ClassVar[int]
    authorisation: Authorisation
    def __init__(self, authorisation: _Optional[_Union[Authorisation, _Mapping]] = ...) -> None: ...

class RevokeAuthorisationRequest(_message.Message):
    __slots__ = ("authorisation_id", "holder", "reason")
    AUTHORISATION_ID_FIELD_NUMBER: _ClassVar[int]
    HOLDER_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    authorisation_id: str
    holder: _licence_pb2.Holder
    reason: str
    def __init__(self, authorisation_id: _Optional[str] = ..., holder: _Optional[_Union[_licence_pb2.Holder, _Mapping]] = ..., reason: _Optional[str] = ...) -> None: ...

class RevokeAuthorisationResponse(_message.Message):
    __slots__ = ("authorisation",)
    AUTHORISATION_FIELD_NUMBER: _ClassVar[int]
    authorisation: Authorisation
    def __init__(self, authorisation: _Optional[_Union[Authorisation, _Mapping]] = ...) -> None: ...

class RedeemAuthorisationRequest(_message.Message):
    __slots__ = ("code",)
    CODE_FIELD_NUMBER: _ClassVar[int]
    code: str
    def __init__(self, code: _Optional[str] = ...) -> None: ...

class RedeemAuthorisationResponse(_message.Message):
    __slots__ = ("authorisation", "fields", "annotated_copy", "seal_id", "type_code", "type_name", "field_titles", "holder_display_name", "copy_identifier", "copy_valid_until", "copy_statement", "copy_purpose_line")
    class FieldsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _licence_pb2.FieldValue
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_licence_pb2.FieldValue, _Mapping]] = ...) -> None: ...
    class FieldTitlesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    AUTHORISATION_FIELD_NUMBER: _ClassVar[int]
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    ANNOTATED_COPY_FIELD_NUMBER: _ClassVar[int]
    SEAL_ID_FIELD_NUMBER: _ClassVar[int]
    TYPE_CODE_FIELD_NUMBER: _ClassVar[int]
    TYPE_NAME_FIELD_NUMBER: _ClassVar[int]
    FIELD_TITLES_FIELD_NUMBER: _ClassVar[int]
    HOLDER_DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    COPY_IDENTIFIER_FIELD_NUMBER: _ClassVar[int]
    COPY_VALID_UNTIL_FIELD_NUMBER: _ClassVar[int]
    COPY_STATEMENT_FIELD_NUMBER: _ClassVar[int]
    COPY_PURPOSE_LINE_FIELD_NUMBER: _ClassVar[int]
    authorisation: Authorisation
    fields: _containers.MessageMap[str, _licence_pb2.FieldValue]
    annotated_copy: bytes
    seal_id: str
    type_code: str
    type_name: str
    field_titles: _containers.ScalarMap[str, str]
    holder_display_name: str
    copy_identifier: str
    copy_valid_until: _timestamp_pb2.Timestamp
    copy_statement: str
    copy_purpose_line: str
    def __init__(self, authorisation: _Optional[_Union[Authorisation, _Mapping]] = ..., fields: _Optional[_Mapping[str, _licence_pb2.FieldValue]] = ..., annotated_copy: _Optional[bytes] = ..., seal_id: _Optional[str] = ..., type_code: _Optional[str] = ..., type_name: _Optional[str] = ..., field_titles: _Optional[_Mapping[str, str]] = ..., holder_display_name: _Optional[str] = ..., copy_identifier: _Optional[str] = ..., copy_valid_until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., copy_statement: _Optional[str] = ..., copy_purpose_line: _Optional[str] = ...) -> None: ...
