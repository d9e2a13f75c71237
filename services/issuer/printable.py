"""Whether the licence files' fonts can draw a text: what the platform prints on a
sealed document is drawn whole or not at all (atk41h).

The licence file and the annotated copy (:mod:`services.issuer.document`) draw with
two bundled fonts, Noto Sans SC and, for the rare Han characters it lacks, HanaMinB.
fpdf2 leaves out a character neither maps (only a log line says so), so a sealed copy
once named another department than the one authorised ("深圳市\\uf90a融监督管理局",
the compatibility ideograph U+F90A that looks like 金, drawn "深圳市融监督管理局") and
quoted a Uyghur purpose as "用途：「 」". Text the platform prints is therefore held
to the fonts' character maps twice:

- where it is taken (:func:`check_printable`, INVALID_ARGUMENT naming the field and
  the character): a department's name at onboarding, a licence type's name and its
  fields' titles at registration, the holder's purpose when it authorises a use;
- before anything is rendered (:func:`content_problem`, which the renderer turns into
  FAILED_PRECONDITION naming the field, nothing sealed): whatever a file draws,
  licence field values and the holder's name included, which are taken without this
  check (a licence records what its issuer certifies).

Where licence files are off (no rare-character font configured) nothing is drawn and
nothing is checked where it is taken; the renderer checks once files are on.

A refusal names the field, the character (code point and name) and its position, and
whether the text's NFC form could be drawn, never the text: a copy's refusal reaches
the redeeming department and the audit log, and the values it draws are the holder's
(atk43holder F6: it quoted an address whole, in NFC, to both).

Only the fonts' character maps are read (``cmap``), once per process and font.
"""

from __future__ import annotations

import asyncio
import unicodedata
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from fontTools import ttLib

from certseal.errors import CertsealError, invalid, precondition

if TYPE_CHECKING:
    from services.issuer.document import DocumentTemplate, LicenceDocumentContent

#: what a file may hold that no glyph draws: line breaks (a template's note) and tab
UNDRAWN_CONTROLS = frozenset(map(ord, "\t\n\r"))


class FontPaths(Protocol):
    """The fonts a file is drawn with (:class:`services.issuer.document.Fonts`)."""

    @property
    def main(self) -> Path: ...

    @property
    def rare(self) -> Path: ...


@lru_cache(maxsize=4)
def _mapped(path: Path) -> frozenset[int]:
    font = ttLib.TTFont(path, lazy=True)
    try:
        return frozenset(font.getBestCmap() or {})
    finally:
        font.close()


def drawable_points(fonts: FontPaths) -> frozenset[int]:
    """The code points the files' fonts draw (either font), cached per process."""
    return _drawable(fonts.main, fonts.rare)


@lru_cache(maxsize=4)
def _drawable(main: Path, rare: Path) -> frozenset[int]:
    return _mapped(main) | _mapped(rare) | UNDRAWN_CONTROLS


def undrawn_problem(value: str, points: Iterable[int] | frozenset[int]) -> str | None:
    """What of ``value`` the fonts (``points``, :func:`drawable_points`) cannot draw:
    its first such character, named by its code point and name with its position
    (from 1) and, when the NFC form of ``value`` is drawable (a compatibility
    ideograph, a letter written with a combining mark), that normalising it (NFC)
    would do; or None. Never ``value`` nor any part of it but that one character:
    the words reach whoever is refused (a department redeeming a copy of a holder's
    licence, whose field values and name are the holder's) and the audit log
    (atk43holder F6)."""
    drawn = points if isinstance(points, frozenset) else frozenset(points)
    for position, char in enumerate(value, start=1):
        if ord(char) in drawn:
            continue
        name = unicodedata.name(char, "")
        named = f"U+{ord(char):04X}" + (f" {name}" if name else "")
        said = (
            f"contains {named} at position {position}, which the fonts of the "
            "platform's sealed licence files cannot draw"
        )
        composed = unicodedata.normalize("NFC", value)
        if composed != value and all(ord(c) in drawn for c in composed):
            said += " (written in its canonical form, Unicode NFC, it can be drawn)"
        return said
    return None


async def check_printable(value: str, field: str, fonts: FontPaths | None) -> str:
    """``value`` unchanged when ``fonts`` draw every character of it (or licence
    files are off: ``fonts`` None); INVALID_ARGUMENT naming ``field`` and the
    character otherwise (:func:`undrawn_problem`). The fonts' maps are read in a
    thread the first time (about a second), not on the event loop."""
    if fonts is not None:
        points = await asyncio.to_thread(drawable_points, fonts)
        if (problem := undrawn_problem(value, points)) is not None:
            raise invalid(field, problem)
    return value


def drawn_parts(
    content: LicenceDocumentContent, template: DocumentTemplate
) -> list[tuple[str, str]]:
    """What a file of ``content`` laid out by ``template`` draws, as (field, text)
    pairs: the field a refusal names and the text drawn; what the licence holds (the
    holder's name, a field's value) named as the licence's, ``licence.holder.name``,
    ``licence.fields.<name>`` (a field's title is the type's: ``fields.<name>.title``)."""
    parts = [
        ("template.title", template.title),
        ("template.note", template.note),
        ("licence.holder.name", content.holder_name),
        ("issuer_name", content.issuer_name),
        ("identifier", content.identifier),
    ]
    drawn = set(template.field_order or (name for name, _, _ in content.fields))
    for name, title, value in content.fields:  # those the template lays out (atk45 F9)
        if name in drawn:
            parts += [
                (f"fields.{name}.title", title),
                (f"licence.fields.{name}", value),
            ]
    if content.annotation is not None:
        parts += [
            ("department_name", content.annotation.department),
            ("purpose", content.annotation.purpose),
        ]
    return parts


#: the ``reason`` of :func:`content_problem`'s refusal (a redemption refused for it is
#: an entry of the holder's usage record: services/issuer/usage.py ``REFUSALS``)
NOT_DRAWABLE = "not_drawable"


def content_problem(
    content: LicenceDocumentContent, template: DocumentTemplate, fonts: FontPaths
) -> CertsealError | None:
    """FAILED_PRECONDITION naming the first field of what a file of ``content``
    draws (:func:`drawn_parts`) that ``fonts`` cannot draw whole, or None: a file
    that cannot be drawn whole is not sealed. Reason :data:`NOT_DRAWABLE` when it is
    the licence's (``licence.holder.name``, ``licence.fields.address``: what the
    licence holds, no option of the command that asked, trial45); none when it is
    the platform's (a template, a type's title, a department's name: the licence is
    not at fault, atk45 F6)."""
    points = drawable_points(fonts)
    for field, text in drawn_parts(content, template):
        problem = undrawn_problem(text, points)
        if problem is not None:
            return precondition(
                f"{problem}: the file is not drawn nor sealed without it",
                field=field,
                reason=NOT_DRAWABLE if field.startswith("licence.") else None,
            )
    return None
