"""certseal's services; each package is one service (docs/architecture.md §3)."""

import certseal  # noqa: F401 - first: sets gRPC's log verbosity before grpc starts
