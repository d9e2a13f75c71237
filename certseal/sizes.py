"""Sizes in bytes as messages say them: in MiB or KiB for a person to read, with the
exact count beside for a person to compare (``100.0 MiB (104,857,600 bytes)``), and
a limit as it was set (``64 MiB``).

A refusal of something too large says :func:`over_limit`, so every size message of
certseal reads alike, whichever room refuses (a file the CLI reads, a document the
seal service takes, a body the console takes). Pure: no I/O.
"""

from __future__ import annotations

KIB = 1024
MIB = 1024 * 1024

_UNITS = ((MIB, "MiB"), (KIB, "KiB"))


def _in_unit(n: int, decimals: int = 1) -> str:
    """``n`` in the largest unit it reaches (``100.0 MiB``); bytes below 1 KiB."""
    for unit, name in _UNITS:
        if n >= unit:
            return f"{n / unit:.{decimals}f} {name}"
    return "1 byte" if n == 1 else f"{n:,} bytes"


def byte_size(n: int, *, decimals: int = 1) -> str:
    """``n`` bytes for a message: ``100.0 MiB (104,857,600 bytes)``, ``512 bytes``."""
    shown = _in_unit(n, decimals)
    return shown if n < KIB else f"{shown} ({n:,} bytes)"


def byte_limit(n: int, *, decimals: int = 1) -> str:
    """A limit of ``n`` bytes as it was set: ``64 MiB``, ``4 KiB``, ``1,000 bytes``;
    one that is no whole number of MiB or KiB as :func:`byte_size` says it."""
    for unit, name in _UNITS:
        if n >= unit and n % unit == 0:
            return f"{n // unit:,} {name}"
    return byte_size(n, decimals=decimals)


def beyond(size: int, limit: int) -> tuple[str, str]:
    """``size`` (over ``limit``) and ``limit`` as :func:`byte_size` and
    :func:`byte_limit` say them, with as many decimals (up to three) as it takes for
    the size not to read as the limit: 62,951,457 bytes over 60 MiB is ``60.04
    MiB``, not ``60.0 MiB``."""
    decimals = 1
    while decimals < 3 and _in_unit(size, decimals) == _in_unit(limit, decimals):
        decimals += 1
    return byte_size(size, decimals=decimals), byte_limit(limit, decimals=decimals)


def over_limit(size: int, limit: int, *, limit_text: str = "") -> str:
    """The words of a refusal of ``size`` bytes over a ``limit``: ``is 100.0 MiB
    (104,857,600 bytes); the limit is 64 MiB`` (``limit_text``: the limit in other
    words, e.g. with what it bounds)."""
    shown, limit_shown = beyond(size, limit)
    return f"is {shown}; the limit is {limit_text or limit_shown}"
