"""Personal data in free text that certseal publishes or records.

A reason, a purpose or a counter's name is typed by people and goes where personal
data never goes: events on topics integrators read (docs/events.md, "Types": no name,
identity number or personal field is ever in an event) and the audit log
(docs/operations.md). What can be told from the text alone is refused: an identity
number (GB 11643) or a mainland mobile number, whole or grouped, in any width
(NFKC); and where the service knows whose data is at stake (a licence's holder), the
holder's own name and number.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from certseal.errors import invalid

#: a run of digits that may be (most of) a resident identity number (GB 11643: 17
#: digits and a check character; 15 in the older form), also as it is often written,
#: grouped by a separator between digits (``110105-19900101-1234``: an app name
#: may hold ``-``, ``.``, ``_``)
_ID_DIGITS = re.compile(r"[0-9](?:[^0-9A-Za-z]?[0-9]){14,}", re.ASCII)

#: an identity number as people write one in a sentence: 18 characters (17 digits
#: and a check digit or X), alone or grouped 6-8-4 by a space or a hyphen; or any run
#: of 15 digits or more (the older 15-digit form, a bank card's number). Dates and
#: date ranges ("2026-01-01至2026-03-31") are not runs.
_WRITTEN_ID = re.compile(
    r"(?<![0-9])(?:[0-9]{6}[ -]?[0-9]{8}[ -]?[0-9]{3}[0-9x]|[0-9]{15,})(?![0-9])",
    re.ASCII,
)

#: a mainland mobile number (YD/T 2740 numbering: 1, then 3 to 9, then 9 digits),
#: alone or grouped 3-4-4 by a space or a hyphen, with or without +86 / 86
_MOBILE = re.compile(
    r"(?<![0-9])(?:86[ -]?)?1[3-9][0-9](?:[ -]?[0-9]{4}){2}(?![0-9])", re.ASCII
)

_SHORTEST_NAME = 2
"""Characters of the shortest personal name looked for (a Chinese name has two or
more; one character would refuse ordinary words)."""


def _folded(text: str) -> str:
    """``text`` in NFKC (full-width digits and letters as ASCII), case-folded."""
    return unicodedata.normalize("NFKC", text).casefold()


def holds_identity_number(text: str) -> bool:
    """Whether ``text`` holds a run of 15 digits or more (in any width), one
    character other than a letter between two of them counting as none: a resident
    identity number (GB 11643: 18 characters, the first 17 digits; 15 digits before
    1999), whole or in part, grouped or not."""
    return _ID_DIGITS.search(_folded(text)) is not None


def personal_number(text: str) -> str | None:
    """What personal number ``text``, a sentence, holds ("an identity number", "a
    mobile number"), or None. Narrower than :func:`holds_identity_number`, which is
    for a value recorded in the audit log in place of a code (where refusing costs
    nothing): a sentence may hold dates and case numbers."""
    folded = _folded(text)
    if _WRITTEN_ID.search(folded):
        return "an identity number"
    if _MOBILE.search(folded):
        return "a mobile number"
    return None


def check_published(field: str, text: str, *, personal: Iterable[str] = ()) -> str:
    """``text``, a free text certseal publishes in events or records in the audit
    log. INVALID_ARGUMENT (``field``) when it holds a personal number
    (:func:`personal_number`) or any of ``personal`` (the names and numbers of the
    person it is about; whitespace, width and case ignored, names of fewer than two
    characters not looked for). The message names neither the text nor the match."""
    found = personal_number(text)
    if found is None:
        squeezed = "".join(_folded(text).split())
        for value in personal:
            wanted = "".join(_folded(value).split())
            if len(wanted) >= _SHORTEST_NAME and wanted in squeezed:
                found = "the holder's name or identity number"
                break
    if found is not None:
        raise invalid(
            field,
            f"holds {found}: it is published to the platform's subscribers and kept "
            "in the audit log, where personal data never goes; describe the ground "
            "without naming the person",
        )
    return text
