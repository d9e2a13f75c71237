"""Structured (JSON) logging with the request id of the RPC being handled."""

from __future__ import annotations

import contextvars
import json
import logging
import os
import sys
import time

REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar(
    "request_id", default=""
)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request id, exception."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        request_id = REQUEST_ID.get()
        if request_id:
            entry["request_id"] = request_id
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """One plain line per record, for a person at a terminal (``make run``)."""

    def __init__(self) -> None:
        super().__init__(
            "%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S"
        )


def configure(level: str = "INFO") -> None:
    """Send logs to stderr: JSON lines, or plain lines when the environment says
    ``CERTSEAL_LOG_FORMAT=text`` (``certseal run`` sets it for its services)."""
    handler = logging.StreamHandler(sys.stderr)
    text = os.environ.get("CERTSEAL_LOG_FORMAT") == "text"
    handler.setFormatter(TextFormatter() if text else JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("aiokafka").setLevel("WARNING")
