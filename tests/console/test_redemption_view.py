"""The console's redemption answer carries what the counter page shows a clerk: the
licence type's name, the holder's masked name, the shared fields' titles and the
department's name (not only its code)."""

from __future__ import annotations

import datetime as dt

from certseal.v1 import issuer_pb2, licence_pb2
from services.console.convert import redemption_view


def test_the_answer_names_the_type_the_holder_the_titles_and_the_department():
    reply = issuer_pb2.RedeemAuthorisationResponse(
        authorisation=issuer_pb2.Authorisation(
            authorisation_id="a1",
            identifier="L1",
            department_code="91350200M00020000L",
            department_name="厦门市公安局",
            purpose="驾驶证核查",
        ),
        fields={
            "address": licence_pb2.FieldValue(string_value="深圳市福田区"),
            "class": licence_pb2.FieldValue(string_value="C1"),
        },
        type_code="T1",
        type_name="机动车驾驶证",
        field_titles={"address": "住址", "class": "准驾车型"},
        holder_display_name="张*",
    )
    view = redemption_view(reply, redeemed_at=dt.datetime(2026, 12, 6, tzinfo=dt.UTC))
    assert view["type_name"] == "机动车驾驶证" and view["type_code"] == "T1"
    assert view["holder_display_name"] == "张*"
    assert view["field_titles"] == {"address": "住址", "class": "准驾车型"}
    assert view["department"] == view["department_name"] == "厦门市公安局"


def test_the_answer_carries_what_the_copy_says():
    """atk41h: the page says what the copy says, so the answer carries it: the version
    the copy is of (not the one authorised, after a renewal), the moment it is valid
    before and its own words; an issuer that sends no such moment answers null."""
    reply = issuer_pb2.RedeemAuthorisationResponse(
        authorisation=issuer_pb2.Authorisation(identifier="L1.v1", purpose="开户"),
        copy_identifier="L1.v2",
        copy_statement="仅供厦门市公安局使用，2026年12月11日前有效",
        copy_purpose_line="开户",
    )
    reply.authorisation.expires_at.FromDatetime(dt.datetime(2027, 1, 5, tzinfo=dt.UTC))
    view = redemption_view(reply, redeemed_at=dt.datetime(2026, 12, 6, tzinfo=dt.UTC))
    assert view["copy_valid_until"] is None
    reply.copy_valid_until.FromDatetime(dt.datetime(2026, 12, 10, 16, tzinfo=dt.UTC))
    view = redemption_view(reply, redeemed_at=dt.datetime(2026, 12, 6, tzinfo=dt.UTC))
    assert view["identifier"] == "L1.v1" and view["copy_identifier"] == "L1.v2"
    assert view["copy_valid_until"] == "2026-12-10T16:00:00Z"
    assert view["expires_at"] == "2027-01-05T00:00:00Z"
    assert view["copy_statement"] == "仅供厦门市公安局使用，2026年12月11日前有效"
    assert view["copy_purpose_line"] == "开户"
