"""What no text that comes from outside may hold (every request is checked with it,
:mod:`certseal.requests`).

Text from a request is stored in PostgreSQL (which cannot hold NUL), printed on seals,
shown to counter clerks and written to logs. :func:`unfit_character` finds what no
field of certseal means:

- NUL and the other control characters (C0, DEL and C1); tab, line feed and carriage
  return only where ``multiline`` allows them;
- lone surrogates (U+D800 to U+DFFF: not encodable as UTF-8);
- the bidirectional embedding, override and isolate controls (U+202A to U+202E,
  U+2066 to U+2069), which make displayed text read differently from what it is
  ("Trojan Source").

Pure: no I/O.
"""

from __future__ import annotations

import re

# C0 but tab/LF/CR, DEL, C1, surrogates, bidi embeddings/overrides/isolates
_UNFIT = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\u202a-\u202e\u2066-\u2069]"
)
_LINE_BREAKS = re.compile("[\t\n\r]")


def unfit_character(value: str, *, multiline: bool = False) -> str | None:
    """The first character of ``value`` that no certseal text may hold, if any."""
    found = _UNFIT.search(value)
    if found is None and not multiline:
        found = _LINE_BREAKS.search(value)
    return found.group() if found else None
