"""A SIGINT while ``python -m services…`` loads the ``services`` package and the
kernel ends the process by the signal, quietly, as one after a service's ``__main__``
began does (certseal.interrupt). CI (2026-12-06): a console interrupted 0.05 s into
its start printed a KeyboardInterrupt traceback from ``services/__init__.py``
importing certseal, before the service's ``__main__`` had run.

The moment is made exact here: a ``sitecustomize`` on PYTHONPATH sends the process
SIGINT as ``certseal`` is first imported."""

from __future__ import annotations

import ast
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import services
from tests.sigint_probe import interrupting_at

ROOT = Path(__file__).resolve().parents[2]


def _run(
    tmp_path: Path, *argv: str, probe: bool = True, at: str = "certseal"
) -> subprocess.CompletedProcess:
    path = [str(ROOT)]
    if probe:
        path.insert(0, str(interrupting_at(tmp_path / "probe", at)))
    return subprocess.run(
        [sys.executable, *argv],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(path)},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    "argv",
    [
        ["-m", "services.console", "--config", "/nonexistent"],
        ["-m", "services.issuer", "--config", "/nonexistent"],
        ["-mservices.seal", "--config", "/nonexistent"],  # -m's value attached
        ["-um", "services.verifier", "--config", "/nonexistent"],  # flags combined
        ["-X", "dev", "-m", "services.feed.__main__", "--config", "/nonexistent"],
        ["-m", "services", "--help"],  # the CLI
    ],
)
def test_a_start_interrupted_as_the_kernel_loads_ends_by_the_signal_quietly(
    tmp_path: Path, argv: list[str]
):
    done = _run(tmp_path, *argv)
    assert done.returncode == -signal.SIGINT, done.stderr
    assert done.stdout == done.stderr == ""


#: the service processes: ``services/<name>/__main__.py``
SERVICES = sorted(p.parent.name for p in (ROOT / "services").glob("*/__main__.py"))


@pytest.mark.parametrize("name", SERVICES)
@pytest.mark.parametrize("at", ["{}", "{}.__main__"])
def test_a_service_interrupted_as_runpy_imports_its_main_ends_by_the_signal(
    tmp_path: Path, name: str, at: str
):
    """After the package and the kernel loaded, before the service's ``__main__``
    ran its first statement: a service keeps the OS default throughout (CI,
    2026-12-07: a console interrupted 0.05 s into its start went on serving)."""
    module = f"services.{name}"
    done = _run(
        tmp_path, "-m", module, "--config", "/nonexistent", at=at.format(module)
    )
    assert done.returncode == -signal.SIGINT, done.stderr
    assert done.stdout == done.stderr == ""


def test_every_service_main_hands_sigint_to_the_os_first():
    """What keeping the OS default for ``python -m services.<name>`` relies on."""
    assert SERVICES == ["console", "feed", "issuer", "seal", "tlog", "verifier"]
    for name in SERVICES:
        tree = ast.parse((ROOT / "services" / name / "__main__.py").read_text())
        body = [  # after the docstring and ``from __future__``
            n
            for n in tree.body
            if not isinstance(n, ast.Expr)
            and not (isinstance(n, ast.ImportFrom) and n.module == "__future__")
        ]
        imported, run = body[:2]
        assert isinstance(imported, ast.ImportFrom), name
        assert imported.module == "certseal.interrupt", name
        assert isinstance(run, ast.If), name
        assert ast.unparse(run.test) == "__name__ == '__main__'", name
        assert ast.unparse(run.body[0]) == "interrupt_ends_the_start()", name


@pytest.mark.parametrize(
    "argv,module",
    [
        (["python", "-m", "services.console", "--config", "x"], "services.console"),
        (["python", "-mservices.seal"], "services.seal"),
        (["python", "-um", "services.verifier"], "services.verifier"),
        (
            ["python", "-X", "dev", "-m", "services.feed.__main__"],
            "services.feed.__main__",
        ),
        (["python", "-Xdev", "-W", "error", "-Es", "-m", "services"], "services"),
        (["python", "--check-hash-based-pycs", "always", "-m", "x"], "x"),
        (["python", "-c", "import services", "-m", "services.seal"], None),
        (["python", "script.py", "-m", "services.seal"], None),
        (["python", "-"], None),
        (["python"], None),
    ],
)
def test_the_module_run_is_read_as_python_reads_its_options(argv, module):
    assert services._module_run(argv) == module


@pytest.mark.parametrize(
    "module,service",
    [
        ("services.console", True),
        ("services.issuer.__main__", True),
        ("services", False),  # the CLI
        ("services.cli", False),
        ("services.run_keeper", False),
        ("services.issuer.app", False),
        ("services.nothing", False),
        ("certseal.console", False),
        (None, False),
    ],
)
def test_only_a_service_package_run_keeps_the_os_default(module, service):
    assert services._a_service_process(module) is service


def test_a_program_importing_the_package_keeps_pythons_keyboard_interrupt(tmp_path):
    """Only a ``-m`` start is changed: pytest, or any program that imports the
    package, keeps Python's KeyboardInterrupt, which it handles."""
    done = _run(tmp_path, "-c", "import services")
    assert done.stderr.rstrip().endswith("KeyboardInterrupt"), done.stderr


@pytest.mark.parametrize(
    "before,after",
    [
        ("pass", "signal.default_int_handler"),  # Python's handler is back once loaded
        ("signal.signal(signal.SIGINT, signal.SIG_IGN)", "signal.SIG_IGN"),  # ignored
    ],
)
def test_a_m_start_has_its_sigint_handling_back_once_the_package_is_loaded(
    tmp_path: Path, before: str, after: str
):
    script = (
        f"import signal, sys; {before}; sys.argv[0] = '-m'; import services; "
        f"print(signal.getsignal(signal.SIGINT) is {after})"
    )
    done = _run(tmp_path, "-c", script, probe=False)
    assert done.stdout.strip() == "True", done.stderr
