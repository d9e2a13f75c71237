"""``certseal run`` writes every service's log lines to one terminal, and the same
loggers (the outbox relay's, the audit sealer's) run in several services: each plain
line names its process (trial51: an ``audit-sealer: leader`` line while the stack
stopped could have been any of three processes')."""

from __future__ import annotations

import logging
import os
import re

import pytest

from certseal import logs


def _line(name: str | None, monkeypatch: pytest.MonkeyPatch) -> str:
    if name is None:
        monkeypatch.delenv("CERTSEAL_LOG_NAME", raising=False)
    else:
        monkeypatch.setenv("CERTSEAL_LOG_NAME", name)
    record = logging.LogRecord(
        "certseal.storage.worker", logging.INFO, __file__, 1, "%s: leader", ("x",), None
    )
    return logs.TextFormatter().format(record)


@pytest.mark.parametrize(
    "name,label",
    [
        ("issuer", "issuer"),
        ("dept-demo", "dept-demo"),
        (None, "certseal"),
        ("50%s", "50%s"),
        # one line, as the terminal shows it (atk54): a record is never read as two
        (
            "issuer\n12:00:00 INFO    seal[1] x: y",
            "issuer\\n12:00:00 INFO    seal[1] x: y",
        ),
        ("\x1b[2Jseal", "\\x1b[2Jseal"),
        ("s\u00e9al\u200b", "s\u00e9al\\u200b"),
    ],
)
def test_a_plain_line_names_its_service_and_process(monkeypatch, name, label):
    line = _line(name, monkeypatch)
    pattern = r"\d\d:\d\d:\d\d INFO    " + re.escape(
        f"{label}[{os.getpid()}] certseal.storage.worker: x: leader"
    )
    assert re.fullmatch(pattern, line), line
