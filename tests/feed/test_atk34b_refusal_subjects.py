"""atk34b C1: what a refused EventFeedAdmin change records of its subject
(services/feed/refusals.py, d2ee627). The audit trail must hold no personal data in
clear; the subject is recorded when it has the integrator identity's shape and
``certseal.audit.recordable`` finds no identity number in it. An integrator name
allows ``.``, ``_`` and ``-``, and the check counts one non-letter between digit
runs as none, but not two; and a mobile number is personal data it never looks for.

The store is faked (the rows it would write): no database."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import pytest

from certseal.rpc import Caller, KindRefused
from certseal.v1 import feed_pb2 as pb
from services.feed.refusals import audit_refused_call

_AT = dt.datetime(2026, 12, 5, tzinfo=dt.UTC)
_METHOD = "/certseal.v1.EventFeedAdmin/RemoveEntitlement"


class _Rows:
    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    async def audit_refusal(self, **row: Any) -> None:
        self.rows.append(row)


def _subject(integrator: str) -> str:
    rows = _Rows()
    audit = audit_refused_call(rows, lambda: _AT)  # type: ignore[arg-type]
    request = pb.RemoveEntitlementRequest(integrator=integrator)
    caller = Caller(kind="integrator", name="rival")
    refused = KindRefused(caller, "integrator:rival may not call")
    asyncio.run(audit(caller, _METHOD, request, refused))
    assert len(rows.rows) == 1 and rows.rows[0]["action"] == "feed.unentitle"
    return str(rows.rows[0]["subject"])


@pytest.mark.parametrize(
    "integrator",
    ["integrator:110105__19491231002X", "integrator:110105-.19491231002X"],
)
def test_an_identity_number_split_by_two_separators_is_not_recorded(
    integrator: str,
) -> None:
    assert "19491231002" not in _subject(integrator)


def test_a_mobile_number_is_not_recorded() -> None:
    assert "13800138000" not in _subject("integrator:13800138000")


def test_an_identity_number_split_once_and_an_ordinary_name() -> None:
    """held: one separator is seen through; an integrator's name is recorded."""
    assert _subject("integrator:110105-19491231002X") == "-"
    assert _subject("integrator:acme-2026") == "integrator:acme-2026"
    assert _subject("integrator:a\u202eb\n") == "-"
    assert _subject("integrator:" + "a" * 100_000) == "-"
