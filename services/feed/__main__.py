"""``python -m services.feed --config FILE``: run the event feed until SIGTERM/SIGINT."""

from certseal.process import run_main
from services.config import load
from services.feed.app import FeedApp

if __name__ == "__main__":
    run_main("services.feed", FeedApp, load)
