"""certseal shared kernel: identifiers, crypto suites, codes, events, outbox, db, grpc."""
