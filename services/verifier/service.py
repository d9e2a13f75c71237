"""The verifier's use cases: verify a scanned code, report the index, export bundles.

Everything is answered from this worker's own tables (:class:`VerifierState`): never a
network round trip per request. Results are domain values (:class:`Verification`,
:class:`IndexStatus`, :class:`ExportedBundle`); :mod:`services.verifier.convert` turns
them into protobuf.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from prometheus_client import Counter

from certseal import codes
from certseal.errors import CertsealError
from certseal.indexkeys import IndexKeys
from certseal.qr import read_qr_image
from certseal.rpc import Caller
from certseal.timestamps import utcnow
from certseal.v1 import events_pb2
from services.verifier.access import Acting, acting_for
from services.verifier.bundle_export import BundleExporter, ExportedBundle
from services.verifier.caches import (
    DecodedCodes,
    IndexEntries,
    KeptResults,
    VerifiedSignatures,
    signature_digest,
)
from services.verifier.claims import UsageClaims, UsagePublisher
from services.verifier.domain import (
    CodeKind,
    FieldRights,
    IndexEntry,
    ParsedCode,
    Verdict,
    Verification,
    malformed,
    parse_code,
)
from services.verifier.events import licence_use
from services.verifier.gathering import UsageCounters
from services.verifier.index import (
    Freshness,
    IndexStatus,
    NonceGuard,
    directory_key,
    index_entry,
    named_by,
)
from services.verifier.index_status import index_status
from services.verifier.jobs import (
    CodeInputs,
    evaluate_all,
    needs_signature_check,
    parse_all,
    replayed,
    signature_passed,
)
from services.verifier.offload import (
    INLINE_CODE_CHARS,
    INLINE_LIMITS,
    INLINE_SUITES,
    FairGate,
    WorkerPool,
)
from services.verifier.replay import UsageFeed
from services.verifier.storage import LicenceCount, VerifierState
from services.verifier.undecided import Undecided

log = logging.getLogger(__name__)

_CHUNK = 8  # codes per pool job: see VerifierService.verify


class VerifierService:
    """Verifies codes against one group's index and trust list, and reports on them.

    Reading QR images, decoding a batch's codes, a long code or one with large
    claims, and checking SM2 signatures run on the worker pools
    (:mod:`services.verifier.offload`), in turns handed out fairly per counter; a
    one-code request of the usual size is decoded and (ES256, Ed25519) checked on the
    event loop, where that costs less than the hop (:data:`INLINE_CODE_CHARS`). Index
    lookups, the replay guard and publishing stay on the loop.
    """

    def __init__(
        self,
        *,
        group: str,
        state: VerifierState,
        bundles: BundleExporter,
        code_pool: WorkerPool,
        image_pool: WorkerPool,
        code_turns: FairGate,
        image_turns: FairGate,
        counters: frozenset[str] = frozenset(),
        field_rights: FieldRights | None = None,
        clock: Callable[[], dt.datetime] = utcnow,
        usage_counters: UsageCounters | None = None,
        index_keys: IndexKeys | None = None,
        unopened: Counter | None = None,
        usage_linger_s: float = 0.2,
    ):
        """``usage_counters``, ``unopened``: metrics; ``usage_linger_s``: how long uses
        are gathered; ``index_keys``: the keys that open sealed restricted values."""
        self._index_keys = index_keys
        self._unopened_count = unopened
        self._group = self.group = group  # the group this service answers for
        self._state = state
        self._clock = clock
        self._nonces = NonceGuard()
        claims = getattr(state, "presentations", None)
        self._usage = UsagePublisher(
            group=group,
            claims=UsageClaims(claims) if isinstance(claims, UsageFeed) else None,
            producer=lambda: state.app.producer,
            counters=usage_counters,
            window_s=usage_linger_s,
        )
        self._bundles = bundles
        self.log_checkpoint = bundles.log_checkpoint  # the log's latest ("": none)
        self._codes = code_pool
        self._images = image_pool
        self._code_turns = code_turns
        self._image_turns = image_turns
        self._counters = counters
        self._field_rights = field_rights or FieldRights()
        self._licences = LicenceCount(max_age_s=5.0)  # the status's exact count
        self._decoded = DecodedCodes()
        self._verified = VerifiedSignatures()
        self._entries = IndexEntries()
        self._results = KeptResults()

    def shutdown(self) -> None:
        """Stop the worker pools (at the process's end)."""
        self._codes.shutdown()
        self._images.shutdown()

    async def stop_clients(self) -> None:
        """Publish what is gathered, stop the claims' clients (no request served)."""
        await self._usage.stop()

    async def publish_gathered_usage(self, *_: Any, **__: Any) -> None:
        await self._usage.flush()  # Faust's on_before_shutdown: its producer stops

    @property
    def freshness(self) -> Freshness:
        """How far this group's index has applied the topics."""
        return self._state.freshness

    def acting(
        self, caller: Caller, *, counter: str | None, clerk: str | None, **rules: bool
    ) -> Acting:
        """Who a request acts as (:func:`services.verifier.access.acting_for`, whose
        ``need_counter`` and ``one_code`` are ``rules``).

        Raises PERMISSION_DENIED for a department outside this group's counters, or a
        caller that names a counter without being the console.
        """
        try:
            return acting_for(
                str(caller),
                counter=counter,
                clerk=clerk,
                counters=self._counters,
                group=self._group,
                **rules,
            )
        except CertsealError:
            log.warning("refused %s acting as %s (%s)", caller, counter, clerk)
            raise

    async def read_image(self, image: bytes, acting: Acting) -> str:
        """The text of the QR code in ``image``, read on the image pool in a turn of
        the acting counter's."""
        async with self._image_turns.turn(acting.counter):
            return await self._images.run(read_qr_image, image)

    async def verify(
        self,
        texts: Sequence[str],
        *,
        purpose: str,
        acting: Acting,
        carried: int | None = None,
        as_of: dict[bytes, Freshness] | None = None,
    ) -> list[Verification]:
        """Verify scanned texts, in order, as ``acting``, and publish their use.

        ``as_of``, when given, receives each looked-up lineage's index freshness as
        it gave the entry (UTF-8 lineage -> :class:`Freshness`): what answers carry.

        The fields shown follow the acting counter's field rights. The request's
        uses go in one ``licence.used`` record (gathered with other requests' of its
        counter, clerk and purpose: :mod:`~services.verifier.gathering`), one use per
        distinct signed content (however re-framed: case, zlib, COSE tag, whitespace,
        an ECDSA signature as (r, n - s)), and only for a code whose signature
        verified under a key trusted when it signed: nobody records usage in a
        department's name with a code it did not sign. ``carried`` is the request's
        size in bytes (``ByteSize()``, default: the UTF-8 of the texts and purpose);
        its share of a record is at most that plus one envelope (docs/events.md). A
        presentation code is accepted once (then REPLAYED); an undecided claim is
        CertsealError(UNAVAILABLE), a batch's naming its codes (``Undecided``).

        A batch's texts go to the code pool :data:`_CHUNK` at a time, each chunk in a
        turn of the acting counter's (:class:`~services.verifier.offload.FairGate`), so
        a batch takes turns with every other counter instead of holding the workers; a
        single text within the inline bounds is checked on the loop
        (:meth:`_checked_inline`).
        """
        accepted: list[bytes] = []  # the nonces of the presentation codes accepted
        claimed: dict[int, int] = {}  # use -> result: VALID only if first in the log
        try:
            checked = None
            if len(texts) == 1:
                checked = await self._checked_inline(texts[0], acting, as_of, accepted)
            if checked is None:
                checked = await self._checked_pooled(texts, acting, as_of, accepted)
            published: set[tuple[bytes, bytes]] = set()
            uses: list[events_pb2.LicenceUse] = []
            sizes: list[int] = []  # the bytes each use's code carried
            used_at: dt.datetime | None = None
            verdicts = [result for _, result, _ in checked]
            for at, (text, (code, result, now)) in enumerate(
                zip(texts, checked, strict=True)
            ):
                if isinstance(code, ParsedCode):
                    # the signed content, not the signature: an ECDSA signature
                    # has a second valid form (r, n - s) for the same content
                    signed = (code.decoded.protected, code.decoded.payload)
                    if result.signed_by_trusted_key and signed not in published:
                        published.add(signed)
                        use = licence_use(code, result.verdict)
                        if use.nonce_hash and result.verdict is Verdict.VALID:
                            claimed[len(uses)] = at
                        uses.append(use)
                        sizes.append(len(text.encode()))
                        used_at = used_at or now
            lost: set[str] = set()  # the nonce hashes whose claim was not first
            if used_at is not None:
                if carried is None:
                    carried = sum(len(t.encode()) for t in [*texts, purpose])
                lost = await self._usage.publish(
                    uses,
                    set(claimed),
                    sizes=sizes,
                    carried=carried,
                    purpose=purpose,
                    acting=acting,
                    now=used_at,
                )
        except BaseException as exc:
            # refused part-way (an owner down, a full queue), a claim undecided,
            # cancelled: nothing is accepted (R4: a retry found earlier chunks'
            # codes REPLAYED)
            self._nonces.forget(*accepted)
            if isinstance(exc, Undecided) and len(texts) > 1:
                raise exc.of_codes(sorted(claimed.values())) from None
            raise
        for position, at in claimed.items():
            if uses[position].nonce_hash in lost:
                verdicts[at] = replayed(verdicts[at])
        return [
            self._named(self._field_rights.shown(result, acting.department))
            for result in verdicts
        ]

    async def _checked_inline(
        self,
        text: str,
        acting: Acting,
        as_of: dict[bytes, Freshness] | None,
        accepted: list[bytes],
    ) -> list[tuple[ParsedCode | Verification, Verification, dt.datetime]] | None:
        """One code decoded on the loop (see :data:`INLINE_CODE_CHARS`), its signature
        checked there too when its suite is cheap (:data:`INLINE_SUITES`), else on the
        code pool in a turn of the acting counter's. None: the code is not one to
        decode inline, or it did not decode within the inline bound (the pool then
        decodes it in full, and its answer is the verdict)."""
        code = self._decoded.get(text)
        if code is None:
            if len(text) > INLINE_CODE_CHARS or self._decoded.undecodable(text):
                return None
            try:
                code = parse_code(text, limits=INLINE_LIMITS)
            except codes.MalformedCode as exc:
                self._decoded.add(text, malformed(exc))
                return None
            self._decoded.add(text, code)
        stored = await self._stored_licences([code], as_of)
        now = self._clock()
        inputs = [self._inputs(code, now, stored)]
        if code.decoded.suite in INLINE_SUITES or not needs_signature_check(inputs):
            (result,) = evaluate_all(inputs)
        else:
            async with self._code_turns.turn(acting.counter):
                (result,) = await self._codes.run(evaluate_all, inputs)
        self._remember(inputs, [result])
        settled = await self._settle(code, result, inputs, now, accepted, acting)
        return [(code, settled, now)]

    async def _checked_pooled(
        self,
        texts: Sequence[str],
        acting: Acting,
        as_of: dict[bytes, Freshness] | None,
        accepted: list[bytes],
    ) -> list[tuple[ParsedCode | Verification, Verification, dt.datetime]]:
        """Each text decoded and checked on the code pool, :data:`_CHUNK` at a time,
        each chunk in a turn of the acting counter's; the lookups and the replay guard
        run on the loop between the two jobs of a chunk."""
        checked: list[tuple[ParsedCode | Verification, Verification, dt.datetime]]
        checked = []
        for start in range(0, len(texts), _CHUNK):
            chunk = texts[start : start + _CHUNK]
            known = [self._decoded.get(text) for text in chunk]
            async with self._code_turns.turn(acting.counter):
                new = [t for t, k in zip(chunk, known, strict=True) if k is None]
                decoded = iter(await self._codes.run(parse_all, new) if new else ())
                parsed = [k if k is not None else next(decoded) for k in known]
                for text, code, k in zip(chunk, parsed, known, strict=True):
                    if k is None:
                        self._decoded.add(text, code)
                stored = await self._stored_licences(parsed, as_of)
                now = self._clock()
                inputs = [self._inputs(code, now, stored) for code in parsed]
                if needs_signature_check(inputs):
                    evaluated = await self._codes.run(evaluate_all, inputs)
                else:  # malformed, untrusted or checked before: no signature to check
                    evaluated = evaluate_all(inputs)
                self._remember(inputs, evaluated)
                checked += [
                    (
                        code,
                        await self._settle(code, result, inputs, now, accepted)
                        if isinstance(code, ParsedCode)
                        else result,
                        now,
                    )
                    for code, result in zip(parsed, evaluated, strict=True)
                ]
        return checked

    def _unopened(self, lineage: str, problem: Exception) -> None:
        """A licence's sealed restricted values no index key opens: shown without them."""
        reason = getattr(problem, "reason", "malformed")
        log.warning(
            "restricted field values of %s not opened (%s): shown without them",
            lineage,
            problem,
        )
        if self._unopened_count is not None:
            self._unopened_count.labels(reason).inc()

    async def _stored_licences(
        self,
        parsed: Sequence[ParsedCode | Verification],
        as_of: dict[bytes, Freshness] | None = None,
    ) -> Mapping[bytes, bytes | None]:
        """The stored licence event of each parsed code's lineage: from this worker's
        index, or, in a partitioned group, from the worker that owns it
        (services.verifier.group; UNAVAILABLE when that owner cannot answer)."""
        lineages = [c.lineage.encode() for c in parsed if isinstance(c, ParsedCode)]
        lookup = self._state.lookup
        if lookup is None:
            if as_of is not None:
                now = self._state.freshness.snapshot()
                as_of.update(dict.fromkeys(lineages, now))
            return {lineage: self._state.index.get(lineage) for lineage in lineages}
        found: Mapping[bytes, bytes | None] = await lookup.get_many(lineages, as_of)
        return found

    def freshness_of(self, lineage: str) -> Freshness:
        """The freshness of the index that answered for ``lineage`` (in a partitioned
        group, the owning worker's)."""
        lookup = self._state.lookup
        if lookup is None or not lineage:
            return self._state.freshness
        found: Freshness = lookup.freshness_of(lineage)
        return found

    def _inputs(
        self,
        code: ParsedCode | Verification,
        now: dt.datetime,
        stored: Mapping[bytes, bytes | None],
    ) -> CodeInputs:
        if not isinstance(code, ParsedCode):
            return CodeInputs(code, None, None, False, now)
        state = self._state
        trust = state.trust_entries.get(code.kid.encode())
        stored_lineage = stored.get(code.lineage.encode())
        index = self._index_entry(stored_lineage) if stored_lineage else None
        kept = self._results.get(code, trust, index, now)  # a static code again
        if kept is not None:
            return CodeInputs(kept, trust, index, False, now)
        # the shared guard (services.verifier.replay) raises UNAVAILABLE while it
        # is behind the usage topic: a presentation code is never accepted unchecked
        seen = code.kind is CodeKind.PRESENTATION and (
            self._nonces.seen(code.nonce) or state.presentations.seen(code.nonce_hash)
        )
        digest = signature_digest(code, trust.public_key) if trust else b""
        known = bool(digest) and digest in self._verified
        return CodeInputs(code, trust, index, seen, now, digest, known)

    def _index_entry(self, stored: bytes) -> IndexEntry:
        """The entry a stored licence event stands for (remembered when it opened)."""
        entry = self._entries.get(stored)
        if entry is None:
            problems: list[Exception] = []

            def unopened(lineage: str, problem: Exception) -> None:
                problems.append(problem)
                self._unopened(lineage, problem)

            entry = index_entry(stored, keys=self._index_keys, unopened=unopened)
            if not problems:
                self._entries.add(stored, entry)
        return entry

    def _remember(
        self, inputs: Sequence[CodeInputs], results: Sequence[Verification]
    ) -> None:
        """Remember passed signature checks and static codes' verdicts (on the loop)."""
        for i, result in zip(inputs, results, strict=True):
            if i.signature and not i.signature_known and signature_passed(result):
                self._verified.add(i.signature)
            if (
                isinstance(i.code, ParsedCode)
                and self._decoded.holds(i.code)  # objects held only (atk35b)
                and (i.index is None or self._entries.holds(i.index))
            ):
                self._results.keep(i.code, i.trust, i.index, result)

    async def _settle(
        self,
        code: ParsedCode,
        result: Verification,
        inputs: list[CodeInputs],
        now: dt.datetime,
        accepted: list[bytes],
        acting: Acting | None = None,
    ) -> Verification:
        """Apply the replay guard on the loop: between the lookup and now another
        showing of the same presentation code (this request's, or a concurrent one's)
        may have been accepted; a code accepted now has its nonce added to
        ``accepted``. ``acting``: the counter whose turn a check on the pool takes
        (None: the caller holds one)."""
        if (
            code.kind is not CodeKind.PRESENTATION
            or result.verdict is not Verdict.VALID
        ):
            return result
        if self._nonces.seen(code.nonce):
            again = next(i for i in inputs if i.code is code)
            again = dataclasses.replace(again, nonce_seen=True)
            if code.decoded.suite in INLINE_SUITES or not needs_signature_check(
                [again]
            ):
                return evaluate_all([again])[0]
            if acting is None:
                return (await self._codes.run(evaluate_all, [again]))[0]
            async with self._code_turns.turn(acting.counter):
                return (await self._codes.run(evaluate_all, [again]))[0]
        self._nonces.add(code.nonce, code.expires_at, now)
        accepted.append(code.nonce)
        return result

    def _named(self, result: Verification) -> Verification:
        """The result with its names from this group's directory table (no call to
        the issuer)."""
        if self._state.directory is None or not result.type_code:
            return result
        names = self._state.names
        return named_by(
            result,
            issuer=names.get(directory_key("department", result.issuer_code)),
            licence_type=names.get(directory_key("licence_type", result.type_code)),
        )

    async def export_bundle(
        self, *, since_version: int, group: str, acting: Acting
    ) -> ExportedBundle:
        """A signed offline bundle for ``acting`` (see :meth:`BundleExporter.export`).
        It names the counter and carries no field value: offline, a counter sees only
        the public fields the code itself carries."""
        return await self._bundles.export(
            since_version=since_version, group=group, counter=acting.counter
        )

    async def index_status(self) -> IndexStatus:
        """Per assigned partition of the event topics: applied offset, high water, lag
        (:func:`services.verifier.index_status.index_status`)."""
        return await index_status(self._state, self._group, self._licences)
