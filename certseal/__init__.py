"""certseal's shared kernel: the vocabulary and plumbing every service uses, and no service.

Pure modules: identifiers, errors, timestamps, events, audit, cose, codes, crypto,
config, cli. I/O modules: storage (the only one that talks to PostgreSQL), kafka, rpc, process,
metrics, qr, secretfiles, devstack, devpki. See docs/architecture.md §3.2.
"""

import os as _os
import warnings as _warnings

# gRPC's C core writes its own lines to stderr, beside the services' JSON log, one per
# event: at INFO, one for every TLS handshake a client fails (a stranger can make any
# number), or a fork. Only its errors are written unless the operator sets
# GRPC_VERBOSITY (README, "What `make run` brings up"); read when grpc starts, so set here,
# before any certseal module imports grpc.
_os.environ.setdefault("GRPC_VERBOSITY", "ERROR")

# cryptography 51 deprecates DSA, and pyHanko imports its DSA key class for the
# signatures it can read: every command and service that loads pyHanko printed a
# CryptographyDeprecationWarning line (trial37, `seal pdf`). certseal makes and accepts
# no DSA signature; the warning says nothing its users can act on.
_warnings.filterwarnings("ignore", message="DSA is deprecated")
