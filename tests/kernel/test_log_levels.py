"""The levels certseal.logs.configure sets for libraries' own loggers."""

from __future__ import annotations

import logging
import sys
import threading

from certseal import logs


def test_pyhankos_difference_findings_are_no_warnings_but_its_errors_are_kept():
    """A PDF changed after its seal is VerifyPdf's MODIFIED verdict, with the change
    in its detail: pyHanko's own WARNING with a traceback for it (nu15) is not logged;
    its errors are."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    hooks = threading.excepthook, sys.unraisablehook
    diff = logging.getLogger("pyhanko.sign.diff_analysis")
    try:
        logs.configure("INFO")
        assert not diff.isEnabledFor(logging.WARNING)
        assert diff.isEnabledFor(logging.ERROR)
        assert logging.getLogger("pyhanko.sign").isEnabledFor(logging.WARNING)
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        diff.setLevel(logging.NOTSET)
        threading.excepthook, sys.unraisablehook = hooks
        logging.captureWarnings(False)
