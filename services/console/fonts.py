"""The fonts the console's pages load: Noto Sans SC from its wheel, and the fallback
for Han characters outside the BMP (生僻字 in holder names), the same fonts the
licence files embed."""

from __future__ import annotations

import logging
from importlib import resources
from pathlib import Path

from aiohttp import web
from aiohttp.typedefs import Handler

log = logging.getLogger(__name__)


async def noto_sans_sc(request: web.Request) -> web.StreamResponse:
    """Chinese text renders on any terminal: the font ships with a Python package."""
    font = resources.files("pylopdf_fonts_zh_cn") / "NotoSansSC-Regular.otf"
    response = web.FileResponse(Path(str(font)))
    response.headers["Cache-Control"] = "public, max-age=604800, immutable"
    return response


def rare_font(path: str) -> Handler:
    """The fallback font for Han characters outside the Basic Multilingual Plane (CJK
    Extensions B to F, U+20000 to U+2EBEF: rare characters in names, such as 𠈌),
    which the bundled Noto Sans SC lacks: Debian's fonts-hanazono (HanaMinB), read
    from ``path``. The page asks for it only when such a character is on it (the
    ``unicode-range`` of its @font-face). 404 (and a warning at start) when it is not
    installed."""
    installed = Path(path).is_file()
    if not installed:
        log.warning(
            "console: %s is missing: holder names with characters outside the BMP "
            "(e.g. 𠈌) show as boxes; install fonts-hanazono",
            path,
        )

    async def serve(request: web.Request) -> web.StreamResponse:
        if not installed:
            return web.json_response(
                {
                    "error": "no font for characters outside the BMP here: install "
                    "fonts-hanazono",
                    "field": "path",
                },
                status=404,
            )
        response = web.FileResponse(Path(path))
        response.headers["Cache-Control"] = "public, max-age=604800, immutable"
        return response

    return serve
