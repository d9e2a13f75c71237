"""``certseal licence get`` and ``licence list`` of a superseded (renewed, amended,
transferred) version: a clerk reads the status line first, so it says plainly that the
version is superseded and by which identifier, before its own recorded status (which
stays "valid (01)": the version was never revoked). It printed ``status valid (01)`` first
and ``superseded by ...`` last, which a clerk read as a current, valid licence."""

from __future__ import annotations

from certseal.cli_options import status_shown
from certseal.v1 import licence_pb2
from services.issuer.licence_cli import _print_licence

OLD = "LIC-OLD-1"
NEW = "LIC-NEW-2"


def _licence(superseded_by: str = "") -> licence_pb2.Licence:
    licence = licence_pb2.Licence(identifier=OLD, status=1, superseded_by=superseded_by)
    licence.holder.name = "张三"
    return licence


def test_get_of_a_superseded_version_says_so_on_its_status_line(capsys):
    _print_licence(_licence(superseded_by=NEW))
    lines = capsys.readouterr().out.splitlines()
    status = next(line for line in lines if line.startswith("status"))
    assert status.split(None, 1)[1].startswith(f"SUPERSEDED by {NEW}"), lines
    assert "not the current version" in status
    assert "valid (01)" in status  # its own status, said as such, after
    # nothing before the status line reads as a verdict
    assert lines[0].startswith("identifier") and lines[1] is status, lines
    assert not any("superseded" in line.lower() for line in lines[2:]), lines


def test_get_of_a_current_version_shows_its_status_alone(capsys):
    _print_licence(_licence())
    out = capsys.readouterr().out
    assert "status      valid (01)\n" in out
    assert "superseded" not in out.lower()


def test_list_and_get_say_a_status_the_same_way():
    assert status_shown(_licence(superseded_by=NEW)).startswith(f"SUPERSEDED by {NEW}")
    assert status_shown(_licence()) == "valid (01)"
