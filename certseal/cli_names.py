"""How the ``certseal`` commands name what is at fault: as the user typed it.

An error's field is a request field (``seal_id``, ``owner_code``), a namespace
destination (``as_identity``) or argparse's own name of an argument
(``licence_command``); the user saw none of them. :func:`shown_field` names the
command's option or argument instead, as its usage shows it, and
:func:`missing_arguments` says what argparse's "the following arguments are
required" means. Split from :mod:`certseal.cli` by size.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Sequence
from contextvars import ContextVar

from certseal.cli_options import chosen_parser, unrecognised

#: the command line being parsed (:func:`remember_argv`), for :func:`missing_arguments`
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
    README's errors and a missing subcommand (:func:`missing_arguments`) say."""
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


def missing_arguments(parser: argparse.ArgumentParser, message: str) -> str | None:
    """``<field>: <problem>`` for argparse's ``the following arguments are required:
    A, B`` of ``parser``: a group of commands given none (``command: licence needs a
    command: issue, amend, …``), else the first argument missing (``seal-id: is
    required``, ``out: is required``), the others after it. An option the command
    does not have on the command line (:func:`unknown_option`) is named before any of
    that: a mistyped ``--outt`` is why ``--out`` is missing. None for any other
    message."""
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


def unknown_option(parser: argparse.ArgumentParser, argv: Sequence[str]) -> str | None:
    """The first word of ``argv`` after ``parser``'s command words (``seal get`` of
    ``certseal seal get``) that looks like an option ``parser`` does not have, as
    typed; None when there is none. argparse says what is required before what it did
    not take, so ``--outt x.pdf`` was said as ``--out`` missing (trial44): the typo
    is the fault to name. An option's own spelling, a prefix of one (argparse takes
    ``--ou`` for ``--out``), a short option with its value attached (``-ofile``), a
    negative number and anything after ``--`` are not such words."""
    words = list(argv)
    at = 0
    for command in parser.prog.split()[1:]:
        if command not in words[at:]:
            return None
        at = words.index(command, at) + 1
    known = parser._option_string_actions
    for word in words[at:]:
        if word == "--":
            return None
        if not word.startswith("-") or len(word) < 2 or word[1].isdigit():
            continue
        name = word.split("=", 1)[0]
        if name in known or (not name.startswith("--") and name[:2] in known):
            continue
        if name.startswith("--") and any(o.startswith(name) for o in known):
            continue  # an abbreviation argparse reads (or refuses as ambiguous)
        return word
    return None
