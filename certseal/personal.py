"""Personal data in free text that certseal publishes or records.

A reason, a purpose or a counter's name is typed by people and goes where personal
data never goes: events on topics integrators read (docs/events.md, "Types": no name,
identity number or personal field is ever in an event) and the audit log
(docs/operations.md). What can be told from the text alone is refused: an identity
number (GB 11643) or a mainland mobile number, however it is written as people write
them (grouped by spaces, dots, dashes or slashes, split by invisible characters, in
full width, in another script's digits or in Chinese numerals); and where the service
knows whose data is at stake (a licence's holder), the holder's own name and number,
also in traditional characters (OpenCC's t2s).

Written to mislead (a letter O for a zero, a number spelt out in words), a text is not
caught: the rule stops a clerk's slip, not a department that means to leak.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import unicodedata
from collections.abc import Iterable

import opencc

from certseal.errors import invalid

#: a run of digits that may be (most of) a resident identity number (GB 11643: 17
#: digits and a check character; 15 in the older form), also as it is often written,
#: grouped by a separator between digits (``110105-19900101-1234``: an app name
#: may hold ``-``, ``.``, ``_``)
_ID_DIGITS = re.compile(r"[0-9](?:[^0-9A-Za-z]?[0-9]){14,}", re.ASCII)

_CHINESE_DIGITS = {ord(c): str(i) for i, c in enumerate("〇一二三四五六七八九")} | {
    ord("零"): "0"
}
#: separators that do not join digit groups into one number: a list's commas (an
#: amount's thousands) and clauses
_SPLITTERS = frozenset(",，、;；:：")
#: a text's digit groups, after :func:`_shape`: digits (an identity number's last
#: character may be x) joined by at most two separator characters
_RUN = re.compile(r"[0-9]+x?(?: {1,2}[0-9]+x?)*")

_LONGEST_NUMBER = 64
"""Characters of the longest number looked for (an identity document's number, as
certseal.identifiers takes it): a run's parts are joined up to this length."""

_SHORTEST_NAME = 2
"""Characters of the shortest personal name looked for (a Chinese name has two or
more; one character would refuse ordinary words)."""

_T2S = opencc.OpenCC("t2s")


def _plain(text: str) -> str:
    """``text`` as it reads: NFKD (full-width forms as ASCII), case-folded, every
    script's decimal digits and Chinese numerals as ASCII digits, and invisible
    format characters (zero-width space, soft hyphen, joiners) and combining marks
    dropped."""
    out = []
    # NFKD: full-width forms as ASCII, and accents apart from their letters
    for char in unicodedata.normalize("NFKD", text).casefold():
        category = unicodedata.category(char)
        if category in ("Cf", "Mn", "Me"):
            continue
        if category == "Nd":
            out.append(str(unicodedata.digit(char)))
        else:
            out.append(_CHINESE_DIGITS.get(ord(char), char))
    return "".join(out)


def _shape(plain: str) -> str:
    """``plain`` with digits and ``x`` kept, every separator (spaces, punctuation
    other than :data:`_SPLITTERS`) as one space, and anything else as ``#``."""
    out = []
    for char in plain:
        if "0" <= char <= "9" or char == "x":
            out.append(char)
        elif char not in _SPLITTERS and unicodedata.category(char)[0] in "ZP":
            out.append(" ")
        else:
            out.append("#")
    return "".join(out)


def _numbers(plain: str) -> Iterable[str]:
    """Every number ``plain`` may write: each run of digit groups (:data:`_RUN`) and
    every contiguous part of it, groups joined (``110105 19491231 002x`` gives the
    whole, ``11010519491231``, ``19491231002x`` and each group)."""
    for run in _RUN.finditer(_shape(plain)):
        groups = run.group().split()
        for start in range(len(groups)):
            number = ""
            for group in groups[start:]:
                number += group
                if len(number) > _LONGEST_NUMBER:
                    break
                yield number


def _a_date(text: str) -> bool:
    """Whether ``text`` (``YYYYMMDD``) is a date from 1900 to 2099."""
    try:
        return 1900 <= dt.date(int(text[:4]), int(text[4:6]), int(text[6:])).year < 2100
    except ValueError:
        return False


def _luhn(digits: str) -> bool:
    """Whether ``digits`` pass the Luhn check (ISO/IEC 7812-1 Annex B)."""
    total = 0
    for i, digit in enumerate(reversed(digits)):
        value = int(digit) * (2 if i % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def _kind(number: str) -> str | None:
    """What ``number`` (digits, perhaps a final ``x``) is, or None: an identity
    number (GB 11643: 18 characters with a birth date at 7-14, also cut to 14 or
    more; or the older 15 digits with one at 7-12 as YYMMDD), a bank card's number
    (16 to 19 digits, 62 (UnionPay), 4 or 5 first, passing Luhn: ISO/IEC 7812) or a
    mobile number (11 digits 1[3-9]…, after 86 or 0086)."""
    digits = number.removesuffix("x")
    if 14 <= len(number) <= 18 and digits[:14].isdigit() and _a_date(number[6:14]):
        return "an identity number"
    if not digits.isdigit() or digits != number:
        return None
    if len(number) == 15 and _a_date("19" + number[6:12]):
        return "an identity number"
    card = number.startswith(("4", "5", "62"))
    if card and 16 <= len(number) <= 19 and _luhn(number):
        return "a bank card's number"
    mobile = number.removeprefix("0086") if len(number) == 15 else number
    mobile = mobile.removeprefix("86") if len(mobile) == 13 else mobile
    if len(mobile) == 11 and re.match("1[3-9]", mobile):
        return "a mobile number"
    return None


def holds_identity_number(text: str) -> bool:
    """Whether ``text`` holds a run of 15 digits or more (in any width), one
    character other than a letter between two of them counting as none: what may be
    a resident identity number, whole or in part. For a value recorded in the audit
    log in place of a code, where refusing costs nothing; a sentence is read by
    :func:`personal_number`."""
    return _ID_DIGITS.search(_plain(text)) is not None


@functools.lru_cache(maxsize=4096)
def personal_number(text: str) -> str | None:
    """What personal number ``text``, a sentence, holds ("an identity number", "a
    mobile number"), or None. A date, a date range, a case number, a department's
    code (GB 32100) or an amount is none. Kept per text (a verifier is asked the same
    purposes again and again)."""
    for number in _numbers(_plain(text)):
        found = _kind(number)
        if found is not None:
            return found
    return None


def _holds(text: str, value: str) -> bool:
    """Whether ``text`` names ``value``, a person's name or number: a number as one
    of the text's numbers (:func:`_numbers`); a name of letters as a run of the
    text's words (or its words joined: ``wangxiaoming``); any other name within the
    text, separators ignored and traditional characters read as simplified."""
    plain, wanted = _plain(_T2S.convert(text)), _plain(_T2S.convert(value))
    bare = "".join(c for c in wanted if c not in " -_.·")
    if bare.rstrip("x").isdigit():
        return bare in _numbers(plain)
    if bare.isascii():
        words = re.findall(r"[a-z0-9]+", plain)
        name = re.findall(r"[a-z0-9]+", wanted)
        joined = "".join(name)
        return any(
            words[i : i + len(name)] == name or words[i] == joined
            for i in range(len(words))
        )
    squeezed = "".join(c for c in plain if unicodedata.category(c)[0] not in "ZP")
    return len(bare) >= _SHORTEST_NAME and bare in squeezed


def check_published(field: str, text: str, *, personal: Iterable[str] = ()) -> str:
    """``text``, a free text certseal publishes in events or records in the audit
    log. INVALID_ARGUMENT (``field``) when it holds a personal number
    (:func:`personal_number`) or names any of ``personal`` (the names and numbers of
    the person it is about, :func:`_holds`; names of fewer than two characters are
    not looked for). The message names neither the text nor the match."""
    found = personal_number(text)
    if found is None and any(
        len(value.strip()) >= _SHORTEST_NAME and _holds(text, value)
        for value in personal
    ):
        found = "the holder's name or identity number"
    if found is not None:
        raise invalid(
            field,
            f"holds {found}: it is published to the platform's subscribers and kept "
            "in the audit log, where personal data never goes; describe the ground "
            "without naming the person",
        )
    return text
