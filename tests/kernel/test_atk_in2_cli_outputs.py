"""Outside attack "atk-in2" on the files a command writes (``--out``, ``--png``,
``--maker-cert``): written atomically since 62fc70a, by a scratch file renamed over
the path. The rename replaced what the user named instead of writing it: a symbolic
link was replaced by a file (the file it names kept its old contents), and an existing
file's permissions became the umask's (a sealed PDF kept 0600 became 0644, readable by
every user of the machine). Before, the commands wrote through the link and kept the
file's mode, as ``open()`` does, and as the check before the command followed the link.
"""

from __future__ import annotations

import os
from pathlib import Path

from certseal.cli_options import check_output, write_output


def test_atk_in2_an_output_that_is_a_link_is_written_through(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    target = shared / "licence.pdf"
    target.write_bytes(b"old")
    link = tmp_path / "current.pdf"
    link.symlink_to(target)
    check_output(str(link), "out")
    write_output(str(link), b"new", "out")
    assert link.is_symlink(), "the user's link was replaced by a file"
    assert target.read_bytes() == b"new"
    assert sorted(p.name for p in shared.iterdir()) == ["licence.pdf"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["current.pdf", "shared"]


def test_atk_in2_an_output_that_is_a_dangling_link_makes_the_file_it_names(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    link = tmp_path / "current.pdf"
    link.symlink_to(shared / "licence.pdf")
    check_output(str(link), "out")
    write_output(str(link), b"new", "out")
    assert link.is_symlink()
    assert (shared / "licence.pdf").read_bytes() == b"new"


def test_atk_in2_an_output_file_keeps_its_permissions(tmp_path):
    target = tmp_path / "sealed.pdf"
    target.write_bytes(b"old")
    target.chmod(0o600)
    old = os.umask(0o022)
    try:
        write_output(Path(target), b"new", "out")
    finally:
        os.umask(old)
    assert target.read_bytes() == b"new"
    assert oct(target.stat().st_mode & 0o777) == "0o600"


def test_atk_in2_dev_stdout_is_refused_as_not_a_file_whatever_it_is():
    import subprocess
    import sys

    check = (
        "from certseal.cli_options import check_output\n"
        "try:\n    check_output('/dev/stdout', 'out')\n"
        "except Exception as exc:\n    import sys; print(exc, file=sys.stderr)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", check], capture_output=True, text=True, check=True
    )
    assert done.stderr.strip() == (
        "out: /dev/stdout is not a regular file (a device, a FIFO): give a FILE"
    )
