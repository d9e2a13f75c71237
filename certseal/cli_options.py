"""How the ``certseal`` commands read their options: argparse ``type`` functions for
values that need more than ``int`` or ``str`` (a licence status, in the words the
commands also print it with; a whole number that fits its protobuf field; a time
with its UTC offset), and the action of an option naming a file the command writes (:class:`OutputFile`, checked before the
command runs, written by :func:`write_output`).

Each refuses as argparse's own (``ArgumentTypeError``, ``ArgumentError``), which the
command's parser (:class:`certseal.cli_parser.Parser`) prints as ``error: <option>:
<problem>`` with exit status 2 before the command runs. Split from :mod:`certseal.cli` by size.
"""

from __future__ import annotations

import argparse
import datetime as dt
import difflib
import os
import re
import secrets
import stat
import unicodedata
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from certseal.bounds import MAX_DOCUMENT_FILE_BYTES
from certseal.cli_actions import StoreOnce
from certseal.errors import CertsealError, invalid
from certseal.filekinds import OUTPUT_KINDS, called, named_kind
from certseal.files import replace_from
from certseal.statuses import STATUS_NAMES, STATUS_NAMES_ZH, status_label
from certseal.text import one_line, shown_name

#: a licence status as every command prints it (:func:`certseal.statuses.status_label`:
#: words, then the national code in brackets), by the API's number
STATUS_WORDS = {int(code): status_label(code) for code in STATUS_NAMES}


def say(line: str, *, flush: bool = False) -> None:
    """Print one line of a command's report. What a report quotes may come from
    documents, seals, certificates and codes made elsewhere (a file name in an OFD
    package, a PDF field's name, a certificate's subject), so every character that
    does not print is escaped (:func:`certseal.text.one_line`): a name cannot add a
    line such as ``verdict VALID`` to the report, or drive the terminal (reatk R-B3)."""
    print(one_line(line), flush=flush)


def status_shown(licence: Any) -> str:
    """A licence's (proto ``Licence``) status as ``licence get`` and ``list`` print
    it: its words (:func:`certseal.statuses.status_label`), or for a superseded
    version first that it is superseded and by which identifier, then the status it
    keeps (a renewed version is never revoked: it stays ``valid (01)``, which a clerk
    read as current)."""
    own = status_label(licence.status)
    if licence.superseded_by:
        return (
            f"SUPERSEDED by {licence.superseded_by}: not the current version "
            f"(its own status: {own})"
        )
    return own


#: a status as a person types it: its words (a ``_`` or ``-`` between two may stand
#: for the space) or Chinese name, its code (``07``, ``7``, ``(07)``), or both
_TYPED_STATUS = re.compile(
    r"(?P<words>[a-z]+(?:[\s_-]+[a-z]+)*|[\u4e00-\u9fff]+)?\s*"
    r"(?:(?P<code>[0-9]+)|\((?P<paren>[0-9]+)\))?"
)


def licence_status(text: str) -> int:
    """An argparse ``type``: a licence status as the commands print it
    (:data:`STATUS_WORDS`), read back to its national code (``Suspended`` -> 2).
    Taken: the words in any case, with or without their article (``revoked as a
    sanction``, ``REVOKED_AS_SANCTION``, ``transferred-out``) or the Chinese name
    (``吊销``), the code (``2``, ``02``, ``(02)``, full-width ``０７``), or both
    (``suspended (02)``, ``吊销 07``) when they name one status. Anything else is
    ``error: <option>: <problem>`` with exit status 2 from the parser, listing what
    it takes."""
    typed = _TYPED_STATUS.fullmatch(unicodedata.normalize("NFKC", text).strip().lower())
    if typed and (typed["words"] or typed["code"] or typed["paren"]):
        words = typed["words"] or ""
        number = typed["code"] or typed["paren"]
        for code, name in STATUS_NAMES.items():
            said = (_bare_words(name), STATUS_NAMES_ZH[code])
            if (not words or _bare_words(words) in said) and (
                not number or number.lstrip("0") == code.lstrip("0")
            ):
                return int(code)
    raise argparse.ArgumentTypeError(
        f"{text!r} is not a licence status; give it as the commands print it, "
        f"its words (in any case), its code or both: {', '.join(STATUS_WORDS.values())}"
    )


def _bare_words(words: str) -> str:
    """A status's words as compared: single spaces for any run of spaces, ``_`` or
    ``-``, and the one article of ``revoked as a sanction`` optional
    (``REVOKED_AS_SANCTION``, the enum's name for it). Only that article: ``a``
    alone, or elsewhere, names no status."""
    return " ".join(re.split(r"[\s_-]+", words)).replace(" as a ", " as ")


#: the largest value a protobuf ``uint32`` field holds
UINT32_MAX = 2**32 - 1


def whole_number(
    maximum: int = UINT32_MAX, minimum: int = 0, unit: str = ""
) -> Callable[[str], int]:
    """An argparse ``type``: digits (ASCII, or full-width read by NFKC) making
    ``minimum`` to ``maximum`` (by
    default 0 to what a protobuf ``uint32`` field holds; give the option's own
    range, so that every value outside it gets the one message, in ``unit``).
    Anything else is ``error: <option>: <problem>``
    with exit status 2 from the parser, never a ValueError out of a request's
    constructor (``Value out of range``) after the command has started."""

    # more digits than the widest bound has is out of range before int() reads it:
    # a text of over 4,300 digits is a ValueError there (sys.get_int_max_str_digits)
    widest = max(len(str(maximum)), len(str(abs(minimum))))

    def parse(text: str) -> int:
        # full-width digits read as theirs (NFKC), as a status's code is (trial41:
        # --days ９ was "not a whole number")
        typed = unicodedata.normalize("NFKC", text).strip()
        if not re.fullmatch(r"-?[0-9]+", typed):
            raise argparse.ArgumentTypeError(f"{_shown(text)} is not a whole number")
        digits = typed.lstrip("-").lstrip("0") or "0"
        if len(digits) > widest:
            raise argparse.ArgumentTypeError(
                f"{_shown(typed)} is outside {minimum:,} to {maximum:,}{unit}"
            )
        value = -int(digits) if typed.startswith("-") else int(digits)
        if not minimum <= value <= maximum:
            raise argparse.ArgumentTypeError(
                f"{value} is outside {minimum:,} to {maximum:,}{unit}"
            )
        return value

    return parse


def checked(check: Callable[[str, str], object]) -> Callable[[str], str]:
    """An argparse ``type`` from a check of the services (``check(text, field)``
    raising INVALID_ARGUMENT, as :func:`certseal.identifiers.validate_type_code`):
    the same words from the parser, ``error: <option>: <problem>`` with exit 2,
    before any call."""

    def parse(text: str) -> str:
        try:
            check(text, "")
        except CertsealError as exc:
            raise argparse.ArgumentTypeError(exc.message) from None
        return text

    return parse


def _shown(text: str, most: int = 40) -> str:
    """``text`` quoted as a refusal shows it: its first ``most`` characters and the
    count of the rest, not thousands of them."""
    if len(text) <= most:
        return repr(text)
    return f"{text[:most]!r}… ({len(text):,} characters)"


def aware_time(text: str) -> dt.datetime:
    """An argparse ``type``: an ISO 8601 time with its UTC offset
    (``2026-12-02T10:00:00+08:00``, ``…Z``), as given. A time without an offset is
    refused, never taken as UTC (protobuf and PostgreSQL would): for an operator in
    Beijing that is eight hours off, and a revoked key's signatures of those eight
    hours would stay trusted (atk16b F5). Refused too: a text that is no ISO 8601
    time, and one whose moment in UTC falls outside the years 1 to 9999
    (``0001-01-01T00:00+08:00``), which could not be sent, and an offset with
    seconds (``+05:30:15``: ISO 8601 writes hours and minutes). Each is ``error:
    <option>: <problem>`` with exit status 2 from the parser."""
    try:
        when = dt.datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO 8601 time{_why_not(exc)} "
            "(e.g. 2026-12-02T10:00:00+08:00 or 2026-12-02T02:00:00Z)"
        ) from None
    offset = when.utcoffset()
    if offset is None:
        raise argparse.ArgumentTypeError(
            f"{text!r} has no UTC offset: add one (Z, +08:00)"
        )
    if offset % dt.timedelta(minutes=1):  # Python reads +05:30:15; ISO 8601 does not
        raise argparse.ArgumentTypeError(
            f"{text!r} has a UTC offset with seconds: give hours and minutes "
            "(+05:30), as ISO 8601 does"
        )
    try:
        when.astimezone(dt.UTC)
    except OverflowError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is outside the years 1 to 9999 in UTC"
        ) from None
    return when


def _why_not(exc: ValueError) -> str:
    """What is wrong with a time of the right shape (``2026-02-30``: ``: day is out
    of range for month``), "" for a text of another shape."""
    said = str(exc)
    if said.startswith("Invalid isoformat"):
        return ""
    if said.startswith("offset"):
        return ": its UTC offset must be less than 24 hours"
    return f": {said}"


def chosen_parser(
    parser: argparse.ArgumentParser,
    argv: Sequence[str],
    parsed: argparse.Namespace | None = None,
) -> argparse.ArgumentParser:
    """The (sub)command parser ``argv`` names: ``certseal seal pdf ...`` -> the parser
    of ``seal pdf``. Followed down the subcommand argparse chose at each level (its
    ``dest`` in ``parsed``), not down every word that names one: an option's value may
    be a subcommand's name too (``licence --as list code ID``); without ``parsed``
    (or a ``dest``), down each subcommand word given."""
    current = parser
    words = iter(argv)
    while True:
        subcommands = [
            a for a in current._actions if isinstance(a, argparse._SubParsersAction)
        ]
        if not subcommands:
            return current
        action = subcommands[0]
        chosen = None
        if parsed is not None and action.dest != argparse.SUPPRESS:
            chosen = getattr(parsed, action.dest, None)
        if chosen is None:
            chosen = next((w for w in words if w in action.choices), None)
        if chosen not in action.choices:
            return current
        current = action.choices[chosen]


def near_choice(message: str) -> str:
    """argparse's ``invalid choice: 'licnce' (choose from ...)`` with the nearest
    choice named first (``did you mean 'licence'?``); any other message as it is."""
    found = re.fullmatch(r"invalid choice: '(.*)' \(choose from (.*)\)", message)
    if not found:
        return message
    choices = re.findall(r"'([^']*)'", found[2])
    near = difflib.get_close_matches(found[1], choices, n=1, cutoff=0.6)
    return f"{message}; did you mean {near[0]!r}?" if near else message


#: the kinds each output path was checked for (:func:`check_output`), looked at
#: again by :func:`write_output` just before it replaces a file
_CHECKED: dict[Path, tuple[str, ...]] = {}


class OutputFile(StoreOnce):
    """An argparse ``action`` for an option naming a file the command writes
    (``--out``, ``--png``, ``--maker-cert``): stored as :class:`StoreOnce` does, and
    recorded so that :func:`certseal.cli.run_command` checks it
    (:func:`check_output`) before the command runs, so before it asks a service for
    anything: a sealed PDF, an issued code, nothing is made (and audited, and told
    to integrators) for a file that could not be written, or that is another kind
    of file than the command writes (``kinds``, of :data:`OUTPUT_KINDS`)."""

    #: the namespace attribute listing the options given: (destination, kinds)
    GIVEN = "_output_files"

    def __init__(
        self, *args: Any, kinds: Sequence[str] = (), writes: str = "", **kwargs: Any
    ):
        super().__init__(*args, **kwargs)
        #: what the command writes when it is none of :data:`OUTPUT_KINDS` (a trust
        #: bundle): a name of any of them is refused (atk46 F7), the file's content
        #: is the command's to tell
        self.kinds, self.writes = tuple(kinds), writes

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        super().__call__(parser, namespace, values, option_string)
        given = namespace.__dict__.setdefault(self.GIVEN, [])
        given.append((self.dest, self.kinds, self.writes))


def check_outputs(args: argparse.Namespace) -> None:
    """:func:`check_output` for every :class:`OutputFile` option ``args`` holds."""
    for dest, kinds, writes in args.__dict__.get(OutputFile.GIVEN, ()):
        check_output(getattr(args, dest), dest.replace("_", "-"), kinds, writes)


def check_output(
    text: str, option: str, kinds: Sequence[str] = (), writes: str = ""
) -> Path:
    """The path a command will write (:func:`write_output`), checked: its folder
    exists, is a folder and takes a new file (tried: a scratch file is made there
    and removed, so a read-only mount, an ACL or a root-owned folder are told as
    they are), the path is no folder, device or FIFO (a rename would replace it),
    and a file already there is empty or one of ``kinds`` (:data:`OUTPUT_KINDS`;
    none given: any), and a name whose extension names a kind (``x.ofd``) names one
    of ``kinds`` (none of them when the command ``writes`` a kind of its own) (trial 2a: ``seal pdf … --out x.ofd`` wrote a PDF there). A symbolic link is followed: what is checked is the file
    written (:func:`_written`). INVALID_ARGUMENT naming ``option`` otherwise."""
    if not text.strip():  # blank too: a file named " " is a slip, not a choice
        raise invalid(option, "is empty: give a FILE")
    named = named_kind(text)
    if (kinds or writes) and named is not None and named not in kinds:
        raise invalid(
            option,
            f"{shown_name(text)} names {called(named)} but the command writes "
            f"{kinds[0] if kinds else writes}",
        )
    try:
        path = _written(text)
        if path.is_dir():
            raise invalid(
                option,
                f"{shown_name(path)} is a folder: give a FILE (in it, or elsewhere)",
            )
        if not path.parent.is_dir():
            raise invalid(
                option, f"{shown_name(path.parent)} is not a folder: give FILE in one"
            )
        if path.exists() and not path.is_file():
            raise invalid(
                option,
                f"{shown_name(path)} is not a regular file (a device, a FIFO): give a FILE",
            )
        _check_kind(path, option, kinds)
        _CHECKED[path] = tuple(kinds)
        fd, scratch = _scratch(path)
    except ValueError:  # a NUL in the path
        raise invalid(option, f"{text!r} is not a usable path") from None
    except OSError as exc:
        raise invalid(
            option, f"cannot write in {shown_name(path.parent)}: {_reason(exc)}"
        ) from None
    os.close(fd)
    os.unlink(scratch)
    return path


def _check_kind(path: Path, option: str, kinds: Sequence[str]) -> None:
    """INVALID_ARGUMENT (``option``) when ``path`` holds a file that is none of
    ``kinds`` (told by :data:`OUTPUT_KINDS`), or one that cannot be read to tell:
    it is not replaced."""
    if not kinds or not path.exists():
        return
    try:
        # O_NONBLOCK: a FIFO come there since the check must not block the open
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise invalid(
                    option,
                    f"{shown_name(path)} is not a regular file (a device, a FIFO): "
                    "give a FILE",
                )
            # read once, bounded: the kind is told from these bytes (a larger file
            # is no document a command writes: told by its first KiB alone)
            with os.fdopen(fd, "rb", closefd=False) as existing:
                data = existing.read(MAX_DOCUMENT_FILE_BYTES + 1)
        finally:
            os.close(fd)
    except OSError as exc:
        raise invalid(
            option,
            f"{shown_name(path)} exists and cannot be read to tell what it is "
            f"({_reason(exc)}); refusing to replace it",
        ) from None
    if data and not any(OUTPUT_KINDS[kind](data) for kind in kinds):
        raise invalid(
            option,
            f"{shown_name(path)} exists and is not {' or '.join(kinds)}; "
            "refusing to replace it: give another FILE, or remove that one first",
        )


def write_output(text: str | Path, data: bytes, option: str) -> None:
    """Write ``data`` to the file at ``text`` atomically: into a scratch file of a
    name of its own in the same folder (never the user's ``FILE.tmp``), synced, then
    renamed over the path, so a failure at any point leaves the old file or none,
    never part of one, and no scratch file. The file is made as ``open()`` makes one
    (the umask applies), or with the permissions of the file it replaces (a sealed
    PDF kept 0600 stays so). A symbolic link is written through, as ``open()``
    writes (:func:`_written`). INVALID_ARGUMENT naming ``option`` when it cannot be
    written."""
    try:
        path = _written(text)
        # again: a file of another kind may have come there while the service
        # answered
        _check_kind(path, option, _CHECKED.get(path, ()))
        fd, scratch = _scratch(path)
    except (OSError, ValueError) as exc:
        raise invalid(
            option, f"cannot write {shown_name(text)}: {_reason(exc)}"
        ) from None
    try:
        kept = stat.S_IMODE(os.stat(path).st_mode)
    except OSError:  # no file yet: made as open() makes one
        kept = None
    try:
        replace_from(fd, scratch, path, data, mode=kept)
    except OSError as exc:
        raise invalid(
            option, f"cannot write {shown_name(path)}: {_reason(exc)}"
        ) from None


def _written(text: str | Path) -> Path:
    """The file a command writes for the path ``text``: the path, or, when it is a
    symbolic link (dangling too), the file the link names, so that the rename
    replaces that file and the user's link stays (a link replaced by a file leaves
    the file it named as it was). ValueError for a NUL in the path."""
    path = Path(text)
    if not path.is_symlink() or (path.exists() and not path.is_file()):
        # a link to a folder, a device, a FIFO (/dev/stdout: /proc/self/fd/1, which
        # resolves to no name, pipe:[N]) is refused by the path the user gave
        return path
    return Path(os.path.realpath(path))


def _scratch(path: Path) -> tuple[int, str]:
    """A new file of a name of its own beside ``path``, open for writing (never a
    link followed, never a file that was there). OSError when the folder takes none."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    for _ in range(8):
        scratch = str(path.parent / f".{path.name}.{secrets.token_hex(4)}.tmp")
        try:
            return os.open(scratch, flags, 0o666), scratch  # the umask applies
        except FileExistsError:
            continue
    raise FileExistsError(f"no free scratch name beside {path}")


def _reason(exc: OSError | ValueError) -> str:
    """The operating system's reason, in lower case, without ``[Errno N]``."""
    if isinstance(exc, OSError):
        return (exc.strerror or str(exc)).lower()
    return "not a usable path"
