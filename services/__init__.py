"""certseal's services; each package is one service (docs/architecture.md §3)."""

import sys as _sys

#: the services run as ``python -m services.<name>``, whose ``__main__`` hands SIGINT to
#: the OS until the service sets its own handler (certseal.interrupt)
SERVICE_MAINS = ("console", "feed", "issuer", "seal", "tlog", "verifier")

# ``python -m services.<service>`` being located (runpy sets argv[0] to "-m" until it
# runs the module): a SIGINT while this package and the kernel load ends the start
# quietly too, as it does once the service's __main__ runs. A loaded machine spends
# tens of milliseconds here (CI: a KeyboardInterrupt traceback from this file).
if _sys.argv[:1] == ["-m"]:
    _ran = _sys.orig_argv[_sys.orig_argv.index("-m") + 1 :][:1]
    if _ran in ([f"services.{name}"] for name in SERVICE_MAINS):
        import _signal

        _signal.signal(_signal.SIGINT, _signal.SIG_DFL)

import certseal  # noqa: E402, F401 - first: sets gRPC's log verbosity before grpc starts
