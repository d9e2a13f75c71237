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
from certseal.files import read_regular_file

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
    key: tuple[object, ...] | None = None  # none: said below, as the read finds it
    with contextlib.suppress(OSError, ValueError):
        status = os.stat(path)
        key = (os.fspath(path), status.st_dev, status.st_ino, status.st_size)
        key += (status.st_mtime_ns, status.st_ctime_ns)
    if key is not None and key in _CHECKED:
        return _CHECKED[key]
    points = _mapped(path, field)
    if key is not None and len(_CHECKED) < 64:
        _CHECKED[key] = points
    return points


def _mapped(path: str | Path, field: str) -> frozenset[int]:
    from fontTools import ttLib  # a large import: only where a font is named

    data = read_regular_file(
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
    return frozenset(cmap)
