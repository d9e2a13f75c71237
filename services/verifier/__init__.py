"""Verifier service: counters verify scanned licence codes against a local index."""
