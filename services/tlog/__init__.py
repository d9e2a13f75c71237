"""The transparency log: an RFC 9162 Merkle log of the platform's events."""
