"""``python -m services.tlog --config FILE``: run the transparency log until SIGTERM."""

from certseal.interrupt import interrupt_ends_the_start

if __name__ == "__main__":  # run, not imported: before the imports below
    interrupt_ends_the_start()

from certseal.process import run_main
from services.config import load
from services.tlog.app import TlogApp

if __name__ == "__main__":
    run_main("services.tlog", TlogApp, load)
