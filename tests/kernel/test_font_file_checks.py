"""A font file the configuration names is checked once per process while it is
unchanged (certseal/fontfiles.py): the tests start many services in one process, and
each read the same 30 MiB font again. A file changed since is checked again."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from certseal import fontfiles
from certseal.errors import CertsealError, ErrorKind

FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")


@pytest.fixture
def font(tmp_path: Path) -> Path:
    if not FONT.is_file():
        pytest.fail(f"{FONT} is missing: Debian's fonts-dejavu-core")
    return Path(shutil.copy(FONT, tmp_path / "font.ttf"))


def test_an_unchanged_font_file_is_read_once(font, monkeypatch):
    reads: list[Path] = []
    mapped = fontfiles._mapped
    monkeypatch.setattr(
        fontfiles, "_mapped", lambda p, f: reads.append(p) or mapped(p, f)
    )
    first = fontfiles.check_font_file(font, "console.rare_font_file")
    again = fontfiles.check_font_file(font, "console.rare_font_file")
    assert (ord("A") in first, again == first, reads) == (True, True, [font])


def test_a_font_file_changed_since_is_checked_again(font):
    assert ord("A") in fontfiles.check_font_file(font, "issuer.rare_font_file")
    font.write_bytes(b"<html>not found</html>")
    with pytest.raises(CertsealError) as refused:
        fontfiles.check_font_file(font, "issuer.rare_font_file")
    assert (refused.value.kind, refused.value.field) == (
        ErrorKind.INVALID_ARGUMENT,
        "issuer.rare_font_file",
    )
    assert "is no TrueType or OpenType font" in refused.value.message


def test_a_font_file_removed_since_is_refused(font):
    fontfiles.check_font_file(font, "issuer.rare_font_file")
    font.unlink()
    with pytest.raises(CertsealError) as refused:
        fontfiles.check_font_file(font, "issuer.rare_font_file")
    assert (refused.value.kind, refused.value.field) == (
        ErrorKind.INVALID_ARGUMENT,
        "issuer.rare_font_file",
    )
