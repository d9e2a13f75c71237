"""The names of a verdict: the issuing department's and the licence type's, and the
titles of the fields it shows, as the directory events give them (from the group's
directory table online, from the trust bundle offline). Pure.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from services.verifier.domain import Verification


@dataclass(frozen=True, slots=True)
class DirectoryEntry:
    """A department's or licence type's name, and a type's field titles."""

    name: str
    field_titles: dict[str, str]
    #: the type's public fields (printed in every code): the titles a trust bundle
    #: may carry, naming no restricted or issuer-only field
    public_fields: frozenset[str] = frozenset()

    @property
    def public_titles(self) -> dict[str, str]:
        """The titles of the public fields."""
        return {
            name: title
            for name, title in self.field_titles.items()
            if name in self.public_fields
        }


def named_by(
    result: Verification,
    *,
    issuer: DirectoryEntry | None,
    licence_type: DirectoryEntry | None,
) -> Verification:
    """``result`` with the names of its issuing department and licence type (each may
    be None: not known yet) and the titles of the fields it shows."""
    titles = licence_type.field_titles if licence_type else {}
    return dataclasses.replace(
        result,
        issuer_name=issuer.name if issuer else "",
        type_name=licence_type.name if licence_type else "",
        field_titles={name: titles[name] for name in result.fields if name in titles},
    )
