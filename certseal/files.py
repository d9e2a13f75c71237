"""Files from outside, read within a bound: images, bundles, documents, secrets,
configurations named on a command line or in a configuration.

``Path.read_bytes`` reads whatever a path leads to until it ends: ``/dev/zero`` never
ends (MemoryError, or the process is killed), a FIFO blocks the reader forever, and the
size from ``stat`` is 0 for both, so a size check before reading proves nothing.
:func:`read_regular_file` opens without blocking, refuses anything but a regular file
(on the opened descriptor, so a path swapped after a check cannot slip by), and never
reads more than its limit and one byte.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterator
from pathlib import Path

from certseal.errors import CertsealError, invalid
from certseal.sizes import over_limit
from certseal.text import shown_name

BOM = b"\xef\xbb\xbf"
"""A UTF-8 byte order mark, as a Windows editor starts a file with: dropped from
the PEM files read here (OpenSSL's and gRPC's PEM readers would not take the file)."""


def without_bom(data: bytes) -> bytes:
    """``data`` without a leading UTF-8 byte order mark."""
    return data[len(BOM) :] if data.startswith(BOM) else data


CHUNK_BYTES = 1024 * 1024
"""Bytes read at a time from a file from outside."""


def _open_regular(path: str | Path, field: str) -> tuple[int, os.stat_result]:
    """The descriptor and status of the regular file at ``path``, opened without
    blocking; INVALID_ARGUMENT (``field``) as :func:`read_regular_file` says."""
    try:
        # O_NONBLOCK: opening a FIFO with no writer must not wait for one
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise invalid(field, f"cannot read {str(path)!r}: {exc.strerror}") from None
    except ValueError:  # a NUL or a lone surrogate in the path
        raise invalid(field, f"{str(path)!r} is not a usable path") from None
    try:
        status = os.fstat(fd)
        if not stat.S_ISREG(status.st_mode):
            raise invalid(field, f"not a regular file: {shown_name(path)}")
    except OSError as exc:
        os.close(fd)
        raise invalid(field, f"cannot read {str(path)!r}: {exc.strerror}") from None
    except CertsealError:
        os.close(fd)
        raise
    return fd, status


def read_regular_file(
    path: str | Path, field: str, limit: int, *, limit_text: str = ""
) -> bytes:
    """The bytes of the regular file at ``path``, at most ``limit`` of them.

    Raises INVALID_ARGUMENT (``field``) when the path does not lead to a regular file
    (a device, a FIFO, a socket, a directory), when the file holds more than ``limit``
    bytes (at most ``limit`` + 1 are read to tell), or when it cannot be opened or read
    (named with the operating system's reason). The refusal says the size as
    :func:`certseal.sizes.over_limit` does; ``limit_text`` states the limit in it
    (default: ``limit`` in MiB, KiB or bytes).
    """
    return read_regular_file_status(path, field, limit, limit_text=limit_text)[0]


def read_regular_file_status(
    path: str | Path, field: str, limit: int, *, limit_text: str = ""
) -> tuple[bytes, os.stat_result]:
    """:func:`read_regular_file`, and the status of the file read (its descriptor's,
    as opened: the file a path switched meanwhile led to, not the one a ``stat``
    of the path saw before)."""
    fd, status = _open_regular(path, field)
    try:
        chunks: list[bytes] = []
        left = limit + 1
        while left > 0:
            chunk = os.read(fd, min(left, CHUNK_BYTES))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
    except OSError as exc:
        raise invalid(field, f"cannot read {str(path)!r}: {exc.strerror}") from None
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) > limit:
        size = max(status.st_size, len(data))
        # the file named: one of several (a seal command's) is told apart (trial50)
        said = over_limit(size, limit, limit_text=limit_text)
        raise invalid(field, f"{shown_name(str(path))} {said}")
    return data, status


def read_input_file(
    path: str | Path, field: str, limit: int, *, limit_text: str = ""
) -> bytes:
    """:func:`read_regular_file` for a file the user gave a command: INVALID_ARGUMENT
    (``field``, the option or argument naming it) also when the file is empty, said
    so, not left to a service that would name its own request field (``pdf: is
    required``)."""
    data = read_regular_file(path, field, limit, limit_text=limit_text)
    if not data:
        raise invalid(
            field,
            f"{shown_name(path)} is empty (0 bytes): give the file with its content",
        )
    return data


class InputFile:
    """A file the user gave a command, to be read in chunks, never whole (``seal
    document`` digests a document of any size): opened and checked as
    :func:`read_input_file` checks it (a regular file, not empty: INVALID_ARGUMENT
    ``field``), before anything is asked of a service. A context manager; closed on
    leaving it."""

    def __init__(self, path: str | Path, field: str) -> None:
        self.path, self.field = path, field
        self._fd, status = _open_regular(path, field)
        #: its size when opened, and its first chunk (what it is: its kind)
        self.size = status.st_size
        try:
            self._first = self.head = self._read()
        except CertsealError:
            self.close()
            raise
        if not self._first:
            self.close()
            raise invalid(
                field,
                f"{shown_name(path)} is empty (0 bytes): give the file with its "
                "content",
            )

    def _read(self) -> bytes:
        try:
            return os.read(self._fd, CHUNK_BYTES)
        except OSError as exc:
            raise invalid(
                self.field, f"cannot read {str(self.path)!r}: {exc.strerror}"
            ) from None

    def chunks(self) -> Iterator[bytes]:
        """The file's bytes from the start, :data:`CHUNK_BYTES` at a time (once)."""
        chunk, self._first = self._first, b""
        while chunk:
            yield chunk
            chunk = self._read()

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> InputFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def certificate_common_name(path: str | Path, field: str) -> str:
    """The subject common name of the PEM certificate at ``path`` ("" when it names
    none): the mTLS identity a process presents (docs/operations.md, "Security model").

    Raises INVALID_ARGUMENT (``field``) when the file cannot be read within
    :data:`~certseal.bounds.MAX_SMALL_FILE_BYTES` or is not a PEM X.509 certificate.
    """
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    from certseal.bounds import MAX_SMALL_FILE_BYTES
    from certseal.certificates import CERTIFICATE_ERRORS

    data = without_bom(read_regular_file(path, field, MAX_SMALL_FILE_BYTES))
    try:
        cert = x509.load_pem_x509_certificate(data)
    except CERTIFICATE_ERRORS:
        raise invalid(
            field, f"{shown_name(path)} is not a PEM X.509 certificate"
        ) from None
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else ""


def is_missing(path: str | Path, field: str) -> bool:
    """Whether nothing is at ``path`` (ENOENT: a file a setting may leave out, such
    as a font). Any other failure to look (a folder on the way this process may not
    enter, a path under a regular file, a symbolic link loop) is no absence:
    INVALID_ARGUMENT (``field``) with the operating system's reason
    (``os.path.lexists`` says False for all of them)."""
    try:
        os.lstat(path)
    except FileNotFoundError:
        return True
    except OSError as exc:
        raise invalid(field, f"cannot reach {str(path)!r}: {exc.strerror}") from None
    except ValueError:  # a NUL in the path
        raise invalid(field, f"{str(path)!r} is not a usable path") from None
    return False


def write_atomically(path: Path, data: bytes) -> None:
    """Replace the file at ``path`` with ``data``, durably: a crash leaves the old
    file or the new one, never a part.

    The bytes go to ``<name>.tmp`` beside it first, made afresh: whatever a stale
    scratch was (a file, a symbolic link, a FIFO) is removed, never followed or
    opened, so nothing outside the folder is written through a link and nothing
    waits on a FIFO. The file is made as ``open()`` makes one (the umask applies),
    synced before the rename (POSIX ``rename(2)``) and its folder after, when the
    folder may be read. OSError when the folder cannot be written, when ``path`` or
    the scratch name is a directory, or when the folder's sync fails.
    """
    scratch = path.with_name(path.name + ".tmp")
    scratch.unlink(missing_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(scratch, flags, 0o666)  # as open() makes a file: the umask applies
    replace_from(fd, str(scratch), path, data)


def replace_from(
    fd: int, scratch: str, path: Path, data: bytes, *, mode: int | None = None
) -> None:
    """Write ``data`` through ``fd`` (the new file ``scratch``, beside ``path``, open
    for writing; closed here), with permission bits ``mode`` when given, sync it,
    rename it over ``path`` (POSIX ``rename(2)``: the old file or the new one, never
    a part) and sync the folder when it may be read. On an OSError the scratch file
    is removed and the error raised."""
    try:
        try:
            if mode is not None:
                os.fchmod(fd, mode)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(scratch, path)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(scratch)
        raise
    try:  # the rename, durably; a folder that may be written but not read keeps it
        folder = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except PermissionError:
        return
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


def folder_entries(folder: str | Path, field: str, suffix: str) -> list[Path]:
    """The entries of ``folder`` whose names end in ``suffix``, sorted.
    INVALID_ARGUMENT (``field``) when it is no folder or cannot be listed (a folder
    that may be entered but not read: ``Path.glob`` would say it is empty)."""
    try:
        with os.scandir(folder) as entries:
            names = sorted(entry.name for entry in entries)
    except NotADirectoryError:
        raise invalid(field, f"{folder} is not a folder") from None
    except OSError as exc:
        raise invalid(field, f"cannot list {str(folder)!r}: {exc.strerror}") from None
    except ValueError:
        raise invalid(field, f"{str(folder)!r} is not a usable path") from None
    return [Path(folder) / name for name in names if name.endswith(suffix)]


def check_readable(setting: str, path: str) -> None:
    """CertsealError(INVALID_ARGUMENT, field ``setting``) unless ``path`` is a
    regular file this process may read: for a file a library opens itself (an SSL
    context's ``load_cert_chain`` says ``[Errno 2] No such file or directory``, naming
    neither the file nor the setting)."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            raise invalid(setting, f"not a regular file: {shown_name(path)}")
        with open(path, "rb"):
            pass
    except OSError as exc:
        raise invalid(setting, f"cannot read {path!r}: {exc.strerror}") from None
