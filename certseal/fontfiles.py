"""Font files the configuration names (``issuer.rare_font_file``,
``console.rare_font_file``), read and checked at start.

Only the file's existence was checked: a file that is no font (a placeholder, a
truncated download, an HTML error page saved under the font's name) started the
service, and then every licence file's render failed in the worker pool (fontTools'
``Not a TrueType or OpenType font``) or every browser got garbage. Here the file is
read within :data:`MAX_FONT_BYTES` and opened with fontTools, the library the
licence-file renderer subsets fonts with, as the renderer opens it (its glyph order
and its character map); a file that does not open is a wrong setting.
"""

from __future__ import annotations

import contextlib
import io
import os
from pathlib import Path

from certseal.errors import invalid
from certseal.files import read_regular_file_status

MAX_FONT_BYTES = 256 * 1024 * 1024
"""The largest font file read: HanaMinB, the largest font in use, is 30 MiB."""


#: what a font file checked in this process mapped, by the file's identity
_CHECKED: dict[tuple[object, ...], frozenset[int]] = {}


def check_font_file(path: str | Path, field: str) -> frozenset[int]:
    """The code points the TrueType or OpenType font at ``path`` maps.

    Raises CertsealError(INVALID_ARGUMENT, ``field``) when the file cannot be read,
    is not a regular file or is larger than :data:`MAX_FONT_BYTES`, is no font
    fontTools opens, or maps no character. A file this process checked before and
    unchanged since (the same device, inode, size, modification and change times)
    is not read again: a process starting several services (the tests) read the
    same 30 MiB font for each, about 0.3 s of CPU a time."""
    with contextlib.suppress(OSError, ValueError):  # not found: said by the read
        checked = _CHECKED.get(_identity(path, os.stat(path)))
        if checked is not None:
            return checked
    # filed under the file read (its descriptor's status), not the one the stat
    # above saw: a link switched between the two does not stand for the other
    # (atk47 F3)
    points, status = _mapped(path, field)
    if len(_CHECKED) < 64:
        _CHECKED[_identity(path, status)] = points
    return points


def _identity(path: str | Path, status: os.stat_result) -> tuple[object, ...]:
    """Which file ``path`` led to, and as it was: ``status`` from a stat or the
    descriptor read."""
    file = (status.st_dev, status.st_ino, status.st_size)
    return (os.fspath(path), *file, status.st_mtime_ns, status.st_ctime_ns)


def _mapped(path: str | Path, field: str) -> tuple[frozenset[int], os.stat_result]:
    from fontTools import ttLib  # a large import: only where a font is named

    data, status = read_regular_file_status(
        path, field, MAX_FONT_BYTES, limit_text=f"{MAX_FONT_BYTES >> 20} MiB"
    )
    try:
        font = ttLib.TTFont(io.BytesIO(data), lazy=True)
        font.getGlyphOrder()
        cmap = font.getBestCmap()
    except Exception:  # fontTools raises TTLibError, struct.error, AssertionError...
        raise invalid(
            field, f"{path} is no TrueType or OpenType font (fontTools cannot read it)"
        ) from None
    if not cmap:
        raise invalid(field, f"{path} is a font that maps no character")
    return frozenset(cmap), status
