"""atk35b: attacks on the kept verdicts of static licence codes (commit 35e48bf,
services.verifier.caches.KeptResults) through VerifierService.verify, with fakes
for the tables and pools. No stack."""

import contextlib
import dataclasses
import datetime as dt
import gc
import logging
import secrets
import types

import pytest

from certseal.indexkeys import IndexSealer
from certseal.v1 import events_pb2
from services.verifier.access import Acting
from services.verifier.caches import KeptResults
from services.verifier.domain import (
    IndexEntry,
    ParsedCode,
    Verdict,
    evaluate,
    parse_code,
)
from services.verifier.index import Freshness
from services.verifier.service import VerifierService
from services.verifier.storage import ParsedTable
from tests.verifier.domain_samples import (
    LID,
    NOW,
    index_entry,
    licence_code,
    signer,
    trust_entry,
)

DAY = dt.timedelta(days=1)


class _Pool:
    async def run(self, fn, *args):
        return fn(*args)

    def shutdown(self):
        pass


class _Turns:
    @contextlib.asynccontextmanager
    async def turn(self, counter):
        yield


class _Trust:
    """The trust list's parsed entries: none (every key unknown)."""

    def get(self, key):
        return None


def _service(index=None):
    state = types.SimpleNamespace(
        trust_entries=_Trust(),
        index=index or {},
        lookup=None,
        presentations=None,
        app=None,
        freshness=Freshness(),
        directory=None,
    )
    return VerifierService(
        group="g",
        state=state,
        bundles=types.SimpleNamespace(log_checkpoint=""),
        code_pool=_Pool(),
        image_pool=_Pool(),
        code_turns=_Turns(),
        image_turns=_Turns(),
        clock=lambda: NOW,
    )


ACTING = Acting(counter="dept:330000", department="330000")


def _live_decodes(identifier):
    gc.collect()
    return sum(
        1
        for o in gc.get_objects()
        if isinstance(o, ParsedCode) and o.identifier == identifier
    )


@pytest.mark.xfail(
    strict=True,
    reason="atk35b: KeptResults keeps the decode of every scan of a code text "
    "DecodedCodes does not keep (over 2048 chars): the same code scanned 40 times "
    "holds 40 decoded copies (each up to 64 KiB of claims) that are never given "
    "again, up to 16,384 of them, beyond the decoded-text cache's bound",
)
async def test_a_long_code_scanned_again_is_not_held_once_per_scan():
    # an unknown key's code: anyone can make one; its claims are incompressible
    fields = {f"f{i}": secrets.token_hex(200) for i in range(10)}
    text = await licence_code(signer(), fields=fields)
    assert 2048 < len(text) < 8192
    service = _service()
    scans = 40
    for _ in range(scans):
        (result,) = await service.verify([text], purpose="p", acting=ACTING)
        assert result.verdict is Verdict.UNKNOWN_ISSUER
    # what a user needs: repeated scans of one code do not grow the worker's memory
    assert _live_decodes(result.identifier) <= 1


def _live_entries(lineage):
    gc.collect()
    return sum(
        1
        for o in gc.get_objects()
        if isinstance(o, IndexEntry) and o.lineage == lineage
    )


@pytest.mark.xfail(
    strict=True,
    reason="atk35b: an index entry whose sealed restricted values no key opens is "
    "parsed afresh on each scan (IndexEntries keeps only opened ones), and KeptResults "
    "keeps a verdict for every such new object: one static code scanned 40 times "
    "holds 40 index entries and verdicts that are never given again",
)
async def test_a_licence_whose_restricted_values_do_not_open_is_not_held_per_scan(
    monkeypatch,
):
    # the warning's records (pytest keeps them) hold what they name: not counted here
    monkeypatch.setattr(
        logging.getLogger("services.verifier.service"), "disabled", True
    )
    sealed = IndexSealer(b"\x07" * 32).seal(b"", lineage=LID.lineage, lineage_version=7)
    stored = events_pb2.LicenceEvent(
        lineage=LID.lineage,
        identifier=str(LID),
        version=LID.version,
        status=1,
        lineage_version=7,
        issuer_code=LID.authority_code,
        type_code=LID.type_code,
        restricted_sealed=events_pb2.SealedFields(
            kid=sealed.kid, nonce=sealed.nonce, ciphertext=sealed.ciphertext
        ),
    ).SerializeToString()
    text = await licence_code(signer())  # short: its decode is remembered
    service = _service({LID.lineage.encode(): stored})  # no index key: not opened
    for _ in range(40):
        (result,) = await service.verify([text], purpose="p", acting=ACTING)
        assert result.verdict is Verdict.UNKNOWN_ISSUER
    assert _live_entries(LID.lineage) <= 1


@pytest.mark.xfail(
    strict=True,
    reason="atk35b (ParsedTable, before 35e48bf): a key revoked while Faust recovers "
    "the trust table (a write past the agent) with no lookup during the recovery is "
    "never seen: the entry parsed before it is given after, so the kept VALID (same "
    "trust object) is given where evaluate with the table's entry says KEY_REVOKED",
)
async def test_a_key_revoked_during_a_recovery_without_lookups_reaches_the_answer():
    s = signer()
    code = parse_code(await licence_code(s))
    active = trust_entry(s)
    revoked = dataclasses.replace(active, revoked_at=NOW - 30 * DAY, status="revoked")
    entries = {b"active": active, b"revoked": revoked}
    table, live = {code.kid.encode(): b"active"}, [True]
    trust = ParsedTable(table, entries.__getitem__, live=lambda: live[0])
    kept, index = KeptResults(), index_entry()

    def verdict():  # as VerifierService._inputs and _remember do
        entry = trust.get(code.kid.encode())
        result = kept.get(code, entry, index, NOW)
        if result is None:
            result = evaluate(code, trust=entry, index=index, nonce_seen=False, now=NOW)
            kept.keep(code, entry, index, result)
        return result.verdict

    assert verdict() is Verdict.VALID
    live[0] = False  # Faust recovers the table from its changelog: no scan meanwhile
    table[code.kid.encode()] = b"revoked"
    live[0] = True
    assert verdict() is Verdict.KEY_REVOKED
