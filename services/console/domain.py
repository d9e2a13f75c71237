"""What the counter console shows: verdict wording, the JSON views, the operator's figures.

Pure: neither aiohttp, grpc nor Kafka is imported here. The views carry exactly what the
verifier and the seal service returned for this counter (the verifier has already
narrowed the fields to the counter's rights); nothing is added from elsewhere.
"""

from __future__ import annotations

import datetime as dt
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from certseal.timestamps import rfc3339
from services.console.wording import (
    SEAL_VERDICTS,
    STALE_VALID,
    Wording,
    rescan_wording,
    superseded_by,
    wording,
)

LICENCE_VERDICTS: Mapping[str, Wording] = {
    "VALID": Wording(
        "ok", "有效", "Valid", "证照有效，可以受理。", "The licence is valid."
    ),
    "REVOKED": Wording(
        "bad",
        "已撤销",
        "Revoked",
        "发证部门已撤销该证照，不能受理。",
        "The issuing department has revoked this licence.",
    ),
    "SUSPENDED": Wording(
        "warn",
        "已暂扣",
        "Suspended",
        "该证照被暂扣，暂停使用。",
        "This licence is suspended for now.",
    ),
    "CANCELLED": Wording(
        "bad", "已注销", "Cancelled", "该证照已注销。", "This licence was cancelled."
    ),
    "EXPIRED": Wording(
        "bad", "已过期", "Expired", "该证照已超过有效期。", "This licence has expired."
    ),
    "NOT_YET_VALID": Wording(
        "warn",
        "尚未生效",
        "Not yet valid",
        "该证照尚未到生效日期。",
        "This licence is not valid yet.",
    ),
    "SUPERSEDED": Wording(
        "warn",
        "已换发新版",
        "Superseded",
        "该证照已换发新版本，请持证人出示最新证照。",
        "A newer version of this licence exists: ask for the current one.",
    ),
    "BAD_SIGNATURE": Wording(
        "bad",
        "签名无效",
        "Bad signature",
        "二维码的签名校验不通过，内容可能被篡改。",
        "The code's signature does not verify: it may have been altered.",
    ),
    "UNKNOWN_ISSUER": Wording(
        "bad",
        "签发者不可信",
        "Unknown issuer",
        "签发该二维码的密钥不在信任列表中。",
        "The key that signed this code is not in the trust list.",
    ),
    "KEY_REVOKED": Wording(
        "bad",
        "签发密钥已吊销",
        "Signing key revoked",
        "签发该证照的密钥已被吊销，证照不可信。",
        "The key that signed this licence was revoked: it cannot be trusted.",
    ),
    "MALFORMED": Wording(
        "bad",
        "无法识别",
        "Not a licence code",
        "扫描的内容不是证照二维码，请重新扫描。",
        "What was scanned is not a licence code: scan again.",
    ),
    "CODE_EXPIRED": Wording(
        "warn",
        "亮证码已过期",
        "Code expired",
        "亮证码已过期，请持证人刷新后重新出示。",
        "The presentation code has expired: ask the holder to refresh it.",
    ),
    "REPLAYED": Wording(
        "bad",
        "亮证码已使用",
        "Code already used",
        "该亮证码已被使用过，请持证人刷新后重新出示。",
        "This presentation code was used before: ask the holder for a fresh one.",
    ),
    "UNKNOWN_LICENCE": Wording(
        "bad",
        "查无此证",
        "Unknown licence",
        "核验索引中没有该证照的记录。",
        "The verification index has no record of this licence.",
    ),
}

LICENCE_STATUSES: Mapping[str, Wording] = {
    "01": LICENCE_VERDICTS["VALID"],
    "02": LICENCE_VERDICTS["SUSPENDED"],
    "03": LICENCE_VERDICTS["REVOKED"],
    "04": LICENCE_VERDICTS["CANCELLED"],
    "05": Wording(
        "bad",
        "已失效",
        "Lapsed",
        "该证照已失效，不能受理。",
        "This licence has lapsed.",
    ),
    "06": Wording(
        "warn",
        "已转出",
        "Transferred out",
        "该证照已转出至其他部门管理，请持证人出示转入后的证照。",
        "This licence was transferred to another authority: ask for the new one.",
    ),
    "07": Wording(
        "bad",
        "已吊销",
        "Revoked as a sanction",
        "该证照已被依法吊销（行政处罚），不能受理。",
        "This licence was revoked as an administrative sanction.",
    ),
    "99": Wording(
        "bad",
        "其他状态",
        "Other status",
        "该证照处于其他非有效状态，不能受理，请向发证部门核实。",
        "This licence is in another status that is not valid: ask the issuer.",
    ),
}
"""The wording of each licence status of the national catalogue (有效 01 … 吊销 07, 其他
99; docs/architecture.md §4), shown instead of the verdict's when the licence's status
decided it: REVOKED covers 撤销 03 and 吊销 07, which a clerk must tell apart."""


@dataclass(frozen=True, slots=True)
class LicenceView:
    """One verification as the page shows it."""

    verdict: str
    checks: list[dict[str, Any]]
    identifier: str
    type_code: str
    issuer_code: str
    holder_display_name: str
    fields: dict[str, str]
    valid_from: dt.datetime | None
    valid_until: dt.datetime | None
    code_kind: str
    index_time: dt.datetime | None
    index_lag_events: int
    verified_at: dt.datetime
    purpose: str
    counter: str
    #: the signed-in account that verified
    clerk: str = ""
    #: names from the verifier's index: the licence type's, the issuing department's
    #: and each field's title (field key -> title); empty when the index has none
    type_name: str = ""
    issuer_name: str = ""
    field_titles: dict[str, str] = field(default_factory=dict)
    #: the verifier group that answered
    group: str = ""
    #: the licence's national status code in the index ("07"), when the verifier said
    status: str = ""
    #: the verifier had not reached its broker for too long to know its lag: what
    #: was revoked since may not be seen (services.verifier.ends)
    index_lag_unknown: bool = False
    #: when the verifier's broker last gave the end offsets its lag is measured on
    index_lag_measured_at: dt.datetime | None = None

    def shown_wording(self) -> dict[str, str]:
        """The verdict's wording, or the licence status's when the status check
        decided the verdict (see :data:`LICENCE_STATUSES`), or
        :func:`superseded_by`'s for a code whose newest version is not valid either,
        or a misread scan's
        (:data:`RESCAN`) for a MALFORMED one whose decode check says so, or a
        warning for a VALID whose index's lag is unknown (:data:`STALE_VALID`)."""
        if self.verdict == "VALID" and self.index_lag_unknown:
            return {"verdict": self.verdict, **asdict(STALE_VALID)}
        decided_by_status = any(
            c.get("name") == "status" and not c.get("passed") for c in self.checks
        )
        if decided_by_status and self.status in LICENCE_STATUSES:
            return {
                "verdict": self.verdict,
                **asdict(LICENCE_STATUSES[self.status]),
            }
        newest = superseded_by(self.status) if self.verdict == "SUPERSEDED" else None
        if newest is not None:  # the newest version is not valid either
            return {"verdict": self.verdict, **asdict(newest)}
        if self.verdict == "MALFORMED":
            for check in self.checks:
                shown = rescan_wording(check) if check.get("name") == "decode" else None
                if shown is not None:
                    return {"verdict": self.verdict, **asdict(shown)}
        return wording(LICENCE_VERDICTS, self.verdict)

    def to_json(self) -> dict[str, Any]:
        """The JSON the page renders."""
        return {
            **self.shown_wording(),
            "status": self.status,
            "checks": self.checks,
            "identifier": self.identifier,
            "type_code": self.type_code,
            "issuer_code": self.issuer_code,
            "type_name": self.type_name,
            "issuer_name": self.issuer_name,
            "field_titles": dict(sorted(self.field_titles.items())),
            "group": self.group,
            "holder_display_name": self.holder_display_name,
            "fields": dict(sorted(self.fields.items())),
            "valid_from": rfc3339(self.valid_from),
            "valid_until": rfc3339(self.valid_until),
            "code_kind": self.code_kind,
            "index": {
                "last_event_time": rfc3339(self.index_time),
                "lag_events": self.index_lag_events,
                "lag_unknown": self.index_lag_unknown,
                "lag_measured_at": rfc3339(self.index_lag_measured_at),
                "age_s": _age(self.index_time, self.verified_at),
            },
            "verified_at": rfc3339(self.verified_at),
            "purpose": self.purpose,
            "counter": self.counter,
            "clerk": self.clerk,
        }


def _age(then: dt.datetime | None, now: dt.datetime) -> float | None:
    return None if then is None else round(max(0.0, (now - then).total_seconds()), 1)


@dataclass(frozen=True, slots=True)
class PdfSealView:
    """One seal found in a PDF."""

    field_name: str
    seal_id: str
    seal_name: str
    verdict: str
    intact: bool
    trusted: bool
    modified: bool
    signed_at: dt.datetime | None
    current_status: str
    detail: str

    def to_json(self) -> dict[str, Any]:
        """The JSON the page renders."""
        return {
            **wording(SEAL_VERDICTS, self.verdict),
            "field_name": self.field_name,
            "seal_id": self.seal_id,
            "seal_name": self.seal_name,
            "intact": self.intact,
            "trusted": self.trusted,
            "modified": self.modified,
            "signed_at": rfc3339(self.signed_at),
            "current_status": self.current_status,
            "detail": self.detail,
        }


# -- the operator page -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PartitionLag:
    """How far one verifier group is on one topic partition."""

    topic: str
    partition: int
    applied_offset: int
    high_water: int
    lag: int


@dataclass(frozen=True, slots=True)
class GroupStatus:
    """One verifier group, as its GetIndexStatus and health service told."""

    target: str
    group: str
    serving: bool
    partitions: tuple[PartitionLag, ...] = ()
    licence_entries: int = 0  # RocksDB's estimate of stored entries
    licences: int = 0  # licences (lineages) in the index, counted exactly
    last_event_time: dt.datetime | None = None
    error: str = ""
    #: the group's worker has not reached its broker for too long to know its lag
    lag_unknown: bool = False

    @property
    def lag_events(self) -> int:
        """Events published but not applied yet, over every partition."""
        return sum(p.lag for p in self.partitions)

    def known_as(self, before: GroupStatus | None) -> GroupStatus:
        """This status, when the group did not answer, under the name and last event
        time it last answered with (``before``): its card and chart stay the group's,
        and its lag in seconds counts from that event."""
        if not self.error or before is None:
            return self
        return replace(self, group=before.group, last_event_time=before.last_event_time)

    @property
    def lag_or_none(self) -> int | None:
        """:attr:`lag_events`, or None when it is not known: the group did not
        answer, or its worker has not reached its broker (``lag_unknown``)."""
        if self.error or self.lag_unknown:
            return None
        return self.lag_events

    def lag_seconds(self, now: dt.datetime) -> float | None:
        """How far behind, in time: the age of the last applied event while behind.

        The events not applied yet are younger than the last applied one, so this is an
        upper bound; when nothing is pending the group is current, whatever the age.
        While its lag is unknown (its worker cut off from the broker, or the group
        not answering), the whole age counts: whatever was published since may be
        pending; None when not even its last event is known.
        """
        pending = self.lag_events or self.lag_unknown
        if self.lag_unknown and self.last_event_time is None:
            return None  # nothing known: not "0 s behind"
        if not pending or self.last_event_time is None:
            return 0.0
        return round(max(0.0, (now - self.last_event_time).total_seconds()), 3)

    def to_json(self, now: dt.datetime) -> dict[str, Any]:
        """The JSON the operator page renders."""
        return {
            "target": self.target,
            "group": self.group or self.target,
            "serving": self.serving,
            "lag_events": self.lag_events,
            "lag_unknown": self.lag_unknown,
            "lag_seconds": self.lag_seconds(now),
            "licence_entries": self.licence_entries,
            "licences": self.licences,
            "last_event_time": rfc3339(self.last_event_time),
            "partitions": [asdict(p) for p in self.partitions],
            "error": self.error,
        }


@dataclass(frozen=True, slots=True)
class OutboxStatus:
    """An issuer or seal process's outbox, read from its Prometheus metrics."""

    name: str
    url: str
    up: bool
    backlog: float = 0.0
    relay_lag_s: float = 0.0
    published: float = 0.0
    leading: bool | None = None  # its relay publishes every service's rows (or None)
    error: str = ""

    def to_json(self) -> dict[str, Any]:
        """The JSON the operator page renders."""
        return {
            "name": self.name,
            "up": self.up,
            "backlog": self.backlog,
            "relay_lag_s": round(self.relay_lag_s, 3),
            "published": self.published,
            "leading": self.leading,
            "error": self.error,
        }


_OUTBOX_SAMPLES = {
    "certseal_outbox_backlog": "backlog",
    "certseal_outbox_relay_lag_seconds": "relay_lag_s",
    "certseal_outbox_published_events_total": "published",
    "certseal_outbox_relay_leading": "leading",
}


def outbox_status(name: str, url: str, metrics_text: str) -> OutboxStatus:
    """Read the outbox figures out of a process's ``/metrics`` text."""
    figures: dict[str, float] = {}
    for family in text_string_to_metric_families(metrics_text):
        for sample in family.samples:
            if sample.name in _OUTBOX_SAMPLES:
                figures[_OUTBOX_SAMPLES[sample.name]] = float(sample.value)
    return OutboxStatus(
        name=name,
        url=url,
        up=True,
        backlog=figures.get("backlog", 0.0),
        relay_lag_s=figures.get("relay_lag_s", 0.0),
        published=figures.get("published", 0.0),
        leading=bool(figures["leading"]) if "leading" in figures else None,
    )


class TopicRates:
    """Events per second on each topic, from successive end offsets."""

    def __init__(self) -> None:
        self._last: tuple[float, dict[str, int]] | None = None

    def update(self, at_s: float, end_offsets: Mapping[str, int]) -> dict[str, float]:
        """Rates since the previous update (none at the first)."""
        previous, self._last = self._last, (at_s, dict(end_offsets))
        if previous is None or at_s <= previous[0]:
            return {}
        elapsed = at_s - previous[0]
        return {
            topic: round(max(0, total - previous[1].get(topic, total)) / elapsed, 2)
            for topic, total in sorted(end_offsets.items())
        }


@dataclass
class History:
    """The last ``size`` operator snapshots, for the page's small charts."""

    size: int
    samples: deque[dict[str, Any]] = field(init=False)

    def __post_init__(self) -> None:
        self.samples = deque(maxlen=self.size)

    def add(
        self,
        at: dt.datetime,
        groups: Iterable[GroupStatus],
        outboxes: Iterable[OutboxStatus],
        rates: Mapping[str, float],
    ) -> None:
        """Keep the figures the charts draw."""
        self.samples.append(
            {
                "at": rfc3339(at),
                # None: not known (the group unreachable, or cut off from its
                # broker), drawn as a gap, never as a lag of 0
                "lag": {(g.group or g.target): g.lag_or_none for g in groups},
                "backlog": {o.name: o.backlog if o.up else None for o in outboxes},
                "rates": dict(rates),
            }
        )
