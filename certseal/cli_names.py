"""How the ``certseal`` commands name what is at fault: as the user typed it.

An error's field is a request field (``seal_id``, ``owner_code``), a namespace
destination (``as_identity``) or argparse's own name of an argument
(``licence_command``); the user saw none of them. :func:`shown_field` names the
command's option or argument instead, as its usage shows it, and
:func:`argparse_problem` says what argparse's "the following arguments are
required" means. Split from :mod:`certseal.cli` by size.
"""

from __future__ import annotations

import argparse
import difflib
import re
from collections.abc import Iterable, Sequence
from contextvars import ContextVar
from typing import Any

from certseal.cli_options import chosen_parser, near_choice
from certseal.errors import CertsealError, invalid

#: the command line being parsed (:func:`remember_argv`), for :func:`argparse_problem`
_ARGV: ContextVar[Sequence[str]] = ContextVar("certseal_argv", default=())


def remember_argv(argv: Sequence[str]) -> list[str]:
    """Note the command line the top-level parser parses (a subcommand's parser, which
    argparse has report what is missing, is not given it); return it as a list."""
    _ARGV.set(tuple(argv))
    return list(argv)


#: request fields named after an option with a suffix the option does not have
#: (``owner_code`` of ``--owner``, ``field_name`` of ``--field``)
_SUFFIXES = ("_code", "_codes", "_id", "_name")


def readable_positionals(parser: argparse.ArgumentParser) -> None:
    """Give every positional argument of ``parser`` and its subcommands whose name
    is a Python name (``seal_id``) the name its usage and errors show with a hyphen
    (``seal-id``), as options are typed; one with a metavar keeps it."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                readable_positionals(sub)
        elif (
            not action.option_strings
            and action.metavar is None
            and "_" in (action.dest)
        ):
            action.metavar = action.dest.replace("_", "-")


def subcommand_names(parser: argparse.ArgumentParser) -> set[str]:
    """The names argparse gives ``parser``'s subcommand argument in its errors (its
    destination, ``licence_command``), which the commands call ``command``, as
    README's errors and a missing subcommand (:func:`argparse_problem`) say."""
    return {
        action.metavar if isinstance(action.metavar, str) else action.dest
        for action in parser._actions
        if isinstance(action, argparse._SubParsersAction)
    }


def _chain(
    parser: argparse.ArgumentParser, argv: Sequence[str], args: argparse.Namespace
) -> Iterable[argparse.ArgumentParser]:
    """The parsers from the top to the command's (``certseal``, ``seal``, ``seal
    get``)."""
    chosen = chosen_parser(parser, argv, args)
    current = parser
    while True:
        yield current
        if current is chosen:
            return
        subs = [
            a for a in current._actions if isinstance(a, argparse._SubParsersAction)
        ]
        word = getattr(args, subs[0].dest, None) if subs else None
        if word not in (subs[0].choices if subs else {}):
            return
        current = subs[0].choices[word]


def shown_names(
    parser: argparse.ArgumentParser, argv: Sequence[str], args: argparse.Namespace
) -> dict[str, str]:
    """Destination -> the name the command's usage shows for it: an option's long
    name without its dashes (``as_identity`` -> ``as``), a positional argument's
    metavar (``seal_id`` -> ``seal-id``), for the command run and its groups."""
    names: dict[str, str] = {}
    for current in _chain(parser, argv, args):
        for action in current._actions:
            if isinstance(action, argparse._SubParsersAction):
                continue
            if action.option_strings:
                longest = max(action.option_strings, key=len)
                names[action.dest] = longest.lstrip("-")
            elif action.dest != argparse.SUPPRESS:
                # a name (seal-id), not a placeholder (CODE)
                shown = action.metavar if isinstance(action.metavar, str) else ""
                names[action.dest] = shown if shown.islower() else action.dest
    names.pop("help", None)
    return names


def shown_field(field: str, names: dict[str, str]) -> str | None:
    """``field`` (a request field, ``seal_id``, ``owner_code``, ``issuers[1]``) as
    ``names`` (:func:`shown_names`) shows it, the index kept; None when it names
    no option or argument of the command (a setting, ``tls.ca_file``)."""
    head, bracket, rest = field.partition("[")
    if "." in head:
        return None
    tail = bracket + rest
    if head in names:
        return names[head] + tail
    for suffix in _SUFFIXES:
        stem = head.removesuffix(suffix)
        if stem != head and stem in names:
            return names[stem] + tail
    return None


#: argparse's message for an abbreviation of several options
_AMBIGUOUS = re.compile(r"ambiguous option: (.+) could match (-\S+(?:, -\S+)*)", re.S)


def _ambiguous(parser: argparse.ArgumentParser, word: str, options: list[str]) -> str:
    """``<field>: <problem>`` for ``word``, an abbreviation of each of ``options``,
    never quoting what follows its ``=`` (an id number, a name: atk46 F3); a word
    that names nothing (``--=1``: argparse reads every option of the top level as
    starting with ``--``) said as such."""
    name = word.split("=", 1)[0]
    if not name.strip("-"):
        return f"arguments: '{name}=…' names no option; an option is --name=value"
    command = parser.prog
    shown = " or ".join(
        [", ".join(options[:-1]), options[-1]] if options[1:] else options
    )
    return f"{name.lstrip('-')}: {command} has no option {name}; it could be {shown}"


def argparse_problem(parser: argparse.ArgumentParser, message: str) -> str | None:
    """``<field>: <problem>`` for argparse's ``the following arguments are required:
    A, B`` of ``parser``: a group of commands given none (``command: licence needs a
    command: issue, amend, …``), else the first argument missing (``seal-id: is
    required``, ``out: is required``), the others after it. An option the command
    does not have on the command line (:func:`unknown_option`) is named before any of
    that: a mistyped ``--outt`` is why ``--out`` is missing. None for any other
    message. An ambiguous abbreviation (``--p`` of ``--page`` and ``--password-file``)
    is ``p: ... could be --page or --password-file`` (atk45 F7)."""
    if ambiguous := _AMBIGUOUS.fullmatch(message):
        return _ambiguous(parser, ambiguous[1], ambiguous[2].split(", "))
    prefix = "the following arguments are required: "
    if not message.startswith(prefix):
        return None
    typo = unknown_option(parser, _ARGV.get())
    if typo is not None:
        return unrecognised(parser, [typo])
    missing = message.removeprefix(prefix).split(", ")
    command = parser.prog.removeprefix("certseal ").strip()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction) and action.dest in missing:
            choices = ", ".join(action.choices)
            return f"command: {command} needs a command: {choices}"
    first = missing[0].split("/")[0].lstrip("-")
    also = [m.split("/")[0] for m in missing[1:]]
    more = f" (so are {', '.join(also)})" if also else ""
    return f"{first}: is required{more}; '{parser.prog} -h' shows its usage"


def unknown_option(
    parser: argparse.ArgumentParser, argv: Sequence[str], before: str | None = None
) -> str | None:
    """The first word of ``argv`` after ``parser``'s command words (``seal get`` of
    ``certseal seal get``), and before ``before`` (a word argparse took for a command)
    or a word choosing one of ``parser``'s own commands, that argparse reads as an
    option ``parser`` does not have (:func:`reads_as_option`), or that is one typed
    with another dash (:func:`typed_dash`); None when there is none. argparse says
    what is required before what it did not take, so ``--outt x.pdf`` was said as
    ``--out`` missing (trial44): the typo is the fault to name. Anything after
    ``--`` is no such word; nor is anything after the word argparse could not take as
    a command (atk46 F1: ``licence --as <code> gett X --out o.pdf`` is ``gett``'s
    fault, not ``--out``'s)."""
    words = list(argv)
    commands = command_words(parser)
    past = _past_each(words, commands)
    if len(past) < len(commands):
        return None
    at = past[-1] if past else 0
    ends = {"--", *_commands(parser), *([before] if before is not None else [])}
    for word in words[at:]:
        if word in ends:  # the rest is a command's (atk45 F1)
            return None
        if typed_dash(parser, word) or reads_as_option(parser, word) is False:
            return word
    return None


def command_words(parser: argparse.ArgumentParser) -> list[str]:
    """The words of ``parser``'s command after the program's (``licence list`` of
    ``certseal licence list``; none of a service's ``python -m services.seal``)."""
    words = parser.prog.split()
    return words[3:] if words[:2] == ["python", "-m"] else words[1:]


def _past_each(words: Sequence[str], commands: Sequence[str]) -> list[int]:
    """Where ``words`` go on past each of ``commands`` in turn (the index after it),
    as far as they hold them in that order."""
    past, at = [], 0
    for command in commands:
        if command not in words[at:]:
            break
        at = words.index(command, at) + 1
        past.append(at)
    return past


def _commands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """``parser``'s own commands by their words."""
    return {
        choice: sub
        for action in parser._actions
        if isinstance(action, argparse._SubParsersAction)
        for choice, sub in action.choices.items()
    }


def reads_as_option(parser: argparse.ArgumentParser, word: str) -> bool | None:
    """How argparse (3.11's ``_parse_optional``) reads ``word`` for ``parser``: None
    as a value or positional argument (no ``-`` first, ``-`` alone, a space in it
    (``-Li Wei``, atk45 F2), a negative number such as ``-.5`` while no option looks
    like one, atk45 F3); True as an option ``parser`` has, by its name, with ``=``
    and a value, a prefix of one or a short one with its value attached; False as
    an option it does not have."""
    known = parser._option_string_actions
    if not word or word[0] not in parser.prefix_chars or len(word) == 1:
        return None
    name = word.split("=", 1)[0]
    if name in known:
        return True
    negative = parser._negative_number_matcher.match(word)
    if (negative and not parser._has_negative_number_optionals) or " " in word:
        return None
    if name.startswith("--"):
        return any(o.startswith(name) for o in known) or False
    return word[:2] in known


#: dashes a word processor or an input method types for ``-`` or ``--`` (general
#: category Pd but the hyphen-minus, and the minus sign); one before a name is an
#: option typed with the wrong dash (atk45 F4), which argparse takes for a value
_DASHES = "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63\uff0d"
#: what an option's name is after its dashes (and before ``=``)
_OPTION_NAME = re.compile(r"[A-Za-z][A-Za-z0-9-]*")


def typed_dash(parser: argparse.ArgumentParser, word: str) -> bool:
    """Whether ``word`` is an option of ``parser`` typed with a dash other than ``-``
    (``—out``, ``–out``, ``‐‐out``): one or two such dashes, an option's name (ASCII
    letters, digits and ``-``, then ``=`` and a value or nothing, no space), near one
    ``parser`` has. A value that merely starts with such a dash (``—Li Wei``,
    ``—draft.pdf``, ``—开立账户``) is none (atk46 F2): argparse took it as a value."""
    name = word.split("=", 1)[0]
    body = name.lstrip(_DASHES)
    if not 0 < len(name) - len(body) <= 2 or " " in word:
        return False
    if not _OPTION_NAME.fullmatch(body):
        return False
    return bool(_nearest(parser, ascii_dashes(name)))


def _nearest(parser: argparse.ArgumentParser, name: str) -> list[str]:
    """The option of ``parser`` nearest ``name``, for a typo (none or one)."""
    return difflib.get_close_matches(
        name, list(parser._option_string_actions), n=1, cutoff=0.6
    )


def ascii_dashes(word: str) -> str:
    """``word`` with its leading dashes as ``-`` (one em or en dash alone as ``--``,
    what autocorrection made of it): the option it was typed for."""
    body = word.lstrip(_DASHES)
    dashes = len(word) - len(body)
    if dashes == 1 and word[0] in "\u2013\u2014":
        return "--" + body
    return "-" * dashes + body


def unrecognised(parser: argparse.ArgumentParser, extra: Sequence[str]) -> str:
    """``<field>: <problem>`` for what ``parser`` (the command's) did not take,
    ``extra``'s first word: an option it does not have (typed with another dash,
    ``—out``, the option it was typed for: atk45 F4; one of a command of ``parser``,
    typed before that command's word, where it goes: atk46 F14; else the nearest it
    has, for a typo: ``--purpse`` -> ``--purpose``), or a word after its arguments,
    a value by argparse's reading too (``-Li Wei``, ``-5``: atk46 F13; a licence code
    typed unquoted is cut at its spaces, Base45 having them: quote it)."""
    word = extra[0]
    command = parser.prog
    dashed = typed_dash(parser, word)
    if dashed or reads_as_option(parser, word) is not None:
        name = word.split("=", 1)[0]
        asked = ascii_dashes(name) if dashed else name
        owners = [
            w
            for w, sub in _commands(parser).items()
            if asked in sub._option_string_actions
        ]
        if owners:
            typed = [w for w in _ARGV.get() if w in owners]
            where = typed[0] if typed else owners[0]
            return (
                f"{asked.lstrip('-')}: {asked} is an option of '{command} {where}', "
                f"not of '{command}': give it after {where!r}"
            )
        near = _nearest(parser, asked[:MAX_SHOWN_WORD])
        hint = f"; did you mean {near[0]}?" if near else f"; '{command} -h' lists them"
        if dashed:
            hint = f" (it starts with U+{ord(name[0]):04X}, not '-'){hint}"
        field = name.lstrip("-")[:MAX_SHOWN_WORD]
        return f"{field}: {command} has no option {shown_word(name)}{hint}"
    got = shown_word(" ".join(extra), quoted=True)
    return f"arguments: {command} takes no more arguments, got {got}" + (
        _took(parser, extra)
    )


#: the most characters of a word of the command line an error quotes: a 100,000
#: character word was echoed twice in full, a 200 KB error line (atk F9)
MAX_SHOWN_WORD = 60


def shown_word(word: str, *, quoted: bool = False) -> str:
    """``word`` (``repr``'d when ``quoted``) as an error quotes it: its first
    :data:`MAX_SHOWN_WORD` characters and the count of them all, not thousands."""
    if len(word) <= MAX_SHOWN_WORD:
        return repr(word) if quoted else word
    cut = repr(word[:MAX_SHOWN_WORD]) if quoted else word[:MAX_SHOWN_WORD]
    return f"{cut}… ({len(word):,} characters)"


def _took(parser: argparse.ArgumentParser, extra: Sequence[str]) -> str:
    """What to say after the words a command did not take: the arguments it has, so
    a word given before them that does not belong (``key retire CODE KID``: the
    department code went to KID: trial49) shows; and quoting, when the words are
    the pieces of a licence code its spaces cut (Base45 has spaces, ``$``, ``%``)."""
    names = [
        str(action.metavar or action.dest).upper()
        for action in parser._actions
        if not action.option_strings
        and not isinstance(action, argparse._SubParsersAction)
    ]
    said = ""
    if names:
        words = _positional_words(parser)
        said = f"; it takes only {' '.join(names)}"
        # what argparse took, only when the words read so account for all it was
        # given (a global option's value equal to a command word, an abbreviated
        # option's value: atk50)
        if len(words) > len(names) and words[len(names) :] == list(extra):
            said += ", and " + ", ".join(
                f"{n} took {w!r}" for n, w in zip(names, words, strict=False)
            )
    if any(w[:4] in ("LC1:", "PC1:") for w in _ARGV.get()) or any(
        c in w for w in extra for c in "$%*+./:"
    ):
        said += (
            "; a value with spaces or $ (a scanned licence code) goes in single quotes"
        )
    return said


def _positional_words(parser: argparse.ArgumentParser) -> list[str]:
    """The words of the command line after ``parser``'s command words that are not
    options nor an option's value, in order: what its arguments took ([] when the
    command's words cannot be found)."""
    argv = list(_ARGV.get())
    start = 0
    try:
        for word in command_words(parser):
            start = argv.index(word, start) + 1
    except ValueError:
        return []
    words: list[str] = []
    rest = iter(argv[start:])
    for word in rest:
        if word == "--":
            words.extend(rest)
        elif reads_as_option(parser, word):  # not -5 nor '-Li Wei' (atk50)
            action = parser._option_string_actions.get(word.split("=", 1)[0])
            if action is not None and action.nargs != 0 and "=" not in word:
                next(rest, None)  # its value
        else:
            words.append(word)
    return words


#: argparse's "invalid choice" of a command word, the word
_INVALID_CHOICE = re.compile(r"invalid choice: '(.*)' \(choose from ")


def argument_problem(parser: argparse.ArgumentParser, name: str, problem: str) -> str:
    """``<field>: <problem>`` for argparse's ``argument <name>: <problem>`` of
    ``parser``: its command argument (``licence_command``) named ``command``, with
    the nearest command for a typo (:func:`~certseal.cli_options.near_choice`); but
    a command word that is the value of an option mistyped before it (``licence --ass
    <code> get``, ``certseal --confg x.toml audit verify``: argparse took the value
    for the command) names that option (trial45)."""
    if name in subcommand_names(parser):
        invalid = _INVALID_CHOICE.match(problem)
        if invalid:
            typo = unknown_option(parser, _ARGV.get(), before=invalid[1])
            if typo is not None:
                return unrecognised(parser, [typo])
        name = "command"
    return f"{name}: {near_choice(problem)}"


def owner_of(
    parser: argparse.ArgumentParser,
    argv: Sequence[str],
    args: argparse.Namespace,
    word: str,
) -> argparse.ArgumentParser:
    """Of the parsers from the top to the command's (:func:`_chain`), the one whose
    words ``word`` came among: the deepest whose command word is before it
    (``--confg=x.toml audit verify``: the top level's, whose ``--config`` is the
    nearest; atk46 F4)."""
    words = list(argv)
    before = words[: words.index(word)] if word in words else words
    chain = list(_chain(parser, argv, args))
    past = _past_each(before, [current.prog.split()[-1] for current in chain[1:]])
    return chain[len(past)]


#: a lone surrogate: a byte of the command line that is not UTF-8 (``surrogateescape``)
_NOT_UTF8 = re.compile("[\udc80-\udcff]")


def run_chosen(args: argparse.Namespace) -> Any:
    """The chosen command's ``args.func(args)``; a request that could not encode a
    value the terminal sent as GBK is refused naming it (:func:`not_utf8`)."""
    try:
        return args.func(args)
    except UnicodeEncodeError as exc:
        raise not_utf8(args, exc) from None


def not_utf8(args: argparse.Namespace, exc: UnicodeEncodeError) -> CertsealError:
    """INVALID_ARGUMENT naming the option or argument whose text the terminal sent in
    another encoding than UTF-8 (a GBK session's 张三: Python keeps such bytes as lone
    surrogates, which no request can carry, and ``exc`` is a request failing to
    encode one); the value itself is never quoted (a holder's name). ``exc`` is
    raised again when no value holds such a byte: a fault of the command's own. A
    file's name in another encoding is no fault: it is opened as given."""
    found = [
        (dest, value)
        for dest, given in vars(args).items()
        for value in (given if isinstance(given, list | tuple) else [given])
        if isinstance(value, str) and _NOT_UTF8.search(value)
    ]
    if not found:
        raise exc
    failed = str(exc.object)  # the text the request could not encode
    dest = min(found, key=lambda item: failed not in item[1])[0]
    return invalid(
        dest,
        "is not UTF-8 text: the terminal sent it in another encoding (such as GBK); "
        "set the terminal to UTF-8 and type it again",
    )
