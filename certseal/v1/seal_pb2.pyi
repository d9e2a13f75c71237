import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SealInfo(_message.Message):
    __slots__ = ("seal_id", "owner_code", "seal_type", "name", "suite", "status", "valid_start", "valid_end", "signers", "created_at", "revoked_at", "revocation_reason", "seal", "certificate", "picture")
    SEAL_ID_FIELD_NUMBER: _ClassVar[int]
    OWNER_CODE_FIELD_NUMBER: _ClassVar[int]
    SEAL_TYPE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    SUITE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    VALID_START_FIELD_NUMBER: _ClassVar[int]
    VALID_END_FIELD_NUMBER: _ClassVar[int]
    SIGNERS_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    REVOKED_AT_FIELD_NUMBER: _ClassVar[int]
    REVOCATION_REASON_FIELD_NUMBER: _ClassVar[int]
    SEAL_FIELD_NUMBER: _ClassVar[int]
    CERTIFICATE_FIELD_NUMBER: _ClassVar[int]
    PICTURE_FIELD_NUMBER: _ClassVar[int]
    seal_id: str
    owner_code: str
    seal_type: str
    name: str
    suite: str
    status: str
    valid_start: _timestamp_pb2.Timestamp
    valid_end: _timestamp_pb2.Timestamp
    signers: _containers.RepeatedScalarFieldContainer[str]
    created_at: _timestamp_pb2.Timestamp
    revoked_at: _timestamp_pb2.Timestamp
    revocation_reason: str
    seal: bytes
    certificate: bytes
    picture: bytes
    def __init__(self, seal_id: _Optional[str] = ..., owner_code: _Optional[str] = ..., seal_type: _Optional[str] = ..., name: _Optional[str] = ..., suite: _Optional[str] = ..., status: _Optional[str] = ..., valid_start: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., valid_end: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., signers: _Optional[_Iterable[str]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., revoked_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., revocation_reason: _Optional[str] = ..., seal: _Optional[bytes] = ..., certificate: _Optional[bytes] = ..., picture: _Optional[bytes] = ...) -> None: ...

class RegisterSealRequest(_message.Message):
    __slots__ = ("owner_code", "seal_type", "name", "suite", "valid_start", "valid_end", "signers", "picture")
    OWNER_CODE_FIELD_NUMBER: _ClassVar[int]
    SEAL_TYPE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    SUITE_FIELD_NUMBER: _ClassVar[int]
    VALID_START_FIELD_NUMBER: _ClassVar[int]
    VALID_END_FIELD_NUMBER: _ClassVar[int]
    SIGNERS_FIELD_NUMBER: _ClassVar[int]
    PICTURE_FIELD_NUMBER: _ClassVar[int]
    owner_code: str
    seal_type: str
    name: str
    suite: str
    valid_start: _timestamp_pb2.Timestamp
    valid_end: _timestamp_pb2.Timestamp
    signers: _containers.RepeatedScalarFieldContainer[str]
    picture: bytes
    def __init__(self, owner_code: _Optional[str] = ..., seal_type: _Optional[str] = ..., name: _Optional[str] = ..., suite: _Optional[str] = ..., valid_start: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., valid_end: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., signers: _Optional[_Iterable[str]] = ..., picture: _Optional[bytes] = ...) -> None: ...

class RegisterSealResponse(_message.Message):
    __slots__ = ("seal",)
    SEAL_FIELD_NUMBER: _ClassVar[int]
    seal: SealInfo
    def __init__(self, seal: _Optional[_Union[SealInfo, _Mapping]] = ...) -> None: ...

class GetSealRequest(_message.Message):
    __slots__ = ("seal_id",)
    SEAL_ID_FIELD_NUMBER: _ClassVar[int]
    seal_id: str
    def __init__(self, seal_id: _Optional[str] = ...) -> None: ...

class GetSealResponse(_message.Message):
    __slots__ = ("seal",)
    SEAL_FIELD_NUMBER: _ClassVar[int]
    seal: SealInfo
    def __init__(self, seal: _Optional[_Union[SealInfo, _Mapping]] = ...) -> None: ...

class ListSealsRequest(_message.Message):
    __slots__ = ("owner_code", "page_size", "page_token")
    OWNER_CODE_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    owner_code: str
    page_size: int
    page_token: str
    def __init__(self, owner_code: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListSealsResponse(_message.Message):
    __slots__ = ("seals", "next_page_token")
    SEALS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    seals: _containers.RepeatedCompositeFieldContainer[SealInfo]
    next_page_token: str
    def __init__(self, seals: _Optional[_Iterable[_Union[SealInfo, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class RevokeSealRequest(_message.Message):
    __slots__ = ("seal_id", "reason")
    SEAL_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    seal_id: str
    reason: str
    def __init__(self, seal_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class RevokeSealResponse(_message.Message):
    __slots__ = ("seal",)
    SEAL_FIELD_NUMBER: _ClassVar[int]
    seal: SealInfo
    def __init__(self, seal: _Optional[_Union[SealInfo, _Mapping]] = ...) -> None: ...

class SealDocumentRequest(_message.Message):
    __slots__ = ("seal_id", "document", "document_digest", "property_info")
    SEAL_ID_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_DIGEST_FIELD_NUMBER: _ClassVar[int]
    PROPERTY_INFO_FIELD_NUMBER: _ClassVar[int]
    seal_id: str
    document: bytes
    document_digest: bytes
    property_info: str
    def __init__(self, seal_id: _Optional[str] = ..., document: _Optional[bytes] = ..., document_digest: _Optional[bytes] = ..., property_info: _Optional[str] = ...) -> None: ...

class SealDocumentResponse(_message.Message):
    __slots__ = ("signature", "document_digest", "signed_at")
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_DIGEST_FIELD_NUMBER: _ClassVar[int]
    SIGNED_AT_FIELD_NUMBER: _ClassVar[int]
    signature: bytes
    document_digest: str
    signed_at: _timestamp_pb2.Timestamp
    def __init__(self, signature: _Optional[bytes] = ..., document_digest: _Optional[str] = ..., signed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class SealCheck(_message.Message):
    __slots__ = ("name", "passed", "detail")
    NAME_FIELD_NUMBER: _ClassVar[int]
    PASSED_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    name: str
    passed: bool
    detail: str
    def __init__(self, name: _Optional[str] = ..., passed: _Optional[bool] = ..., detail: _Optional[str] = ...) -> None: ...

class VerifySealedDocumentRequest(_message.Message):
    __slots__ = ("signature", "document", "document_digest")
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_DIGEST_FIELD_NUMBER: _ClassVar[int]
    signature: bytes
    document: bytes
    document_digest: bytes
    def __init__(self, signature: _Optional[bytes] = ..., document: _Optional[bytes] = ..., document_digest: _Optional[bytes] = ...) -> None: ...

class VerifySealedDocumentResponse(_message.Message):
    __slots__ = ("verdict", "checks", "seal_id", "seal_name", "signer", "signed_at", "current_status", "revoked_at")
    VERDICT_FIELD_NUMBER: _ClassVar[int]
    CHECKS_FIELD_NUMBER: _ClassVar[int]
    SEAL_ID_FIELD_NUMBER: _ClassVar[int]
    SEAL_NAME_FIELD_NUMBER: _ClassVar[int]
    SIGNER_FIELD_NUMBER: _ClassVar[int]
    SIGNED_AT_FIELD_NUMBER: _ClassVar[int]
    CURRENT_STATUS_FIELD_NUMBER: _ClassVar[int]
    REVOKED_AT_FIELD_NUMBER: _ClassVar[int]
    verdict: str
    checks: _containers.RepeatedCompositeFieldContainer[SealCheck]
    seal_id: str
    seal_name: str
    signer: str
    signed_at: _timestamp_pb2.Timestamp
    current_status: str
    revoked_at: _timestamp_pb2.Timestamp
    def __init__(self, verdict: _Optional[str] = ..., checks: _Optional[_Iterable[_Union[SealCheck, _Mapping]]] = ..., seal_id: _Optional[str] = ..., seal_name: _Optional[str] = ..., signer: _Optional[str] = ..., signed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., current_status: _Optional[str] = ..., revoked_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class InspectSesRequest(_message.Message):
    __slots__ = ("data",)
    DATA_FIELD_NUMBER: _ClassVar[int]
    data: bytes
    def __init__(self, data: _Optional[bytes] = ...) -> None: ...

class InspectSesResponse(_message.Message):
    __slots__ = ("structure", "version", "es_id", "seal_name", "seal_type", "vendor_id", "lines")
    STRUCTURE_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    ES_ID_FIELD_NUMBER: _ClassVar[int]
    SEAL_NAME_FIELD_NUMBER: _ClassVar[int]
    SEAL_TYPE_FIELD_NUMBER: _ClassVar[int]
    VENDOR_ID_FIELD_NUMBER: _ClassVar[int]
    LINES_FIELD_NUMBER: _ClassVar[int]
    structure: str
    version: int
    es_id: str
    seal_name: str
    seal_type: int
    vendor_id: str
    lines: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, structure: _Optional[str] = ..., version: _Optional[int] = ..., es_id: _Optional[str] = ..., seal_name: _Optional[str] = ..., seal_type: _Optional[int] = ..., vendor_id: _Optional[str] = ..., lines: _Optional[_Iterable[str]] = ...) -> None: ...

class SealPdfRequest(_message.Message):
    __slots__ = ("seal_id", "pdf", "page", "x_mm", "y_mm", "reason", "password", "field_name", "owner_code")
    SEAL_ID_FIELD_NUMBER: _ClassVar[int]
    PDF_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    X_MM_FIELD_NUMBER: _ClassVar[int]
    Y_MM_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_FIELD_NUMBER: _ClassVar[int]
    FIELD_NAME_FIELD_NUMBER: _ClassVar[int]
    OWNER_CODE_FIELD_NUMBER: _ClassVar[int]
    seal_id: str
    pdf: bytes
    page: int
    x_mm: float
    y_mm: float
    reason: str
    password: str
    field_name: str
    owner_code: str
    def __init__(self, seal_id: _Optional[str] = ..., pdf: _Optional[bytes] = ..., page: _Optional[int] = ..., x_mm: _Optional[float] = ..., y_mm: _Optional[float] = ..., reason: _Optional[str] = ..., password: _Optional[str] = ..., field_name: _Optional[str] = ..., owner_code: _Optional[str] = ...) -> None: ...

class SealPdfResponse(_message.Message):
    __slots__ = ("pdf", "pdf_digest", "signed_at", "seal_id")
    PDF_FIELD_NUMBER: _ClassVar[int]
    PDF_DIGEST_FIELD_NUMBER: _ClassVar[int]
    SIGNED_AT_FIELD_NUMBER: _ClassVar[int]
    SEAL_ID_FIELD_NUMBER: _ClassVar[int]
    pdf: bytes
    pdf_digest: str
    signed_at: _timestamp_pb2.Timestamp
    seal_id: str
    def __init__(self, pdf: _Optional[bytes] = ..., pdf_digest: _Optional[str] = ..., signed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., seal_id: _Optional[str] = ...) -> None: ...

class VerifyPdfRequest(_message.Message):
    __slots__ = ("pdf", "password")
    PDF_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_FIELD_NUMBER: _ClassVar[int]
    pdf: bytes
    password: str
    def __init__(self, pdf: _Optional[bytes] = ..., password: _Optional[str] = ...) -> None: ...

class PdfSealResult(_message.Message):
    __slots__ = ("field_name", "seal_id", "seal_name", "verdict", "intact", "trusted", "modified", "signed_at", "current_status", "detail", "revoked_at")
    FIELD_NAME_FIELD_NUMBER: _ClassVar[int]
    SEAL_ID_FIELD_NUMBER: _ClassVar[int]
    SEAL_NAME_FIELD_NUMBER: _ClassVar[int]
    VERDICT_FIELD_NUMBER: _ClassVar[int]
    INTACT_FIELD_NUMBER: _ClassVar[int]
    TRUSTED_FIELD_NUMBER: _ClassVar[int]
    MODIFIED_FIELD_NUMBER: _ClassVar[int]
    SIGNED_AT_FIELD_NUMBER: _ClassVar[int]
    CURRENT_STATUS_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    REVOKED_AT_FIELD_NUMBER: _ClassVar[int]
    field_name: str
    seal_id: str
    seal_name: str
    verdict: str
    intact: bool
    trusted: bool
    modified: bool
    signed_at: _timestamp_pb2.Timestamp
    current_status: str
    detail: str
    revoked_at: _timestamp_pb2.Timestamp
    def __init__(self, field_name: _Optional[str] = ..., seal_id: _Optional[str] = ..., seal_name: _Optional[str] = ..., verdict: _Optional[str] = ..., intact: _Optional[bool] = ..., trusted: _Optional[bool] = ..., modified: _Optional[bool] = ..., signed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., current_status: _Optional[str] = ..., detail: _Optional[str] = ..., revoked_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class LicenceDocumentStatus(_message.Message):
    __slots__ = ("identifier", "type_code", "issuer_code", "verdict", "detail")
    IDENTIFIER_FIELD_NUMBER: _ClassVar[int]
    TYPE_CODE_FIELD_NUMBER: _ClassVar[int]
    ISSUER_CODE_FIELD_NUMBER: _ClassVar[int]
    VERDICT_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    identifier: str
    type_code: str
    issuer_code: str
    verdict: str
    detail: str
    def __init__(self, identifier: _Optional[str] = ..., type_code: _Optional[str] = ..., issuer_code: _Optional[str] = ..., verdict: _Optional[str] = ..., detail: _Optional[str] = ...) -> None: ...

class VerifyPdfResponse(_message.Message):
    __slots__ = ("seals", "licence")
    SEALS_FIELD_NUMBER: _ClassVar[int]
    LICENCE_FIELD_NUMBER: _ClassVar[int]
    seals: _containers.RepeatedCompositeFieldContainer[PdfSealResult]
    licence: LicenceDocumentStatus
    def __init__(self, seals: _Optional[_Iterable[_Union[PdfSealResult, _Mapping]]] = ..., licence: _Optional[_Union[LicenceDocumentStatus, _Mapping]] = ...) -> None: ...

class RepublishSealsRequest(_message.Message):
    __slots__ = ("restart", "max_events")
    RESTART_FIELD_NUMBER: _ClassVar[int]
    MAX_EVENTS_FIELD_NUMBER: _ClassVar[int]
    restart: bool
    max_events: int
    def __init__(self, restart: _Optional[bool] = ..., max_events: _Optional[int] = ...) -> None: ...

class RepublishSealsResponse(_message.Message):
    __slots__ = ("run_id", "published", "done", "resumed", "after_seal_id")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    PUBLISHED_FIELD_NUMBER: _ClassVar[int]
    DONE_FIELD_NUMBER: _ClassVar[int]
    RESUMED_FIELD_NUMBER: _ClassVar[int]
    AFTER_SEAL_ID_FIELD_NUMBER: _ClassVar[int]
    run_id: int
    published: int
    done: bool
    resumed: bool
    after_seal_id: str
    def __init__(self, run_id: _Optional[int] = ..., published: _Optional[int] = ..., done: _Optional[bool] = ..., resumed: _Optional[bool] = ..., after_seal_id: _Optional[str] = ...) -> None: ...

class SealOfdRequest(_message.Message):
    __slots__ = ("seal_id", "ofd", "page", "x_mm", "y_mm", "keyword", "owner_code")
    SEAL_ID_FIELD_NUMBER: _ClassVar[int]
    OFD_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    X_MM_FIELD_NUMBER: _ClassVar[int]
    Y_MM_FIELD_NUMBER: _ClassVar[int]
    KEYWORD_FIELD_NUMBER: _ClassVar[int]
    OWNER_CODE_FIELD_NUMBER: _ClassVar[int]
    seal_id: str
    ofd: bytes
    page: int
    x_mm: float
    y_mm: float
    keyword: str
    owner_code: str
    def __init__(self, seal_id: _Optional[str] = ..., ofd: _Optional[bytes] = ..., page: _Optional[int] = ..., x_mm: _Optional[float] = ..., y_mm: _Optional[float] = ..., keyword: _Optional[str] = ..., owner_code: _Optional[str] = ...) -> None: ...

class SealOfdResponse(_message.Message):
    __slots__ = ("ofd", "ofd_digest", "signed_at", "signature_id", "signature_path", "page", "seal_id")
    OFD_FIELD_NUMBER: _ClassVar[int]
    OFD_DIGEST_FIELD_NUMBER: _ClassVar[int]
    SIGNED_AT_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_ID_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_PATH_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    SEAL_ID_FIELD_NUMBER: _ClassVar[int]
    ofd: bytes
    ofd_digest: str
    signed_at: _timestamp_pb2.Timestamp
    signature_id: str
    signature_path: str
    page: int
    seal_id: str
    def __init__(self, ofd: _Optional[bytes] = ..., ofd_digest: _Optional[str] = ..., signed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., signature_id: _Optional[str] = ..., signature_path: _Optional[str] = ..., page: _Optional[int] = ..., seal_id: _Optional[str] = ...) -> None: ...

class VerifyOfdRequest(_message.Message):
    __slots__ = ("ofd",)
    OFD_FIELD_NUMBER: _ClassVar[int]
    ofd: bytes
    def __init__(self, ofd: _Optional[bytes] = ...) -> None: ...

class OfdReference(_message.Message):
    __slots__ = ("file", "expected", "actual", "status")
    FILE_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_FIELD_NUMBER: _ClassVar[int]
    ACTUAL_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    file: str
    expected: str
    actual: str
    status: str
    def __init__(self, file: _Optional[str] = ..., expected: _Optional[str] = ..., actual: _Optional[str] = ..., status: _Optional[str] = ...) -> None: ...

class OfdSignatureResult(_message.Message):
    __slots__ = ("signature_id", "signature_path", "type", "verdict", "checks", "seal_id", "seal_name", "signer", "signed_at", "current_status", "intact", "check_method", "references", "stamp_pages", "revoked_at", "document")
    SIGNATURE_ID_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_PATH_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    VERDICT_FIELD_NUMBER: _ClassVar[int]
    CHECKS_FIELD_NUMBER: _ClassVar[int]
    SEAL_ID_FIELD_NUMBER: _ClassVar[int]
    SEAL_NAME_FIELD_NUMBER: _ClassVar[int]
    SIGNER_FIELD_NUMBER: _ClassVar[int]
    SIGNED_AT_FIELD_NUMBER: _ClassVar[int]
    CURRENT_STATUS_FIELD_NUMBER: _ClassVar[int]
    INTACT_FIELD_NUMBER: _ClassVar[int]
    CHECK_METHOD_FIELD_NUMBER: _ClassVar[int]
    REFERENCES_FIELD_NUMBER: _ClassVar[int]
    STAMP_PAGES_FIELD_NUMBER: _ClassVar[int]
    REVOKED_AT_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_FIELD_NUMBER: _ClassVar[int]
    signature_id: str
    signature_path: str
    type: str
    verdict: str
    checks: _containers.RepeatedCompositeFieldContainer[SealCheck]
    seal_id: str
    seal_name: str
    signer: str
    signed_at: _timestamp_pb2.Timestamp
    current_status: str
    intact: bool
    check_method: str
    references: _containers.RepeatedCompositeFieldContainer[OfdReference]
    stamp_pages: _containers.RepeatedScalarFieldContainer[str]
    revoked_at: _timestamp_pb2.Timestamp
    document: int
    def __init__(self, signature_id: _Optional[str] = ..., signature_path: _Optional[str] = ..., type: _Optional[str] = ..., verdict: _Optional[str] = ..., checks: _Optional[_Iterable[_Union[SealCheck, _Mapping]]] = ..., seal_id: _Optional[str] = ..., seal_name: _Optional[str] = ..., signer: _Optional[str] = ..., signed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., current_status: _Optional[str] = ..., intact: _Optional[bool] = ..., check_method: _Optional[str] = ..., references: _Optional[_Iterable[_Union[OfdReference, _Mapping]]] = ..., stamp_pages: _Optional[_Iterable[str]] = ..., revoked_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., document: _Optional[int] = ...) -> None: ...

class OfdDocumentResult(_message.Message):
    __slots__ = ("document", "document_root", "verdict")
    DOCUMENT_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_ROOT_FIELD_NUMBER: _ClassVar[int]
    VERDICT_FIELD_NUMBER: _ClassVar[int]
    document: int
    document_root: str
    verdict: str
    def __init__(self, document: _Optional[int] = ..., document_root: _Optional[str] = ..., verdict: _Optional[str] = ...) -> None: ...

class VerifyOfdResponse(_message.Message):
    __slots__ = ("signatures", "licence", "documents", "verdict", "detail")
    SIGNATURES_FIELD_NUMBER: _ClassVar[int]
    LICENCE_FIELD_NUMBER: _ClassVar[int]
    DOCUMENTS_FIELD_NUMBER: _ClassVar[int]
    VERDICT_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    signatures: _containers.RepeatedCompositeFieldContainer[OfdSignatureResult]
    licence: LicenceDocumentStatus
    documents: _containers.RepeatedCompositeFieldContainer[OfdDocumentResult]
    verdict: str
    detail: str
    def __init__(self, signatures: _Optional[_Iterable[_Union[OfdSignatureResult, _Mapping]]] = ..., licence: _Optional[_Union[LicenceDocumentStatus, _Mapping]] = ..., documents: _Optional[_Iterable[_Union[OfdDocumentResult, _Mapping]]] = ..., verdict: _Optional[str] = ..., detail: _Optional[str] = ...) -> None: ...
