"""The counter console: an HTTPS page for counter clerks and platform operators."""
