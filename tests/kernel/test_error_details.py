"""A status's details are bounded: a message quoting 1 MB of input still reaches the
caller (gRPC clients refuse trailing metadata over 16 KiB and lose the answer)."""

from __future__ import annotations

from certseal.errors import (
    MAX_DETAILS,
    MAX_FIELD,
    invalid,
    not_found,
    status_details,
    status_field,
)


def test_a_short_message_is_sent_whole():
    exc = invalid("type_code", "unknown licence type 'X1'")
    assert status_details(exc) == "type_code: unknown licence type 'X1'"


def test_a_message_quoting_a_megabyte_is_cut_and_says_so():
    exc = not_found(f"department {'x' * 1_048_576}", field="department_code")
    text = status_details(exc)
    assert text.startswith("department_code: department xxx")
    assert text.endswith(f"… ({len(str(exc)) - MAX_DETAILS} more characters)")
    assert len(text) < MAX_DETAILS + 40


def test_wide_characters_stay_under_the_clients_metadata_limit():
    # grpc-message is percent-encoded: a 4-byte UTF-8 character takes 12 bytes
    exc = invalid(f"fields[{'𠈌' * 100_000}]", "𠈌" * 100_000)
    encoded = status_details(exc).encode() + status_field(exc).encode()
    assert len(encoded) * 3 < 8 * 1024


def test_a_field_path_naming_a_huge_map_key_is_cut():
    exc = invalid(f"fields[{'k' * 1_048_576}]", "unknown field")
    field = status_field(exc)
    assert field.startswith("fields[kkk") and "more characters)" in field
    assert len(field) < MAX_FIELD + 40
    assert status_field(invalid("class", "x")) == "class"
