"""The argument parsers of the project's command lines: ``certseal``'s
(:class:`Parser`) and every other (a service's ``python -m services.<name>``,
:class:`OneLineParser`).

A bad command line is bad input like any other: one line, ``error: <field>:
<problem>``, on standard error and exit status 2 (a service's line led by its name,
``services.verifier: error: …``, as its start-up errors are: certseal.startfail).
Never argparse's usage block before it (trial53 P8: a licence type code or a
``dept:`` signer whose check character was mistyped printed the command's usage, four
lines of it for ``licence``, above the one line that said what was wrong); the line
says where the usage is (``'certseal licence -h' shows its usage``) where that helps.
Split from :mod:`certseal.cli` by size.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from certseal.cli_actions import StoreOnce, refuse_blank
from certseal.cli_names import (
    argparse_problem,
    argument_problem,
    owner_of,
    remember_argv,
    shown_word,
    unrecognised,
)
from certseal.text import one_line


class OneLineParser(argparse.ArgumentParser):
    """argparse, reporting a bad command line as one line ``<lead>error: <field>:
    <problem>`` with exit status 2 and no usage: an argument refused by its ``type``
    or ``choices`` named as the argument (``error: type: …``), one missing
    (``error: config: is required; …``), a word the command does not take
    (``error: confg: … has no option --confg; did you mean --config?``). ``lead``
    comes first (a service's ``services.issuer: ``)."""

    def __init__(self, *args: Any, lead: str = "", **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.lead = lead
        # an option of one value given twice is a bad command line too, not the last
        # one silently taking the place of the first (a service's ``--group a
        # --group b`` too); argument groups share this registry
        for name in (None, "store"):
            self.register("action", name, StoreOnce)

    def _get_value(self, action: argparse.Action, arg_string: str) -> Any:
        """argparse's, every value of an option or argument that shows nothing
        refused first (:func:`~certseal.cli_actions.refuse_blank`), typed or not;
        not the words a command passes on to its own parser."""
        if action.nargs not in (argparse.PARSER, argparse.REMAINDER):
            refuse_blank(action, arg_string)
        return super()._get_value(action, arg_string)

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: Any = None
    ) -> tuple[argparse.Namespace, list[str]]:
        """argparse's, without :class:`StoreOnce`'s record of the options seen."""
        parsed, rest = super().parse_known_args(args, namespace)
        parsed.__dict__.pop(StoreOnce.SEEN, None)
        return parsed, rest

    def parse_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: Any = None
    ) -> argparse.Namespace:
        """argparse's, a word no command takes named with the command's name
        (:func:`~certseal.cli_names.unrecognised`), not the top level's."""
        argv = remember_argv(sys.argv[1:] if args is None else args)
        parsed, rest = self.parse_known_args(argv, namespace)
        if rest:  # named with the parser whose words it came among (atk46 F4)
            command = owner_of(self, argv, parsed, rest[0])
            self.leave(unrecognised(command, rest))
        return parsed

    def error(self, message: str) -> NoReturn:
        """``error: <argument>: <problem>`` for argparse's ``message``; exit 2."""
        field, sep, problem = message.partition(": ")
        if sep and field.startswith("argument "):
            name = field.removeprefix("argument ").split("/")[0].lstrip("-")
            self.leave(argument_problem(self, name, problem))
        # argparse's other messages name no argument ("one of the arguments … is
        # required"): said as the arguments' fault
        self.leave(argparse_problem(self, message) or f"arguments: {message}")

    def leave(self, said: str) -> NoReturn:
        """End the parse with ``said`` (``<field>: <problem>``) as the one line of
        :class:`OneLineParser`, exit status 2. The lead is the top parser's (a
        subcommand's parser is made by argparse without one)."""
        lead = getattr(self, "lead", "")
        self.exit(2, f"{lead}error: {one_line(said)}\n")


class Parser(OneLineParser):
    """The ``certseal`` parser: :class:`OneLineParser`, whose options of one value
    are :class:`StoreOnce` (given twice, a bad command line)."""


def given(what: str) -> Callable[[str], str]:
    """An argparse ``type`` for an option whose value names something (``--as``'s
    identity, ``--home``'s folder, ``--config``'s file): the text as given, and
    ``what`` for the parser to ask for when the value shows nothing
    (:func:`~certseal.cli_actions.refuse_blank`: ``error: <option>: is empty: give
    <what>``, exit 2), never taken for no option (``--as ''`` acting as the CLI's
    operator, who sees every event) nor for the current folder (``run --home ''``
    made the stack there)."""

    def parse(text: str) -> str:
        return text

    parse.what = what  # type: ignore[attr-defined]
    return parse


#: the levels a service's ``--log-level`` takes, as the logging module names them
LOG_LEVELS = ("CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG")


def log_level(text: str) -> str:
    """An argparse ``type``: a service's ``--log-level``, one of :data:`LOG_LEVELS`
    in any case (``debug``), as the logging module names it; anything else is the
    one line, exit 2, not the logging module's ValueError and its traceback."""
    level = text.strip().upper()
    if level not in LOG_LEVELS:
        raise argparse.ArgumentTypeError(
            f"{shown_word(text)} is no log level: give {', '.join(LOG_LEVELS[:-1])} "
            f"or {LOG_LEVELS[-1]} (any case)"
        )
    return level
