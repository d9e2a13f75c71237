"""Free text certseal publishes (a reason, a purpose, a clerk's name) holds no
personal data it can tell (certseal/personal.py; atk-pii F2: a reason naming the
holder reached the licence topic integrators read)."""

from __future__ import annotations

import pytest

from certseal.errors import CertsealError, ErrorKind
from certseal.personal import check_published, holds_identity_number, personal_number

NUMBER = "11010519491231002X"  # GB 11643's example form; fixed: test ids must not vary


def _wide(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


@pytest.mark.parametrize(
    ("text", "found"),
    [
        (f"持证人身份证{NUMBER}涉案", "an identity number"),
        (f"{NUMBER[:6]} {NUMBER[6:14]} {NUMBER[14:]}", "an identity number"),
        (f"{NUMBER[:6]}-{NUMBER[6:14]}-{NUMBER[14:]}", "an identity number"),
        (_wide(NUMBER), "an identity number"),
        ("110105491231002", "an identity number"),  # the older 15-digit form
        (NUMBER[:15], "an identity number"),  # cut short, still a birth date and place
        ("卡号 6222 0212 3456 7890 128", "a bank card's number"),
        ("联系 13800138000", "a mobile number"),
        ("tel 138 0013 8000", "a mobile number"),
        ("+86 138-0013-8000", "a mobile number"),
        (_wide("15912345678"), "a mobile number"),
    ],
)
def test_personal_numbers_are_found_in_any_writing(text, found):
    assert personal_number(text) == found
    with pytest.raises(CertsealError) as err:
        check_published("reason", text)
    assert err.value.kind is ErrorKind.INVALID_ARGUMENT
    assert err.value.field == "reason"
    assert found in err.value.message and text not in err.value.message


@pytest.mark.parametrize(
    "text",
    [
        "违法经营，依法吊销",
        "停业整顿 2026-01-01至2026-03-31",
        "案号（2026）粤0304行初1234号",
        "于 2026-12-05 10:30:00.123 核查",
        "统一社会信用代码 91350100M000100Y43",
        "电话 0591-87654321",
        "",
    ],
)
def test_ordinary_reasons_are_published(text):
    assert personal_number(text) is None
    assert check_published("reason", text, personal=("王小明", NUMBER)) == text


@pytest.mark.parametrize(
    "text",
    [
        "持证人王小明已死亡",
        "持证人 王 小明 已死亡",
        "holder wang xiaoming deceased",
        "HOLDER WANG  XIAOMING",
        _wide("wang xiaoming"),
    ],
)
def test_the_holders_own_name_is_refused_in_any_spacing_width_or_case(text):
    with pytest.raises(CertsealError) as err:
        check_published("reason", text, personal=("王小明", "Wang Xiaoming", ""))
    assert "the holder's name" in err.value.message


def test_a_one_character_name_is_not_looked_for():
    assert check_published("reason", "王 revoked", personal=("王",)) == "王 revoked"


def test_the_audit_rule_stays_broader_than_the_sentence_rule():
    # a recorded caller's value with 15 grouped digits is recorded as "-"
    assert holds_identity_number("2026-01-01至2026-03-31")
    assert personal_number("2026-01-01至2026-03-31") is None
