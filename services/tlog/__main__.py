"""``python -m services.tlog --config FILE``: run the transparency log until SIGTERM."""

from certseal.process import run_main
from services.config import load
from services.tlog.app import TlogApp

if __name__ == "__main__":
    run_main("services.tlog", TlogApp, load)
