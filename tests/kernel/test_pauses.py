"""certseal.pauses: a process's own pause told apart from its dependencies' silence
(trial49 L8: a verifier stopped with SIGSTOP logged, once running again, that the
broker had not answered for more than 5 s)."""

from __future__ import annotations

import logging
import threading
import time

import pytest

from certseal.pauses import PauseWatch


class Clocks:
    """Wall (monotonic) and CPU seconds, moved by the test."""

    def __init__(self) -> None:
        self.wall = 100.0
        self.cpu = 7.0

    def watch(self, **options: float) -> PauseWatch:
        return PauseWatch(
            "seal", clock=lambda: self.wall, cpu_clock=lambda: self.cpu, **options
        )

    def run(self, wall: float, cpu: float) -> None:
        self.wall += wall
        self.cpu += cpu


def test_a_tick_on_time_or_a_little_late_is_no_pause(caplog):
    clocks = Clocks()
    watch = clocks.watch(tick_s=1.0, pause_s=3.0)
    for late in (0.0, 0.5, 3.0):  # up to pause_s past the tick
        clocks.run(1.0 + late, 0.0)
        assert watch.tick() is None
    assert watch.last is None and not caplog.records


def test_a_gap_with_little_cpu_is_a_stop_said_as_this_process_own(caplog):
    clocks = Clocks()
    watch = clocks.watch(tick_s=1.0)
    clocks.run(21.0, 0.4)  # SIGSTOP for 20 s after a busy second
    with caplog.at_level(logging.WARNING, logger="certseal.pauses"):
        pause = watch.tick()
    assert pause is not None and pause.stopped
    assert pause.seconds == pytest.approx(20.0)
    ((record),) = caplog.records
    assert record.levelno == logging.WARNING
    assert record.getMessage().startswith(
        "seal: this process did not run for at least 20.0 s (it was stopped"
    )
    assert record.getMessage().endswith("are this pause, not theirs")
    assert watch.paused_within(1.0) is pause
    clocks.run(1.5, 0.0)
    assert watch.paused_within(1.0) is None  # it ended 1.5 s ago
    assert watch.paused_within(2.0) is pause


def test_a_gap_spent_on_cpu_is_a_native_call_holding_the_lock():
    clocks = Clocks()
    watch = clocks.watch(tick_s=1.0)
    clocks.run(6.0, 5.5)
    pause = watch.tick()
    assert pause is not None and not pause.stopped
    assert "a native call held Python's lock: 5.5 s of CPU" in pause.words()
    # the process ran (atk52: it said "this process did not run")
    assert pause.words().startswith(
        "this process's Python code did not run for at least 5.0 s"
    )


def test_the_watch_ticks_on_its_thread_through_a_blocked_event_loop_and_stops_at_once():
    """A loop held by a blocking call is no pause: the watch's thread ticks on (here
    the test's own thread blocks, as a handler calling time.sleep would)."""
    watch = PauseWatch("issuer", tick_s=0.01, pause_s=0.3).start()
    ticked = threading.Event()
    real_tick = watch.tick

    def counted():
        ticked.set()
        return real_tick()

    watch.tick = counted  # type: ignore[method-assign]
    assert ticked.wait(5)
    time.sleep(0.8)  # the blocking call: longer than pause_s
    started = time.monotonic()
    watch.stop()
    assert time.monotonic() - started < 1.0  # not a tick's wait, nor a sleep
    assert watch.last is None


async def test_a_service_process_watches_its_pauses_while_it_runs(config):
    """Every ServiceProcess (the issuer here) runs the watch from its start to its
    stop: a process that stops leaves no thread behind."""
    from services.issuer.app import IssuerApp

    def watching() -> int:  # the session's own issuer may be running too
        return sum(t.name == "pause-watch issuer" for t in threading.enumerate())

    before = watching()
    app = IssuerApp(config, listen="127.0.0.1:0")
    await app.start()
    try:
        assert watching() == before + 1
    finally:
        await app.stop()
    assert watching() == before


def test_a_watch_started_twice_runs_one_thread_and_starts_again_after_a_stop():
    def threads() -> int:
        return sum(t.name == "pause-watch twice" for t in threading.enumerate())

    watch = PauseWatch("twice", tick_s=0.01)
    watch.start().start()
    assert threads() == 1
    watch.stop()
    assert threads() == 0
    watch.start()  # a service started again (a mode restart)
    assert threads() == 1
    watch.stop()


def test_a_pause_is_said_before_the_dependencys_error_it_caused():
    """trial50: after a stop, aiokafka's "Failed fetch messages …" ERROR came before
    the pause line, naming no service. A dependency's warning or error now has the
    running watches tick first (certseal.logs sets the filter on its handler)."""
    from certseal.pauses import PausesSaidFirst

    said: list[str] = []

    class Kept(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            said.append(f"{record.name}: {record.getMessage()}")

    handler = Kept()
    handler.addFilter(PausesSaidFirst())
    root = logging.getLogger()
    root.addHandler(handler)
    clocks = Clocks()
    watch = clocks.watch(tick_s=60.0)  # its thread waits: only the filter ticks
    watch.start()
    try:
        logging.getLogger("aiokafka.consumer.fetcher").error("a fetch before the stop")
        clocks.run(80.0, 0.1)  # stopped 20 s past its tick
        logging.getLogger("aiokafka.consumer.fetcher").error("Failed fetch messages")
        logging.getLogger("services.verifier").warning("ours: no tick for it")
    finally:
        watch.stop()
        root.removeHandler(handler)
    assert said[0] == "aiokafka.consumer.fetcher: a fetch before the stop"
    assert said[1].startswith("certseal.pauses: seal: this process did not run")
    assert said[2:] == [
        "aiokafka.consumer.fetcher: Failed fetch messages",
        "services.verifier: ours: no tick for it",
    ]
