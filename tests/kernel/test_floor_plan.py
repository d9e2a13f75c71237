"""The floor plan's checks that import contracts cannot express (docs/architecture.md §3).

The import contracts (`lint-imports` in `make lint`) check who imports whom; these check
the rest: file sizes, where asyncpg and SQL appear, and that servicers never reach the
store. Pure: no I/O beyond reading the source tree.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCES = sorted(
    p
    for folder in ("certseal", "services")
    for p in (ROOT / folder).rglob("*.py")
    if "v1" not in p.relative_to(ROOT).parts  # generated protobuf code
)
SERVICES = ("issuer", "verifier", "seal", "feed", "console", "tlog")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _is_storage(path: Path) -> bool:
    return "storage" in path.relative_to(ROOT).with_suffix("").parts[-2:] or (
        path.stem == "storage"
    )


def test_the_sources_were_found():
    assert len(SOURCES) > 50
    assert ROOT / "certseal" / "config.py" in SOURCES


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_source_file_is_over_500_lines(path):
    lines = len(path.read_text().splitlines())
    assert lines <= 500, f"{path.relative_to(ROOT)} has {lines} lines"


def test_the_kernel_imports_no_service():
    offenders = [
        str(p.relative_to(ROOT))
        for p in SOURCES
        if p.is_relative_to(ROOT / "certseal")
        and any(n == "services" or n.startswith("services.") for n in _imports(p))
    ]
    assert offenders == []


def test_asyncpg_is_imported_only_in_storage_rooms():
    offenders = [
        str(p.relative_to(ROOT))
        for p in SOURCES
        if "asyncpg" in _imports(p) and not _is_storage(p)
    ]
    assert offenders == []


SERVICERS = sorted((ROOT / "services").glob("*/*servicer.py"))


def test_every_grpc_service_has_its_servicer():
    # (the console serves HTTPS, not gRPC: it has no servicer)
    rooms = {p.parent.name for p in SERVICERS if p.name == "servicer.py"}
    assert rooms == {s for s in SERVICES if s != "console"}


@pytest.mark.parametrize("path", SERVICERS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_a_servicer_neither_imports_storage_nor_calls_the_store(path):
    imported = _imports(path)
    assert not [n for n in imported if "storage" in n or n == "asyncpg"], imported
    text = path.read_text()
    assert not re.search(r"\bstore\b|\._store\b|\.fetch(row|val)?\(|\.execute\(", text)


#: the embedded stack creates its database through pgserver's psql, before any pool
SQL_ELSEWHERE = {"certseal/devstack.py"}


def test_sql_lives_in_storage_rooms():
    sql = re.compile(
        r"""["']\s*(select|insert into|update \w+ set|delete from)\s""", re.I
    )
    offenders = [
        str(p.relative_to(ROOT))
        for p in SOURCES
        if sql.search(p.read_text()) and not _is_storage(p)
    ]
    offenders = [o for o in offenders if o not in SQL_ELSEWHERE]
    assert offenders == []


# -- every client error a service raises names its field ----------------------------

#: the kernel's constructors of its typed error (certseal/errors.py)
_ERROR_MAKERS = {"CertsealError", "precondition", "denied", "not_found", "invalid"}
#: kinds that are the service's own trouble, not the caller's: no field to name
_SERVER_KINDS = {"UNAVAILABLE", "INTERNAL", "ABORTED"}


def _fieldless_errors(source: str) -> list[str]:
    """The calls in ``source`` that make a client error (every kind but UNAVAILABLE,
    INTERNAL, ABORTED) without a field: the CLI could not print them as
    ``error: <field>: <problem>``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = (
            func.id
            if isinstance(func, ast.Name)
            else func.attr
            if isinstance(func, ast.Attribute)
            else ""
        )
        if name not in _ERROR_MAKERS:
            continue
        if name == "invalid" and node.args:  # invalid(field, message)
            continue
        if any(k.arg == "field" for k in node.keywords):
            continue
        kind = node.args[0] if name == "CertsealError" and node.args else None
        if isinstance(kind, ast.Attribute) and kind.attr in _SERVER_KINDS:
            continue
        found.append(f"{node.lineno}: {ast.unparse(node)[:120]}")
    return found


def test_the_field_check_finds_a_fieldless_refusal():
    bad = "raise denied('no')\nraise precondition('x')\nraise not_found('y')\n"
    good = (
        "raise denied('no', field='as')\n"
        "raise CertsealError(ErrorKind.UNAVAILABLE, 'down')\n"
        "raise invalid('code', 'bad')\n"
    )
    assert len(_fieldless_errors(bad)) == 3
    assert _fieldless_errors(good) == []


def test_every_client_error_a_service_raises_names_its_field():
    offenders = [
        f"{path.relative_to(ROOT)}:{where}"
        for path in SOURCES
        if path.relative_to(ROOT).parts[0] == "services"
        for where in _fieldless_errors(path.read_text())
    ]
    assert not offenders, "client errors without a field:\n" + "\n".join(offenders)
