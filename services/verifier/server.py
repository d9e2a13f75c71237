"""The verifier worker's gRPC server, run on the Faust worker's event loop: the
Verifier API for counters and, in a partitioned group, VerifierPeer for the group's
other workers (services.verifier.group)."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import grpc
from mode import Service

from certseal import logs
from certseal.collector import settle_collector
from certseal.errors import CertsealError
from certseal.metrics import Metrics
from certseal.pauses import Pause, PauseWatch
from certseal.rpc import ServiceInterceptor
from certseal.rpcserver import Health, build_server, start_probe_server
from certseal.tlsfiles import server_credentials
from certseal.v1 import verifier_pb2, verifier_pb2_grpc
from services.verifier.config import VerifierSettings
from services.verifier.group import PEER, PeerServicer
from services.verifier.index import Freshness
from services.verifier.logwatch import LogWatch
from services.verifier.taskstop import EndsItsTasks

log = logging.getLogger(__name__)

YOUNG_COLLECTION = 3_000
"""A worker's young-generation threshold (:func:`settle_collector`), measured at 1,000
VerifyCode/s paced (docs/architecture.md §2c): young collections of at most 2.5 ms and
full ones of at most 11 ms (CPython's 700: 60 % more time collecting; 50,000: one
collection of 33 to 63 ms every 10 s)."""

VERIFIER = verifier_pb2.DESCRIPTOR.services_by_name["Verifier"].full_name


class GrpcService(EndsItsTasks):
    """The Verifier gRPC server, run on the Faust worker's event loop."""

    def __init__(
        self,
        *,
        config: VerifierSettings,
        servicer: Any,
        freshness: Freshness,
        metrics: Metrics,
        log_watch: LogWatch | None = None,
        peer_servicer: PeerServicer | None = None,
        index_built: asyncio.Event | None = None,
        **kwargs: Any,
    ):
        """``index_built``: set once the licence index holds every partition this
        worker owns (SERVING waits for it too)."""
        super().__init__(**kwargs)
        self._index_built = index_built
        self._peer_servicer = peer_servicer
        self._log_watch = log_watch
        self._config = config
        self._servicer = servicer
        self._freshness = freshness
        self._metrics = metrics
        self.health = Health([VERIFIER])
        self.port = 0
        self._server: grpc.aio.Server | None = None  # None: on_start did not bind
        self.bind_failure: CertsealError | None = None  # why it did not, for main()
        self._probe_server: grpc.aio.Server | None = None
        self._stopping = False
        #: the start gate passed (_serve_when_recovered): readiness follows the lag
        self._gate_open = False
        self._cut_off = False  # out of rotation for an unknown lag
        #: this process's own pauses (a thread ticking every second from the start,
        #: named with the group then), so that a lag unknown after one is not said
        #: to be the broker's silence
        self._pauses = PauseWatch("verifier")
        #: the pause an unknown lag was said to follow from, while it is unknown
        self._blamed: Pause | None = None

    async def on_start(self) -> None:
        """Listen; SERVING once the tables are recovered and read through the start."""
        cfg = self._config
        self._pauses.name = f"verifier {cfg.verifier.group}"
        self._pauses.start()
        interceptor = ServiceInterceptor(
            metrics=self._metrics,
            # departments (counters), operators, and the console acting for a
            # counter: services.verifier.access decides the rest, per RPC
            allowed_kinds={
                VERIFIER: {"dept", "operator", "service"},
                # the group's own verifier identity only (group.PeerServicer)
                PEER: {"service"},
            },
            max_request_bytes=cfg.verifier.max_request_bytes,
        )
        try:
            await self._listen(interceptor)
        except CertsealError as exc:  # a port taken since the start-up's check
            self.bind_failure = exc  # main() says it in one line and exits 2
            logs.said_by_the_process(exc)  # not again, with a traceback, by Faust
            raise
        log.info("verifier %s listening on port %d", cfg.verifier.group, self.port)

    async def _listen(self, interceptor: ServiceInterceptor) -> None:
        """Bind and start the Verifier port, then the probe's and the metrics', each
        an INVALID_ARGUMENT CertsealError naming its setting when it cannot be bound."""
        cfg = self._config
        self._server, self.port = build_server(
            listen=cfg.verifier.listen,
            credentials=server_credentials(
                cfg.tls.ca_file,
                *cfg.verifier.identity(cfg.tls),
                cfg.verifier.identity_fields("verifier"),
            ),
            interceptor=interceptor,
            health_=self.health,
            service_names=[VERIFIER, PEER],
            setting="verifier.listen",
        )
        verifier_pb2_grpc.add_VerifierServicer_to_server(self._servicer, self._server)
        if self._peer_servicer is not None:
            verifier_pb2_grpc.add_VerifierPeerServicer_to_server(
                self._peer_servicer, self._server
            )
        await self.health.set_serving(False)
        await self._server.start()
        if cfg.verifier.probe_listen:
            self._probe_server = await start_probe_server(
                cfg.verifier.probe_listen, self.health, "verifier.probe_listen"
            )
        if cfg.verifier.metrics_listen:
            self._metrics.serve(
                cfg.verifier.metrics_listen, setting="verifier.metrics_listen"
            )

    @Service.task
    async def _serve_when_recovered(self) -> None:
        started = time.monotonic()
        await self._freshness.recovered.wait()
        # the trust list and the directory hold what their topics held at the start
        # (services.verifier.tables): before, a key revoked meanwhile was still trusted
        await self._freshness.tables_read.wait()
        # and the broker has given the end offsets its lag is measured against
        # (services.verifier.ends): before, every answer's lag is unknown
        await self._freshness.lag_confirmed.wait()
        if self._index_built is not None:
            # a partition this worker owns but has not built (a changed group size):
            # not ready until it is (lookups of it are UNAVAILABLE meanwhile)
            await self._index_built.wait()
        log.info("index recovered in %.1f s", time.monotonic() - started)
        # what start-up and recovery made lives as long as the worker
        settle_collector(young=YOUNG_COLLECTION)
        self._gate_open = True
        await self._follow_the_lag()

    async def stopping(self, *_: Any, **__: Any) -> None:
        """The first step of a graceful stop (Faust's ``on_before_shutdown``, before
        its producer stops, and this service after the app): NOT_SERVING, so that
        probes and load balancers send no more requests, then the gathered uses handed
        to the producer (plain codes are refused from then on). In that order, in one
        receiver: Faust's signal calls its receivers in no set order. Called again:
        nothing more to do."""
        if self._stopping:
            return
        self._stopping = True
        await self.health.set_serving(False)
        await self._servicer.publish_gathered_usage()

    @Service.task
    async def _follow_the_log(self) -> None:
        """The transparency log's latest checkpoint, every ``log_refresh_s``."""
        watch = self._log_watch
        if watch is None or not watch.enabled:
            return
        while not self.should_stop:
            await watch.refresh()
            await self.sleep(self._config.verifier.log_refresh_s)

    @Service.timer(1.0)
    async def _export_freshness(self) -> None:
        freshness = self._freshness
        self._metrics.index_lag_events.set(freshness.lag_events)
        if freshness.last_event_time is not None:
            self._metrics.index_last_event.set(freshness.last_event_time.timestamp())
        if freshness.lag_measured_at is not None:
            self._metrics.index_lag_measured.set(freshness.lag_measured_at.timestamp())
        self._metrics.index_lag_unknown.set(int(freshness.lag_unknown))
        await self._follow_the_lag()

    async def _follow_the_lag(self) -> None:
        """Ready only while the lag is known (services.verifier.ends): a worker the
        broker has not answered for ``lag_unknown_after_s`` leaves the load
        balancer's rotation, and comes back when the broker answers again. Requests
        that still reach it are answered, each saying the lag is unknown."""
        if not self._gate_open or self._stopping:
            return
        serving = not self._freshness.lag_unknown
        if serving == self.health.serving:
            if not serving:
                self._still_silent()
            return
        measured = self._freshness.lag_measured_at
        group = self._config.verifier.group  # make run shows several groups' lines
        if serving and self._cut_off:
            log.warning(
                "verifier %s: the broker answers again: the index's lag is known; "
                "ready",
                group,
            )
        elif not serving:
            after = self._config.verifier.lag_unknown_after_s
            self._pauses.tick()  # its thread may not have run yet since the pause
            pause = self._pauses.paused_within(after + self._pauses.tick_s)
            self._blamed = pause
            if pause is not None:  # the silence is this process's own pause
                log.warning(
                    "verifier %s: the index's lag is unknown after this process's "
                    "own pause of at least %.1f s; not ready until the broker "
                    "answers again",
                    group,
                    pause.seconds,
                )
            else:
                log.warning(
                    "verifier %s: the broker has not answered for more than %.0f s "
                    "(last at %s): the index's lag is unknown; not ready until it "
                    "answers",
                    group,
                    after,
                    measured.isoformat() if measured else "never",
                )
        self._cut_off = not serving
        if serving:
            self._blamed = None
        await self.health.set_serving(serving)

    def _still_silent(self) -> None:
        """A lag said unknown after this process's own pause, and the broker still
        silent ``lag_unknown_after_s`` after the process ran again: said as the
        broker's silence, once (an outage that came with the pause, or during it,
        was otherwise said as the pause alone for as long as it lasted; atk52)."""
        pause, after = self._blamed, self._config.verifier.lag_unknown_after_s
        if pause is None or self._pauses.ran_since(pause) <= after:
            return
        self._blamed = None
        measured = self._freshness.lag_measured_at
        log.warning(
            "verifier %s: the broker has not answered for more than %.0f s since this "
            "process ran again after its pause (last at %s): the index's lag is "
            "unknown; not ready until it answers",
            self._config.verifier.group,
            after,
            measured.isoformat() if measured else "never",
        )

    async def on_stop(self) -> None:
        """Stop taking requests, finish those in flight."""
        self._pauses.stop()
        await self.stopping()
        if self._server is not None:
            await self._server.stop(3)
        self._servicer.shutdown()
        try:  # bounded: a broker that is away must not hold the worker's stop
            async with asyncio.timeout(5):
                await self._servicer.stop_clients()
        except Exception as exc:  # TimeoutError too: the process ends anyway
            log.warning("the claims' Kafka clients did not stop cleanly: %r", exc)
        if self._probe_server is not None:
            await self._probe_server.stop(0)
