"""One embedded stack (real PostgreSQL + real broker) and one issuer per test session.

Tests isolate themselves by fresh names (new department codes, new licence types), never
by restarting servers.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
import os
import secrets
import sys
import time
import weakref
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from certseal import identifiers
from certseal.process import ServiceProcess
from certseal.rpc import secure_channel
from certseal.v1 import issuer_pb2 as pb
from certseal.v1 import (
    issuer_pb2_grpc,
    licence_pb2,
    seal_pb2_grpc,
    verifier_pb2,
    verifier_pb2_grpc,
)
from services.config import Config
from services.devstack import DevStack, free_port
from services.issuer.app import IssuerApp
from services.seal.app import SealApp


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist (``make test``): each worker, and every process it starts,
    draws free ports from a slice of its own (``certseal.devstack.port_window``); the
    controller, before any worker starts, makes the system user pgserver runs
    PostgreSQL as when run as root (pgserver makes it unlocked, so two workers' first
    stacks on a fresh machine would race to ``useradd`` it)."""
    from certseal.ports import PORT_SLICE

    worker = getattr(config, "workerinput", None)
    if worker is not None:
        index = int(worker["workerid"].removeprefix("gw"))
        os.environ[PORT_SLICE] = f"{index}/{worker['workercount']}"
    elif sys.platform != "win32" and os.geteuid() == 0:
        from pgserver.utils import ensure_user_exists

        ensure_user_exists("pgserver")


def fresh_uscc() -> str:
    """A new, valid unified social credit code."""
    alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    body = "".join(secrets.choice(alphabet) for _ in range(9))
    return identifiers.make_uscc(f"114403{secrets.randbelow(10**2):02d}{body}")


@pytest.fixture(scope="session")
async def stack(
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[DevStack]:
    embedded = DevStack(tmp_path_factory.mktemp("stack"), topic_partitions=4)
    await embedded.start()
    yield embedded
    embedded.stop()


@pytest.fixture(scope="session")
def config(stack: DevStack) -> Config:
    cfg = stack.config
    cfg.issuer.metrics_listen = ""
    cfg.seal.metrics_listen = ""
    cfg.feed.metrics_listen = ""
    cfg.console.metrics_listen = ""
    cfg.outbox.poll_interval_s = 0.5
    return cfg


@pytest.fixture(scope="session")
async def issuer(config: Config) -> AsyncIterator[IssuerApp]:
    app = IssuerApp(config, listen="127.0.0.1:0")
    await app.start()
    yield app
    await app.stop(grace=1)


@pytest.fixture(scope="session")
async def seal_app(config: Config, issuer: IssuerApp) -> AsyncIterator[SealApp]:
    """One seal service for the session (tests isolate by fresh seal owners)."""
    app = SealApp(config, listen="127.0.0.1:0")
    await app.start()
    # the issuer seals licence files through this seal service (docs/holder.md)
    config.issuer.seal_target = f"localhost:{app.port}"
    yield app
    await app.stop(grace=1)


@pytest.fixture(scope="session")
def seal_stub(stack: DevStack, seal_app: SealApp):
    """``seal_stub(identity)``: a Seal stub calling as that identity."""

    def stub(identity: str) -> seal_pb2_grpc.SealStub:
        ident = stack.ca.identity(identity)
        channel = secure_channel(
            f"localhost:{seal_app.port}",
            str(stack.ca.ca_file),
            str(ident.cert_file),
            str(ident.key_file),
        )
        return seal_pb2_grpc.SealStub(channel)

    return stub


@dataclass
class Clients:
    """Stubs for one identity."""

    channel: grpc.aio.Channel
    issuer: issuer_pb2_grpc.IssuerStub
    admin: issuer_pb2_grpc.IssuerAdminStub


@pytest.fixture(scope="session")
def connect(stack: DevStack, issuer: IssuerApp):
    channels: list[grpc.aio.Channel] = []

    def _connect(identity: str) -> Clients:
        ident = stack.ca.identity(identity)
        channel = secure_channel(
            f"localhost:{issuer.port}",
            str(stack.ca.ca_file),
            str(ident.cert_file),
            str(ident.key_file),
        )
        channels.append(channel)
        return Clients(
            channel,
            issuer_pb2_grpc.IssuerStub(channel),
            issuer_pb2_grpc.IssuerAdminStub(channel),
        )

    return _connect


@pytest.fixture(scope="session")
async def operator(connect) -> Clients:
    # async: a grpc.aio channel is made on the session's event loop (a sync fixture
    # first used by a sync test found none: tests/verifier alone failed so)
    return connect("operator:admin")


def text_field(value: str) -> licence_pb2.FieldValue:
    return licence_pb2.FieldValue(string_value=value)


@dataclass
class Dept:
    """A freshly onboarded issuing department with a key and a licence type."""

    code: str
    type_code: str
    clients: Clients
    kid: str
    restricted: bool = False  # its type has the restricted field 'grade'


async def make_department(
    operator: Clients,
    connect,
    *,
    suite: str = "es256",
    roles=(licence_pb2.DEPARTMENT_ROLE_ISSUER,),
    type_issuers: list[str] | None = None,
    restricted: bool = False,
    titles: dict[str, str] | None = None,
) -> Dept:
    """A fresh issuing department, its key and a licence type with the public field
    'class', the personal 'address' and two fields that never leave the issuer; with
    ``restricted`` also 'grade', which counters see only with a field right;
    ``titles``: field name -> its title (none: every field untitled)."""
    code = fresh_uscc()
    await operator.admin.OnboardDepartment(
        pb.OnboardDepartmentRequest(
            code=code, name=f"测试部门 {code[-4:]}", roles=list(roles)
        )
    )
    key = await operator.admin.CreateSigningKey(
        pb.CreateSigningKeyRequest(department_code=code, suite=suite)
    )
    type_code = fresh_uscc() + f"{secrets.randbelow(1000):03d}"
    request = pb.RegisterLicenceTypeRequest(
        type_code=type_code,
        name="机动车驾驶证",
        default_validity_days=365,
        issuer_codes=[code, *(type_issuers or [])],
        fields=[
            licence_pb2.FieldSpec(
                name="class",
                type=licence_pb2.FIELD_TYPE_STRING,
                required=True,
                public=True,
            ),
            licence_pb2.FieldSpec(
                name="address", type=licence_pb2.FIELD_TYPE_STRING, personal=True
            ),
            licence_pb2.FieldSpec(name="points", type=licence_pb2.FIELD_TYPE_INTEGER),
            licence_pb2.FieldSpec(
                name="first_issued", type=licence_pb2.FIELD_TYPE_DATE
            ),
            *(
                [
                    licence_pb2.FieldSpec(
                        name="grade",
                        type=licence_pb2.FIELD_TYPE_STRING,
                        restricted=True,
                    )
                ]
                if restricted
                else []
            ),
        ],
    )
    for spec in request.fields:
        spec.title = (titles or {}).get(spec.name, "")
    await operator.admin.RegisterLicenceType(request)
    return Dept(code, type_code, connect(f"dept:{code}"), key.key.kid, restricted)


async def onboarded(operator: Clients, *roles: int) -> str:
    """A fresh department code, onboarded with ``roles`` (licence_pb2.DEPARTMENT_ROLE_*;
    e.g. DEPARTMENT_ROLE_SEAL_OWNER, which registering seals needs)."""
    code = fresh_uscc()
    await operator.admin.OnboardDepartment(
        pb.OnboardDepartmentRequest(code=code, name=f"单位 {code[-4:]}", roles=roles)
    )
    return code


async def seal_owner(operator: Clients) -> str:
    """A fresh department code onboarded with the seal_owner role."""
    return await onboarded(operator, licence_pb2.DEPARTMENT_ROLE_SEAL_OWNER)


@pytest.fixture
async def dept(operator: Clients, connect) -> Dept:
    return await make_department(operator, connect)


def issue_request(
    dept: Dept, *, name: str = "张三丰", id_number: str | None = None, **kwargs
) -> pb.IssueLicenceRequest:
    request = pb.IssueLicenceRequest(
        type_code=dept.type_code,
        holder=licence_pb2.Holder(
            name=name,
            id_type="111",
            id_number=id_number or identifiers.random_resident_id(),
        ),
        **kwargs,
    )
    request.fields["class"].CopyFrom(text_field("C1"))
    request.fields["address"].CopyFrom(text_field("深圳市福田区"))
    if dept.restricted:
        request.fields["grade"].CopyFrom(text_field("等级G7"))
    return request


@dataclass
class HolderAppLicence:
    """A licence of a fresh holder as a holder app sees it (:func:`holder_app_licence`)."""

    licence: licence_pb2.Licence
    #: the holder's resident id number
    number: str
    #: the issuer as the holder app granted the licence's type calls it
    app: issuer_pb2_grpc.IssuerStub
    #: the app's ListLicenceUsage request for the licence
    listing: pb.ListLicenceUsageRequest
    #: the licence code, VALID at every verifier group by then
    code: str


async def holder_app_licence(
    dept: Dept, operator: Clients, connect, verifiers: dict, *, name: str, app: str
) -> HolderAppLicence:
    """A licence issued to a fresh holder called ``name``, a holder app named
    ``<app>-<random>`` granted the licence's type, and the licence's code once every
    stub in ``verifiers`` answers it VALID."""
    number = identifiers.random_resident_id()
    licence = (
        await dept.clients.issuer.IssueLicence(
            issue_request(dept, name=name, id_number=number)
        )
    ).licence
    app_name = f"{app}-{secrets.token_hex(3)}"
    await operator.admin.GrantHolderApp(
        pb.GrantHolderAppRequest(app=app_name, type_code=dept.type_code)
    )
    holder = licence_pb2.Holder(id_type="111", id_number=number)
    code = (
        await dept.clients.issuer.GetLicenceCode(
            pb.GetLicenceCodeRequest(identifier=licence.identifier)
        )
    ).text
    await verdict_everywhere(verifiers, code, verifier_pb2.VERDICT_VALID, within=60)
    return HolderAppLicence(
        licence,
        number,
        connect(app_name).issuer,
        pb.ListLicenceUsageRequest(identifier=licence.identifier, holder=holder),
        code,
    )


class EventWatcher:
    """Reads a topic from the beginning into memory, for assertions on published events."""

    def __init__(self, stack: DevStack, topic: str):
        self._consumer = stack.config.kafka.settings("certseal-tests").consumer(
            topic, auto_offset_reset="earliest", group_id=None, fetch_max_wait_ms=20
        )
        self.records: list = []
        self._task: asyncio.Task | None = None
        self._new = asyncio.Event()

    async def __aenter__(self) -> EventWatcher:
        await self._consumer.start()
        self._task = asyncio.create_task(self._pump())
        return self

    async def _pump(self) -> None:
        async for record in self._consumer:
            self.records.append(record)
            self._new.set()

    async def wait_for(self, predicate, within: float = 30.0) -> list:
        """Wait until ``predicate(records)`` is truthy; return the records."""
        async with asyncio.timeout(within):
            while not predicate(self.records):
                self._new.clear()
                await self._new.wait()
        return self.records

    async def __aexit__(self, *exc) -> None:
        assert self._task is not None
        self._task.cancel()
        await self._consumer.stop()


async def start_certseal(
    config: Config, folder, *args: str, apart: bool = False, **cli: str
) -> asyncio.subprocess.Process:
    """Start the ``certseal`` CLI as a process with ``[cli]`` overrides (e.g. a
    ``verifier_target``), its standard error joined to its output (a pipe), or a
    pipe of its own (``apart``)."""
    import copy
    import sys

    from certseal.config import dump_config

    cfg = copy.deepcopy(config)
    for name, value in cli.items():
        setattr(cfg.cli, name, value)
    config_file = folder / f"cli-{secrets.token_hex(3)}.toml"
    config_file.write_text(dump_config(cfg))
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services",
        "--config",
        str(config_file),
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE if apart else asyncio.subprocess.STDOUT,
    )


async def run_certseal(
    config: Config, folder, *args: str, within: float = 120.0, **cli: str
) -> tuple[int, str]:
    """Run the ``certseal`` CLI as a process (:func:`start_certseal`); its exit code
    and output. AssertionError with its output if it has not exited within
    ``within`` seconds (it is killed)."""
    process = await start_certseal(config, folder, *args, **cli)
    try:
        async with asyncio.timeout(within):
            out, _ = await process.communicate()
    except TimeoutError:
        process.kill()
        async with asyncio.timeout(30):
            out, _ = await process.communicate()
        raise AssertionError(
            f"certseal {' '.join(args)} did not exit within {within} s (killed):\n"
            + out.decode(errors="replace")[-3000:]
        ) from None
    return process.returncode or 0, out.decode()


@pytest.fixture
def cli(config, issuer, seal_app, tmp_path):
    """``await cli(*argv)``: :func:`run_certseal` against the session's issuer and
    seal service; its exit code and output."""

    async def run(*argv: str) -> tuple[int, str]:
        return await run_certseal(
            config,
            tmp_path,
            *argv,
            issuer_target=f"localhost:{issuer.port}",
            seal_target=f"localhost:{seal_app.port}",
        )

    return run


class _Following:
    """A process's stub that calls through its current channel."""

    def __init__(self, process: VerifierProcess):
        self._process = process

    def __getattr__(self, name: str) -> Any:
        return getattr(self._process.current_stub, name)


class VerifierProcess:
    """One verifier deployment run as its own process, restartable on its data.

    Every wait has a deadline and fails with the worker's log; a worker still running
    when the session ends (a test that timed out skips its own stop) is killed then
    (``_no_verifier_outlives_the_session``)."""

    #: every instance made in this session, for the session's end
    made: ClassVar[list[VerifierProcess]] = []
    STOP_WITHIN_S = 60.0  # SIGTERM to exit: seconds, more on a busy machine

    def __init__(self, stack, config_file, home, group: str, *extra_args: str):
        VerifierProcess.made.append(self)
        self.group, self.home, self.config_file = group, home, config_file
        self.extra_args = extra_args
        self.identity = (stack.ca, stack.ca.identity("dept:11440300VERIFIERS1"))
        #: the worker's Verifier stub wherever it now listens: a test that kept it
        #: across a restart that moved the worker to another port (its own taken
        #: meanwhile) called the old port (CI: connection refused)
        self.stub: Any = _Following(self)
        self._connect(free_port())
        self.process = None
        self.rebinds = 0
        #: whether a port taken before it binds moves it to another (not for a worker
        #: whose port its peers are configured with)
        self.movable = True
        self._log_from = 0  # the log's size when this process started

    def _connect(self, port: int) -> None:
        ca, ident = self.identity
        self.port = port
        self.channel = secure_channel(
            f"localhost:{port}",
            str(ca.ca_file),
            str(ident.cert_file),
            str(ident.key_file),
        )
        self.current_stub = verifier_pb2_grpc.VerifierStub(self.channel)

    async def start(self) -> None:
        log = open(self.home / f"{self.group}.log", "ab")  # noqa: SIM115, ASYNC230
        self._log_from = log.tell()
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "services.verifier",
            "--config",
            str(self.config_file),
            "--group",
            self.group,
            "--listen",
            f"127.0.0.1:{self.port}",
            *self.extra_args,
            stdout=log,
            stderr=log,
        )
        log.close()

    async def wait_serving(self) -> None:
        health = health_pb2_grpc.HealthStub(self.channel)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.process.returncode is not None and self._port_taken():
                # free_port() cannot hold the port until the verifier binds it:
                # another process took it in between (failed CI once); a new one
                self.rebinds += 1
                self._connect(free_port())
                health = health_pb2_grpc.HealthStub(self.channel)
                await self.start()
            assert self.process.returncode is None, self.log_tail()
            try:
                reply = await health.Check(health_pb2.HealthCheckRequest(), timeout=1)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.aio.AioRpcError:
                pass
            await asyncio.sleep(
                0.2
            )  # the worker is joining its group: nothing to await
        raise AssertionError(
            f"verifier {self.group} never became SERVING:\n" + self.log_tail()
        )

    def _port_taken(self) -> bool:
        """This start stopped because its port was taken (said in the log since this
        start), for the first 3 times, when the worker may move."""
        if not self.movable or self.rebinds >= 3:
            return False
        said = self.log_since_start()
        # "cannot be listened on": gRPC's bind failed (its log says "Address already
        # in use") but the port was free again when the worker asked the OS why
        return any(
            f"127.0.0.1:{self.port} {why}" in said
            for why in ("is already in use", "cannot be listened on")
        )

    def log_tail(self) -> str:
        return (self.home / f"{self.group}.log").read_text(errors="replace")[-3000:]

    def log_since_start(self) -> str:
        """All this process said since its latest start (a tail can be crowded out
        by what other tests' events made it log, e.g. dead-lettering)."""
        with open(self.home / f"{self.group}.log", "rb") as log:
            log.seek(self._log_from)
            return log.read().decode(errors="replace")

    async def wait_for_log(self, text: str, within: float) -> None:
        """Wait until the worker's log since its start says ``text``; AssertionError
        with the log if it does not within ``within`` seconds or the process ends."""
        deadline = time.monotonic() + within
        while text not in self.log_since_start():
            assert self.process.returncode is None, (
                f"verifier {self.group} exited ({self.process.returncode}) before "
                f"saying {text!r}:\n{self.log_tail()}"
            )
            assert time.monotonic() < deadline, (
                f"verifier {self.group} did not say {text!r} within {within} s:\n"
                + self.log_tail()
            )
            await asyncio.sleep(0.1)  # a log line, nothing to await

    async def exit_status(self, within: float = 60.0) -> int:
        """The worker's exit status, once it exits by itself (a start it refuses);
        AssertionError with its log if it still runs after ``within`` seconds (it is
        killed)."""
        try:
            async with asyncio.timeout(within):
                return await self.process.wait()
        except TimeoutError:
            await self.kill()
            raise AssertionError(
                f"verifier {self.group} did not exit within {within} s (killed):\n"
                + self.log_tail()
            ) from None

    async def kill(self) -> None:
        self.process.kill()
        async with asyncio.timeout(30):  # SIGKILL is not ignored: a bound all the same
            await self.process.wait()

    async def stop(self) -> None:
        """SIGTERM and wait for the exit; a worker still running after
        :attr:`STOP_WITHIN_S` is killed, and AssertionError says so with its log (it
        ignored the signal: a product fault, e.g. it started itself again)."""
        if self.process is None or self.process.returncode is not None:
            return
        self.process.terminate()
        try:
            async with asyncio.timeout(self.STOP_WITHIN_S):
                await self.process.wait()
        except TimeoutError:
            await self.kill()
            raise AssertionError(
                f"verifier {self.group} did not stop within {self.STOP_WITHIN_S} s "
                "of SIGTERM (killed):\n" + self.log_tail()
            ) from None


#: every PostgreSQL-backed service process made in this session (weakly): one outbox
#: relay and one audit sealer lead across all of them, whichever they are (the
#: issuer, the seal service, a module's event feed, the session's log), so a test
#: that watches their figures sums them over these
SERVICE_PROCESSES: weakref.WeakSet[ServiceProcess] = weakref.WeakSet()


@pytest.fixture(scope="session", autouse=True)
def _service_processes_are_known() -> Iterator[None]:
    made = ServiceProcess.__init__

    def init(self: ServiceProcess, *args: Any, **kwargs: Any) -> None:
        made(self, *args, **kwargs)
        SERVICE_PROCESSES.add(self)

    ServiceProcess.__init__ = init  # type: ignore[method-assign]
    yield
    ServiceProcess.__init__ = made  # type: ignore[method-assign]


@pytest.fixture(scope="session", autouse=True)
def _no_verifier_outlives_the_session() -> Iterator[None]:
    """Kill every verifier worker still running at the session's end: a test that
    timed out (pytest-timeout) skips its own stop, and the worker ran on for as long
    as the machine did."""
    yield
    for verifier in list(VerifierProcess.made):
        process = verifier.process
        if process is not None and process.returncode is None:
            with contextlib.suppress(ProcessLookupError):  # exited, not yet reaped
                process.kill()


class LogLines(logging.Handler):
    """A logger's messages at ``level`` and above, as they are written (on the test's
    own loop: aiokafka's, a worker's)."""

    def __init__(self, level: int) -> None:
        super().__init__(level)
        self.lines: asyncio.Queue[str] = asyncio.Queue()

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.put_nowait(record.getMessage())

    async def line_with(self, text: str) -> str:
        """The next message holding ``text`` (await it within a bound)."""
        while text not in (line := await self.lines.get()):
            pass
        return line


@contextlib.contextmanager
def log_lines(logger: str, level: int = logging.WARNING) -> Iterator[LogLines]:
    """:class:`LogLines` of ``logger`` inside."""
    handler = LogLines(level)
    logging.getLogger(logger).addHandler(handler)
    try:
        yield handler
    finally:
        logging.getLogger(logger).removeHandler(handler)


def verifier_process(
    stack: DevStack, config: Config, home, prefix: str, *args: str, **verifier: object
) -> VerifierProcess:
    """A verifier group of its own, not started: a fresh name from ``prefix``, the
    session's configuration with its data under ``home`` and these ``[verifier]``
    settings (written to ``home``/config.toml), ``args`` on its command line."""
    from certseal.config import dump_config

    cfg = copy.deepcopy(config)
    cfg.verifier.data_dir = str(home / "data")
    for name, value in verifier.items():
        setattr(cfg.verifier, name, value)
    (home / "config.toml").write_text(dump_config(cfg))
    return VerifierProcess(
        stack, home / "config.toml", home, f"{prefix}-{secrets.token_hex(3)}", *args
    )


@contextlib.asynccontextmanager
async def running(*processes: VerifierProcess) -> AsyncIterator[None]:
    """Start ``processes`` together; inside, every one is SERVING; each started one
    is stopped on the way out."""
    try:
        for process in processes:
            await process.start()
        for process in processes:
            await process.wait_serving()
        yield
    finally:
        for process in processes:
            if process.process is not None:
                await process.stop()


async def serving_group(
    stack: DevStack, config: Config, home, prefix: str, **verifier: object
) -> VerifierProcess:
    """A verifier group of its own (:func:`verifier_process`), started and SERVING."""
    process = verifier_process(stack, config, home, prefix, **verifier)
    await process.start()
    await process.wait_serving()
    return process


def blank_pdf() -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (595, 842), "white").save(out, "PDF")
    return out.getvalue()


async def verdict_everywhere(verifiers, code: str, wanted: int, within: float = 10.0):
    """Verify at every group until each answers ``wanted``; return seconds taken."""
    started = time.monotonic()
    pending = set(verifiers)
    while pending:
        for group in sorted(pending):
            left = within - (time.monotonic() - started)
            try:  # a call has the deadline too: a worker that hangs fails the test
                reply = await verifiers[group].VerifyCode(
                    verifier_pb2.VerifyCodeRequest(code=code, purpose="窗口办事"),
                    timeout=max(left, 1.0),
                )
            except grpc.aio.AioRpcError as exc:
                if exc.code() is not grpc.StatusCode.DEADLINE_EXCEEDED:
                    raise
                raise AssertionError(
                    f"{group} did not answer VerifyCode within {within} s"
                ) from None
            if reply.result.verdict == wanted:
                pending.discard(group)
        if pending:
            assert time.monotonic() - started < within, (
                f"{sorted(pending)} answered {reply.result.verdict}, not {wanted}"
            )
            await asyncio.sleep(0.005)
    return time.monotonic() - started


@pytest.fixture(scope="session")
def softhsm(tmp_path_factory: pytest.TempPathFactory):
    """A fresh SoftHSM2 token directory for the session (tests/softhsm.py)."""
    from tests.softhsm import make_softhsm

    return make_softhsm(tmp_path_factory.mktemp("softhsm"))


async def new_database(config: Config, prefix: str) -> str:
    """A new, empty database named ``<prefix>_<random>`` on the session's server; its
    DSN."""
    import asyncpg

    name = f"{prefix}_{secrets.token_hex(4)}"
    dsn = config.database.dsn()
    admin = await asyncpg.connect(dsn)
    try:
        await admin.execute(f"create database {name}")
    finally:
        await admin.close()
    return dsn.replace("/certseal?", f"/{name}?")


async def own_database(config: Config, folder, prefix: str) -> Config:
    """A copy of the session's configuration whose ``[database]`` is a new, empty
    database (:func:`new_database`; its DSN file in ``folder``): for a test that
    upgrades, re-keys or starts a platform on a database of its own."""
    dsn_file = folder / "database.dsn"
    dsn_file.write_text(await new_database(config, prefix))
    cfg = copy.deepcopy(config)
    cfg.database.dsn_file = str(dsn_file)
    return cfg


async def migrated_database(config: Config, prefix: str) -> str:
    """A new database (:func:`new_database`) with every service's migrations applied;
    its DSN (tests that need a database of their own)."""
    from certseal.storage.pool import create_pool
    from services.issuer.storage import migrate_all

    new_dsn = await new_database(config, prefix)
    pool = await create_pool(new_dsn, min_size=1, max_size=2)
    await migrate_all(pool)
    await pool.close()
    return new_dsn


def console_identity(stack: Any, cfg: Any) -> None:
    """``cfg.console`` calls as ``service:console`` and serves HTTPS with the same
    pair (the test CA's server identity for it)."""
    https = stack.ca.identity("service:console", server=True)
    pair = (str(https.cert_file), str(https.key_file))
    cfg.console.cert_file, cfg.console.key_file = pair
    cfg.console.https_cert_file, cfg.console.https_key_file = pair


@contextlib.asynccontextmanager
async def console_alone(
    stack: Any, config: Any, listen: str = "127.0.0.1:0"
) -> AsyncIterator[tuple[Any, Any]]:
    """A console on a free port (of ``listen``'s host) whose verifier answers nobody
    (a free port) and which reads no metrics: for what the console decides itself.
    Yields (app, its config)."""
    from services.console.app import ConsoleApp

    cfg = copy.deepcopy(config)
    console_identity(stack, cfg)
    cfg.console.verifier_targets = [f"127.0.0.1:{free_port()}"]
    cfg.console.metrics_sources = []
    app = ConsoleApp(cfg, listen=listen)
    await app.start()
    try:
        yield app, cfg
    finally:
        await app.stop()


def kept_answer(config: Config, row: Any) -> bytes:
    """The answer an ``idempotent_requests`` row (caller, key, method, response)
    keeps, opened with the stack's answers key (certseal.protectors.AnswerProtector)."""
    from certseal.process import read_answers_key

    context = "\0".join((row["caller"], row["key"], row["method"])).encode()
    return read_answers_key(config).open(bytes(row["response"]), context)
