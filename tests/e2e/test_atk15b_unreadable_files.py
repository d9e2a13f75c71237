"""atk15b: files and folders the service's user may not read, as fix15 checks them.

- ``issuer.document_templates_dir`` (services/issuer/document.py
  ``load_templates``): the folder is checked with ``is_dir()`` and then listed with
  ``Path.glob``, which swallows the PermissionError of a folder that cannot be
  listed: no template at all, no error, every licence file in the default layout
  (what fix15's check of the folder is there to prevent).
- ``issuer.rare_font_file`` (``Fonts.bundled``) and ``console.rare_font_file``: the
  font is looked for with ``os.path.lexists``, which is False when the folder that
  holds it cannot be entered: a font that is there is told as "missing (make fonts
  installs Debian's fonts-hanazono)", licence files are turned off with a warning
  and the issuer starts, instead of exit 2 naming the setting.

The service runs as another user than the files' owner (a container's uid, a
secret mounted 0700). These tests run as root, whom permissions do not stop, so the
check runs in a child process that has become ``nobody``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from certseal.errors import CertsealError
from services.issuer.document import Fonts, load_templates

RARE_FONT = Path("/usr/share/fonts/truetype/hanazono/HanaMinB.ttf")
NOBODY = 65534


def as_another_user(call: Callable[[], str]) -> str:
    """What ``call()`` says when run by a user who owns none of the files: a child
    that becomes ``nobody`` when this process is root (else this process)."""
    if os.geteuid() != 0:
        return call()
    reading, writing = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never back into pytest
        os.close(reading)
        said = "child failed"
        try:
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            said = call()
        except BaseException as exc:  # told to the parent
            said = f"{type(exc).__name__}: {exc}"
        finally:
            os.write(writing, said.encode())
            os._exit(0)
    os.close(writing)
    os.waitpid(pid, 0)
    with os.fdopen(reading, "rb") as out:
        return out.read().decode()


@pytest.fixture
def shared_tmp() -> Iterator[Path]:
    """A folder another user may enter (pytest's tmp_path is the owner's alone)."""
    folder = Path(tempfile.mkdtemp(prefix="atk15b-"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        for path in folder.rglob("*"):
            if path.is_dir():
                path.chmod(0o755)
        shutil.rmtree(folder)


def said(call: Callable[[], object]) -> Callable[[], str]:
    """``call`` as what it says: its result, or the error and the field."""

    def run() -> str:
        try:
            return f"taken: {call()!r}"
        except CertsealError as exc:
            return f"refused: {exc.field}: {exc}"

    return run


def test_a_templates_folder_that_cannot_be_listed_names_its_setting(shared_tmp):
    folder = shared_tmp / "templates"
    folder.mkdir()
    (folder / "BL.toml").write_text('title = "营业执照"\n')
    folder.chmod(0o311)  # entered, not listed: another user's folder
    outcome = as_another_user(said(lambda: load_templates(folder)))
    assert outcome.startswith("refused: issuer.document_templates_dir: "), outcome


@pytest.mark.skipif(not RARE_FONT.is_file(), reason="make fonts: fonts-hanazono")
def test_a_rare_font_the_service_cannot_read_names_its_setting(shared_tmp):
    folder = shared_tmp / "fonts"
    folder.mkdir()
    shutil.copy(RARE_FONT, folder / RARE_FONT.name)
    folder.chmod(0o700)  # the owner's alone

    def bundled() -> str:
        try:
            return said(lambda: Fonts.bundled(folder / RARE_FONT.name))()
        except FileNotFoundError as exc:  # the issuer: "licence files are off"
            return f"missing: {exc}"

    outcome = as_another_user(bundled)
    assert outcome.startswith("refused: issuer.rare_font_file: "), outcome
