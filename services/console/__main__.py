"""``python -m services.console --config FILE``: serve the counter console."""

from certseal.interrupt import interrupt_ends_the_start

if __name__ == "__main__":  # run, not imported: before the imports below
    interrupt_ends_the_start()

from certseal.process import run_main
from services.config import load
from services.console.app import ConsoleApp

if __name__ == "__main__":
    run_main("services.console", ConsoleApp, load)
