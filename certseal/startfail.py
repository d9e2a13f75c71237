"""How a service process tells a start that failed: one line naming what to fix,
``<prog>: error: <setting>: <problem>``, and an exit status (2 for a wrong
setting, 1 for anything else), never a traceback."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import signal
import sys
from collections.abc import Sequence
from typing import Any, NoReturn, Protocol

from certseal.config import where_set
from certseal.errors import CertsealError, ErrorKind, invalid

START_FAILURES = (CertsealError, OSError, ValueError, RuntimeError)
"""What a start-up may fail with that is the operator's to fix (a port taken, a secret
file missing, a token that does not open): one line, no traceback."""


def exit_status(exc: BaseException) -> int:
    """A failed start's exit status: 2 when a setting is wrong (a CertsealError
    INVALID_ARGUMENT naming it: a malformed value, a file that does not exist, a port
    another process holds), as the ``certseal`` commands and argparse end on bad input,
    and as the verifier does; 1 for anything else the operator must fix (a PKCS#11
    token that does not open, a database that refuses the connection)."""
    wrong_setting = (
        isinstance(exc, CertsealError) and exc.kind is ErrorKind.INVALID_ARGUMENT
    )
    return 2 if wrong_setting else 1


SETTINGS_FAULTS = frozenset(
    {
        errno.ENOENT,
        errno.EACCES,
        errno.EPERM,
        errno.EISDIR,
        errno.ENOTDIR,
        errno.ELOOP,
        errno.ENAMETOOLONG,
    }
)
"""The errors of opening a file that are its path's fault: a setting to change. Too
many open files, an I/O error or no memory are the machine's, and stay exit 1."""


def setting_naming(cfg: Any, path: str) -> str | None:
    """The ``section.setting`` of ``cfg`` (a configuration of sections) whose value
    is ``path``, or one of whose values is (a list setting); None when none is. For
    an error that names the setting behind a file the OS could not open. An empty
    ``path`` is no setting's (an empty setting is one not used)."""
    if not path:
        return None
    for section in getattr(cfg, "__struct_fields__", ()):
        values = getattr(cfg, section)
        for name in getattr(values, "__struct_fields__", ()):
            value = getattr(values, name)
            if value == path or (isinstance(value, list) and path in value):
                return f"{section}.{name}"
    return None


def naming_the_setting(exc: BaseException, cfg: Any) -> BaseException:
    """``exc`` as a wrong setting (CertsealError INVALID_ARGUMENT naming it) when it
    is an OSError about a file that a setting of ``cfg`` names (``[Errno 2] No such
    file or directory``); else ``exc``. (Secret files name their setting themselves:
    :func:`certseal.secretfiles.read_secret_file`.)"""
    if (
        isinstance(exc, OSError)
        and exc.filename is not None
        and exc.errno in SETTINGS_FAULTS
    ):
        path = os.fsdecode(exc.filename)
        setting = setting_naming(cfg, path)
        if setting is not None:
            return invalid(setting, f"cannot read {path!r}: {exc.strerror or exc}")
    return exc


def leave(
    prog: str, exc: BaseException, cfg: Any = None, paths: Sequence[str] = ()
) -> NoReturn:
    """End the process on a failed start: ``<prog>: error: <what>`` on stderr, one
    line, and :func:`exit_status`; a file that a setting of ``cfg`` names is told
    by that setting (:func:`naming_the_setting`), and a setting given by one of
    several ``--config`` files ``paths`` names that file
    (:func:`certseal.config.where_set`)."""
    exc = naming_the_setting(exc, cfg)
    where = where_set(paths, exc.field or "") if isinstance(exc, CertsealError) else ""
    print(f"{prog}: error: {exc}{where}", file=sys.stderr)
    sys.exit(exit_status(exc))


class Runnable(Protocol):
    """What a service's main starts and stops."""

    async def start(self) -> Any:
        """Start serving."""

    async def stop(self) -> None:
        """Stop serving."""


async def start_or_explain(app: Runnable, prog: str) -> BaseException | None:
    """Start ``app``; None when it runs, else what it failed with (one of
    :data:`START_FAILURES`, for :func:`leave`) after stopping what did start (within
    10 s) while the loop still runs: a gRPC server left to its finaliser after the
    loop closed printed a traceback ("Event loop is closed") under the one-line error."""
    try:
        await app.start()
    except START_FAILURES as exc:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(app.stop(), 10)
        return exc
    return None


class StopSignals:
    """Whether this process was sent SIGTERM or SIGINT once :func:`stop_on_signals`
    set its handlers (``came``)."""

    came = False


def stop_on_signals(stop: asyncio.Event) -> None:
    """SIGTERM and SIGINT set ``stop`` and :attr:`StopSignals.came`: a start still
    under way then does not say it listens (trial56: ``issuer listening`` after
    ``stopping issuer``, a stop sent while the issuer started)."""

    def came() -> None:
        StopSignals.came = True
        stop.set()

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, came)
