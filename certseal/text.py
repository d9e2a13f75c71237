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

Display names (a department's, a licence type's, a field's title, a seal's) are held
to more, by :func:`display_name_problem` / :func:`check_display_name`: no format or
separator character at all (Unicode general categories Cc, Cf, Zl, Zp, and Cs, Co:
the zero-width space U+200B, the marks U+200E/U+200F/U+061C, U+FEFF, U+2028 ...), no
combining mark (general category Mn, Mc or Me: the enclosing U+20DD is one, though of
combining class 0) without a base or past four on one, and not blank-looking (only
white space and invisible fillers such as U+3164).
Unicode Standard Annex #44 (general categories); UTS #39 (confusable and invisible
characters).

A name a user gave (a file's path) is shown in a message by :func:`shown_name`:
as it is, or, when it holds a character that does not print (a line feed, an
escape sequence, a direction override), quoted with that character escaped, so a
name never forges a second ``error:`` line nor drives the user's terminal.
:func:`one_line` does the same to a whole message before it is printed.

Pure: no I/O.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Iterable
from pathlib import PurePath

from certseal.errors import invalid, printable

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


def unfit_character_problem(value: str, *, multiline: bool = False) -> str | None:
    """What :func:`unfit_character` finds in ``value``, said as a display name's
    problem is (:func:`display_name_problem`): "contains U+202E RIGHT-TO-LEFT
    OVERRIDE, a format character, at position 1" (counted from 1), or None."""
    bad = unfit_character(value, multiline=multiline)
    if bad is None:
        return None
    kind = _NOT_IN_NAMES.get(unicodedata.category(bad), "control or formatting")
    return character_at(bad, value.index(bad) + 1, kind)


def character_at(char: str, position: int, kind: str) -> str:
    """ "contains U+XXXX NAME, a <kind> character, at position N"."""
    name = unicodedata.name(char, "")
    named = f"U+{ord(char):04X}" + (f" {name}" if name else "")
    return f"contains {named}, {with_article(kind)} character, at position {position}"


# Cc control, Cf format (zero-width, direction marks, BOM, soft hyphen ...), Zl line
# separator, Zp paragraph separator, Cs surrogate, Co private use
_NOT_IN_NAMES = {"Cc": "control", "Cf": "format", "Zl": "line separator",
                 "Zp": "paragraph separator", "Cs": "surrogate", "Co": "private use",
                 "Cn": "unassigned"}  # fmt: skip
# default-ignorable code points outside Cf (Unicode DerivedCoreProperties): they render
# as nothing, so "A\u034fB" would pass for "AB"
_IGNORABLE = re.compile(
    "[\u034f\u115f\u1160\u17b4\u17b5\u180b-\u180f\u3164\ufe00-\ufe0f\uffa0"
    "\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0000-\U000e0fff]"
)
#: the most combining marks one character may carry in a display name
MAX_COMBINING_MARKS = 4
#: the general categories of combining marks: nonspacing, spacing and enclosing
_MARKS = frozenset({"Mn", "Mc", "Me"})
# letters that render as nothing (Hangul fillers, the braille blank): a name of only
# these and white space looks blank
_INVISIBLE_LETTERS = frozenset("\u115f\u1160\u3164\uffa0\u2800")


def display_name_problem(value: str) -> str | None:
    """What makes ``value`` unfit as a display name, or None: its first control,
    format or separator character (named with its position, counted from 1), or that
    it is blank-looking (empty, white space and invisible fillers only). A combining
    mark (general category Mn, Mc or Me, whatever its combining class) needs a base
    before it, and one base carries at most :data:`MAX_COMBINING_MARKS`."""
    marks = 0
    for position, char in enumerate(value, start=1):
        kind = _NOT_IN_NAMES.get(unicodedata.category(char))
        if kind is None and _IGNORABLE.match(char):
            kind = "default-ignorable (invisible)"
        # every combining mark by its general category (Mn, Mc, Me), not by its
        # combining class: the enclosing marks U+20DD/U+20DE are of class 0 and
        # would otherwise stand first, or any number after one base (atk43holder)
        marks = marks + 1 if unicodedata.category(char) in _MARKS else 0
        if kind is None and (marks > MAX_COMBINING_MARKS or marks == position):
            kind = "combining mark without a base, or one of too many"
        if kind is not None:
            return character_at(char, position, kind)
    if all(c.isspace() or c in _INVISIBLE_LETTERS for c in value):
        return "is blank: a name needs a visible character"
    return None


def check_display_name(value: str, field: str) -> str:
    """``value`` unchanged when it is fit as a display name (see
    :func:`display_name_problem`), else INVALID_ARGUMENT naming ``field``."""
    problem = display_name_problem(value)
    if problem is not None:
        raise invalid(field, problem)
    return value


# letters whose names begin with a vowel sound: "an SM2 key", "an RSA key"
_VOWEL_SOUND_LETTERS = frozenset("aefhilmnorsx")
# words spelt with a vowel that begin with a consonant sound: "a unique-local address"
_CONSONANT_SOUND_STARTS = ("uni", "use", "usu", "uti", "eu", "one", "once")


def with_article(word: str) -> str:
    """``word`` after its indefinite article: "a string", "an integer", "an sm2" (a
    name with digits or capitals inside, read letter by letter), "a unique-local".
    Every message that puts a variable word after "a" builds it here."""
    if not word:
        return word
    spelt = any(c.isdigit() for c in word) or word[:2].isupper()
    if spelt:
        vowel_sound = word[0].lower() in _VOWEL_SOUND_LETTERS
    else:
        lower = word.lower()
        vowel_sound = lower[0] in "aeiou" and not lower.startswith(
            _CONSONANT_SOUND_STARTS
        )
    return f"{'an' if vowel_sound else 'a'} {word}"


def shown_name(name: str | PurePath) -> str:
    """``name`` (a path a user gave) as a message shows it: as it is when every
    character of it prints; else quoted, each character that does not print
    escaped (``'x\\nerror: …'``, ``'x\\x1b[2J'``: Python's ``repr``, as
    ``cannot read 'NAME'`` shows a name), so one message stays one line and sends
    the terminal no control sequence."""
    text = str(name)
    return text if text.isprintable() else repr(text)


def one_line(message: str) -> str:
    """``message`` with every character that does not print escaped
    (:func:`certseal.errors.printable`): what a CLI prints after ``error:``, whatever
    text of outside it quotes."""
    return printable(message)


def nearest_of_kind(identity: str, names: Iterable[str]) -> str | None:
    """The one of ``names`` nearest ``identity`` (``kind:name``, e.g.
    ``integrator:acmee``) among those of its kind, compared after the kind, which
    they all share (with it, ``integrator:zzz`` was near ``integrator:acme``); None
    when none is near enough to be a typo (difflib's ratio below 0.75)."""
    kind, _, rest = identity.partition(":")
    of_kind = {n.partition(":")[2]: n for n in names if n.partition(":")[0] == kind}
    near = difflib.get_close_matches(rest, list(of_kind), n=1, cutoff=0.75)
    return of_kind[near[0]] if near else None


def did_you_mean(word: str, names: Iterable[str], cutoff: float = 0.75) -> str:
    """``"did you mean NAME? "`` for the one of ``names`` nearest ``word`` (difflib's
    ratio at least ``cutoff``: a typo, not another word), else ``""``: what a
    refusal of a mistyped name says before the names it knows."""
    near = difflib.get_close_matches(word, list(names), n=1, cutoff=cutoff)
    return f"did you mean {near[0]}? " if near else ""
