import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class LicenceStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    LICENCE_STATUS_UNSPECIFIED: _ClassVar[LicenceStatus]
    LICENCE_STATUS_VALID: _ClassVar[LicenceStatus]
    LICENCE_STATUS_SUSPENDED: _ClassVar[LicenceStatus]
    LICENCE_STATUS_REVOKED: _ClassVar[LicenceStatus]
    LICENCE_STATUS_CANCELLED: _ClassVar[LicenceStatus]
    LICENCE_STATUS_EXPIRED: _ClassVar[LicenceStatus]
    LICENCE_STATUS_TRANSFERRED_OUT: _ClassVar[LicenceStatus]
    LICENCE_STATUS_REVOKED_AS_SANCTION: _ClassVar[LicenceStatus]
    LICENCE_STATUS_OTHER: _ClassVar[LicenceStatus]

class LicenceOperation(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    LICENCE_OPERATION_UNSPECIFIED: _ClassVar[LicenceOperation]
    LICENCE_OPERATION_ISSUE: _ClassVar[LicenceOperation]
    LICENCE_OPERATION_RENEW: _ClassVar[LicenceOperation]
    LICENCE_OPERATION_SUSPEND: _ClassVar[LicenceOperation]
    LICENCE_OPERATION_EXPIRE: _ClassVar[LicenceOperation]
    LICENCE_OPERATION_CANCEL_REVOKE: _ClassVar[LicenceOperation]
    LICENCE_OPERATION_UNSUSPEND: _ClassVar[LicenceOperation]
    LICENCE_OPERATION_TRANSFER_OUT: _ClassVar[LicenceOperation]
    LICENCE_OPERATION_TRANSFER_IN: _ClassVar[LicenceOperation]
    LICENCE_OPERATION_AMEND: _ClassVar[LicenceOperation]

class FieldType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FIELD_TYPE_UNSPECIFIED: _ClassVar[FieldType]
    FIELD_TYPE_STRING: _ClassVar[FieldType]
    FIELD_TYPE_INTEGER: _ClassVar[FieldType]
    FIELD_TYPE_BOOLEAN: _ClassVar[FieldType]
    FIELD_TYPE_DATE: _ClassVar[FieldType]

class DepartmentRole(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DEPARTMENT_ROLE_UNSPECIFIED: _ClassVar[DepartmentRole]
    DEPARTMENT_ROLE_ISSUER: _ClassVar[DepartmentRole]
    DEPARTMENT_ROLE_COUNTER: _ClassVar[DepartmentRole]
    DEPARTMENT_ROLE_SEAL_OWNER: _ClassVar[DepartmentRole]
    DEPARTMENT_ROLE_INTEGRATOR: _ClassVar[DepartmentRole]

class KeyStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    KEY_STATUS_UNSPECIFIED: _ClassVar[KeyStatus]
    KEY_STATUS_ACTIVE: _ClassVar[KeyStatus]
    KEY_STATUS_RETIRED: _ClassVar[KeyStatus]
    KEY_STATUS_REVOKED: _ClassVar[KeyStatus]
LICENCE_STATUS_UNSPECIFIED: LicenceStatus
LICENCE_STATUS_VALID: LicenceStatus
LICENCE_STATUS_SUSPENDED: LicenceStatus
LICENCE_STATUS_REVOKED: LicenceStatus
LICENCE_STATUS_CANCELLED: LicenceStatus
LICENCE_STATUS_EXPIRED: LicenceStatus
LICENCE_STATUS_TRANSFERRED_OUT: LicenceStatus
LICENCE_STATUS_REVOKED_AS_SANCTION: LicenceStatus
LICENCE_STATUS_OTHER: LicenceStatus
LICENCE_OPERATION_UNSPECIFIED: LicenceOperation
LICENCE_OPERATION_ISSUE: LicenceOperation
LICENCE_OPERATION_RENEW: LicenceOperation
LICENCE_OPERATION_SUSPEND: LicenceOperation
LICENCE_OPERATION_EXPIRE: LicenceOperation
LICENCE_OPERATION_CANCEL_REVOKE: LicenceOperation
LICENCE_OPERATION_UNSUSPEND: LicenceOperation
LICENCE_OPERATION_TRANSFER_OUT: LicenceOperation
LICENCE_OPERATION_TRANSFER_IN: LicenceOperation
LICENCE_OPERATION_AMEND: LicenceOperation
FIELD_TYPE_UNSPECIFIED: FieldType
FIELD_TYPE_STRING: FieldType
FIELD_TYPE_INTEGER: FieldType
FIELD_TYPE_BOOLEAN: FieldType
FIELD_TYPE_DATE: FieldType
DEPARTMENT_ROLE_UNSPECIFIED: DepartmentRole
DEPARTMENT_ROLE_ISSUER: DepartmentRole
DEPARTMENT_ROLE_COUNTER: DepartmentRole
DEPARTMENT_ROLE_SEAL_OWNER: DepartmentRole
DEPARTMENT_ROLE_INTEGRATOR: DepartmentRole
KEY_STATUS_UNSPECIFIED: KeyStatus
KEY_STATUS_ACTIVE: KeyStatus
KEY_STATUS_RETIRED: KeyStatus
KEY_STATUS_REVOKED: KeyStatus

class FieldSpec(_message.Message):
    __slots__ = ("name", "type", "required", "public", "personal", "title", "restricted")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    REQUIRED_FIELD_NUMBER: _ClassVar[int]
    PUBLIC_FIELD_NUMBER: _ClassVar[int]
    PERSONAL_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    RESTRICTED_FIELD_NUMBER: _ClassVar[int]
    name: str
    type: FieldType
    required: bool
    public: bool
    personal: bool
    title: str
    restricted: bool
    def __init__(self, name: _Optional[str] = ..., type: _Optional[_Union[FieldType, str]] = ..., required: _Optional[bool] = ..., public: _Optional[bool] = ..., personal: _Optional[bool] = ..., title: _Optional[str] = ..., restricted: _Optional[bool] = ...) -> None: ...

class FieldValue(_message.Message):
    __slots__ = ("string_value", "integer_value", "boolean_value", "date_value")
    STRING_VALUE_FIELD_NUMBER: _ClassVar[int]
    INTEGER_VALUE_FIELD_NUMBER: _ClassVar[int]
    BOOLEAN_VALUE_FIELD_NUMBER: _ClassVar[int]
    DATE_VALUE_FIELD_NUMBER: _ClassVar[int]
    string_value: str
    integer_value: int
    boolean_value: bool
    date_value: str
    def __init__(self, string_value: _Optional[str] = ..., integer_value: _Optional[int] = ..., boolean_value: _Optional[bool] = ..., date_value: _Optional[str] = ...) -> None: ...

class Department(_message.Message):
    __slots__ = ("code", "name", "roles", "created_at")
    CODE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    ROLES_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    code: str
    name: str
    roles: _containers.RepeatedScalarFieldContainer[DepartmentRole]
    created_at: _timestamp_pb2.Timestamp
    def __init__(self, code: _Optional[str] = ..., name: _Optional[str] = ..., roles: _Optional[_Iterable[_Union[DepartmentRole, str]]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class LicenceType(_message.Message):
    __slots__ = ("type_code", "name", "fields", "default_validity_days", "issuer_codes", "created_at")
    TYPE_CODE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_VALIDITY_DAYS_FIELD_NUMBER: _ClassVar[int]
    ISSUER_CODES_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    type_code: str
    name: str
    fields: _containers.RepeatedCompositeFieldContainer[FieldSpec]
    default_validity_days: int
    issuer_codes: _containers.RepeatedScalarFieldContainer[str]
    created_at: _timestamp_pb2.Timestamp
    def __init__(self, type_code: _Optional[str] = ..., name: _Optional[str] = ..., fields: _Optional[_Iterable[_Union[FieldSpec, _Mapping]]] = ..., default_validity_days: _Optional[int] = ..., issuer_codes: _Optional[_Iterable[str]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class SigningKey(_message.Message):
    __slots__ = ("kid", "department_code", "suite", "status", "public_key", "not_before", "not_after", "created_at", "retired_at", "revoked_at", "revocation_reason", "key_store")
    KID_FIELD_NUMBER: _ClassVar[int]
    DEPARTMENT_CODE_FIELD_NUMBER: _ClassVar[int]
    SUITE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    NOT_BEFORE_FIELD_NUMBER: _ClassVar[int]
    NOT_AFTER_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    RETIRED_AT_FIELD_NUMBER: _ClassVar[int]
    REVOKED_AT_FIELD_NUMBER: _ClassVar[int]
    REVOCATION_REASON_FIELD_NUMBER: _ClassVar[int]
    KEY_STORE_FIELD_NUMBER: _ClassVar[int]
    kid: str
    department_code: str
    suite: str
    status: KeyStatus
    public_key: bytes
    not_before: _timestamp_pb2.Timestamp
    not_after: _timestamp_pb2.Timestamp
    created_at: _timestamp_pb2.Timestamp
    retired_at: _timestamp_pb2.Timestamp
    revoked_at: _timestamp_pb2.Timestamp
    revocation_reason: str
    key_store: str
    def __init__(self, kid: _Optional[str] = ..., department_code: _Optional[str] = ..., suite: _Optional[str] = ..., status: _Optional[_Union[KeyStatus, str]] = ..., public_key: _Optional[bytes] = ..., not_before: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., not_after: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., retired_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., revoked_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., revocation_reason: _Optional[str] = ..., key_store: _Optional[str] = ...) -> None: ...

class Holder(_message.Message):
    __slots__ = ("name", "id_type", "id_number")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ID_TYPE_FIELD_NUMBER: _ClassVar[int]
    ID_NUMBER_FIELD_NUMBER: _ClassVar[int]
    name: str
    id_type: str
    id_number: str
    def __init__(self, name: _Optional[str] = ..., id_type: _Optional[str] = ..., id_number: _Optional[str] = ...) -> None: ...

class Licence(_message.Message):
    __slots__ = ("identifier", "lineage", "version", "type_code", "issuer_code", "holder", "holder_display_name", "fields", "valid_from", "valid_until", "status", "issued_at", "replaces", "superseded_by", "kid", "status_reason", "last_operation", "lineage_version", "updated_at")
    class FieldsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: FieldValue
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[FieldValue, _Mapping]] = ...) -> None: ...
    IDENTIFIER_FIELD_NUMBER: _ClassVar[int]
    LINEAGE_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    TYPE_CODE_FIELD_NUMBER: _ClassVar[int]
    ISSUER_CODE_FIELD_NUMBER: _ClassVar[int]
    HOLDER_FIELD_NUMBER: _ClassVar[int]
    HOLDER_DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    VALID_FROM_FIELD_NUMBER: _ClassVar[int]
    VALID_UNTIL_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ISSUED_AT_FIELD_NUMBER: _ClassVar[int]
    REPLACES_FIELD_NUMBER: _ClassVar[int]
    SUPERSEDED_BY_FIELD_NUMBER: _ClassVar[int]
    KID_FIELD_NUMBER: _ClassVar[int]
    STATUS_REASON_FIELD_NUMBER: _ClassVar[int]
    LAST_OPERATION_FIELD_NUMBER: _ClassVar[int]
    LINEAGE_VERSION_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    identifier: str
    lineage: str
    version: int
    type_code: str
    issuer_code: str
    holder: Holder
    holder_display_name: str
    fields: _containers.MessageMap[str, FieldValue]
    valid_from: _timestamp_pb2.Timestamp
    valid_until: _timestamp_pb2.Timestamp
    status: LicenceStatus
    issued_at: _timestamp_pb2.Timestamp
    replaces: str
    superseded_by: str
    kid: str
    status_reason: str
    last_operation: LicenceOperation
    lineage_version: int
    updated_at: _timestamp_pb2.Timestamp
    def __init__(self, identifier: _Optional[str] = ..., lineage: _Optional[str] = ..., version: _Optional[int] = ..., type_code: _Optional[str] = ..., issuer_code: _Optional[str] = ..., holder: _Optional[_Union[Holder, _Mapping]] = ..., holder_display_name: _Optional[str] = ..., fields: _Optional[_Mapping[str, FieldValue]] = ..., valid_from: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., valid_until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., status: _Optional[_Union[LicenceStatus, str]] = ..., issued_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., replaces: _Optional[str] = ..., superseded_by: _Optional[str] = ..., kid: _Optional[str] = ..., status_reason: _Optional[str] = ..., last_operation: _Optional[_Union[LicenceOperation, str]] = ..., lineage_version: _Optional[int] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
