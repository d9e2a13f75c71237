"""The argparse actions every parser of the project stores values with
(registered by :class:`certseal.cli_parser.OneLineParser` for ``store`` and
``append``): an option of one value given twice is refused (:class:`StoreOnce`),
and so is an empty or blank value (:func:`refuse_blank`), each as argparse's own
``ArgumentError``, which the parser prints as ``error: <option>: <problem>`` with
exit status 2 before the command runs.
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
    """Raise argparse's ``ArgumentError`` (``error: <option>: is empty ...``, exit
    status 2 from the parser) when ``value`` is an empty text or one of white
    space, control and format characters alone (what shows as nothing). An option
    given an empty value is a mistake (an unset shell variable, ``--verifier
    "$HOST"``), never the option left out: ``verify --verifier ''`` asked the
    configured verifier, ``events tail --token ''`` read from the default position,
    ``seal list --owner ''`` listed the caller's own seals (atk57)."""
    if action.type is blank_means_none:
        return
    if isinstance(value, str) and shows_nothing(value):
        leave_out = (
            f", or leave {action.option_strings[0]} out"
            if action.option_strings and not action.required
            else ""
        )
        raise argparse.ArgumentError(action, f"is empty: give a value{leave_out}")


class StoreOnce(argparse.Action):
    """An argparse ``action`` for an option whose request field holds one value
    (``licence list --status``): stored as ``store`` does, and refused when given
    again (``error: <option>: given more than once ...``, exit status 2 from the
    parser) rather than the last one silently replacing the first, or given an empty
    value (:func:`refuse_blank`)."""

    #: the namespace attribute holding the options of this kind a parse has seen
    SEEN = "_given_once"

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        refuse_blank(self, values)
        # the options of this kind this parse has seen: the value held is no sign
        # (it may be the default, or equal it)
        given: set[str] = namespace.__dict__.setdefault(self.SEEN, set())
        if self.dest in given:
            raise argparse.ArgumentError(
                self, "given more than once (it takes one value)"
            )
        given.add(self.dest)
        setattr(namespace, self.dest, values)


class AppendGiven(argparse._AppendAction):
    """argparse's ``append``, an empty value refused (:func:`refuse_blank`):
    ``--field ''`` or ``--issuers ''`` is a mistake, not one more item."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        refuse_blank(self, values)
        super().__call__(parser, namespace, values, option_string)
