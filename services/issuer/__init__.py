"""Issuer service: departments issue signed electronic licences over gRPC."""
