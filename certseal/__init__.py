"""certseal's shared kernel: the vocabulary and plumbing every service uses, and no service.

Pure modules: identifiers, errors, timestamps, events, audit, cose, codes, crypto,
config, cli. I/O modules: storage (the only one that talks to PostgreSQL), kafka, rpc, process,
metrics, qr, secretfiles, devstack, devpki. See docs/architecture.md §3.2.
"""
