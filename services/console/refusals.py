"""What the counter console answers when a service refuses, or a dropped file is
not what the route takes: the status and field, and for a redemption (授权用证) or a file
the reason in the clerk's words, Chinese first and English second (split from
:mod:`services.console.handlers` by size).

A redemption refusal is told by the issuer's gRPC status and field (every refusal of
a code names ``code``; the platform's missing seal ``setup``) and, where one status
covers several cases (FAILED_PRECONDITION: withdrawn, expired, licence no longer or
not yet valid), by the reason the issuer sends beside them
(:data:`certseal.rpcerrors.ERROR_REASON_KEY`, the ``why`` it audits), else, from an issuer
that sends none, by the shape of its message (docs/holder.md, "Refusals of a code"). A message of no known shape still gets words,
general ones, beside the issuer's own ``error``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Collection

import grpc
from aiohttp import web

from certseal.filekinds import OFD, PDF, kind_of
from certseal.rpcerrors import error_from_rpc
from certseal.statuses import STATUS_NAMES_ZH
from services.console.requests import BadRequest, body_too_large

log = logging.getLogger(__name__)


_STATUS_OF = {
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.NOT_FOUND: 404,  # e.g. an authorisation code not for this counter
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.UNAUTHENTICATED: 403,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 413,
    grpc.StatusCode.ABORTED: 409,  # changed meanwhile: the same request again may pass
}


def rpc_failure(exc: grpc.aio.AioRpcError, service: str) -> BadRequest:
    """What the page says when a service refused or could not answer."""
    if exc.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
        log.warning("%s unavailable: %s", service, exc.details())
        return BadRequest(
            f"the {service} service is not reachable; try again in a moment",
            status=503,
            field=service,
        )
    status = _STATUS_OF.get(exc.code())
    if status is None:
        log.error("%s failed: %s %s", service, exc.code().name, exc.details())
        return BadRequest(
            f"the {service} service failed; see its log", status=502, field=service
        )
    error = error_from_rpc(exc)
    if error.field == "setup":  # a set-up step of the platform, not the request
        log.error("%s: the platform is not set up: %s", service, error.message)
        return BadRequest(error.message, status=503, field="setup")
    # the message alone: the field is the answer's own (``field``)
    return BadRequest(error.message, status=status, field=error.field or service)


#: each redemption refusal's key: (Chinese, English) in the clerk's words
REDEMPTION_WORDS: dict[str, tuple[str, str]] = {
    "empty": (
        "请扫描或输入授权码（AU-…）。",
        "Scan or type the authorisation code (AU-…).",
    ),
    "too_long": (
        "这不是授权码：授权码不超过64个字符，请重新扫描。",
        "This is not an authorisation code: one has at most 64 characters. Scan it "
        "again.",
    ),
    "misread": (
        "授权码读取不完整或有误，请重新扫描或手工输入。",
        "The authorisation code was cut short or misread: scan it again or type it.",
    ),
    "not_found": (
        "没有发给本部门的此授权码，请持证人核对授权码，或重新授权本部门。",
        "There is no authorisation with this code for this department: ask the holder "
        "to check the code or to authorise this department.",
    ),
    "other_counter": (
        "该授权指定了本部门的其他窗口，请到指定窗口办理。",
        "The holder authorised another counter of this department: serve them at that "
        "counter.",
    ),
    "withdrawn": (
        "持证人已撤回该授权，不能使用；如需办理，请持证人重新授权。",
        "The holder withdrew this authorisation: it cannot be used. The holder can "
        "authorise again.",
    ),
    "expired": (
        "该授权已过期，不能使用；如需办理，请持证人重新授权。",
        "This authorisation has expired: it cannot be used. The holder can authorise "
        "again.",
    ),
    "licence_no_longer_valid": (
        "证照已失效，不能使用该授权。",
        "The licence is no longer valid: the authorisation cannot be used.",
    ),
    "licence_not_yet_valid": (
        "证照尚未生效，不能使用该授权。",
        "The licence is not valid yet: the authorisation cannot be used.",
    ),
    "licence_changed": (
        "制作加注件期间证照已变更，请重新扫描授权码。",
        "The licence changed while the annotated copy was made: scan the "
        "authorisation code again.",
    ),
    "not_drawable": (
        "证照含有加注件无法显示的字符，不能制作加注件；请持证人联系发证部门核对证照内容。",
        "The licence holds a character the annotated copy cannot draw: no copy can be "
        "made. The holder asks the issuing department to check the licence.",
    ),
    "setup": (
        "平台尚未登记用于加注件的印章，暂不能使用授权；请联系运维人员登记平台印章。",
        "The platform has no seal for annotated copies yet: no authorisation can be "
        "used until an operator registers it.",
    ),
    "unreachable": (
        "暂时无法连接发证服务，请稍后再试。",
        "The issuer service cannot be reached: try again in a moment.",
    ),
    "failed": (
        "发证服务出错，请稍后再试或联系运维人员。",
        "The issuer service failed: try again, or tell an operator.",
    ),
    "refused": (
        "发证服务拒绝了该授权码（原因见英文说明）。",
        "The issuer refused this authorisation code.",
    ),
}

#: the issuer's FAILED_PRECONDITION messages on field ``code`` (docs/holder.md)
_SHAPES = (
    (re.compile(r"^authorisation \S+ was withdrawn by the holder$"), "withdrawn"),
    (re.compile(r"^authorisation \S+ has expired$"), "expired"),
    (re.compile(r"^licence \S+ is no longer valid: "), "licence_no_longer_valid"),
    (re.compile(r"^licence \S+ is not yet valid: "), "licence_not_yet_valid"),
)
_STATUS_CODE = re.compile(r"\((\d\d)\)$")
_VALID_FROM = re.compile(r"valid (from|until) (\d{4}-\d\d-\d\d)")


def redemption_refusal_key(exc: grpc.aio.AioRpcError) -> str:
    """Why the issuer refused a redemption, as a key of :data:`REDEMPTION_WORDS`."""
    code = exc.code()
    if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
        return "unreachable"
    error = error_from_rpc(exc)
    if error.field == "setup":
        return "setup"
    if error.reason in REDEMPTION_WORDS:
        return error.reason
    if code == grpc.StatusCode.NOT_FOUND:
        return "not_found"
    if code == grpc.StatusCode.PERMISSION_DENIED and error.field == "code":
        return "other_counter"
    if code == grpc.StatusCode.ABORTED:
        return "licence_changed"
    if code == grpc.StatusCode.INVALID_ARGUMENT and error.field == "code":
        return "misread"
    if code == grpc.StatusCode.FAILED_PRECONDITION:
        for shape, key in _SHAPES:
            if shape.search(error.message):
                return key
    return "refused" if code in _STATUS_OF else "failed"


def redemption_words(key: str, message: str = "") -> dict[str, str]:
    """The JSON words of refusal ``key``: ``refusal``, ``reason_zh``, ``reason_en``;
    a licence refusal says the licence's status, or the date, its ``message`` names."""
    zh, en = REDEMPTION_WORDS.get(key, REDEMPTION_WORDS["refused"])
    status = _STATUS_CODE.search(message)
    date = _VALID_FROM.search(message)
    cannot = "the authorisation cannot be used"
    if key == "licence_no_longer_valid" and status:
        code, state = status.group(1), message.split(": ", 1)[-1]
        if code in STATUS_NAMES_ZH:
            zh = f"证照已{STATUS_NAMES_ZH[code]}（{code}），不能使用该授权。"
            en = f"The licence is no longer valid ({state}): {cannot}."
    elif key == "licence_no_longer_valid" and date and date.group(1) == "until":
        zh = f"证照有效期已于{date.group(2)}届满，不能使用该授权。"
        en = f"The licence was valid until {date.group(2)}: {cannot}."
    elif key == "licence_not_yet_valid" and date:
        zh = f"证照尚未生效（自{date.group(2)}起有效），不能使用该授权。"
        en = f"The licence is valid from {date.group(2)} only: {cannot} yet."
    return {"refusal": key, "reason_zh": zh, "reason_en": en}


def redemption_failure(exc: grpc.aio.AioRpcError) -> BadRequest:
    """:func:`rpc_failure` for the issuer's Redemption, with the reason in words."""
    refused = rpc_failure(exc, "issuer")
    refused.words = redemption_words(redemption_refusal_key(exc), refused.message)
    return refused


_ROUTES = {PDF: "/api/verify-pdf", OFD: "/api/verify-ofd"}
_FILE_WORDS = {
    PDF: (
        "这是PDF文件，不是OFD文件，请按PDF核验。",
        "This is a PDF, not an OFD package: verify it as a PDF.",
    ),
    OFD: (
        "这是OFD文件，不是PDF文件，请按OFD核验。",
        "This is an OFD package, not a PDF: verify it as an OFD.",
    ),
}


async def dropped_file(
    request: web.Request,
    field: str,
    types: Collection[str],
    kind: str,
    magic: bytes,
    what: str,
) -> bytes:
    """The body of a file dropped on the page: of a media type in ``types`` (415
    naming ``kind`` otherwise), not empty (400: ``the file is empty (0 bytes)``) and
    starting with ``magic`` (400: not ``what``; a PDF sent for an OFD or an OFD for a
    PDF is said so, with the route that takes it in ``use``)."""
    if request.content_type not in types:
        raise BadRequest(
            f"send {kind}, not {request.content_type or 'nothing'}",
            status=415,
            field=field,
        )
    size = request.content_length
    if size is not None and size > request.client_max_size:  # refused unread
        raise BadRequest(body_too_large(request), status=413, field="body")
    data = await request.read()
    if not data:
        refused = BadRequest("the file is empty (0 bytes)", field=field)
        refused.words = {
            "reason_zh": "文件为空（0字节），请重新选择文件。",
            "reason_en": "The file is empty (0 bytes): choose the file again.",
        }
        raise refused
    if not data.startswith(magic):
        found = kind_of(data)
        if found in _ROUTES and _ROUTES[found] != request.path:
            name = "an OFD package" if found == OFD else "a PDF"
            refused = BadRequest(
                f"the file is {name}, not {what}: send it to {_ROUTES[found]}",
                field=field,
            )
            zh, en = _FILE_WORDS[found]
            refused.words = {"reason_zh": zh, "reason_en": en, "use": _ROUTES[found]}
            raise refused
        raise BadRequest(f"the file is not {what}", field=field)
    return data
