"""atk-day: free texts published in events still carry personal numbers and names
written a little differently, and refuse ordinary texts (certseal/personal.py
``check_published``, called by services/issuer/published.py ``validate_reason`` for a
licence change's reason and by services/verifier/access.py ``check_purpose`` for a
use's purpose).

Rule (docs/events.md, "Types"): no name, identity number or personal field is ever in
an event; certseal/personal.py refuses "an identity number (GB 11643) or a mainland
mobile number, whole or grouped, in any width" and the holder's own name and number
"whitespace, width and case ignored". The other direction: a refusal of an ordinary
text (a department's code, a word) stops a clerk from recording a lawful ground.
"""

from __future__ import annotations

import pytest

from certseal.errors import CertsealError, ErrorKind
from certseal.personal import check_published
from services.issuer.published import validate_reason
from services.verifier.access import check_purpose

NUMBER = "11010519491231002X"  # GB 11643's example form; fixed: test ids must not vary
MOBILE = "13800138000"
NAME = "王小明"


def _digits(text: str, zero: str) -> str:
    """``text`` with its ASCII digits written in the script whose zero is ``zero``."""
    return text.translate({ord("0") + i: ord(zero) + i for i in range(10)})


def _grouped(text: str, sizes: tuple[int, ...], sep: str) -> str:
    parts, at = [], 0
    for size in sizes:
        parts.append(text[at : at + size])
        at += size
    return sep.join(parts)


_CHINESE = str.maketrans("0123456789", "〇一二三四五六七八九")

SLIPPING = [
    ("id-dots", _grouped(NUMBER, (6, 8, 4), ".")),
    ("id-slashes", _grouped(NUMBER, (6, 8, 4), "/")),
    ("id-middle-dots", _grouped(NUMBER, (6, 8, 4), "·")),
    ("id-fullwidth-stops", _grouped(NUMBER, (6, 8, 4), "．")),
    ("id-fullwidth-solidus", _grouped(NUMBER, (6, 8, 4), "／")),
    ("id-underscores", _grouped(NUMBER, (6, 8, 4), "_")),
    ("id-en-dashes", _grouped(NUMBER, (6, 8, 4), "–")),
    ("id-two-spaces", _grouped(NUMBER, (6, 8, 4), "  ")),
    ("id-fours", _grouped(NUMBER, (4, 4, 4, 4, 2), " ")),
    ("id-6-4-4-4", _grouped(NUMBER, (6, 4, 4, 4), " ")),
    ("id-zero-width-space", _grouped(NUMBER, (6, 8, 4), "\u200b")),
    ("id-soft-hyphen", _grouped(NUMBER, (6, 8, 4), "\u00ad")),
    ("id-arabic-indic", _digits(NUMBER, "\u0660")),
    ("id-devanagari", _digits(NUMBER, "\u0966")),
    ("id-chinese-numerals", NUMBER.translate(_CHINESE)),
    ("mobile-dots", _grouped(MOBILE, (3, 4, 4), ".")),
    ("mobile-slashes", _grouped(MOBILE, (3, 4, 4), "/")),
    ("mobile-middle-dots", _grouped(MOBILE, (3, 4, 4), "·")),
    ("mobile-two-spaces", _grouped(MOBILE, (3, 4, 4), "  ")),
    ("mobile-en-dashes", _grouped(MOBILE, (3, 4, 4), "–")),
    ("mobile-zero-width-space", _grouped(MOBILE, (3, 4, 4), "\u200b")),
    ("mobile-4-3-4", _grouped(MOBILE, (4, 3, 4), " ")),
    ("mobile-arabic-indic", _digits(MOBILE, "\u0660")),
    ("mobile-chinese-numerals", MOBILE.translate(_CHINESE)),
]


@pytest.mark.parametrize("text", [t for _, t in SLIPPING], ids=[i for i, _ in SLIPPING])
def test_a_personal_number_in_another_writing_is_refused(text):
    """certseal/personal.py: an identity number or a mobile number "whole or grouped,
    in any width" is refused in a text an event carries. A reason typed
    "持证人身份证 110105.19491231.002X" or "电话 138·0013·8000" reaches
    LicenceEvent.reason / LicenceUsedEvent.purpose as typed."""
    with pytest.raises(CertsealError) as err:
        check_published("reason", f"持证人 {text} 违规")
    assert err.value.kind is ErrorKind.INVALID_ARGUMENT


def test_a_purpose_of_use_with_a_zero_width_split_number_is_refused():
    """services/verifier/access.py check_purpose: "no personal number (it is
    published in the usage record)"."""
    purpose = "核验 " + _grouped(NUMBER, (6, 8, 4), "\u200b")
    with pytest.raises(CertsealError) as err:
        check_purpose(purpose)
    assert err.value.field == "purpose"


HOLDER_WRITINGS = [
    ("name-zero-width-space", "持证人王\u200b小明已死亡"),
    ("name-soft-hyphen", "持证人王\u00ad小明已死亡"),
    ("name-word-joiner", "持证人王\u2060小明已死亡"),
    ("name-middle-dot", "持证人王·小明已死亡"),
    ("name-traditional", "持证人王曉明已死亡"),
    ("name-latin-hyphen", "holder wang-xiaoming deceased"),
    ("name-latin-combining", "holder wa\u0301ng xiaoming deceased"),
    ("number-dots", "证号 " + _grouped(NUMBER, (6, 8, 4), ".")),
    ("number-zero-width", "证号 " + _grouped(NUMBER, (6, 8, 4), "\u200b")),
]


@pytest.mark.parametrize(
    "text", [t for _, t in HOLDER_WRITINGS], ids=[i for i, _ in HOLDER_WRITINGS]
)
def test_the_holders_own_name_or_number_in_another_writing_is_refused(text):
    """services/issuer/service/lifecycle.py ``_change``: a reason is "checked against
    the licence's holder (INVALID_ARGUMENT when it names them)"; certseal/personal.py:
    the holder's name and number are refused "whitespace, width and case ignored"."""
    holder = ("王晓明" if "曉" in text else NAME, NUMBER)
    if "xiaoming" in text:
        holder = ("Wang Xiaoming", NUMBER)
    with pytest.raises(CertsealError) as err:
        validate_reason(text, required=False, personal=holder)
    assert err.value.field == "reason"


ORDINARY = [
    # a department's unified social credit code (GB 32100), valid, with 17 digits: a
    # transfer's or a revocation's ground naming the department concerned
    ("uscc-17-digits", "移交至 91310000132200821H 办理", ("王小明", NUMBER)),
    # a latin name matched across words once the spaces are squeezed out
    ("name-across-words", "Inspection: fail in audit", ("Li Na", NUMBER)),
]


@pytest.mark.parametrize(
    ("text", "holder"),
    [(t, h) for _, t, h in ORDINARY],
    ids=[i for i, _, _ in ORDINARY],
)
def test_an_ordinary_reason_is_published(text, holder):
    """tests/kernel/test_personal_text.py keeps "统一社会信用代码 91350100M000100Y43"
    as an ordinary reason: a department's code is no personal data, and a word that
    contains a holder's name is not the holder's name."""
    assert validate_reason(text, required=False, personal=holder) == text


def test_a_chinese_name_that_is_also_a_word_is_refused_within_it():
    """Knowingly kept (atk-day P4): a holder named 高峰 makes 高峰期 in a reason about
    their licence a refusal. Telling a name from the same characters in a word needs
    a segmenter and would still guess; the rule errs on keeping the name out, and
    the clerk words the ground otherwise ("繁忙时段")."""
    with pytest.raises(CertsealError):
        validate_reason(
            "营业高峰期超范围经营", required=False, personal=("高峰", NUMBER)
        )
    assert validate_reason("繁忙时段超范围经营", required=False, personal=("高峰",))
