"""One ``Signature.xml`` of an OFD (GB/T 33190 §18), read from a bounded package
(:mod:`services.seal.ofd_package`): what it signs (its ``References``), where its
stamps show, and where its seal and signed value are, each location as readers read
it (:mod:`services.seal.ofd_loc`).

Pure and synchronous over the package's bytes, like :mod:`services.seal.ofd`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass

from certseal.crypto import Suite, digest
from certseal.errors import invalid
from services.seal.ofd_loc import (
    attribute_values,
    element_texts,
    ofd_js_signed_value,
    one_file,
)
from services.seal.ofd_package import (
    OfdPackage,
    child,
    children,
    local,
    package_xml,
    text_of,
)
from services.seal.ofd_zip_end import MAX_OFD_ENTRIES

MAX_OFD_REFERENCES = MAX_OFD_ENTRIES
"""References one ``Signature.xml`` may have: one per file of the largest package."""

MAX_CHECK_VALUE_BYTES = 64
"""The longest digest a ``CheckValue`` can be (SHA-512; SM3 and SHA-256 are 32)."""


_SM3_NAMES = {"sm3", "1.2.156.10197.1.401"}
_SHA256_NAMES = {"sha256", "sha-256", "2.16.840.1.101.3.4.2.1"}


def check_algorithm(method: str) -> str | None:
    """The algorithm a ``CheckMethod`` names, however it is spelled: ``sm3`` (SM3 or
    its OID), ``sha256`` (SHA256, SHA-256 or its OID), None for any other."""
    name = method.strip().lower()
    if name in _SM3_NAMES:
        return "sm3"
    if name in _SHA256_NAMES:
        return "sha256"
    return None


def check_digest(method: str, data: bytes) -> bytes | None:
    """The digest of ``data`` by a ``CheckMethod`` name or OID: SM3 or SHA-256, None for
    any other (SHA-1 and MD5 are not accepted as protecting anything)."""
    algorithm = check_algorithm(method)
    if algorithm == "sm3":
        return digest(Suite.SM2, data)
    if algorithm == "sha256":
        return hashlib.sha256(data).digest()
    return None


def list_grown(
    paths: list[str], at: int, own: str, signed: set[str], listing: str
) -> bool:
    """Whether a ``Signatures.xml`` listing the ``Signature.xml`` files ``paths``,
    changed since the signature ``own`` (listed at ``at``) signed it covering the
    files ``signed``, may be the list it signed grown by later entries: that list a
    prefix of this one, entry by entry (atk39ofd F2). A sealer adds its entry and
    then signs the list, so the list signed ended with ``own`` and the growth is
    what follows it, each a signature not listed before: an entry listed twice (a
    copy adds no signature, and made ``list.index`` see an earlier seal's removal
    as growth) is no growth. And as far as the signature tells what was listed when
    it signed, every ``Signature.xml`` below the folder of ``listing`` that it
    covers is listed before ``own``: one gone, or moved after it, is a list
    shortened or reordered."""
    if not 0 <= at < len(paths) - 1 or paths[at] != own:
        return False  # not listed, or last: nothing was appended after it
    if any(paths.count(path) > 1 for path in paths[at:]):  # at most 100 entries
        return False
    folder = listing.rsplit("/", 1)[0] if "/" in listing else ""
    below = f"{folder}/" if folder else ""
    listed = set(paths[:at])
    return all(
        f in listed
        for f in signed
        if f.startswith(below) and f.rsplit("/", 1)[-1] == "Signature.xml"
    )


def box_mm(text: str, field: str, what: str) -> tuple[float, float, float, float]:
    """A ``Boundary`` or ``PhysicalBox``: x, y, width and height in mm; INVALID_ARGUMENT
    (``field``) naming ``what`` for any other text."""
    try:
        values = [float(v) for v in text.split()]
    except ValueError:
        values = []
    if len(values) != 4 or not all(abs(v) < 1e6 for v in values):
        raise invalid(field, f"{what} {text[:60]!r} is not 'x y width height' in mm")
    return values[0], values[1], values[2], values[3]


def _dirname(path: str) -> str:
    return path.rsplit("/", 1)[0] if "/" in path else ""


@dataclass(frozen=True)
class Reference:
    """A file a signature protects: its path and the digest written in Signature.xml."""

    file: str  # normalised package path
    check_value: bytes


@dataclass(frozen=True)
class Stamp:
    """Where a stamp shows: a page ID and its boundary in mm."""

    page_ref: str
    boundary: tuple[float, float, float, float]


@dataclass(frozen=True)
class SignatureFile:
    """What one ``Signature.xml`` says."""

    path: str
    signed_value_path: str
    method: str  # SignatureMethod, an OID
    signed_at_text: str  # SignatureDateTime as written
    seal_path: str | None
    check_method: str
    references: tuple[Reference, ...]
    stamps: tuple[Stamp, ...]


def read_signature_file(
    package: OfdPackage, path: str, field: str = "ofd"
) -> SignatureFile:
    """Parse a ``Signature.xml``; INVALID_ARGUMENT (``field``) if it is not one."""
    root = package_xml(package, path, field)
    base = _dirname(path)
    info = child(root, "SignedInfo")
    if local(root.tag) != "Signature" or info is None:
        raise invalid(field, f"{path} is not an OFD Signature (no SignedInfo)")
    signed_value = element_texts(root, "SignedValue")
    if not any(loc.strip() for loc in signed_value):
        raise invalid(field, f"{path} names no SignedValue")
    seal = child(info, "Seal")
    seal_loc = element_texts(seal, "BaseLoc")
    refs_el = child(info, "References")
    references = []
    listed = children(refs_el, "Reference") if refs_el is not None else []
    if len(listed) > MAX_OFD_REFERENCES:
        raise invalid(
            field,
            f"{path} has {len(listed)} References; the limit is {MAX_OFD_REFERENCES}",
        )
    for ref in listed:
        encoded = text_of(child(ref, "CheckValue"))
        if len(encoded) > 4 * ((MAX_CHECK_VALUE_BYTES + 2) // 3):
            raise invalid(
                field,
                f"{path}: a CheckValue of {len(encoded)} characters is no digest "
                f"(a digest is at most {MAX_CHECK_VALUE_BYTES} bytes)",
            )
        try:
            value = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise invalid(field, f"{path}: a CheckValue is not base64") from None
        if len(value) > MAX_CHECK_VALUE_BYTES:
            raise invalid(
                field,
                f"{path}: a CheckValue of {len(value)} bytes is no digest (a digest "
                f"is at most {MAX_CHECK_VALUE_BYTES} bytes)",
            )
        # "an absolute path in the package" (GB/T 33190 §18): from the root,
        # only ./x and ../x from the folder; one reading, whatever files the
        # package holds, unless readers' readings differ (then ambiguous)
        file = one_file(
            package,
            attribute_values(ref, "FileRef"),
            field,
            f"{path}: a Reference's FileRef",
            base=base,
            explicit_relative=True,
        )
        references.append(Reference(file, value))
    stamps = [
        Stamp(s.get("PageRef", ""), box_mm(s.get("Boundary", ""), field, path))
        for s in children(info, "StampAnnot")
    ]
    return SignatureFile(
        path=path,
        # also as ofdrw's getStampAnnots reads it (from its folder twice) and
        # as ofd.js does (its first slash removed): the stamp's picture is read
        # from that file (atk40ofd L2)
        signed_value_path=one_file(
            package,
            signed_value + ofd_js_signed_value(signed_value),
            field,
            f"{path}: SignedValue",
            base=base,
            again=True,
        ),
        method=text_of(child(info, "SignatureMethod")),
        signed_at_text=text_of(child(info, "SignatureDateTime")),
        seal_path=(
            one_file(package, seal_loc, field, f"{path}: Seal BaseLoc", base=base)
            if any(loc.strip() for loc in seal_loc)
            else None
        ),
        check_method=(refs_el.get("CheckMethod", "") if refs_el is not None else ""),
        references=tuple(references),
        stamps=tuple(stamps),
    )
