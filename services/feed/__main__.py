"""``python -m services.feed --config FILE``: run the event feed until SIGTERM/SIGINT."""

from certseal.interrupt import interrupt_ends_the_start

if __name__ == "__main__":  # run, not imported: before the imports below
    interrupt_ends_the_start()

from certseal.process import run_main
from services.config import load
from services.feed.app import FeedApp

if __name__ == "__main__":
    run_main("services.feed", FeedApp, load)
