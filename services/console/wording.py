"""How the counter console words verdicts: the tone, title and reason of each, in
Chinese and English (pure; split from :mod:`services.console.domain` by size)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from certseal.statuses import STATUS_NAMES, STATUS_NAMES_ZH, status_label


@dataclass(frozen=True, slots=True)
class Wording:
    """How a verdict is shown: its tone (ok, warn, bad), a title and a reason, twice."""

    tone: str
    title_zh: str
    title_en: str
    reason_zh: str
    reason_en: str


#: a VALID answered by a verifier cut off from its broker (its lag unknown): what was
#: revoked since may not be in its index, so the counter is not told to accept
STALE_VALID = Wording(
    "warn",
    "有效（索引可能过期）",
    "Valid, index may be stale",
    "核验服务暂时连不上消息服务，此后的撤销可能未见；请稍后重新核验。",
    "The verifier cannot reach its broker: a revocation since may not be seen. "
    "Verify again shortly.",
)


def superseded_by(status: str) -> Wording | None:
    """The wording of a SUPERSEDED code whose newest version has ``status`` (its
    national code) when that version is not valid either: asking the holder for the
    current one would lead nowhere. None when it is valid, or the status unknown."""
    if status not in STATUS_NAMES_ZH or status == "01":
        return None
    zh, label = STATUS_NAMES_ZH[status], status_label(status)
    if status == "06":
        return Wording(
            "warn",
            "新版本已转出",
            "Newer version transferred out",
            "该证照已换发新版本，但新版本也已转出（06），证照现归转入部门管理，"
            "请持证人出示转入部门的证照。",
            "A newer version of this licence exists, but it is itself transferred "
            "out (06): the licence now lives under the receiving department; ask "
            "for the licence that department holds.",
        )
    return Wording(
        "bad",
        f"新版本已{zh}",
        f"Newer version {STATUS_NAMES[status]}",
        f"该证照已换发新版本，但新版本也已{zh}（{status}），不能受理。",
        f"A newer version of this licence exists, but it is itself {label}: "
        "do not accept it.",
    )


SEAL_VERDICTS: Mapping[str, Wording] = {
    "VALID": Wording(
        "ok",
        "签章有效",
        "Seal valid",
        "签章有效，文件自签章后显示的内容未被修改。",
        "Sealed by a valid seal; nothing the document shows has changed since.",
    ),
    "MODIFIED": Wording(
        "bad",
        "文件已被修改",
        "Document modified",
        "签章之后文件被修改过。",
        "The document was changed after it was sealed.",
    ),
    "BAD_SIGNATURE": Wording(
        "bad",
        "签名无效",
        "Bad signature",
        "签章的签名校验不通过。",
        "The seal's signature does not verify.",
    ),
    "UNTRUSTED_SEAL": Wording(
        "bad",
        "印章不可信",
        "Untrusted seal",
        "该印章不是由平台印章证书机构签发的。",
        "The seal was not certified by the platform's seal CA.",
    ),
    "SIGNER_NOT_AUTHORISED": Wording(
        "bad",
        "签章人未获授权",
        "Signer not authorised",
        "签章人不在该印章的授权名单中。",
        "The signer is not among the seal's authorised signers.",
    ),
    "SEAL_NOT_VALID": Wording(
        "bad",
        "签章时印章无效",
        "Seal not valid then",
        "签章时该印章已过期、未生效或已吊销。",
        "The seal was expired, not yet valid or revoked when it was used.",
    ),
    "CERTIFICATE_NOT_VALID": Wording(
        "bad",
        "证书无效",
        "Certificate not valid",
        "签章时签章人的证书不在有效期内。",
        "The signer's certificate was not valid when the document was sealed.",
    ),
    "UNKNOWN_SEAL": Wording(
        "bad",
        "未知印章",
        "Unknown seal",
        "平台没有该印章的记录。",
        "The platform has no record of this seal.",
    ),
    "BAD_TIMESTAMP": Wording(
        "bad",
        "时间戳无效",
        "Bad timestamp",
        "签章所附的可信时间戳与签名不符或已被篡改。",
        "The seal's trusted timestamp does not match its signature or was altered.",
    ),
    "UNTRUSTED_TIMESTAMP": Wording(
        "bad",
        "时间戳不可信",
        "Untrusted timestamp",
        "签章所附的时间戳不是由受信任的时间戳服务机构签发的。",
        "The seal's timestamp was not issued by a trusted time-stamping authority.",
    ),
    "DOCUMENT_TIMESTAMP": Wording(
        "warn",
        "文档时间戳",
        "Document timestamp",
        "这是文档时间戳（不是签章）：由受信任的时间戳服务机构签发，其后文件显示的内容未被修改。",
        "A document timestamp (no seal) from a trusted time-stamping authority; "
        "nothing the document shows has changed since.",
    ),
    "MALFORMED": Wording(
        "bad",
        "无法解析",
        "Malformed",
        "签章数据无法解析。",
        "The seal data cannot be read.",
    ),
}

#: an OFD's verdict as a whole: a seal's, or a document holding none
FILE_VERDICTS: Mapping[str, Wording] = {
    **SEAL_VERDICTS,
    "UNSEALED": Wording(
        "bad",
        "有文档未签章",
        "A document is not sealed",
        "文件中有文档没有签章，整个文件不能视为已签章。",
        "A document in this file carries no seal: the file as a whole is not sealed.",
    ),
}

_UNLISTED = Wording(
    "bad",
    "无法判定",
    "Not determined",
    "核验服务返回了本页面不认识的结论。",
    "The service returned a verdict this page does not know.",
)


def wording(verdicts: Mapping[str, Wording], verdict: str) -> dict[str, str]:
    """The wording of ``verdict`` as JSON fields (an unknown verdict is never 'ok')."""
    return {"verdict": verdict, **asdict(verdicts.get(verdict, _UNLISTED))}


#: a MALFORMED verdict whose decode check says the scan went wrong (the kernel's
#: certseal.codes words: a read cut short or misread says "scan it again", a double
#: read "scan one code at a time", a text far shorter than any code "only its start was
#: read; scan it again", said of a presentation code after PC1: too, a character
#: mistyped or misread "scan it again, or type it again with care"): the clerk scans
#: again, the citizen's QR code is fine
RESCAN: Mapping[str, Wording] = {
    "scan one code at a time": Wording(
        "warn",
        "读到两个二维码",
        "Two codes read as one",
        "一次扫描读到了两个二维码，请一次只扫描一个。",
        "Two codes were read as one: scan one code at a time.",
    ),
    "scan it again, or type it again with care": Wording(
        "warn",
        "二维码读错或输错",
        "Code misread or mistyped",
        "二维码有字符读错或输错，请重新扫描，或仔细重新输入。",
        "A character of the code was misread or mistyped: scan it again, or type it "
        "again with care.",
    ),
    "not a presentation code, or only its start was read; scan it again": Wording(
        "warn",  # before the licence code's, whose words end as these do
        "不是亮证码或未读全",
        "Not a presentation code, or read only in part",
        "读到的内容远短于任何亮证码：可能不是亮证码，或只读到了开头，请重新扫描。",
        "Far shorter than any presentation code: not one, or only its start was "
        "read: scan it again.",
    ),
    "only its start was read; scan it again": Wording(  # before "scan it again"
        "warn",
        "不是证照二维码或未读全",
        "Not a licence code, or read only in part",
        "读到的内容远短于任何证照二维码：可能不是证照二维码，或只读到了开头，请重新扫描。",
        "Far shorter than any licence code: not one, or only its start was read: "
        "scan it again.",
    ),
    "scan it again": Wording(
        "warn",
        "二维码未读全",
        "Code read only in part",
        "二维码没有读全或读错了，请重新扫描。",
        "The code was read only in part or misread: scan it again.",
    ),
}

#: the decode stages whose details are the kernel's own words about the text: a
#: later stage's detail may quote what a crafted code holds (a CBOR map key)
_TEXT_STAGES = ("prefix: ", "base45: ", "zlib: ")


def rescan_wording(check: Mapping[str, Any]) -> Wording | None:
    """The :data:`RESCAN` wording whose advice ends ``check``'s detail, when a text
    stage gives it; None otherwise (also for an input method's "type or scan it
    again": scanning again through the same input method changes nothing)."""
    detail = str(check.get("detail", ""))
    if not detail.startswith(_TEXT_STAGES) or detail.endswith("type or scan it again"):
        return None
    return next((w for advice, w in RESCAN.items() if detail.endswith(advice)), None)
