"""Every time comparison of what the console shows, at, just before and just after it.

``services/console/domain.py`` computes the index's age at a verification (seconds, one
decimal, never negative), a verifier group's lag in seconds (three decimals, zero when no
event is pending, never negative) and topic rates between two samples (none unless time
went forward; a topic whose offsets went back counts no events).
"""

import datetime as dt

import pytest

from services.console.domain import (
    GroupStatus,
    LicenceView,
    OutboxStatus,
    PartitionLag,
    PdfSealView,
    TopicRates,
    outbox_status,
)

NOW = dt.datetime(2026, 11, 22, 10, 0, 0, tzinfo=dt.UTC)
US = dt.timedelta(microseconds=1)


def view(index_time: dt.datetime | None, lag: int = 0, **more) -> dict:
    return LicenceView(
        verdict=more.pop("verdict", "EXPIRED"),
        checks=[],
        identifier="i",
        type_code="t",
        issuer_code="c",
        holder_display_name="n",
        fields={},
        valid_from=None,
        valid_until=NOW - US,
        code_kind="licence",
        index_time=index_time,
        index_lag_events=lag,
        verified_at=NOW,
        purpose="p",
        counter="dept:X",
        type_name="机动车驾驶证",
        issuer_name="示例交警支队",
        field_titles={"class": "准驾车型"},
        group="g",
        **more,
    ).to_json()


@pytest.mark.parametrize(
    ("before_now", "age"),
    [
        (dt.timedelta(seconds=-5), 0.0),  # an index clock ahead: never negative
        (-US, 0.0),
        (dt.timedelta(0), 0.0),
        (US, 0.0),
        (dt.timedelta(milliseconds=49), 0.0),
        (dt.timedelta(milliseconds=51), 0.1),
        (dt.timedelta(seconds=2, milliseconds=500), 2.5),
        (dt.timedelta(hours=1), 3600.0),
    ],
)
def test_index_age_at_the_verification(before_now, age):
    shown = view(NOW - before_now, lag=2)["index"]
    assert shown["age_s"] == age
    assert shown["lag_events"] == 2
    assert shown["last_event_time"] == (NOW - before_now).isoformat().replace(
        "+00:00", "Z"
    )


def test_a_view_says_when_the_lag_is_unknown():
    """A verifier cut off from its broker (services.verifier.ends) cannot see what
    was revoked since: the counter page says so."""
    measured = NOW - dt.timedelta(seconds=95)
    shown = view(
        NOW - dt.timedelta(seconds=90),
        verdict="VALID",
        index_lag_unknown=True,
        index_lag_measured_at=measured,
    )
    assert shown["index"]["lag_unknown"] is True and shown["index"]["lag_events"] == 0
    assert shown["index"]["lag_measured_at"] == "2026-11-22T09:58:25Z"
    # not the green "valid, can accept" (nu21): the counter is told to verify again
    assert (shown["verdict"], shown["tone"]) == ("VALID", "warn")
    assert shown["title_en"] == "Valid, index may be stale"


def test_no_index_time_has_no_age():
    assert view(None)["index"] == {
        "last_event_time": None,
        "lag_events": 0,
        "lag_unknown": False,
        "lag_measured_at": None,
        "age_s": None,
    }


def test_the_view_shows_times_in_rfc3339_utc():
    shown = view(None)
    assert shown["valid_until"] == "2026-11-22T09:59:59.999999Z"
    assert shown["valid_from"] is None
    assert shown["verified_at"] == "2026-11-22T10:00:00Z"
    assert shown["tone"] == "bad" and shown["counter"] == "dept:X"


def group(lags: tuple[int, ...], last: dt.datetime | None) -> GroupStatus:
    return GroupStatus(
        target="t",
        group="g",
        serving=True,
        partitions=tuple(
            PartitionLag("certseal.licence-events.v1", n, 10, 10 + lag, lag)
            for n, lag in enumerate(lags)
        ),
        licence_entries=7,
        last_event_time=last,
    )


@pytest.mark.parametrize(
    ("lags", "before_now", "seconds"),
    [
        ((0, 0), dt.timedelta(hours=3), 0.0),  # nothing pending: current
        ((0, 1), dt.timedelta(hours=3), 10800.0),  # one event pending
        ((1,), dt.timedelta(0), 0.0),
        ((1,), -dt.timedelta(seconds=1), 0.0),  # a clock ahead: never negative
        ((1,), US, 0.0),
        ((1,), dt.timedelta(microseconds=499), 0.0),
        ((1,), dt.timedelta(microseconds=501), 0.001),
        ((2, 3), dt.timedelta(seconds=4, milliseconds=250), 4.25),
    ],
)
def test_group_lag_in_seconds(lags, before_now, seconds):
    status = group(lags, NOW - before_now)
    assert status.lag_events == sum(lags)
    assert status.lag_seconds(NOW) == seconds
    shown = status.to_json(NOW)
    assert (shown["lag_events"], shown["lag_seconds"]) == (sum(lags), seconds)
    assert shown["licence_entries"] == 7 and shown["group"] == "g"
    assert [p["lag"] for p in shown["partitions"]] == list(lags)


def test_a_group_behind_without_a_last_event_time_shows_no_seconds():
    assert group((5,), None).lag_seconds(NOW) == 0.0


@pytest.mark.parametrize(
    ("elapsed", "rates"),
    [
        (-1.0, {}),  # the clock went back: no rate
        (0.0, {}),  # no time passed
        (0.5, {"a": 20.0, "b": 0.0}),
        (1.0, {"a": 10.0, "b": 0.0}),
        (3.0, {"a": 3.33, "b": 0.0}),
    ],
)
def test_topic_rates_need_time_to_pass(elapsed, rates):
    topic_rates = TopicRates()
    assert topic_rates.update(100.0, {"a": 90, "b": 5}) == {}
    assert topic_rates.update(100.0 + elapsed, {"a": 100, "b": 5}) == rates


def test_topic_rates_compare_with_the_last_sample_even_a_refused_one():
    rates = TopicRates()
    rates.update(10.0, {"a": 0})
    assert rates.update(9.0, {"a": 50}) == {}
    assert rates.update(10.0, {"a": 60}) == {"a": 10.0}


def test_a_new_topic_and_offsets_going_back_count_no_events():
    rates = TopicRates()
    rates.update(0.0, {"a": 10})
    assert rates.update(2.0, {"a": 9, "new": 500}) == {"a": 0.0, "new": 0.0}
    assert rates.update(4.0, {"a": 11, "new": 504}) == {"a": 1.0, "new": 2.0}


def test_outbox_relay_lag_and_pdf_seal_times():
    text = "# TYPE certseal_outbox_relay_lag_seconds gauge\n"
    text += "certseal_outbox_relay_lag_seconds 1.23456\n"
    status = outbox_status("seal", "u", text)
    assert status.relay_lag_s == 1.23456 and status.to_json()["relay_lag_s"] == 1.235
    assert status.backlog == 0.0 and status.published == 0.0
    empty = OutboxStatus(name="x", url="u", up=False, error="down").to_json()
    assert empty == {
        "name": "x",
        "up": False,
        "backlog": 0.0,
        "relay_lag_s": 0.0,
        "published": 0.0,
        "leading": None,
        "error": "down",
    }
    seal = PdfSealView(
        "f", "s", "n", "VALID", True, True, False, NOW + US, "active", ""
    )
    assert seal.to_json()["signed_at"] == "2026-11-22T10:00:00.000001Z"
    assert seal.to_json()["tone"] == "ok"


# -- the JSON the pages render, key by key -------------------------------------------


def test_the_licence_view_json_exactly():
    shown = view(NOW - dt.timedelta(seconds=1), lag=4)
    assert shown == {
        "verdict": "EXPIRED",
        "tone": "bad",
        "title_zh": "已过期",
        "title_en": "Expired",
        "reason_zh": "该证照已超过有效期。",
        "reason_en": "This licence has expired.",
        "status": "",
        "checks": [],
        "identifier": "i",
        "type_code": "t",
        "issuer_code": "c",
        "type_name": "机动车驾驶证",
        "issuer_name": "示例交警支队",
        "field_titles": {"class": "准驾车型"},
        "group": "g",
        "holder_display_name": "n",
        "fields": {},
        "valid_from": None,
        "valid_until": "2026-11-22T09:59:59.999999Z",
        "code_kind": "licence",
        "index": {
            "last_event_time": "2026-11-22T09:59:59Z",
            "lag_unknown": False,
            "lag_events": 4,
            "lag_measured_at": None,
            "age_s": 1.0,
        },
        "verified_at": "2026-11-22T10:00:00Z",
        "purpose": "p",
        "counter": "dept:X",
        "clerk": "",
    }


def test_the_pdf_seal_view_json_exactly():
    seal = PdfSealView(
        "f", "s", "n", "MODIFIED", True, False, True, None, "revoked", "d"
    )
    assert seal.to_json() == {
        "verdict": "MODIFIED",
        "tone": "bad",
        "title_zh": "文件已被修改",
        "title_en": "Document modified",
        "reason_zh": "签章之后文件被修改过。",
        "reason_en": "The document was changed after it was sealed.",
        "field_name": "f",
        "seal_id": "s",
        "seal_name": "n",
        "intact": True,
        "trusted": False,
        "modified": True,
        "signed_at": None,
        "current_status": "revoked",
        "detail": "d",
    }


def test_the_group_json_exactly():
    status = GroupStatus(
        target="h:1",
        group="",
        serving=False,
        partitions=(PartitionLag("t", 2, 9, 12, 2),),
        licence_entries=3,
        licences=2,
        last_event_time=NOW - dt.timedelta(seconds=2),
        error="e",
    )
    assert status.to_json(NOW) == {
        "target": "h:1",
        "group": "h:1",
        "lag_unknown": False,
        "serving": False,
        "lag_events": 2,
        "lag_seconds": 2.0,
        "licence_entries": 3,
        "licences": 2,
        "last_event_time": "2026-11-22T09:59:58Z",
        "partitions": [
            {
                "topic": "t",
                "partition": 2,
                "applied_offset": 9,
                "high_water": 12,
                "lag": 2,
            }
        ],
        "error": "e",
    }


def test_every_outbox_figure_and_the_history_sample():
    from services.console.domain import History

    text = (
        "# TYPE certseal_outbox_backlog gauge\ncertseal_outbox_backlog 3.0\n"
        "# TYPE certseal_outbox_published_events counter\n"
        "certseal_outbox_published_events_total 7.0\n"
        "# TYPE other gauge\nother 99.0\n"
    )
    status = outbox_status("issuer", "http://i/metrics", text)
    assert status == OutboxStatus(
        name="issuer", url="http://i/metrics", up=True, backlog=3.0, published=7.0
    )
    history = History(2)
    history.add(NOW, [group((1, 2), NOW)], [status], {"t": 1.5})
    assert list(history.samples) == [
        {
            "at": "2026-11-22T10:00:00Z",
            "lag": {"g": 3},
            "backlog": {"issuer": 3.0},
            "rates": {"t": 1.5},
        }
    ]


def malformed_view(detail: str) -> dict:
    """The page's wording of a MALFORMED verdict whose decode check says ``detail``."""
    found = LicenceView(
        verdict="MALFORMED",
        checks=[{"name": "decode", "passed": False, "detail": detail}],
        identifier="",
        type_code="",
        issuer_code="",
        holder_display_name="",
        fields={},
        valid_from=None,
        valid_until=None,
        code_kind="",
        index_time=None,
        index_lag_events=0,
        verified_at=NOW,
        purpose="p",
        counter="dept:X",
    ).to_json()
    return {k: found[k] for k in ("verdict", "tone", "title_zh", "title_en")}


@pytest.mark.parametrize(
    ("detail", "title"),
    [
        # nu11: a code cut short was headlined "Not a licence code": the clerk told
        # the citizen it was the wrong QR code
        (
            "base45: not Base45 (Invalid base45 string); 10 characters after the "
            "prefix cannot be Base45 (…): it looks cut short, scan it again",
            "Code read only in part",
        ),
        (
            "zlib: the zlib stream ends early: the code looks cut short, scan it again",
            "Code read only in part",
        ),
        (
            "base45: not Base45 (Invalid base45 string); 8 characters after the "
            "prefix cannot be Base45 (…): that is far shorter than any licence code "
            "(its signature alone takes 96 characters): this is not a licence code, "
            "or only its start was read; scan it again",
            "Not a licence code, or read only in part",
        ),
        (
            "zlib: 9 characters after the prefix are far shorter than any licence "
            "code (…): this is not a licence code, or only its start was read; scan "
            "it again",
            "Not a licence code, or read only in part",
        ),
        (  # trial74: headlined "Not a licence code" in red
            "zlib: the code is damaged: a character is mistyped or was misread (zlib: "
            "Error -3 while decompressing data: invalid distance too far back); scan "
            "it again, or type it again with care",
            "Code misread or mistyped",
        ),
        (
            "base45: not Base45 (Invalid base45 string); characters 301 to 303 are "
            "more than 2 bytes (65535) as a group of 3: a character is mistyped or "
            "was misread; scan it again, or type it again with care",
            "Code misread or mistyped",
        ),
        (
            "base45: a second code starts at character 61: two codes were read as one;"
            " scan one code at a time",
            "Two codes read as one",
        ),
        ("prefix: expected 'LC1:' or 'PC1:'", "Not a licence code"),
        ("cose: protected header has no 8-byte kid", "Not a licence code"),
    ],
)
def test_a_misread_scan_is_headlined_as_one(detail, title):
    shown = malformed_view(detail)
    assert (shown["verdict"], shown["title_en"]) == ("MALFORMED", title)
