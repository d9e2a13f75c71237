"""trial38 finding 3: verifying a sealed PDF with a stranger's self-signed visible
signature after the seal made the seal service log a pyHanko WARNING with two full
tracebacks (PathBuildingError, then InvalidCertificateError), about 20 lines per
call, which an operator reads as a crash. An untrusted signer is an ordinary
outcome, answered in the verdict: the service logs such a library warning as one
line naming the exception, without its traceback, in the service's own process and
in its verification worker processes (certseal.logs.LibraryWarningsOneLine)."""

from __future__ import annotations

import json
import subprocess
import sys

_CHILD = """
import asyncio, functools
from certseal import logs
logs.configure("INFO")
from services.seal.offload import ProcessWorkers, _run_coroutine
from services.seal.pdf_verify import read_pdf_seals
from tests.conftest import blank_pdf
from tests.seal.field_pdfs import _certifier
from tests.seal.test_atk15_pdf import signed_visibly_by_stranger

async def main():
    pdf = await signed_visibly_by_stranger(blank_pdf())
    ca = _certifier().signing_cert.dump()
    [here] = await read_pdf_seals(pdf, ca=ca)
    workers = ProcessWorkers(workers=1, queue=1, timeout_s=60)
    try:
        [there] = await workers.run(
            "pdf", _run_coroutine, functools.partial(read_pdf_seals, pdf, ca=ca)
        )
    finally:
        workers._pool.close()
        workers._pool.join()
    assert not here.trusted and not there.trusted

asyncio.run(main())
"""


def test_an_untrusted_signer_is_one_log_line_without_a_traceback():
    run = subprocess.run(
        [sys.executable, "-c", _CHILD],
        capture_output=True,
        timeout=120,
        check=True,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": "."},
    )
    stderr = run.stderr.decode()
    assert "Traceback" not in stderr, stderr
    records = [json.loads(line) for line in stderr.splitlines()]  # all JSON lines
    warned = [r for r in records if r["logger"].startswith("pyhanko")]
    # one from the service's process, one from its worker process
    assert len(warned) == 2, stderr
    for record in warned:
        assert record["level"] == "warning" and "exc" not in record
        assert "could not be validated" in record["msg"]
        assert record["msg"].endswith("Error)")  # the exception, named
