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


class _Table(dict):
    """A Faust table as ParsedTable sees it: read by key, and its recovery callbacks
    (``on_recover``) called once a recovery has written past the agent."""

    def __init__(self, *args):
        super().__init__(*args)
        self.recovered = []

    def on_recover(self, fun):
        self.recovered.append(fun)
        return fun

    async def recover(self, key, value):
        self[key] = value
        for fun in self.recovered:
            await fun()


async def test_a_key_revoked_during_a_recovery_without_lookups_reaches_the_answer():
    s = signer()
    code = parse_code(await licence_code(s))
    active = trust_entry(s)
    revoked = dataclasses.replace(active, revoked_at=NOW - 30 * DAY, status="revoked")
    entries = {b"active": active, b"revoked": revoked}
    table, live = _Table({code.kid.encode(): b"active"}), [True]
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
    await table.recover(code.kid.encode(), b"revoked")
    live[0] = True
    assert verdict() is Verdict.KEY_REVOKED
