"""Which characters a PDF draws with a real glyph of an embedded font (no tofu)."""

from __future__ import annotations

import io
import re

from fontTools.cffLib import CFFFontSet
from fontTools.ttLib import TTFont
from pyhanko.pdf_utils.reader import PdfFileReader


def _to_unicode(font) -> dict[int, str]:
    """PDF code -> text, from a font's ToUnicode CMap (bfchar entries)."""
    text = font["/ToUnicode"].get_object().data.decode("latin-1")
    return {
        int(code, 16): bytes.fromhex(uni).decode("utf-16-be")
        for code, uni in re.findall(r"<([0-9A-Fa-f]{4})>\s*<([0-9A-Fa-f]+)>", text)
    }


def drawn_characters(pdf: bytes) -> dict[str, str]:
    """Each character the first page draws -> the embedded font that draws it with a
    real outline (TrueType: a glyph with contours; CFF: a charstring), so a missing
    glyph (tofu, .notdef) is absent from the answer."""
    reader = PdfFileReader(io.BytesIO(pdf), strict=False)
    page = reader.root["/Pages"]["/Kids"][0].get_object()
    drawn: dict[str, str] = {}
    for ref in page["/Resources"]["/Font"].values():
        font = ref.get_object()
        descendant = font["/DescendantFonts"][0].get_object()
        descriptor = descendant["/FontDescriptor"]
        name = str(font["/BaseFont"])
        for code, char in _to_unicode(font).items():
            if "/FontFile2" in descriptor:
                tt = TTFont(io.BytesIO(descriptor["/FontFile2"].get_object().data))
                cid_map = descendant["/CIDToGIDMap"].get_object().data
                gid = int.from_bytes(cid_map[2 * code : 2 * code + 2], "big")
                glyph = tt["glyf"][tt.getGlyphOrder()[gid]]
                if gid and glyph.numberOfContours:
                    drawn[char] = name
            elif "/FontFile3" in descriptor:
                cff = CFFFontSet()
                data = descriptor["/FontFile3"].get_object().data
                cff.decompile(io.BytesIO(data), None)
                top = cff.topDictIndex[0]
                if 0 < code < len(top.charset):
                    program = top.CharStrings[top.charset[code]]
                    program.decompile()
                    if len(program.program) > 1:
                        drawn[char] = name
    return drawn
