"""atk47: the per-process cache of font files checked (certseal/fontfiles.py, commit
b45c25b) against files that are no longer what was checked."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from certseal import fontfiles
from certseal.errors import CertsealError

FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
FIELD = "issuer.rare_font_file"


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A link (the setting's path) to a file that is no font; a font beside it."""
    if not FONT.is_file():
        pytest.fail(f"{FONT} is missing: Debian's fonts-dejavu-core")
    junk = tmp_path / "junk.ttf"
    junk.write_bytes(b"<html>not found</html>")
    font = Path(shutil.copy(FONT, tmp_path / "font.ttf"))
    link = tmp_path / "rare.ttf"
    link.symlink_to(junk)
    return link, junk, font


def _retarget(link: Path, target: Path) -> None:
    """As a deployment switches a link: a new link renamed over the old one (the
    files linked to are left as they are: their change times too)."""
    new = link.with_name(link.name + ".new")
    new.symlink_to(target)
    os.replace(new, link)


def test_a_file_swapped_in_as_it_was_checked_does_not_stand_for_the_file_stat_saw(
    files, monkeypatch
):
    """The cache's key is the status of the path before the read, its value what
    the read found: a link switched between the two (a release's link switched
    while the service starts; the read of a 30 MiB font takes 0.3 s) filed the font
    read under the identity of the file that is no font. Switched back (a
    rollback), that file then passed as the font without being read. The key must
    be the identity of the file read (the descriptor's status)."""
    link, junk, font = files
    opened = os.open

    def switched_as_it_is_opened(path, *args, **kwargs):
        if os.fspath(path) != str(link):
            return opened(path, *args, **kwargs)
        _retarget(link, font)
        try:
            return opened(path, *args, **kwargs)
        finally:
            _retarget(link, junk)

    monkeypatch.setattr(os, "open", switched_as_it_is_opened)
    assert ord("A") in fontfiles.check_font_file(link, FIELD)  # font.ttf, read
    monkeypatch.setattr(os, "open", opened)
    with pytest.raises(CertsealError) as refused:
        fontfiles.check_font_file(link, FIELD)  # the link leads to junk.ttf
    assert "is no TrueType or OpenType font" in refused.value.message


def test_a_link_switched_to_another_file_is_checked_again(files):
    link, junk, font = files
    _retarget(link, font)
    assert ord("A") in fontfiles.check_font_file(link, FIELD)
    _retarget(link, junk)
    with pytest.raises(CertsealError):
        fontfiles.check_font_file(link, FIELD)


def test_a_font_replaced_by_a_folder_or_a_fifo_is_refused(files):
    _, _, font = files
    assert ord("A") in fontfiles.check_font_file(font, FIELD)
    font.unlink()
    os.mkfifo(font)
    with pytest.raises(CertsealError) as refused:
        fontfiles.check_font_file(font, FIELD)
    assert "not a regular file" in refused.value.message
    font.unlink()
    font.mkdir()
    with pytest.raises(CertsealError) as refused:
        fontfiles.check_font_file(font, FIELD)
    assert "not a regular file" in refused.value.message
