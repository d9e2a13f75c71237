"""certseal's services; each package is one service (docs/architecture.md §3)."""

import _signal  # builtin, loaded at every start
import sys as _sys

# ``python -m services...`` being located (runpy sets argv[0] to "-m" until it runs
# the module): a SIGINT while this package and the kernel load ends the process by the
# signal, quietly, where Python printed a KeyboardInterrupt traceback from this file
# (CI: a console interrupted 0.05 s into its start; a loaded machine spends tens of
# milliseconds here). Python's handler is back once they are loaded: a service's
# __main__ hands SIGINT to the OS itself (certseal.interrupt), and the CLI and the
# other modules handle KeyboardInterrupt. A SIGINT the process was started ignoring
# stays ignored.
_QUIET = _sys.argv[:1] == ["-m"] and (
    _signal.getsignal(_signal.SIGINT) is _signal.default_int_handler
)
if _QUIET:
    _signal.signal(_signal.SIGINT, _signal.SIG_DFL)

import certseal  # noqa: E402, F401 - sets gRPC's log verbosity before grpc starts

if _QUIET:
    _signal.signal(_signal.SIGINT, _signal.default_int_handler)
