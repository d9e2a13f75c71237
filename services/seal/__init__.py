"""Seal service: departments and enterprises seal documents; anyone verifies them."""
