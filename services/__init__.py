"""certseal's services; each package is one service (docs/architecture.md §3)."""

import _signal  # builtin, loaded at every start
import sys as _sys
from os import path as _path


def _module_run(argv: list[str]) -> str | None:
    """The MODULE of a ``python [options] -m MODULE ...`` command line (``argv``:
    :data:`sys.orig_argv`), else None. Options as CPython reads them: single letters
    combine (``-um``), ``-m``'s value may be attached (``-mservices.seal``), ``-W``
    and ``-X`` take a value, ``-c`` or a script ends the options."""
    args = iter(argv[1:])
    for arg in args:
        if arg == "--check-hash-based-pycs":
            next(args, None)
            continue
        if arg.startswith("--"):
            continue
        if not arg.startswith("-") or arg == "-":
            return None
        for at, letter in enumerate(arg[1:], start=2):
            if letter == "m":
                return arg[at:] or next(args, None)
            if letter == "c":
                return None
            if letter in "WX":
                if not arg[at:]:
                    next(args, None)
                break
    return None


def _a_service_process(module: str | None) -> bool:
    """Whether ``module`` is a service process's: ``services.<name>`` (or its
    ``__main__``) where ``services/<name>/__main__.py`` exists. Each such ``__main__``
    hands SIGINT to the OS as its first statement (certseal.interrupt); the CLI
    (``python -m services``) and every other module handle KeyboardInterrupt."""
    parts = (module or "").removesuffix(".__main__").split(".")
    return (
        len(parts) == 2
        and parts[0] == __name__
        and _path.isfile(_path.join(_path.dirname(__file__), parts[1], "__main__.py"))
    )


# ``python -m services...`` being located (runpy sets argv[0] to "-m" until it runs
# the module): a SIGINT while this package and the kernel load ends the process by the
# signal, quietly, where Python printed a KeyboardInterrupt traceback from this file
# (CI: a console interrupted 0.05 s into its start; a loaded machine spends tens of
# milliseconds here). A service process keeps the OS default from here on: its
# ``__main__`` would set it again, and a KeyboardInterrupt raised between the two,
# while runpy imports that ``__main__``, could land where Python only reports it
# ("Exception ignored in ...", the import system's module-lock clean-up) and the
# service went on to serve with its Ctrl-C lost (CI, 2026-12-07: a console
# interrupted 0.05 s into its start was still serving 60 s later). For the CLI and any
# other module Python's handler is back once the kernel is loaded: they handle
# KeyboardInterrupt. A SIGINT the process was started ignoring stays ignored.
_QUIET = _sys.argv[:1] == ["-m"] and (
    _signal.getsignal(_signal.SIGINT) is _signal.default_int_handler
)
if _QUIET:
    _signal.signal(_signal.SIGINT, _signal.SIG_DFL)

import certseal  # noqa: E402, F401 - sets gRPC's log verbosity before grpc starts

if _QUIET and not _a_service_process(_module_run(_sys.orig_argv)):
    _signal.signal(_signal.SIGINT, _signal.default_int_handler)
