"""PDF dictionary entries read as ISO 32000-1 §7.3.9 says: an entry whose value is
null is the same as an absent entry, and §7.3.10: a reference to an object that is
missing or free resolves to null.

pyHanko's dictionaries half agree: ``d[key]`` raises ``KeyError`` for a null value
(direct or resolved), but ``key in d`` says True and ``d.raw_get(key)`` hands the
null over, so code that asks ``in`` first, and pyHanko's own writer (which appends a
new widget to ``raw_get('/Annots')``), meets a null where it expects a value. Every
entry the sealing path reads goes through :func:`entry`, and the dictionaries its
incremental update writes lose their null entries first (:func:`drop_null_entries`),
which changes nothing a reader of the PDF can tell.
"""

from __future__ import annotations

from typing import Any

from pyhanko.pdf_utils import generic


def is_null(value: Any) -> bool:
    """Whether ``value`` is null or resolves to null (a reference to a missing or
    free object)."""
    if isinstance(value, generic.IndirectObject):
        value = value.get_object()
    return value is None or isinstance(value, generic.NullObject)


def entry(container: Any, key: str) -> Any:
    """``container[key]`` resolved; None when ``container`` is no dictionary, lacks
    ``key`` or holds null there (§7.3.9: the same as lacking it)."""
    if not isinstance(container, generic.DictionaryObject):
        return None
    try:
        value = container[key]  # resolves; raises KeyError for null
    except KeyError:
        return None
    return None if is_null(value) else value


def drop_null_entries(dictionary: Any) -> list[str]:
    """Remove from ``dictionary`` (if it is one) every entry whose value is or
    resolves to null; returns the keys removed. The dictionary means the same to a
    reader afterwards (§7.3.9), and code that writes into it finds the entries
    absent instead of null."""
    if not isinstance(dictionary, generic.DictionaryObject):
        return []
    # resolved through ``entry`` (pyHanko's ``[]``), which reads /Metadata as the
    # metadata stream it is: resolved any other way, pyHanko rewrites the XMP
    dropped = [key for key in list(dictionary) if entry(dictionary, key) is None]
    for key in dropped:
        del dictionary[key]
    return dropped
