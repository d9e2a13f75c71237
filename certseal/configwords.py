"""The configuration's errors in the words of its TOML files: msgspec's validation
messages made readable, the setting one is about, and the likely intended name of
an unknown one."""

from __future__ import annotations

import difflib
import json
import re
from typing import Any

import msgspec


def setting_at(message: str) -> tuple[str, str]:
    """(section, setting) a msgspec error is about: its path's first two names, or
    the section and the unknown field it names."""
    text, _, where = message.partition(" - at ")
    path = where.strip("`").removeprefix("$").lstrip(".").split(".")
    unknown = re.fullmatch(r"Object contains unknown field `(.+)`", text)
    if unknown and len(path) == 1:
        return path[0], unknown[1]
    # a list's item: "verifier_targets[0]" is the setting verifier_targets
    return (path[0], path[1].partition("[")[0]) if len(path) > 1 else ("", "")


_BOUND_WORDS = {">=": "at least", ">": "more than", "<=": "at most", "<": "less than"}


def readable(message: str, schema: Any = None) -> str:
    """msgspec's "Expected `int`, got `str` - at `$.issuer.workers`" in the words of
    the TOML file: "[issuer] workers: expected int, got str"; an unknown section or
    setting with the known name of ``schema`` (a msgspec Struct of sections) it is
    likely a typo of: "unknown setting worker in [issuer] (did you mean workers?)"."""
    text, _, where = (
        message.rpartition(" - at ") if " - at " in message else (message, "", "")
    )
    path = where.strip("`").removeprefix("$").lstrip(".").split(".") if where else []
    section = f"[{_shown(path[0])}]" if path and path[0] else ""
    setting = ".".join(path[1:])
    unknown = re.fullmatch(r"Object contains unknown field `(.*)`", text, re.DOTALL)
    if unknown:
        name = unknown[1]
        if not section:
            likely = _likely(name, schema)
            return f"unknown section [{_shown(name)}]" + (
                f" ({likely})" if likely else ""
            )
        hints = [_likely(name, _field_type(schema, path[0])), _elsewhere(name, schema)]
        likely = "; ".join(hint for hint in hints if hint)
        return f"unknown setting {_shown(name)} in {section}" + (
            f" ({likely})" if likely else ""
        )
    bound = re.fullmatch(r"Expected `(?:int|float)` (>=|>|<=|<) (\S+)", text)
    if bound:  # a number outside the schema's bounds (msgspec.Meta)
        limit = bound[2].removesuffix(".0")
        text = f"Must be {_BOUND_WORDS[bound[1]]} {limit}"
    text = text[:1].lower() + text[1:].replace("`", "")
    where = f"{section} {setting}".strip()
    return f"{where}: {text}" if section else text


def _field_type(struct: Any, name: str) -> Any:
    """The type of ``struct``'s field ``name`` (None when there is none)."""
    try:
        fields = msgspec.structs.fields(struct)
    except TypeError:
        return None
    return next((field.type for field in fields if field.name == name), None)


def _names(struct: Any) -> list[str]:
    try:
        return [field.name for field in msgspec.structs.fields(struct)]
    except TypeError:
        return []


def _likely(name: str, struct: Any) -> str:
    """``did you mean X?`` for the field of ``struct`` closest to ``name``
    (difflib's ratio of at least 0.8), else ''."""
    close = difflib.get_close_matches(name, _names(struct), n=1, cutoff=0.8)
    return f"did you mean {close[0]}?" if close else ""


def _elsewhere(name: str, schema: Any) -> str:
    """``ca_file is a setting of [tls]``: the sections of ``schema`` that have a
    setting ``name``, else ''."""
    found = [f"[{s}]" for s in _names(schema) if name in _names(_field_type(schema, s))]
    return f"{_shown(name)} is a setting of {', '.join(found)}" if found else ""


def _shown(name: str) -> str:
    """A key as TOML writes it: bare, or quoted when it is not a bare key."""
    return name if re.fullmatch(r"[A-Za-z0-9_-]+", name) else json.dumps(name)
