"""What every parser of the project refuses in the values it reads
(:class:`certseal.cli_parser.OneLineParser`): an option of one value given twice
(:class:`StoreOnce`, registered for ``store``) and a value that shows nothing
(:func:`refuse_blank`), each as argparse's own ``ArgumentError``, which the parser
prints as ``error: <option>: <problem>`` with exit status 2 before the command
runs.
"""

from __future__ import annotations

import argparse
import unicodedata
from typing import Any


def blank_means_none(text: str) -> str:
    """An argparse ``type`` for the rare option whose empty value says something (the
    issuer supervisor's ``--metrics-listen ''`` to a child: no metrics endpoint):
    the text as given, which :func:`refuse_blank` lets through."""
    return text


def shows_nothing(text: str) -> bool:
    """Whether ``text`` is empty or only white space, control and invisible format
    characters (U+200B, U+FEFF, U+2060): what a terminal shows as nothing."""
    return all(c.isspace() or unicodedata.category(c) in ("Cc", "Cf") for c in text)


def refuse_blank(action: argparse.Action, value: Any) -> None:
    """Raise argparse's ``ArgumentError`` (``error: <option>: is empty: give a
    value``, exit status 2 from the parser) when ``value`` :func:`shows_nothing`.
    Called by :class:`certseal.cli_parser.OneLineParser` on every value of every
    option and argument before its ``type`` reads it. An empty value is a mistake
    (an unset shell variable, ``--verifier "$HOST"``), never the option left out:
    ``verify --verifier ''`` asked the configured verifier, ``events tail --token
    ''`` read from the default position, ``seal list --owner ''`` listed the
    caller's own seals (atk57); nor is it a value of the option's kind for its
    ``type`` to name wrongly (``licence issue --type ''``: "'' is not a licence type
    code", trial56)."""
    if action.type is blank_means_none:
        return
    if isinstance(value, str) and shows_nothing(value):
        what = getattr(action.type, "what", "a value")  # certseal.cli_parser.given
        raise argparse.ArgumentError(action, f"is empty: give {what}")


class StoreOnce(argparse.Action):
    """An argparse ``action`` for an option whose request field holds one value
    (``licence list --status``): stored as ``store`` does, and refused when given
    again (``error: <option>: given more than once ...``, exit status 2 from the
    parser) rather than the last one silently replacing the first."""

    #: the namespace attribute holding the options of this kind a parse has seen
    SEEN = "_given_once"

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        # the options of this kind this parse has seen: the value held is no sign
        # (it may be the default, or equal it)
        given: set[str] = namespace.__dict__.setdefault(self.SEEN, set())
        if self.dest in given:
            raise argparse.ArgumentError(
                self, "given more than once (it takes one value)"
            )
        given.add(self.dest)
        setattr(namespace, self.dest, values)
