"""The supported-versions table of docs/operations.md, as ``make k8s-check`` reads it.

The table under "### Supported versions" has a row per platform component: its name,
its key in backticks (``kubernetes``, ``strimzi``, ``cloudnative-pg``,
``barman-cloud-plugin``, ``cert-manager``, ``prometheus-operator``), the minimum and
the newest version supported. The check validates the manifests against the schemas of
both (deploy/crd-schemas/<key>/<version>/), so the table cannot name a version the
manifests were not checked against.
"""

from __future__ import annotations

from pathlib import Path

OPERATIONS = Path(__file__).resolve().parent.parent / "docs" / "operations.md"
HEADING = "### Supported versions"
KEYS = (
    "kubernetes",
    "strimzi",
    "cloudnative-pg",
    "barman-cloud-plugin",
    "cert-manager",
    "prometheus-operator",
)


def supported_versions(text: str | None = None) -> dict[str, tuple[str, str]]:
    """key -> (minimum, newest), from the table; ValueError naming what is wrong."""
    text = OPERATIONS.read_text() if text is None else text
    if HEADING not in text:
        raise ValueError(f"docs/operations.md has no {HEADING!r} section")
    section = text.split(HEADING, 1)[1]
    rows = []
    started = False
    for line in section.splitlines():
        if line.startswith("|"):
            started = True
            rows.append([c.strip() for c in line.strip().strip("|").split("|")])
        elif started:
            break
    found: dict[str, tuple[str, str]] = {}
    for row in rows[2:]:
        if len(row) < 4:
            raise ValueError(f"supported versions: a row needs 4 columns: {row}")
        key, low, high = row[1].strip("`"), row[2], row[3]
        if key not in KEYS:
            raise ValueError(f"supported versions: unknown component key {key!r}")
        found[key] = (low, high)
    missing = [k for k in KEYS if k not in found]
    if missing:
        raise ValueError(f"supported versions: no row for {', '.join(missing)}")
    return found
