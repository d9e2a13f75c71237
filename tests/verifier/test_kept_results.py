"""A static licence code's verdict kept by the very objects it was evaluated from
(services.verifier.caches.KeptResults): given again only for the same decoded code,
trust entry and index entry, a VALID only inside its validity window, and never a
verdict that depends on the time or a presentation code. Each kept answer is what
evaluate gives for the same inputs at that time. Pure: no stack."""

import dataclasses
import datetime as dt

import pytest

from services.verifier.caches import KeptResults
from services.verifier.domain import Verdict, evaluate, parse_code
from tests.verifier.domain_samples import (
    NOW,
    index_entry,
    licence_code,
    presentation_code,
    signer,
    trust_entry,
)

DAY = dt.timedelta(days=1)


async def _inputs():
    s = signer()
    return parse_code(await licence_code(s)), trust_entry(s), index_entry()


def _evaluate(code, trust, index, now):
    return evaluate(code, trust=trust, index=index, nonce_seen=False, now=now)


async def test_a_valid_verdict_is_given_again_only_inside_its_window():
    code, trust, index = await _inputs()
    kept = KeptResults()
    result = _evaluate(code, trust, index, NOW)
    assert result.verdict is Verdict.VALID
    kept.keep(code, trust, index, result)
    assert kept.get(code, trust, index, NOW + DAY) is result
    for now in (index.valid_until, index.valid_until + DAY, index.valid_from - DAY):
        assert kept.get(code, trust, index, now) is None
        # ... where the checks say otherwise
        assert _evaluate(code, trust, index, now).verdict in (
            Verdict.EXPIRED,
            Verdict.NOT_YET_VALID,
        )
    assert kept.get(code, trust, index, index.valid_from) is result


async def test_another_trust_or_index_entry_or_code_is_not_the_kept_one():
    code, trust, index = await _inputs()
    kept = KeptResults()
    kept.keep(code, trust, index, _evaluate(code, trust, index, NOW))
    revoked = index_entry(status="03")  # the licence revoked: a new entry
    key_revoked = dataclasses.replace(trust, revoked_at=NOW - 30 * DAY)
    same_again = index_entry()  # equal, but another object: evaluated afresh
    assert kept.get(code, trust, revoked, NOW) is None
    assert kept.get(code, key_revoked, index, NOW) is None
    assert kept.get(code, trust, same_again, NOW) is None
    assert kept.get(parse_code(await licence_code(signer())), trust, index, NOW) is None
    assert _evaluate(code, trust, revoked, NOW).verdict is Verdict.REVOKED
    assert _evaluate(code, key_revoked, index, NOW).verdict is Verdict.KEY_REVOKED


async def test_a_verdict_decided_before_the_window_is_kept_at_any_time():
    code, trust, index = await _inputs()
    kept = KeptResults()
    revoked = index_entry(status="03")
    result = _evaluate(code, trust, revoked, NOW)
    kept.keep(code, trust, revoked, result)
    later = revoked.valid_until + 400 * DAY
    assert kept.get(code, trust, revoked, later) is result
    assert _evaluate(code, trust, revoked, later) == result
    unknown = _evaluate(code, None, index, NOW)  # no trusted key
    kept.keep(code, None, index, unknown)
    assert kept.get(code, None, index, later) is unknown


@pytest.mark.parametrize("when", ["expired", "not yet valid"])
async def test_a_verdict_of_the_time_is_never_kept(when):
    code, trust, index = await _inputs()
    now = index.valid_until + DAY if when == "expired" else index.valid_from - DAY
    kept = KeptResults()
    kept.keep(code, trust, index, _evaluate(code, trust, index, now))
    assert kept.get(code, trust, index, now) is None


async def test_a_presentation_code_is_never_kept():
    s = signer()
    code = parse_code(await presentation_code(s))
    trust = dataclasses.replace(trust_entry(s), presentation_key=True)
    index = index_entry()
    result = _evaluate(code, trust, index, NOW)
    kept = KeptResults()
    kept.keep(code, trust, index, result)
    assert kept.get(code, trust, index, NOW) is None


async def test_the_kept_verdicts_are_bounded():
    code, trust, _ = await _inputs()
    kept = KeptResults(size=2)
    indexes = [index_entry() for _ in range(3)]
    for index in indexes:
        kept.keep(code, trust, index, _evaluate(code, trust, index, NOW))
    assert kept.get(code, trust, indexes[0], NOW) is None  # all dropped at the bound
    assert kept.get(code, trust, indexes[2], NOW) is not None
